// Process-wide facts and settings: threads, devices, libtorch version, BLAS, live-tensor statistics.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { native } from '../native/index.js';

export function torchVersion(): string {
  return native.runtimeInfo().torchVersion;
}

export function numThreads(): number {
  return native.runtimeInfo().numThreads;
}

/** Intra-op threads used by libtorch's CPU kernels (at::set_num_threads). */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`thread count must be a positive integer, got ${n}`);
  native.setNumThreads(n);
}

/**
 * Applies DISTILLERY_NUM_THREADS, else OMP_NUM_THREADS, else one thread per core. Run once at
 * start-up: libtorch's OpenMP pool may otherwise start with a single thread inside Node.
 */
export function configureThreadsFromEnvironment(): void {
  const fromEnv = process.env.DISTILLERY_NUM_THREADS ?? process.env.OMP_NUM_THREADS;
  const n = fromEnv === undefined ? availableParallelism() : Number(fromEnv);
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`DISTILLERY_NUM_THREADS / OMP_NUM_THREADS must be a positive integer, got '${fromEnv}'`);
  }
  setNumThreads(n);
}

let allocatorCaching = false;

/**
 * Keeps freed CPU memory for reuse instead of returning it to the OS after every large tensor
 * (glibc only; a no-op elsewhere). On by default: DISTILLERY_ALLOCATOR_CACHING=0 turns it off.
 * Peak resident memory then stays at the high-water mark, as with PyTorch's CUDA caching allocator.
 */
export function setAllocatorCaching(on: boolean): boolean {
  allocatorCaching = native.setAllocatorCaching(on) && on;
  return allocatorCaching;
}

export function allocatorCachingEnabled(): boolean {
  return allocatorCaching;
}

export function configureAllocatorFromEnvironment(): void {
  setAllocatorCaching(process.env.DISTILLERY_ALLOCATOR_CACHING !== '0');
}

export function cudaAvailable(): boolean {
  return native.runtimeInfo().cudaAvailable;
}

export function cudaDeviceCount(): number {
  return native.runtimeInfo().cudaDeviceCount;
}

/**
 * `device` when this libtorch build can use it ('cpu' or 'cuda[:N]'), else a RangeError naming the
 * option (`name`: `--device` on the command line, `device` in the API) and what would be valid.
 */
export function checkDevice(device: string, name = 'device'): string {
  if (device === 'cpu') return device;
  const match = /^cuda(?::(\d+))?$/.exec(device);
  if (!match) throw new RangeError(`${name} must be 'cpu' or 'cuda[:N]', got '${device}'`);
  if (!cudaAvailable()) throw new RangeError(`${name} ${device}: this libtorch build has no usable CUDA device; use ${name} cpu`);
  const index = Number(match[1] ?? 0);
  if (index >= cudaDeviceCount()) throw new RangeError(`${name} ${device}: only ${cudaDeviceCount()} CUDA device(s) visible`);
  return device;
}

/** Tensors whose handles are alive in JS, and the bytes of the storages they hold (views count once). */
export function memoryStats(): { liveTensors: number; liveBytes: number } {
  const { liveTensors, liveBytes } = native.memoryStats();
  return { liveTensors, liveBytes };
}

/**
 * CPU memory as libtorch's allocator sees it, for blocks of 1 MiB and more (every tensor that
 * matters for memory planning): bytes in use now (`liveBytes`, autograd's saved tensors included,
 * which `memoryStats` cannot see), the most in use since `resetCpuPeak()` (`peakBytes`), freed
 * bytes kept for reuse (`cachedBytes`), and every byte the process has mapped fresh for such blocks
 * (`mappedBytes`: a warm training step adds nothing to it).
 */
export function cpuAllocatorStats(): { liveBytes: number; peakBytes: number; cachedBytes: number; mappedBytes: number } {
  const s = native.memoryStats();
  return { liveBytes: s.cpuBlockLiveBytes, peakBytes: s.cpuBlockPeakBytes, cachedBytes: s.cpuBlockCachedBytes, mappedBytes: s.cpuBlockMappedBytes };
}

/** Starts a new window for `cpuAllocatorStats().peakBytes`. */
export function resetCpuPeak(): void {
  native.resetCpuBlockPeak();
}

/** The CUDA device index of 'cuda' / 'cuda:N', or null for other devices. */
export function cudaIndex(device: string): number | null {
  const match = /^cuda(?::(\d+))?$/.exec(device);
  return match ? Number(match[1] ?? 0) : null;
}

/** A CUDA device's free and total memory (cudaMemGetInfo); null for a CPU device or an addon without CUDA. */
export function cudaDeviceMemory(device: string): { freeBytes: number; totalBytes: number } | null {
  const index = cudaIndex(device);
  return index === null ? null : native.cudaDeviceMemory(index);
}

/**
 * The caching allocator's allocated bytes now and at their peak since `resetCudaPeak`
 * (torch.cuda.max_memory_allocated); read without synchronising the device. null off CUDA.
 */
export function cudaAllocated(device: string): { allocatedBytes: number; peakAllocatedBytes: number } | null {
  const index = cudaIndex(device);
  return index === null ? null : native.cudaAllocated(index);
}

export function resetCudaPeak(device: string): void {
  const index = cudaIndex(device);
  if (index !== null) native.cudaResetPeak(index);
}

export interface BlasInfo {
  /** The BLAS shared library mapped into this process, if one is. */
  library: string | null;
  /** True for the reference (netlib) BLAS, which is 20-40x slower than OpenBLAS for matmul. */
  slow: boolean;
}

/** Which BLAS libtorch loaded, read from this process's memory map. */
export function blasInfo(): BlasInfo {
  try {
    return classifyBlas(readFileSync('/proc/self/maps', 'utf8'));
  } catch {
    return { library: null, slow: false };
  }
}

/**
 * Classifies the BLAS libraries named in a /proc/PID/maps text. Debian's libtorch links the
 * generic libblas.so.3; the alternatives system resolves it to OpenBLAS
 * (…/openblas-pthread/libblas.so.3) or, without it, to the reference BLAS (…/blas/libblas.so.3).
 */
export function classifyBlas(maps: string): BlasInfo {
  const libraries = [
    ...new Set(
      maps
        .split('\n')
        .filter((line) => line.includes('/'))
        .map((line) => line.slice(line.indexOf('/')).trim())
        .filter((path) => /\/lib(open)?blas[^/]*\.so|\/libmkl_|\/libblis/.test(path)),
    ),
  ];
  const fast = libraries.find((p) => /openblas|mkl|blis/.test(p));
  if (fast) return { library: fast, slow: false };
  const reference = libraries.find((p) => /libblas\.so/.test(p));
  return { library: reference ?? null, slow: reference !== undefined };
}

export const SLOW_BLAS_FIX =
  'libtorch is using the reference BLAS, which makes matrix products 20-40x slower. Install OpenBLAS: ' +
  '`sudo apt-get install -y libopenblas0-pthread` (Debian/Ubuntu switches libblas.so.3 to it automatically), ' +
  'or select it with `sudo update-alternatives --config libblas.so.3-$(gcc -dumpmachine)`.';

let warned = false;
/** Prints the slow-BLAS warning once per process when it applies. */
export function warnIfSlowBlas(write: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): void {
  if (warned) return;
  warned = true;
  if (blasInfo().slow) write(`warning: ${SLOW_BLAS_FIX}`);
}
