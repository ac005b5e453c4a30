// The distillation loss computed chunk by chunk over target rows, fused with the LM heads, so no
// [tokens × vocabulary] tensor larger than one chunk ever exists (with a 151,936-token vocabulary a
// single fp32 logits matrix is 0.6 GB per 1,000 tokens). Each chunk runs forward and backward at
// once: autograd gives the gradient of the chunk's logits, from which the head's backward is done
// by hand — the hidden-state gradient dlogits·W is kept, and dlogitsᵀ·h is added into the head
// weight's gradient in place (addmm_), where autograd would first build a [V × H] temporary for
// every chunk (0.6 GB at Qwen3-0.6B's size). Then one backward pass carries the collected
// hidden-state gradients through the rest of the student. Liger-Kernel's fused linear losses
// follow the same idea.
import { rowsPerLogitsChunk } from '../eval/targets.js';
import { cat, gemm, gemmAccumulate, keep, noGrad, type Tensor, tidy, zeros } from '../tensor/index.js';
import { gradientBuffer } from './gradient-buffer.js';
import { lossGradient, type LossSettings } from './loss.js';
import { softcap, softcapBackward } from '../models/decoder/softcap.js';
import type { PhaseClock } from './phase-clock.js';
import type { TeacherSignal } from './teacher-signal.js';

/**
 * Rows per chunk: `requested` when positive, else about 40 MiB of fp32 logits per chunk, in
 * multiples of 16 rows (64 at Qwen3's 151,936-token vocabulary). A chunk's loss and its backward
 * hold several such [rows × V] buffers at once — about 9 through autograd, 3 in the fused kernel
 * (student and teacher logits, their gradient); the memory plan counts autograd's 9 — so small
 * chunks keep the step's memory down, and past a few dozen rows the head products run at full speed.
 */
export function chunkRows(requested: number, vocabSize: number): number {
  return requested > 0 ? requested : rowsPerLogitsChunk(vocabSize);
}

export interface ChunkedLossInput {
  /** Student final hidden states at the target positions [K, H], part of the autograd graph. */
  hiddenRows: Tensor;
  /** The student's LM head weight [V, H] (a parameter: its gradient accumulates). */
  headWeight: Tensor;
  /** The student's final logit cap (Gemma 2 style), applied to each chunk's logits; null: none. */
  headSoftcap?: number | null;
  /** What the loss compares each chunk with: the online teacher, the cache's rows, or nothing. */
  teacher: TeacherSignal;
  targets: Tensor;
  settings: LossSettings;
  /** Target tokens of the whole accumulated batch (the loss is a mean over them). */
  totalTargets: number;
  chunkSize: number;
  /** Laps: the chunks (heads, loss and their backward), then the backward through the student. */
  clock?: PhaseClock;
}

/** Backpropagates this micro-batch's share of the loss; returns its [Σkd, Σce] (float64, on the device). */
export function chunkedLossBackward(input: ChunkedLossInput): Tensor {
  const rows = input.hiddenRows.size(0);
  const detached = input.hiddenRows.detach();
  const weight = input.headWeight.detach();
  // A frozen head (a LoRA student's) has no gradient to accumulate: only the hidden states' flows on.
  const weightGrad = rows > 0 && input.headWeight.requiresGrad ? gradientBuffer(input.headWeight) : null;
  const hiddenGrads: Tensor[] = [];
  // Each chunk's [Σkd, Σce] stays on the device and all are added there: the caller reads a
  // step's sums once (every read is a device synchronisation on CUDA).
  const chunkSums: Tensor[] = [];
  try {
    // The signal may fix the chunks (cross-tokenizer spans are never split); else equal ones.
    const chunks = input.teacher.chunks ?? Array.from({ length: Math.ceil(rows / input.chunkSize) }, (_, i) => ({ start: i * input.chunkSize, count: Math.min(input.chunkSize, rows - i * input.chunkSize) }));
    for (const { start, count } of chunks) {
      tidy(() => {
        const h = detached.narrow(0, start, count);
        // The three head products go through gemm (oneDNN's sgemm on CPU where libtorch has it).
        const logits = noGrad(() => softcap(gemm(h, weight, { transposeB: true }), input.headSoftcap ?? null));
        const targets = input.targets.narrow(0, start, count);
        // The teacher's rows live only while the loss needs them, not through the head's products.
        const { sums, dLogits: dCapped } = tidy(() => lossGradient(logits, input.teacher.rowsAt(start, count), targets, input.settings, input.totalTargets));
        noGrad(() => {
          const dLogits = softcapBackward(logits, dCapped, input.headSoftcap ?? null);
          hiddenGrads.push(keep(gemm(dLogits, weight)));
          if (weightGrad) gemmAccumulate(weightGrad, dLogits, h, { transposeA: true });
        });
        chunkSums.push(keep(sums));
      });
    }
    input.clock?.lap('loss_and_head');
    if (rows > 0) tidy(() => input.hiddenRows.backward(cat(hiddenGrads)));
    // Added in float64, as JavaScript numbers would add them.
    return rows > 0 ? tidy(() => cat(chunkSums).to('float64').view(-1, 2).sum(0)) : zeros([2], { dtype: 'float64', device: input.targets.device });
  } finally {
    for (const g of [...chunkSums, ...hiddenGrads]) g.dispose();
    detached.dispose();
    weight.dispose();
    weightGrad?.dispose();
  }
}
