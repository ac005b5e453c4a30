// Gemma 2's logit softcapping, cap·tanh(x / cap): it bounds attention scores and final logits to
// (−cap, cap) smoothly. The final logits' cap is applied wherever logits are made from hidden
// states (CausalLM.logits, the teacher's head, the chunked loss), so every loss sees capped logits.
import type { Tensor } from '../../tensor/index.js';

/** cap·tanh(x / cap); x itself when cap is null. */
export function softcap(x: Tensor, cap: number | null): Tensor {
  return cap === null ? x : x.div(cap).tanh().mul(cap);
}

/**
 * The gradient with respect to x of a loss whose gradient with respect to the capped values is
 * `grad`, from the capped values alone: d(cap·tanh(x/cap))/dx = 1 − tanh² = 1 − (capped/cap)².
 */
export function softcapBackward(capped: Tensor, grad: Tensor, cap: number | null): Tensor {
  return cap === null ? grad : grad.mul(capped.div(cap).square().neg().add(1));
}
