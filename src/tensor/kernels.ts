// Which kernel computes each piece of a forward and backward pass, for a device and a dtype: the one
// place that answers it. The layers, the model, the loss and the memory plan all read this answer,
// so the plan counts the tensors of the kernels that really run, and a new device, dtype or model
// feature that a fused kernel lacks changes the answer here alone.
import { hasOp } from './dispatch.js';
import type { DType } from './dtype.js';
import { fusedKernelsVectorised } from './fused-layers.js';

export interface Kernels {
  /** RMSNorm (the layers' and the q/k norms): the addon's fused kernel, or ATen's ops. */
  norm: 'fused' | 'aten';
  /** Rotary position embedding: the addon's fused kernel, or ATen's ops. */
  rotary: 'fused' | 'aten';
  /** silu(gate)·up: the addon's fused kernel, or ATen's silu and mul. */
  swiglu: 'fused' | 'aten';
  /** libtorch 2.x's scaled_dot_product_attention, or eager matmul-softmax-matmul. */
  attention: 'sdpa' | 'eager';
  /** The loss's forward KL + cross-entropy rows and their logits gradient: the addon's fused kernel, or autograd. */
  kdLoss: 'fused' | 'autograd';
}

const answers = new Map<string, Kernels>();

/** The kernels that run tensors of `dtype` on `device` (asked on every forward pass: answered once per pair). */
export function kernelsFor(device: string, dtype: DType): Kernels {
  const key = `${device}/${dtype}`;
  let kernels = answers.get(key);
  if (!kernels) {
    kernels = choose(device, dtype);
    answers.set(key, kernels);
  }
  return kernels;
}

function choose(device: string, dtype: DType): Kernels {
  // The addon's fused layer kernels are CPU kernels; on other devices ATen's ops are the fast path.
  const cpu = device === 'cpu';
  // Their vectorised loops need AVX2 + FMA. The norm and rotary kernels win even as plain loops
  // (one pass instead of a chain of ATen kernels); SwiGLU's exp and the KD loss's exp/log do not:
  // without vectorisation ATen's vectorised ops (and autograd) are faster.
  const vectorised = cpu && fusedKernelsVectorised();
  return {
    norm: cpu ? 'fused' : 'aten',
    rotary: cpu ? 'fused' : 'aten',
    // ATen's vectorised bf16 silu and mul beat the kernel's conversions to and from float32.
    swiglu: vectorised && dtype === 'float32' ? 'fused' : 'aten',
    // Fused attention on CUDA, where flash / memory-efficient kernels keep no [T × S] matrices. Not
    // on CPU: there Debian's libtorch 2.6 kernel was slower than the eager path (README,
    // Building against another libtorch), and libtorch 1.13 has none.
    attention: !cpu && hasOp('aten::scaled_dot_product_attention') ? 'sdpa' : 'eager',
    // The kernel computes in float32 (narrower logits are widened); float64 runs (the tests'
    // references) stay in autograd's exact float64.
    kdLoss: vectorised && dtype !== 'float64' ? 'fused' : 'autograd',
  };
}
