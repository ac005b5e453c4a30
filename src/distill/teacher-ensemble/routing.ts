// --teacher-route FIELD: each record names its teacher, and each example's KD is against that
// teacher alone (routing by task, as verl and ms-swift do). A micro-batch's examples are grouped by
// teacher; each local teacher runs only on its own examples, and a range of target rows is
// answered in parts, one per teacher, at the rows' positions (loss.ts splits them again).
import type { PaddedBatch } from '../../data/pad-batch.js';
import { IGNORE_INDEX } from '../../data/index.js';
import { targetIndexOf } from '../../eval/targets.js';
import { tensor } from '../../tensor/index.js';
import type { RoutedPart, TeacherSignal } from '../teacher-rows.js';
import { type EnsembleMember, memberSignal } from './members.js';

/** The rows of `batch` that are `examples`' (same padding: target rows keep their order). */
function subBatch(batch: PaddedBatch, examples: readonly number[]): PaddedBatch {
  const pick = <T>(rows: T[]) => examples.map((b) => rows[b]!);
  const labels = pick(batch.labels);
  return { inputIds: pick(batch.inputIds), attentionMask: pick(batch.attentionMask), labels, targetTokens: labels.reduce((n, row) => n + targetsOf(row), 0) };
}

/** Target rows of one example (targetIndexOf's: positions t ≥ 1 with a label). */
function targetsOf(labels: readonly number[]): number {
  let n = 0;
  for (let t = 1; t < labels.length; t++) if (labels[t] !== IGNORE_INDEX) n++;
  return n;
}

export function routedSignal(members: readonly EnsembleMember[], teacherOf: readonly number[], batch: PaddedBatch, sourceIndices: readonly number[], device: string): TeacherSignal {
  const route = batch.labels.map((_, b) => {
    const teacher = teacherOf[sourceIndices[b] ?? -1];
    // Completions have no record to name a teacher: the configuration refuses routing with them.
    if (teacher === undefined) throw new Error(`--teacher-route: example ${sourceIndices[b]} of this batch has no teacher`);
    return teacher;
  });
  // The teacher of each target row, in targetIndexOf's order (example by example).
  const rowTeacher = batch.labels.flatMap((labels, b) => new Array<number>(targetsOf(labels)).fill(route[b]!));
  const signals = new Map<number, TeacherSignal>();
  try {
    members.forEach((member, i) => {
      const examples = route.flatMap((teacher, b) => (teacher === i ? [b] : []));
      if (examples.length === 0) return;
      const own = subBatch(batch, examples);
      signals.set(i, memberSignal(member, own, targetIndexOf(own.labels, device).index, examples.map((b) => sourceIndices[b]!), device));
    });
  } catch (error) {
    for (const s of signals.values()) s.dispose();
    throw error;
  }
  return {
    rowsAt: (start, count) => {
      const parts: RoutedPart[] = [];
      for (const [teacher, signal] of signals) {
        const positions: number[] = [];
        for (let r = start; r < start + count; r++) if (rowTeacher[r] === teacher) positions.push(r - start);
        if (positions.length === 0) continue;
        // The teacher's own rows before this range: where the range begins in its signal.
        let before = 0;
        for (let r = 0; r < start; r++) if (rowTeacher[r] === teacher) before++;
        const rows = signal.rowsAt(before, positions.length);
        if (positions.length === count) return rows;
        parts.push({ positions: tensor(positions, { dtype: 'int64', device }), rows });
      }
      return { kind: 'routed', parts };
    },
    dispose: () => signals.forEach((s) => s.dispose()),
  };
}
