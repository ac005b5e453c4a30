// Loads the libtorch addon and declares its surface. Only the tensor and nn layers talk to it.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** An opaque libtorch tensor held by the addon. */
export type NativeTensor = { readonly __nativeTensor: unique symbol };
export type NativeGenerator = { readonly __nativeGenerator: unique symbol };
export type NativeAdamW = { readonly __nativeAdamW: unique symbol };
export type NativeProcessGroup = { readonly __nativeProcessGroup: unique symbol };

export interface DistInitOptions {
  backend: 'gloo' | 'nccl';
  rank: number;
  worldSize: number;
  masterAddr: string;
  masterPort: number;
  timeoutMs: number;
  /** GLOO_SOCKET_IFNAME: the network interface Gloo binds to. */
  interface?: string;
  /** Serve the TCPStore from this process (rank 0, unless torchrun's agent already serves it). */
  hostStore: boolean;
}

export interface OpSchema {
  id: number;
  schema: string;
  arguments: { name: string; type: string; hasDefault: boolean; kwargOnly: boolean }[];
  returns: number;
}

export interface AdamWGroupSpec {
  params: NativeTensor[];
  lr: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
}

export interface NativeAdamWState {
  step: number;
  expAvg: NativeTensor;
  expAvgSq: NativeTensor;
}

export interface NativeAddon {
  resolveOp(name: string, overload: string): OpSchema | null;
  callOp(id: number, args: unknown[]): unknown;
  dispose(t: NativeTensor): void;
  isDisposed(t: NativeTensor): boolean;
  fromBuffer(data: ArrayBufferView | ArrayBuffer, dtype: number, shape: number[], device?: string): NativeTensor;
  toBuffer(t: NativeTensor): Uint8Array;
  /** null where the addon was built without CUDA. */
  cudaDeviceMemory(index: number): { freeBytes: number; totalBytes: number } | null;
  cudaAllocated(index: number): { allocatedBytes: number; peakAllocatedBytes: number } | null;
  cudaResetPeak(index: number): void;
  writeFile(fd: number, t: NativeTensor): number;
  readFile(fd: number, position: number, length: number, dtype: number, shape: number[]): NativeTensor;
  shape(t: NativeTensor): number[];
  strides(t: NativeTensor): number[];
  dtype(t: NativeTensor): number;
  device(t: NativeTensor): string;
  requiresGrad(t: NativeTensor): boolean;
  isLeaf(t: NativeTensor): boolean;
  setRequiresGrad(t: NativeTensor, flag: boolean): void;
  grad(t: NativeTensor): NativeTensor | null;
  setGrad(t: NativeTensor, g: NativeTensor | null): void;
  backward(t: NativeTensor, grad?: NativeTensor, retainGraph?: boolean): void;
  isGradEnabled(): boolean;
  setGradEnabled(flag: boolean): void;
  manualSeed(seed: number): void;
  createGenerator(seed: number): NativeGenerator;
  getRngState(gen?: NativeGenerator): NativeTensor;
  setRngState(state: NativeTensor, gen?: NativeGenerator): void;
  setNumThreads(n: number): void;
  runtimeInfo(): {
    torchVersion: string;
    torchVersionMajor: number;
    torchVersionMinor: number;
    numThreads: number;
    numInteropThreads: number;
    cudaAvailable: boolean;
    cudaDeviceCount: number;
    buildConfig: string;
    parallelInfo: string;
  };
  memoryStats(): { liveTensors: number; liveBytes: number; liveStorages: number; cpuBlockLiveBytes: number; cpuBlockPeakBytes: number; cpuBlockCachedBytes: number; cpuBlockMappedBytes: number };
  resetCpuBlockPeak(): void;
  setAllocatorCaching(on: boolean): boolean;
  createAdamW(groups: AdamWGroupSpec[]): NativeAdamW;
  adamwStep(opt: NativeAdamW): void;
  adamwStepMixed(opt: NativeAdamW, masters: NativeTensor[], copies: NativeTensor[], scale: NativeTensor | null): void;
  adamwZeroGrad(opt: NativeAdamW): void;
  adamwSetLr(opt: NativeAdamW, group: number, lr: number): void;
  adamwGetLr(opt: NativeAdamW, group: number): number;
  adamwGetState(opt: NativeAdamW): (NativeAdamWState | null)[];
  adamwSetState(opt: NativeAdamW, states: (NativeAdamWState | null)[]): void;
  clipGradNorm(params: NativeTensor[], maxNorm: number, normType?: number): NativeTensor;
  gradNorm(params: NativeTensor[], normType?: number): NativeTensor;
  clipCoefficient(norm: NativeTensor, maxNorm: number): NativeTensor;
  kdLossRows(student: NativeTensor, teacher: NativeTensor, targets: NativeTensor, temperature: number, alpha: number, scale: number, shared: number, plainLoop?: boolean): [NativeTensor, NativeTensor];
  rmsNorm(x: NativeTensor, weight: NativeTensor, eps: number): NativeTensor;
  rotary(x: NativeTensor, cos: NativeTensor, sin: NativeTensor): NativeTensor;
  swiglu(gate: NativeTensor, up: NativeTensor, plainLoop?: boolean): NativeTensor;
  /** The fused kernels' vectorised loops run here (AVX2 + FMA). */
  kernelsVectorised(): boolean;
  gemm(a: NativeTensor, b: NativeTensor, transposeA: boolean, transposeB: boolean, accumulate: NativeTensor | null): NativeTensor | undefined;
  gemmBackend(): 'onednn' | 'aten';
  batchedMatmul(a: NativeTensor, b: NativeTensor, transposeA: boolean, transposeB: boolean): NativeTensor;
  distAvailable(): { gloo: boolean; nccl: boolean };
  distInit(options: DistInitOptions): NativeProcessGroup;
  distAllReduce(group: NativeProcessGroup, tensors: NativeTensor[], op: 'sum' | 'max' | 'min', bucketBytes: number): void;
  distBroadcast(group: NativeProcessGroup, tensors: NativeTensor[], root: number, bucketBytes: number): void;
  distBarrier(group: NativeProcessGroup): void;
  distStoreSet(group: NativeProcessGroup, key: string, value: string): void;
  distStoreGet(group: NativeProcessGroup, key: string): string | null;
  distClose(group: NativeProcessGroup): void;
}

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** build/native, or DISTILLERY_NATIVE_DIR (relative to the checkout) for a second libtorch's build. */
export const addonPath = join(process.env.DISTILLERY_NATIVE_DIR ? resolve(projectRoot, process.env.DISTILLERY_NATIVE_DIR) : join(projectRoot, 'build', 'native'), 'distillery_native.node');

// libtorch's OpenMP threads and OpenBLAS's own pthreads share the cores. With libgomp's default
// (active) wait policy, idle OpenMP threads spin after every parallel region and starve the BLAS
// threads: a small transformer's training step measured 2-5x slower on 2 cores. A passive wait
// avoids it. libgomp reads this once, when libtorch is loaded, so it is set before the addon loads
// (an explicit user setting wins).
process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
// The other way round: after every call OpenBLAS's (pthread build) workers busy-wait for 2^28 CPU
// cycles, ~0.1 s, so during a training step they hold the second core all the time (a KD step at
// V = 4,096 measured 97 % of a core in OpenBLAS's worker), and every ATen parallel region or fused
// kernel between two matrix products waits for the scheduler to preempt them. A timeout of 2^4
// cycles puts them to sleep at once; ATen's own threads then have the core. Measured over six
// alternating runs of 20 steps: median 3.19 vs 3.47 s, and a spread of 3.15-3.80 vs 3.03-4.07 s.
process.env.OPENBLAS_THREAD_TIMEOUT ??= '4';
// A data-parallel worker (WORLD_SIZE > 1): c10d logs its socket failures through glog as raw
// lines that repeat what the RankFailureError then says in words; keep the terminal to the latter.
// libtorch 2.x built without glog (Debian's) logs through c10's own logger, which reads
// TORCH_CPP_LOG_LEVEL when libtorch loads.
if (Number(process.env.WORLD_SIZE) > 1) {
  process.env.GLOG_minloglevel ??= '3';
  process.env.TORCH_CPP_LOG_LEVEL ??= 'FATAL';
}

/** The libtorch addon has not been built in this install (`distillery setup` builds it). */
export class AddonMissingError extends Error {
  override name = 'AddonMissingError';
}

/** Whether the addon file exists (commands that never compute do not need it). */
export function addonBuilt(): boolean {
  return existsSync(addonPath);
}

function load(): NativeAddon {
  if (!addonBuilt()) {
    throw new AddonMissingError(`the libtorch addon is not built (${addonPath} is missing): run \`npx distillery setup\` (in a checkout: scripts/setup.sh)`);
  }
  const require = createRequire(import.meta.url);
  return require(addonPath) as NativeAddon;
}

/**
 * The addon, loaded on first use, so that importing Distillery (and `distillery --help`) neither
 * needs libtorch nor pays for loading it. Until then `native` is a stand-in whose first property
 * read loads the addon and rebinds `native` to it (an ES module live binding: every importer then
 * calls the addon directly).
 */
export let native: NativeAddon = new Proxy({} as NativeAddon, {
  get(_target, key) {
    native = load();
    addonLoaded = true;
    for (const configure of whenLoaded.splice(0)) configure();
    return native[key as keyof NativeAddon];
  },
});

let addonLoaded = false;
const whenLoaded: (() => void)[] = [];

/** Runs `configure` once the addon is loaded (at once if it is): settings libtorch needs before any work. */
export function onAddonLoad(configure: () => void): void {
  if (addonLoaded) configure();
  else whenLoaded.push(configure);
}
