// Matrix products through the fastest GEMM this process has for them: oneDNN's sgemm for float32
// CPU matrices where libtorch links oneDNN, else ATen's (src/native/gemm.cpp says why and what was
// measured). gemm / gemmAccumulate record no gradient: the LM-head products that the chunked loss
// differentiates by hand, and the teacher's head. batchedMatmul does: attention's products.
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

/**
 * op(a)·op(b) for every matrix of two batches [..., rows, cols] with the same leading dimensions,
 * recording a gradient like any op. float32 CPU batches go through oneDNN's sgemm one matrix per
 * thread (attention's many small products: 2.3x ATen's bmm); anything else through ATen's matmul.
 */
export function batchedMatmul(a: Tensor, b: Tensor, options: GemmOptions = {}): Tensor {
  return new Tensor(native.batchedMatmul(a.native, b.native, options.transposeA ?? false, options.transposeB ?? false));
}
