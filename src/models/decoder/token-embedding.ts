// The decoder's token embedding: a lookup table, times √hidden_size in families that scale it
// (Gemma's Gemma3TextScaledWordEmbedding). The factor is a float32 buffer in transformers, cast to
// the weights' dtype in forward: here too it is rounded to float32, then to the weights' dtype
// (√1152 = 33.94 is 34 in bfloat16; a float64 model gets the float32 value).
import { Embedding, type ParamOptions } from '../../nn/index.js';
import { full, type Tensor } from '../../tensor/index.js';

export class TokenEmbedding extends Embedding {
  readonly scale: number | null;

  constructor(num: number, dim: number, scaled: boolean, options: ParamOptions) {
    super(num, dim, options);
    this.scale = scaled ? Math.fround(Math.sqrt(dim)) : null;
  }

  override forward(indices: Tensor): Tensor {
    return this.scaled(super.forward(indices));
  }

  /** Looked-up rows [.., dim] as the model's first layer takes them (for rows looked up elsewhere). */
  scaled(rows: Tensor): Tensor {
    return this.scale === null ? rows : rows.mul(full([], this.scale, { dtype: rows.dtype, device: rows.device }));
  }
}
