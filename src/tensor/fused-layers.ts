// Fused CPU kernels of the addon for three layers every decoder block runs: RMSNorm, rotary position
// embedding and SwiGLU (src/native/fused-layers.cpp), forward and backward in one pass each instead
// of a chain of elementwise ATen kernels. Autograd runs through them as through any op; which of
// them runs where is kernels.ts's answer.
import { native } from '../native/index.js';
import { Tensor } from './tensor.js';

let vectorised: boolean | undefined;

/**
 * Whether the fused kernels' vectorised loops (AVX2 + FMA) run on this CPU: asked of the addon once,
 * since the models consult it on every forward pass.
 */
export function fusedKernelsVectorised(): boolean {
  vectorised ??= native.kernelsVectorised();
  return vectorised;
}

/**
 * w · to_dtype(x₃₂ · rsqrt(mean(x₃₂²) + eps)) over the last dimension, as Hugging Face's Qwen3RMSNorm:
 * computed in float32, rounded to x's dtype, scaled by the weight [D] (same dtype as x).
 */
export function fusedRmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
  return new Tensor(native.rmsNorm(x.native, weight.native, eps));
}

/**
 * x·cos + rotate_half(x)·sin for x [B, H, T, D] (any strides) and cos/sin [B or 1, T, D] in x's
 * dtype; returns a contiguous [B, H, T, D].
 */
export function fusedRotary(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  return new Tensor(native.rotary(x.native, cos.native, sin.native));
}

/** silu(gate)·up for float32 CPU tensors of one shape; `plainLoop` forces the unvectorised loop (tests check both). */
export function fusedSwiglu(gate: Tensor, up: Tensor, options: { plainLoop?: boolean } = {}): Tensor {
  return new Tensor(native.swiglu(gate.native, up.native, options.plainLoop ?? false));
}
