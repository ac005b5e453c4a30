// Free functions over tensors, as torch.* and torch.nn.functional.*.
import { hasOp } from './dispatch.js';
import { type Scalar, Tensor, aten } from './tensor.js';
import { ones } from './creation.js';
import { tidy } from './scope.js';

export function cat(tensors: Tensor[], dim = 0): Tensor {
  return aten('aten::cat', tensors, dim);
}
export function stack(tensors: Tensor[], dim = 0): Tensor {
  return aten('aten::stack', tensors, dim);
}
/** Elementwise choice: a where condition holds, else b (scalars broadcast). */
export function where(condition: Tensor, a: Tensor | Scalar, b: Tensor | Scalar): Tensor {
  if (a instanceof Tensor && b instanceof Tensor) return aten('aten::where.self', condition, a, b);
  if (a instanceof Tensor) return aten('aten::where.ScalarOther', condition, a, b);
  if (b instanceof Tensor) return aten('aten::where.ScalarSelf', condition, a, b);
  return aten('aten::where.Scalar', condition, a, b);
}
/** y = x Wᵀ + b, with W of shape [out, in] as in torch.nn.Linear. */
export function linear(input: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  return aten('aten::linear', input, weight, bias);
}
/** Rows of `weight` picked by integer `indices`. */
export function embedding(weight: Tensor, indices: Tensor): Tensor {
  return aten('aten::embedding', weight, indices);
}
export function dropout(input: Tensor, p: number, training: boolean): Tensor {
  return aten('aten::dropout', input, p, training);
}

export type Reduction = 'none' | 'mean' | 'sum';
const REDUCTION: Record<Reduction, number> = { none: 0, mean: 1, sum: 2 };

/**
 * Cross-entropy of logits [N, C] (or [N, C, ...]) against class indices [N] (or [N, ...]), with
 * PyTorch's semantics: targets equal to `ignoreIndex` contribute nothing and are not counted in the mean.
 */
export function crossEntropy(
  logits: Tensor,
  target: Tensor,
  options: { ignoreIndex?: number; reduction?: Reduction; labelSmoothing?: number } = {},
): Tensor {
  const reduction = REDUCTION[options.reduction ?? 'mean'];
  if (reduction === undefined) throw new TypeError(`crossEntropy: reduction must be one of none, mean, sum`);
  return aten('aten::cross_entropy_loss', logits, target, undefined, reduction, options.ignoreIndex ?? -100, options.labelSmoothing ?? 0);
}

export interface AttentionOptions {
  /** Boolean (true = attend) or additive float mask, broadcastable to [..., L, S]. */
  attnMask?: Tensor;
  isCausal?: boolean;
  /** Defaults to 1/sqrt(head_dim). */
  scale?: number;
}

/**
 * softmax(q kᵀ · scale + mask) v over the last two dimensions. Uses libtorch's fused kernel
 * where it exists (2.x: flash / memory-efficient attention on CUDA) and the same math otherwise.
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  if (options.attnMask && options.isCausal) throw new TypeError('scaledDotProductAttention: give attnMask or isCausal, not both');
  const headDim = q.size(-1);
  if (hasOp('aten::scaled_dot_product_attention')) {
    return tidy(() => {
      // The `scale` argument only exists from libtorch 2.1: fold a custom scale into q instead.
      const query = options.scale === undefined ? q : q.mul(options.scale * Math.sqrt(headDim));
      return aten('aten::scaled_dot_product_attention', query, k, v, options.attnMask, 0, options.isCausal ?? false);
    });
  }
  return attentionFallback(q, k, v, options, headDim);
}

export function attentionFallback(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions, headDim: number): Tensor {
  return tidy(() => {
    const scale = options.scale ?? 1 / Math.sqrt(headDim);
    let scores = q.matmul(k.transpose(-2, -1)).mul(scale);
    const [L, S] = [q.size(-2), k.size(-2)];
    if (options.isCausal) {
      scores = scores.maskedFill(ones([L, S], { dtype: 'bool', device: q.device }).tril().logicalNot(), -Infinity);
    } else if (options.attnMask) {
      const mask = options.attnMask;
      scores = mask.dtype === 'bool' ? scores.maskedFill(mask.logicalNot(), -Infinity) : scores.add(mask);
    }
    return scores.softmax(-1).matmul(v);
  });
}
