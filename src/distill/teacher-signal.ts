// What a micro-batch's loss compares the student with, for any range of its target rows: the
// online teacher (its hidden rows kept, its LM head applied to the rows asked for), the offline
// cache's top-k rows, or nothing (plain language-model training, α = 0). The chunked and the naive
// loss both ask it for the loss sums of rows [start, start + count), so neither branches on where
// the teacher's predictions come from.
import type { PaddedBatch } from '../data/pad-batch.js';
import type { Tensor } from '../tensor/index.js';
import { cachedRowLossSums, type LossSettings, type LossSums, rowLossSums } from './loss.js';
import type { CachedRows, TeacherCache } from './teacher-cache/reader.js';
import type { TeacherSource } from './teacher.js';

export interface TeacherSignal {
  /** Σkd and Σce of student logits [count, V] for target rows [start, start + count) with their targets. */
  lossSums(studentLogits: Tensor, start: number, targets: Tensor, settings: LossSettings): LossSums;
  dispose(): void;
}

/** Teacher logits computed on demand for each range of rows (the online teacher, or a test's). */
export function logitsSignal(logitsOf: (start: number, count: number) => Tensor, dispose: () => void = () => {}): TeacherSignal {
  return {
    lossSums: (student, start, targets, settings) => rowLossSums(student, logitsOf(start, student.size(0)), targets, settings),
    dispose,
  };
}

/** The offline cache's rows for this micro-batch's targets. */
export function cachedSignal(rows: CachedRows): TeacherSignal {
  return {
    lossSums: (student, start, targets, settings) => {
      const count = student.size(0);
      const slice = { ids: rows.ids.narrow(0, start, count), logProbs: rows.logProbs.narrow(0, start, count), tailLogMass: rows.tailLogMass.narrow(0, start, count), tailTokens: rows.tailTokens };
      return cachedRowLossSums(student, slice, targets, settings);
    },
    dispose: () => {
      for (const t of [rows.ids, rows.logProbs, rows.tailLogMass]) t.dispose();
    },
  };
}

/** No teacher: the KD sum is 0 (cross-entropy only). */
export const NO_TEACHER: TeacherSignal = { lossSums: (student, _start, targets, settings) => rowLossSums(student, null, targets, settings), dispose: () => {} };

/**
 * The signal for one micro-batch: the cache's rows when there is a cache (looked up by the examples'
 * source indices), else the online teacher run now (before the student: its working set is gone
 * before the student's activations exist), else none.
 */
export function teacherSignalFor(
  source: { teacher: TeacherSource | null; cache?: TeacherCache | null },
  batch: PaddedBatch,
  index: Tensor,
  sourceIndices: readonly number[],
  device: string,
): TeacherSignal {
  if (source.cache) return cachedSignal(source.cache.rows(sourceIndices, device));
  const teacher = source.teacher;
  if (!teacher) return NO_TEACHER;
  const hidden = teacher.hiddenRows(batch.inputIds, batch.attentionMask, index);
  return logitsSignal((start, count) => teacher.headLogits(hidden.narrow(0, start, count), device), () => hidden.dispose());
}
