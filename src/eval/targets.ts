// The positions a causal LM is scored on: the hidden state (or logits) at t predicts the label at
// t+1; labels of -100 (padding, masked prompt tokens) are never scored. Selecting those rows before
// the LM head means no logits are ever computed for positions that do not count.
import { IGNORE_INDEX } from '../data/segments.js';
import { aten, type Tensor, tensor, tidy } from '../tensor/index.js';

/**
 * Flat row indices (into the [B·(T−1)] predictor positions) that predict a target, and those
 * targets, from labels already on the device. Its output size depends on the values (nonzero), so
 * on CUDA this waits for the device; the training step uses targetIndexOf on the host's labels.
 */
export function targetIndex(labels: Tensor): { index: Tensor; targets: Tensor } {
  return tidy(() => {
    const next = labels.slice(1, 1).reshape(-1);
    const index = aten('aten::nonzero', next.ne(IGNORE_INDEX)).flatten();
    return { index, targets: next.indexSelect(0, index) };
  });
}

/** targetIndex computed from the host's padded labels and copied to `device`: no device round trip. */
export function targetIndexOf(labels: readonly (readonly number[])[], device: string): { index: Tensor; targets: Tensor } {
  const index: number[] = [];
  const targets: number[] = [];
  const predictors = Math.max(0, (labels[0]?.length ?? 0) - 1);
  labels.forEach((row, b) => {
    for (let t = 0; t < predictors; t++) {
      const label = row[t + 1]!;
      if (label === IGNORE_INDEX) continue;
      index.push(b * predictors + t);
      targets.push(label);
    }
  });
  return { index: tensor(index, { dtype: 'int64', device }), targets: tensor(targets, { dtype: 'int64', device }) };
}

/** Rows of a [B, T, D] tensor (hidden states or logits) at predictor positions `index`: [K, D]. */
export function rowsAt(x: Tensor, index: Tensor): Tensor {
  return tidy(() => x.slice(1, 0, -1).reshape(-1, x.size(-1)).indexSelect(0, index));
}

/** The [K, V] logits rows that predict a target, the K targets, and their flat row indices. */
export function targetRows(logits: Tensor, labels: Tensor): { rows: Tensor; targets: Tensor; index: Tensor } {
  return tidy(() => {
    const { index, targets } = targetIndex(labels);
    return { rows: rowsAt(logits, index), targets, index };
  });
}

/**
 * Rows of [rows × vocabulary] float32 logits that make about 40 MiB, in multiples of 16 (64 rows at
 * Qwen3's 151,936 tokens): the unit in which LM heads are applied to target rows, so no logits matrix
 * over a whole batch exists (8 × 512 tokens of Qwen3 logits would be 2.5 GB).
 */
export function rowsPerLogitsChunk(vocabSize: number): number {
  const rows = Math.floor((40 * 2 ** 20) / (vocabSize * 4) / 16) * 16;
  return Math.min(4096, Math.max(16, rows));
}
