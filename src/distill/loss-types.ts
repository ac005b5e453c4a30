// The distillation loss's settings and what a piece of it returns (loss.ts); apart so that the
// loss's kernels in other files (cross-tokenizer/loss.ts) can name them without importing loss.ts.
import type { Tensor } from '../tensor/index.js';
import type { Divergence } from './divergences.js';

export interface LossSettings {
  alpha: number;
  temperature: number;
  divergence: Divergence;
  /** Only the first `sharedVocab` logits are compared (teacher and student embeddings may be padded differently). */
  sharedVocab?: number;
}

export interface LossSums {
  kdSum: Tensor;
  ceSum: Tensor;
  /** Target positions counted. */
  count: number;
}
