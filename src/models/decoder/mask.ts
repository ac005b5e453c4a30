// Which key positions each query may attend to: causal, optionally within a sliding window,
// and never a padding position.
import { arange, aten, type Tensor, tidy } from '../../tensor/index.js';

export interface MaskSpec {
  queryLength: number;
  /** Positions already in the KV cache before these queries. */
  pastLength: number;
  /** [B, past + T] with 1 for real tokens and 0 for padding; omit when there is none. */
  attentionMask?: Tensor;
  /** Keys further back than this many positions are hidden (sliding-window layers). */
  slidingWindow?: number | null;
  device: string;
}

/** A boolean [B|1, 1, T, S] tensor: true where query t may attend to key s. */
export function allowedAttention(spec: MaskSpec): Tensor {
  return tidy(() => {
    const keyLength = spec.pastLength + spec.queryLength;
    const queryPositions = arange(spec.pastLength, keyLength, 1, { device: spec.device }).unsqueeze(1);
    const keyPositions = arange(0, keyLength, 1, { device: spec.device }).unsqueeze(0);
    let allowed = keyPositions.le(queryPositions);
    if (spec.slidingWindow) allowed = allowed.logicalAnd(keyPositions.gt(queryPositions.sub(spec.slidingWindow)));
    allowed = allowed.unsqueeze(0).unsqueeze(0);
    if (spec.attentionMask) {
      const mask = spec.attentionMask;
      if (mask.ndim !== 2 || mask.size(1) !== keyLength) {
        throw new RangeError(`attention mask must be [batch, ${keyLength}] (past + new positions), got [${mask.shape}]`);
      }
      allowed = allowed.logicalAnd(mask.ne(0).unsqueeze(1).unsqueeze(1));
    }
    return allowed;
  });
}

/**
 * `allowed` with every query that may attend to nothing (a left-padding position) allowed to
 * attend to everything instead. Such rows are never scored and no real query attends to them, but
 * a fused attention kernel turns an all-blocked row into NaN, and NaN·0 in backward poisons the
 * gradients of real positions; transformers unmasks these rows for SDPA the same way.
 */
export function attendableMask(allowed: Tensor): Tensor {
  return tidy(() => allowed.logicalOr(aten('aten::any.dim', allowed, -1, true).logicalNot()));
}

/** The most negative finite value of a floating dtype: what masked scores become (as in transformers). */
export function dtypeMin(dtype: Tensor['dtype']): number {
  switch (dtype) {
    case 'float16':
      return -65504;
    case 'bfloat16':
      return -3.3895313892515355e38;
    case 'float64':
      return -Number.MAX_VALUE;
    default:
      return -3.4028234663852886e38;
  }
}
