// One micro-batch of a distillation step: teacher and student forward passes, the loss, and its
// backward pass (the gradients accumulate; the optimizer step is the caller's). Shared by the
// trainer and `distillery bench kd`, so the benchmark measures exactly what training runs.
import type { PaddedBatch } from '../data/pad-batch.js';
import { rowsAt, targetIndexOf } from '../eval/targets.js';
import type { CausalLM } from '../models/decoder/model.js';
import { cat, embedding, noGrad, type Tensor, tidy } from '../tensor/index.js';
import { gradientBuffer } from './gradient-buffer.js';
import { chunkedLossBackward, chunkRows } from './chunked-loss.js';
import { combineLoss, type LossSettings, lossSums } from './loss.js';
import type { PhaseClock } from './phase-clock.js';
import { teacherSignalFor, type TopKRowsSource } from './teacher-signal.js';
import type { TeacherSource } from './teacher.js';
import type { AlignmentCounts } from './cross-tokenizer/batch-plan.js';
import type { CrossTokenizerSetup } from './cross-tokenizer/signal.js';
import { ensembleSignal, type TeacherEnsemble } from './teacher-ensemble/ensemble.js';
import { batchInput } from '../models/decoder/batch-input.js';
import { type CheckpointedForward, checkpointedHiddenStates } from '../models/decoder/checkpointing.js';
import type { ForwardOptions } from '../models/decoder/model.js';

export interface MicroBatchSetup {
  student: CausalLM;
  teacher: TeacherSource | null;
  loss: LossSettings;
  impl: 'chunked' | 'naive';
  /** Target rows per chunk of the chunked loss; 0 chooses by vocabulary size (chunkRows). */
  chunkSize: number;
  device: string;
  /** Top-k rows replace the teacher (an offline cache, or a served teacher's step): looked up by example index. */
  cache?: TopKRowsSource | null;
  /** Activation checkpointing of the student's decoder layers (recomputed during backward). */
  checkpointing?: boolean;
  /** Laps at the step's phase boundaries (bench kd on CPU). */
  clock?: PhaseClock;
  /** A teacher with another tokenizer: its tokens aligned with the student's (--cross-tokenizer). */
  crossTokenizer?: CrossTokenizerSetup | null;
  /** Several teachers (--teacher given more than once): mixed or routed; replaces `teacher` and `cache`. */
  ensemble?: TeacherEnsemble | null;
  /** Told how each micro-batch's targets were aligned (cross-tokenizer only). */
  onAlignment?: (counts: AlignmentCounts) => void;
}

/** The student's final hidden states, and what carries their gradient through the decoder layers. */
function studentHidden(s: MicroBatchSetup, ids: Tensor, options: ForwardOptions): CheckpointedForward {
  if (s.checkpointing) return checkpointedHiddenStates(s.student, ids, options);
  // Without checkpointing autograd's recorded graph does it all when the loss is backpropagated.
  return { hidden: s.student.hiddenStates(ids, options), backward: () => {}, dispose: () => {} };
}

/** Runs `fn` with the student's hidden states; whatever a checkpointed forward kept is released after. */
function withStudentHidden<T>(s: MicroBatchSetup, ids: Tensor, options: ForwardOptions, fn: (student: CheckpointedForward) => T): T {
  const student = studentHidden(s, ids, options);
  try {
    return fn(student);
  } finally {
    student.dispose();
  }
}

/**
 * The student's input embeddings as an autograd leaf, and the embedding's backward done by hand
 * after the model's: the leaf's gradient rows are added into the embedding weight's gradient in
 * place (index_add_). Autograd's own embedding backward builds a dense [V × H] gradient first
 * (0.6 GB at Qwen3-0.6B's vocabulary), at the step's memory peak.
 */
function detachedEmbeddings(student: CausalLM, ids: Tensor): { inputs: Tensor; backward(): void } {
  const weight = student.model.embed_tokens.weight;
  // Frozen embeddings (a LoRA student's) need no gradient rows.
  if (!weight.requiresGrad) return { inputs: noGrad(() => embedding(weight, ids)), backward: () => {} };
  const inputs = noGrad(() => embedding(weight, ids)).requiresGrad_();
  return {
    inputs,
    backward: () =>
      tidy(() => {
        const rowsGrad = inputs.grad;
        if (!rowsGrad) return;
        const grad = gradientBuffer(weight);
        noGrad(() => grad.indexAdd_(0, ids.reshape(-1), rowsGrad.reshape(-1, weight.size(1))));
      }),
  };
}

/**
 * Backpropagates α·Σkd/N + (1−α)·Σce/N for this micro-batch (N: targets of the whole step), and
 * returns [Σkd, Σce] as a float64 tensor on the device, to be added to the step's other
 * micro-batches and read once (readStepScalars): nothing here waits for the device.
 */
export function microBatchBackward(batch: PaddedBatch, totalTargets: number, s: MicroBatchSetup, sourceIndices: readonly number[] = []): Tensor {
  return tidy(() => {
    // Only positions that predict a target go through either LM head; they are found on the host.
    const { index, targets } = targetIndexOf(batch.labels, s.device);
    const input = batchInput(batch.inputIds, batch.attentionMask, s.device);
    const chunkSize = s.impl === 'chunked' ? chunkRows(s.chunkSize, s.student.config.vocabSize) : Number.POSITIVE_INFINITY;
    const teacher = s.ensemble
      ? ensembleSignal(s.ensemble, batch, index, sourceIndices, s.device, s.loss, s.student.config.vocabSize)
      : teacherSignalFor(s, batch, index, sourceIndices, s.device, chunkSize);
    if (teacher.alignment) s.onAlignment?.(teacher.alignment);
    s.clock?.lap('teacher_forward');
    try {
      if (s.impl === 'chunked') {
        const embeddings = detachedEmbeddings(s.student, input.ids);
        const inputsEmbeds = s.student.model.embed_tokens.scaled(embeddings.inputs);
        return withStudentHidden(s, input.ids, { ...input.options, inputsEmbeds }, (student) => {
          s.clock?.lap('student_forward');
          const sums = chunkedLossBackward({
            hiddenRows: rowsAt(student.hidden, index),
            headWeight: s.student.lmHeadWeight,
            headSoftcap: s.student.config.finalLogitSoftcap,
            teacher,
            targets,
            settings: s.loss,
            totalTargets,
            chunkSize,
            clock: s.clock,
          });
          student.backward();
          embeddings.backward();
          s.clock?.lap('student_backward');
          return sums;
        });
      }
      const sums = withStudentHidden(s, input.ids, input.options, (student) => {
        s.clock?.lap('student_forward');
        const logits = s.student.logitsFrom(rowsAt(student.hidden, index));
        const rowSums = lossSums(logits, teacher.rowsAt(0, logits.size(0)), targets, s.loss);
        s.clock?.lap('loss_and_head');
        if (totalTargets > 0) combineLoss(rowSums, s.loss.alpha, totalTargets).backward();
        student.backward();
        s.clock?.lap('student_backward');
        return rowSums;
      });
      return cat([sums.kdSum.reshape(1), sums.ceSum.reshape(1)]).detach().to('float64');
    } finally {
      teacher.dispose();
    }
  });
}

/** A step's loss sums: over micro-batches with the data's (or the teacher's) answers, and Σkd over on-policy ones. */
export interface StepSums {
  kdSum: number;
  ceSum: number;
  /** Σkd of on-policy micro-batches (the student's own completions: KD alone, no CE). */
  studentKdSum: number;
}

/**
 * A step's sums — [Σkd, Σce] or [Σkd, Σce, Σkd on-policy] — and its gradient norm (when clipped)
 * read in one transfer, the step's only device synchronisation; both tensors are disposed.
 */
export function readStepScalars(sums: Tensor, gradNorm: Tensor | null): { sums: StepSums; gradNorm: number | null } {
  try {
    const count = sums.numel;
    const values = tidy(() => (gradNorm ? cat([sums, gradNorm.to({ dtype: 'float64', device: sums.device }).reshape(1)]) : sums).toArray());
    return { sums: { kdSum: values[0]!, ceSum: values[1]!, studentKdSum: count > 2 ? values[2]! : 0 }, gradNorm: gradNorm ? values[count]! : null };
  } finally {
    sums.dispose();
    gradNorm?.dispose();
  }
}
