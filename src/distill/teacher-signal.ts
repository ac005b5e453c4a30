// What a micro-batch's loss compares the student with, for any range of its target rows: the
// online teacher (its hidden rows kept, its LM head applied to the rows asked for), the offline
// cache's top-k rows, or nothing (plain language-model training, α = 0). The chunked and the naive
// loss both ask it for the loss sums of rows [start, start + count), so neither branches on where
// the teacher's predictions come from.
import type { PaddedBatch } from '../data/pad-batch.js';
import { fusedKdLoss, fusedKdLossVectorised, type Tensor, tidy } from '../tensor/index.js';
import { cachedRowLossSums, type LossSettings, type LossSums, rowLossSums } from './loss.js';
import type { CachedRows, TeacherCache } from './teacher-cache/reader.js';
import type { TeacherSource } from './teacher.js';

export interface TeacherSignal {
  /** Σkd and Σce of student logits [count, V] for target rows [start, start + count) with their targets. */
  lossSums(studentLogits: Tensor, start: number, targets: Tensor, settings: LossSettings): LossSums;
  /**
   * The same sums ([Σkd, Σce], float64) and the gradient of (α·Σkd + (1−α)·Σce)·scale with respect
   * to the student's logits, from the fused kernel — where it applies (the online teacher, forward
   * KL, CPU, float32 or narrower logits); null elsewhere, and the caller runs autograd on lossSums.
   */
  fusedLossGradient?(studentLogits: Tensor, start: number, targets: Tensor, settings: LossSettings, scale: number): { sums: Tensor; grad: Tensor } | null;
  dispose(): void;
}

/** Whether the fused KD kernel computes this loss here (see TeacherSignal.fusedLossGradient). */
function fusedKernelApplies(student: Tensor, settings: LossSettings): boolean {
  return settings.divergence.kind === 'forward-kl' && student.device === 'cpu' && student.dtype !== 'float64' && fusedKdLossVectorised();
}

/** Teacher logits computed on demand for each range of rows (the online teacher, or a test's). */
export function logitsSignal(logitsOf: (start: number, count: number) => Tensor, dispose: () => void = () => {}): TeacherSignal {
  return {
    lossSums: (student, start, targets, settings) => rowLossSums(student, logitsOf(start, student.size(0)), targets, settings),
    fusedLossGradient: (student, start, targets, settings, scale) => {
      if (!fusedKernelApplies(student, settings)) return null;
      return tidy(() => {
        const teacher = logitsOf(start, student.size(0));
        const shared = settings.sharedVocab ?? Math.min(student.size(-1), teacher.size(-1));
        const { sums, grad } = fusedKdLoss(student.to('float32'), teacher.to('float32'), targets, { temperature: settings.temperature, alpha: settings.alpha, scale, shared });
        return { sums, grad: grad.to(student.dtype) };
      });
    },
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
