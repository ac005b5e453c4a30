// The served teachers of an ensemble: each one's rows fetched a step ahead (StepPrefetch), as a
// single served teacher's are; routed, a service is asked only for the examples routed to it.
import type { EncodedExample } from '../../data/index.js';
import type { BatchCursor, DrawnBatch } from '../batches.js';
import type { IndexedExample } from '../prepare.js';
import { StepPrefetch } from '../teacher-service/step-prefetch.js';
import type { TruncationFigures } from '../teacher-service/truncation.js';
import type { TeacherEnsemble } from './ensemble.js';

export interface ServedMember {
  /** The member's position in the ensemble. */
  index: number;
  name: string;
  prefetch: StepPrefetch;
}

export function servedEnsembleMembers(
  ensemble: TeacherEnsemble,
  ownExamples: (micro: readonly DrawnBatch[]) => readonly EncodedExample[],
  microBatchesPerStep: number,
  batchSize: number,
  log: (line: string) => void,
): ServedMember[] {
  const teacherOf = ensemble.combination.kind === 'route' ? ensemble.combination.teacherOf : null;
  return ensemble.members.flatMap((member, index) => {
    if (member.kind !== 'top-k' || !member.served) return [];
    const mine = teacherOf ? (micro: readonly DrawnBatch[]) => ownExamples(micro).filter((e) => teacherOf[(e as IndexedExample).sourceIndex] === index) : ownExamples;
    return [{ index, name: member.name, prefetch: new StepPrefetch(member.served, mine, microBatchesPerStep, batchSize, log) }];
  });
}

/** The ensemble for this step: each served member with this step's rows (the next step's are sent meanwhile; `next`: null at the last step). */
export async function withServedRows(ensemble: TeacherEnsemble, served: readonly ServedMember[], micro: readonly DrawnBatch[], next: BatchCursor | null): Promise<TeacherEnsemble> {
  if (served.length === 0) return ensemble;
  const rows = await Promise.all(served.map((s) => s.prefetch.forStep(micro, next ? next.fork() : null)));
  const byMember = new Map(served.map((s, i) => [s.index, rows[i]!]));
  return { ...ensemble, members: ensemble.members.map((m, i) => (m.kind === 'top-k' && byMember.has(i) ? { ...m, rows: byMember.get(i)! } : m)) };
}

/** summary.json's truncation figures of each served member, by name. */
export function servedTruncation(served: readonly ServedMember[]): Record<string, TruncationFigures> {
  return Object.fromEntries(served.map((s) => [s.name, s.prefetch.truncation.figures()]));
}
