// The tensor layer's public surface.
import { onAddonLoad } from '../native/index.js';
import { configureAllocatorFromEnvironment, configureThreadsFromEnvironment } from './runtime.js';

// Thread and allocator settings are applied when libtorch loads, on first use: importing the
// tensor layer loads nothing.
onAddonLoad(() => {
  configureThreadsFromEnvironment();
  configureAllocatorFromEnvironment();
});

export { Tensor, aten, atenMulti, type Scalar, type Device } from './tensor.js';
export { DTYPES, type DType, BYTES_PER_ELEMENT, dtypeCode, dtypeFromCode, isDType, isFloatingPoint, type TypedArray } from './dtype.js';
export * from './creation.js';
export * from './functional.js';
export * from './autograd.js';
export * from './random.js';
export * from './runtime.js';
export { tidy, keep } from './scope.js';
export { hasOp } from './dispatch.js';
export { hostSyncCount } from './host-sync.js';
export { fusedKdLoss, type FusedKdSettings } from './fused-kd-loss.js';
export { fusedRmsNorm, fusedRotary, fusedSwiglu } from './fused-layers.js';
export { type Kernels, kernelsFor } from './kernels.js';
export { batchedMatmul, gemm, gemmAccumulate, gemmBackend, type GemmOptions } from './gemm.js';
