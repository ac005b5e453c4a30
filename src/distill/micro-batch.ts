// One micro-batch of a distillation step: teacher and student forward passes, the loss, and its
// backward pass (the gradients accumulate; the optimizer step is the caller's). Shared by the
// trainer and `distillery bench kd`, so the benchmark measures exactly what training runs.
import type { PaddedBatch } from '../data/pad-batch.js';
import { rowsAt, targetIndex } from '../eval/targets.js';
import type { Qwen3ForCausalLM } from '../models/qwen3/model.js';
import { aten, embedding, linear, noGrad, type Tensor, tensor, tidy } from '../tensor/index.js';
import { gradientBuffer } from './gradient-buffer.js';
import { chunkedLossBackward, chunkRows } from './chunked-loss.js';
import { cachedRowLossSums, combineLoss, type LossSettings, rowLossSums } from './loss.js';
import type { TeacherCache } from './teacher-cache/reader.js';
import type { TeacherSource } from './teacher.js';
import { batchInput } from '../models/qwen3/batch-input.js';

export interface MicroBatchSetup {
  student: Qwen3ForCausalLM;
  teacher: TeacherSource | null;
  loss: LossSettings;
  impl: 'chunked' | 'naive';
  /** Target rows per chunk of the chunked loss; 0 chooses by vocabulary size (chunkRows). */
  chunkSize: number;
  device: string;
  /** An offline teacher cache replaces the teacher; rows are looked up by example index. */
  cache?: TeacherCache | null;
}

/**
 * The student's input embeddings as an autograd leaf, and the embedding's backward done by hand
 * after the model's: the leaf's gradient rows are added into the embedding weight's gradient in
 * place (index_add_). Autograd's own embedding backward builds a dense [V × H] gradient first
 * (0.6 GB at Qwen3-0.6B's vocabulary), at the step's memory peak.
 */
function detachedEmbeddings(student: Qwen3ForCausalLM, ids: Tensor): { inputs: Tensor; backward(): void } {
  const weight = student.model.embed_tokens.weight;
  const inputs = noGrad(() => embedding(weight, ids)).requiresGrad_();
  return {
    inputs,
    backward: () =>
      tidy(() => {
        const rowsGrad = inputs.grad;
        if (!rowsGrad) return;
        const grad = gradientBuffer(weight);
        noGrad(() => aten('aten::index_add_', grad, 0, ids.reshape(-1), rowsGrad.reshape(-1, weight.size(1))));
      }),
  };
}

/** Backpropagates α·Σkd/N + (1−α)·Σce/N for this micro-batch (N: targets of the whole step). */
export function microBatchBackward(batch: PaddedBatch, totalTargets: number, s: MicroBatchSetup, sourceIndices: readonly number[] = []): { kdSum: number; ceSum: number } {
  return tidy(() => {
    // Only positions that predict a target go through either LM head.
    const { index, targets } = targetIndex(tensor(batch.labels, { dtype: 'int64', device: s.device }));
    const input = batchInput(batch.inputIds, batch.attentionMask, s.device);
    const teacher = s.teacher;
    const cached = s.cache ? s.cache.rows(sourceIndices, s.device) : undefined;
    if (s.impl === 'chunked') {
      const embeddings = detachedEmbeddings(s.student, input.ids);
      const hidden = s.student.hiddenStates(input.ids, { ...input.options, inputsEmbeds: embeddings.inputs });
      const teacherHidden = teacher && !cached ? teacher.hiddenRows(batch.inputIds, batch.attentionMask, index) : null;
      const sums = chunkedLossBackward({
        hiddenRows: rowsAt(hidden, index),
        headWeight: s.student.lmHeadWeight,
        teacherLogits: teacher && teacherHidden ? (start, count) => teacher.headLogits(teacherHidden.narrow(0, start, count), s.device) : null,
        cached,
        targets,
        settings: s.loss,
        totalTargets,
        chunkSize: chunkRows(s.chunkSize, s.student.config.vocabSize),
      });
      embeddings.backward();
      return sums;
    }
    const hidden = s.student.hiddenStates(input.ids, input.options);
    const studentRows = linear(rowsAt(hidden, index), s.student.lmHeadWeight);
    const sums = cached
      ? cachedRowLossSums(studentRows, cached, targets, s.loss)
      : rowLossSums(studentRows, teacher ? teacher.rows(batch.inputIds, batch.attentionMask, index, s.device) : null, targets, s.loss);
    if (totalTargets > 0) combineLoss(sums, s.loss.alpha, totalTargets).backward();
    return { kdSum: sums.kdSum.item(), ceSum: sums.ceSum.item() };
  });
}
