// The positions a causal LM is scored on: logits at t predict the label at t+1; labels of -100
// (padding, masked prompt tokens) are never scored.
import { aten, type Tensor, tidy } from '../tensor/index.js';

export const IGNORE_INDEX = -100;

/** The [K, V] logits rows that predict a target, the K targets, and their flat row indices. */
export function targetRows(logits: Tensor, labels: Tensor): { rows: Tensor; targets: Tensor; index: Tensor } {
  return tidy(() => {
    const vocab = logits.size(-1);
    const predictors = logits.slice(1, 0, -1).reshape(-1, vocab);
    const next = labels.slice(1, 1).reshape(-1);
    const index = aten('aten::nonzero', next.ne(IGNORE_INDEX)).flatten();
    return { rows: predictors.indexSelect(0, index), targets: next.indexSelect(0, index), index };
  });
}

/** The same rows of another model's logits for the same batch (e.g. the teacher's). */
export function rowsAt(logits: Tensor, index: Tensor): Tensor {
  return tidy(() => logits.slice(1, 0, -1).reshape(-1, logits.size(-1)).indexSelect(0, index));
}
