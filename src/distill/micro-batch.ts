// One micro-batch of a distillation step: teacher and student forward passes, the loss, and its
// backward pass (the gradients accumulate; the optimizer step is the caller's). Shared by the
// trainer and `distillery bench kd`, so the benchmark measures exactly what training runs.
import type { PaddedBatch } from '../data/pad-batch.js';
import { rowsAt, targetIndex } from '../eval/targets.js';
import type { Qwen3ForCausalLM } from '../models/qwen3/model.js';
import { linear, tensor, tidy } from '../tensor/index.js';
import { chunkedLossBackward } from './chunked-loss.js';
import { cachedRowLossSums, combineLoss, type LossSettings, rowLossSums } from './loss.js';
import type { TeacherCache } from './teacher-cache/reader.js';
import type { TeacherSource } from './teacher.js';
import { batchInput } from '../models/qwen3/batch-input.js';

export interface MicroBatchSetup {
  student: Qwen3ForCausalLM;
  teacher: TeacherSource | null;
  loss: LossSettings;
  impl: 'chunked' | 'naive';
  chunkSize: number;
  device: string;
  /** An offline teacher cache replaces the teacher; rows are looked up by example index. */
  cache?: TeacherCache | null;
}

/** Backpropagates α·Σkd/N + (1−α)·Σce/N for this micro-batch (N: targets of the whole step). */
export function microBatchBackward(batch: PaddedBatch, totalTargets: number, s: MicroBatchSetup, sourceIndices: readonly number[] = []): { kdSum: number; ceSum: number } {
  return tidy(() => {
    // Only positions that predict a target go through either LM head.
    const { index, targets } = targetIndex(tensor(batch.labels, { dtype: 'int64', device: s.device }));
    const input = batchInput(batch.inputIds, batch.attentionMask, s.device);
    const hidden = s.student.hiddenStates(input.ids, input.options);
    const teacher = s.teacher;
    const cached = s.cache ? s.cache.rows(sourceIndices, s.device) : undefined;
    if (s.impl === 'chunked') {
      const teacherHidden = teacher && !cached ? teacher.hiddenRows(batch.inputIds, batch.attentionMask, index) : null;
      return chunkedLossBackward({
        hiddenRows: rowsAt(hidden, index),
        headWeight: s.student.lmHeadWeight,
        teacherLogits: teacher && teacherHidden ? (start, count) => teacher.headLogits(teacherHidden.narrow(0, start, count), s.device) : null,
        cached,
        targets,
        settings: s.loss,
        totalTargets,
        chunkSize: s.chunkSize,
      });
    }
    const studentRows = linear(rowsAt(hidden, index), s.student.lmHeadWeight);
    const sums = cached
      ? cachedRowLossSums(studentRows, cached, targets, s.loss)
      : rowLossSums(studentRows, teacher ? teacher.rows(batch.inputIds, batch.attentionMask, index, s.device) : null, targets, s.loss);
    if (totalTargets > 0) combineLoss(sums, s.loss.alpha, totalTargets).backward();
    return { kdSum: sums.kdSum.item(), ceSum: sums.ceSum.item() };
  });
}
