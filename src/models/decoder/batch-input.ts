// A padded batch of token ids as model input: the id tensor, and the padding mask only when some
// row is padded (without one the model may use the fused causal attention kernel).
import { type Tensor, tensor } from '../../tensor/index.js';
import type { ForwardOptions } from './model.js';

export function batchInput(inputIds: number[][], attentionMask: number[][], device: string): { ids: Tensor; options: ForwardOptions } {
  const padded = attentionMask.some((row) => row.includes(0));
  return {
    ids: tensor(inputIds, { dtype: 'int64', device }),
    options: { attentionMask: padded ? tensor(attentionMask, { dtype: 'int64', device }) : undefined },
  };
}

/** Throws a RangeError naming the first id that is not a token of a `vocab`-sized model. */
export function checkTokenIds(ids: readonly number[], vocab: number, what = 'token id'): void {
  const bad = ids.find((id) => !Number.isInteger(id) || id < 0 || id >= vocab);
  if (bad !== undefined) throw new RangeError(`${what} ${bad} is outside the model's vocabulary [0, ${vocab})`);
}
