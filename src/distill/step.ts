// One optimizer step of distillation, as the trainer runs it and `bench kd` measures it: the
// step's completions where it trains on any (on-policy, sequence-level KD); for each of this
// rank's micro-batches — in the pieces the memory plan allows — the teacher signal, the student's
// forward, the loss and its backward (micro-batch.ts); the gradients clipped and the optimizer
// stepped (a mixed-precision student in one process straight from its bf16 gradients; across ranks
// they are moved to the float32 masters and summed there first); and the step's one read from the
// device, of the loss sums and the gradient norm together.
import { padBatch } from '../data/index.js';
import { clipCoefficient, clipGradNorm, type AdamW } from '../nn/index.js';
import { type Tensor, tidy, zeros } from '../tensor/index.js';
import type { DrawnBatch } from './batches.js';
import type { DataParallel } from './data-parallel.js';
import { mixedLoss } from './loss.js';
import { splitMicroBatch } from './memory/plan.js';
import { microBatchBackward, type MicroBatchSetup, readStepScalars } from './micro-batch.js';
import type { StudentPrecision } from './precision.js';
import type { AlignmentCounts } from './cross-tokenizer/batch-plan.js';
import { addAlignment, noAlignment } from './cross-tokenizer/alignment-totals.js';
import { answerSource, type AnswerSource, type CompletionPlan, type StepCounts, stepCounts, stepMicroBatches } from './step-micro-batches.js';

/**
 * What every step of a run uses: each micro-batch's setup (teacher, loss, kernels' shape; the
 * student is the precision's compute copy), the optimizer, and the step's shape.
 */
export interface StepContext extends Omit<MicroBatchSetup, 'student'> {
  /** The student's compute copy (forward and backward) and its float32 masters (what the optimizer updates). */
  precision: StudentPrecision;
  /** What the optimizer updates (the masters' weights, or LoRA's adapters): their gradients are summed over ranks and clipped. */
  trainable: Tensor[];
  optimizer: AdamW;
  /** Sequences per forward/backward pass: the memory plan may split a micro-batch into such pieces. */
  microBatchSize: number;
  /** Clip the global gradient norm to this; 0: no clipping. */
  maxGradNorm: number;
  padId: number;
  parallel: DataParallel;
  /** How completions are made, when the run trains on any; else null. */
  completion: CompletionPlan | null;
}

/** What one step did, read from the device once. */
export interface StepResult {
  /** α·Σkd/N + (1−α)·Σce/N over the step's N targets, on-policy micro-batches adding Σkd/N. */
  loss: number;
  /** Mean KD term over all the step's targets. */
  kdLoss: number;
  /** Mean CE over the step's reference answers; null when every micro-batch was on-policy (no reference). */
  ceLoss: number | null;
  /** The global gradient norm before clipping; null without clipping. */
  gradNorm: number | null;
  counts: StepCounts;
  /** Whose answers each micro-batch of the global step held. */
  answers: AnswerSource[];
  /** Seconds in the gradients' all-reduce (0 in a single process). */
  allreduceSeconds: number;
  /** Cross-tokenizer: how the step's targets (all ranks) were matched with the teacher's tokens; else null. */
  alignment: AlignmentCounts | null;
}

/** A loss that is NaN or infinite: the run stops before any checkpoint could record it. */
export class NonFiniteLossError extends Error {
  override name = 'NonFiniteLossError';
}

/**
 * Step `step` (1-based) over the global step's micro-batches `micro` (every rank passes all of
 * them and trains its own share) at learning rate `lr`. Throws NonFiniteLossError, before the
 * optimizer has changed anything, when the loss is not finite.
 */
export function trainStep(context: StepContext, step: number, micro: readonly DrawnBatch[], lr: number): StepResult {
  const { precision, optimizer, loss, parallel, completion, clock } = context;
  clock?.start();
  const answers = micro.map((_, index) => answerSource(completion, step, index));
  const { batches, generation } = stepMicroBatches(parallel.shareOf(micro.map((m, index) => ({ examples: m.examples, index }))), answers, step, completion);
  const counts = stepCounts(micro.flatMap((m) => m.examples), answers, batches, generation, parallel);
  const setup: MicroBatchSetup = { ...context, student: precision.compute };
  // On the student's own completions there is no reference answer: the KD term alone.
  const kdOnly = { ...setup, loss: { ...loss, alpha: 1 } };
  const aligned = noAlignment();
  setup.onAlignment = kdOnly.onAlignment = (c) => addAlignment(aligned, c);
  // [Σkd, Σce, Σkd on-policy] of this rank's micro-batches, added on the device.
  const localSums = zeros([3], { dtype: 'float64', device: context.device });
  for (const batch of batches) {
    // The memory plan may compute each micro-batch in smaller pieces: the same step, accumulated.
    const onPolicy = batch.answers === 'student';
    const positions = batch.examples.map((_, i) => i);
    for (const piece of splitMicroBatch(positions, context.microBatchSize)) {
      const examples = piece.map((i) => batch.examples[i]!);
      const sourceIndices = piece.map((i) => batch.sourceIndices[i] ?? -1);
      const sums = microBatchBackward(padBatch(examples, context.padId), counts.targets, onPolicy ? kdOnly : setup, sourceIndices);
      tidy(() => {
        if (onPolicy) localSums.narrow(0, 2, 1).add_(sums.narrow(0, 0, 1));
        else localSums.narrow(0, 0, 2).add_(sums);
      });
      sums.dispose();
    }
  }
  const trained = context.trainable;
  // A mixed-precision student in one process steps straight from its bf16 gradients (one pass, no
  // float32 gradients); across ranks they are moved to the float32 masters and summed there first.
  const onePass = precision.mixed && parallel.worldSize === 1;
  let allreduceSeconds = 0;
  if (!onePass) {
    precision.gradientsToMaster();
    const reduceStart = Date.now();
    parallel.sumGradients(trained);
    allreduceSeconds = (Date.now() - reduceStart) / 1000;
  }
  const clipping = context.maxGradNorm > 0;
  const norm = !clipping ? null : onePass ? precision.gradientNorm() : clipGradNorm(trained, context.maxGradNorm);
  // The one-pass step scales the gradients as it reads them (clipGradNorm scaled them in place).
  const scale = onePass && norm ? clipCoefficient(norm, context.maxGradNorm) : null;
  try {
    // The step's one wait for the device: the loss sums and the gradient norm, read together
    // before the optimizer may apply anything.
    const { sums: local, gradNorm } = readStepScalars(localSums, norm);
    const { kdSum, ceSum, studentKdSum } = parallel.sumFields(local);
    const alignment = context.crossTokenizer ? parallel.sumFields(aligned) : null;
    const n = Math.max(1, counts.targets);
    const kdLoss = (kdSum + studentKdSum) / n;
    const ceLoss = counts.ceTargets > 0 ? ceSum / counts.ceTargets : null;
    const stepLoss = mixedLoss(kdSum, ceSum, loss.alpha, n, studentKdSum);
    if (!Number.isFinite(stepLoss)) {
      const where = micro.map((m) => `epoch ${m.epoch} examples [${m.indices.join(', ')}]`).join('; ');
      throw new NonFiniteLossError(`loss is ${stepLoss} (kd ${kdLoss}, ce ${ceLoss}) at step ${step}, batch ${where}; no checkpoint was written for it`);
    }
    optimizer.setLr(lr);
    if (onePass) {
      precision.step(optimizer, scale);
    } else {
      optimizer.step();
      optimizer.zeroGrad();
      precision.syncCompute();
    }
    clock?.lap('optimizer');
    return { loss: stepLoss, kdLoss, ceLoss, gradNorm, counts, answers, allreduceSeconds, alignment };
  } finally {
    scale?.dispose();
  }
}
