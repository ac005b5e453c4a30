// The distillation loss computed chunk by chunk over target rows, fused with the LM heads, so no
// [tokens × vocabulary] tensor larger than one chunk ever exists (with a 151,936-token vocabulary a
// single fp32 logits matrix is 0.6 GB per 1,000 tokens). Each chunk runs forward and backward at
// once — the student head's weight gradient accumulates as usual and the gradient with respect to
// that chunk's hidden states is kept — then one backward pass carries the collected hidden-state
// gradients through the rest of the student. The same idea as Liger-Kernel's fused linear losses.
import { cat, keep, linear, type Tensor, tidy } from '../tensor/index.js';
import { cachedRowLossSums, combineLoss, type LossSettings, rowLossSums } from './loss.js';
import type { CachedRows } from './teacher-cache/reader.js';

function sliceCachedRows(rows: CachedRows, start: number, count: number): CachedRows {
  return {
    ids: rows.ids.narrow(0, start, count),
    logProbs: rows.logProbs.narrow(0, start, count),
    tailLogMass: rows.tailLogMass.narrow(0, start, count),
    tailTokens: rows.tailTokens,
  };
}

export interface ChunkedLossInput {
  /** Student final hidden states at the target positions [K, H], part of the autograd graph. */
  hiddenRows: Tensor;
  /** The student's LM head weight [V, H] (a parameter: its gradient accumulates). */
  headWeight: Tensor;
  /** Teacher logits [c, V] for target rows [start, start + c), or null without a teacher. */
  teacherLogits: ((start: number, count: number) => Tensor) | null;
  /** Instead of teacher logits: the offline teacher cache's rows for these targets. */
  cached?: CachedRows;
  targets: Tensor;
  settings: LossSettings;
  /** Target tokens of the whole accumulated batch (the loss is a mean over them). */
  totalTargets: number;
  chunkSize: number;
}

/** Backpropagates this micro-batch's share of the loss; returns its KD and CE sums. */
export function chunkedLossBackward(input: ChunkedLossInput): { kdSum: number; ceSum: number } {
  const rows = input.hiddenRows.size(0);
  const detached = input.hiddenRows.detach();
  const hiddenGrads: Tensor[] = [];
  let kdSum = 0;
  let ceSum = 0;
  try {
    for (let start = 0; start < rows; start += input.chunkSize) {
      const count = Math.min(input.chunkSize, rows - start);
      tidy(() => {
        const h = detached.narrow(0, start, count).clone().requiresGrad_();
        const logits = linear(h, input.headWeight);
        const targets = input.targets.narrow(0, start, count);
        const sums = input.cached
          ? cachedRowLossSums(logits, sliceCachedRows(input.cached, start, count), targets, input.settings)
          : rowLossSums(logits, input.teacherLogits ? input.teacherLogits(start, count) : null, targets, input.settings);
        combineLoss(sums, input.settings.alpha, input.totalTargets).backward();
        hiddenGrads.push(keep(h.grad!));
        kdSum += sums.kdSum.item();
        ceSum += sums.ceSum.item();
      });
    }
    if (rows > 0) tidy(() => input.hiddenRows.backward(cat(hiddenGrads)));
  } finally {
    for (const g of hiddenGrads) g.dispose();
    detached.dispose();
  }
  return { kdSum, ceSum };
}
