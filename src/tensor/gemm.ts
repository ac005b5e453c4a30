// Matrix products outside autograd through the fastest GEMM this process has for them: oneDNN's
// sgemm for contiguous float32 CPU matrices where libtorch links oneDNN, else ATen's mm / addmm_
// (src/native/gemm.cpp says why and what was measured). Used for the LM-head products that the
// chunked loss differentiates by hand, and the teacher's head.
import { native } from '../native/index.js';
import { Tensor } from './tensor.js';

export interface GemmOptions {
  transposeA?: boolean;
  transposeB?: boolean;
}

/** op(a)·op(b) for 2-D a and b, where op transposes when asked. Records no gradient. */
export function gemm(a: Tensor, b: Tensor, options: GemmOptions = {}): Tensor {
  return new Tensor(native.gemm(a.native, b.native, options.transposeA ?? false, options.transposeB ?? false, null)!);
}

/** into += op(a)·op(b), in place. Records no gradient. */
export function gemmAccumulate(into: Tensor, a: Tensor, b: Tensor, options: GemmOptions = {}): void {
  native.gemm(a.native, b.native, options.transposeA ?? false, options.transposeB ?? false, into.native);
}

/** Which library float32 CPU products go through: 'onednn', or 'aten' (its BLAS) where oneDNN is not loaded as a shared library. */
export function gemmBackend(): 'onednn' | 'aten' {
  return native.gemmBackend();
}
