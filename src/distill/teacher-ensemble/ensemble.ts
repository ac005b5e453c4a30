// Several teachers of one tokenizer (--teacher given more than once): local models, teacher caches
// and served teachers mixed. Each micro-batch's target is their mixture (--teacher-weights,
// mixture.ts) or, with --teacher-route, each example's own teacher (routing.ts).
import type { PaddedBatch } from '../../data/pad-batch.js';
import type { Tensor } from '../../tensor/index.js';
import type { LossSettings } from '../loss-types.js';
import type { TeacherSignal } from '../teacher-signal.js';
import { type EnsembleMember, memberSignal } from './members.js';
import { type MixableRows, mixtureRows } from './mixture.js';
import { routedSignal } from './routing.js';

export type { EnsembleMember } from './members.js';

/** How the members' predictions become one target. */
export type Combination =
  /** Σ w_i·softmax(z_i/τ); the weights sum to 1. */
  | { kind: 'mixture'; weights: readonly number[] }
  /** Each example's KD against one teacher: the member index of each training example, by source index. */
  | { kind: 'route'; teacherOf: readonly number[] };

export interface TeacherEnsemble {
  members: readonly EnsembleMember[];
  combination: Combination;
}

/** The ensemble's signal for one micro-batch: every member's, mixed; or each example's teacher's. */
export function ensembleSignal(
  ensemble: TeacherEnsemble,
  batch: PaddedBatch,
  index: Tensor,
  sourceIndices: readonly number[],
  device: string,
  settings: LossSettings,
  studentVocab: number,
): TeacherSignal {
  const { members, combination } = ensemble;
  if (combination.kind === 'route') return routedSignal(members, combination.teacherOf, batch, sourceIndices, device);
  const signals: TeacherSignal[] = [];
  try {
    for (const member of members) signals.push(memberSignal(member, batch, index, sourceIndices, device));
  } catch (error) {
    for (const s of signals) s.dispose();
    throw error;
  }
  return {
    rowsAt: (start, count) => mixtureRows(signals.map((s) => s.rowsAt(start, count) as MixableRows), combination.weights, settings, studentVocab),
    dispose: () => signals.forEach((s) => s.dispose()),
  };
}
