// `distillery bench ops`: matmul GFLOP/s, an MLP forward+backward throughput and the per-op call
// overhead of the binding, with the thread settings in use and the machine's estimated fp32
// ceiling beside them, so later work has a baseline to compare against.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Linear } from '../nn/index.js';
import { allocatorCachingEnabled, blasInfo, type DType, full, manualSeed, numThreads, randn, setAllocatorCaching, tidy, torchVersion } from '../tensor/index.js';
import { formatBenchRecord } from './bench-record.js';

export interface BenchRecord {
  bench: string;
  [key: string]: string | number | null;
}

/** Repeats `fn` until at least `minSeconds` have passed (after warm-up); returns seconds per call. */
function timeIt(fn: () => void, minSeconds = 0.5, warmup = 2): number {
  for (let i = 0; i < warmup; i++) fn();
  let calls = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    fn();
    calls++;
    elapsed = (performance.now() - start) / 1000;
  } while (elapsed < minSeconds);
  return elapsed / calls;
}

/** What /proc/cpuinfo says about the vector units, for the peak estimates. */
export interface VectorUnits {
  fma: boolean;
  avx512: boolean;
  avx512bf16: boolean;
  amx: boolean;
}

export function vectorUnits(info: string): VectorUnits {
  const flag = (name: string) => new RegExp(`\\b${name}\\b`).test(info);
  return {
    fma: flag('fma') && flag('avx2'),
    avx512: flag('avx512f'),
    avx512bf16: flag('avx512_bf16'),
    amx: flag('amx_bf16') && flag('amx_tile'),
  };
}

/**
 * fp32 and bf16 FLOP per cycle per core from the instruction set: two FMA pipes of the vector
 * width (AVX2: 2 × 8 lanes × 2 = 32 fp32 FLOP/cycle; AVX-512: 64). bf16: VDPBF16PS doubles the
 * fp32 rate; AMX tiles do 1,024 bf16 FLOP/cycle (Intel's figure for Sapphire Rapids). Estimates,
 * labelled as such, printed beside what matmul reaches: on the AMD EPYC (Zen 4, AVX-512) dev VM,
 * fp32 matmul measured 300 GFLOP/s against 332 estimated (the AVX2 assumption said 166).
 */
export function flopsPerCycle(u: VectorUnits): { fp32: number; bf16: number; basis: string } {
  const fp32 = u.avx512 ? 64 : u.fma ? 32 : 8;
  const bf16 = u.amx ? 1024 : u.avx512bf16 ? 2 * fp32 : fp32;
  const unit = u.avx512 ? '2×512-bit FMA' : u.fma ? '2×256-bit FMA' : 'no FMA';
  return { fp32, bf16, basis: `${unit}${u.amx ? ', AMX bf16' : u.avx512bf16 ? ', AVX-512 BF16' : ''}` };
}

/** Rough fp32 and bf16 peaks: cores × clock × FLOP/cycle (flopsPerCycle). */
export function estimatedPeakGflops(): { gflops: number | null; bf16Gflops: number | null; basis: string } {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const mhz = Number(/cpu MHz\s*:\s*([\d.]+)/.exec(info)?.[1]);
    const cores = availableParallelism();
    if (!Number.isFinite(mhz)) return { gflops: null, bf16Gflops: null, basis: 'no clock in /proc/cpuinfo' };
    const perCycle = flopsPerCycle(vectorUnits(info));
    return {
      gflops: (cores * mhz * perCycle.fp32) / 1000,
      bf16Gflops: (cores * mhz * perCycle.bf16) / 1000,
      basis: `${cores} cores × ${mhz.toFixed(0)} MHz × ${perCycle.fp32} fp32 / ${perCycle.bf16} bf16 FLOP/cycle (${perCycle.basis})`,
    };
  } catch {
    return { gflops: null, bf16Gflops: null, basis: 'no /proc/cpuinfo' };
  }
}

export function benchMatmul(n: number, dtype: DType, device: string): BenchRecord {
  const [a, b] = [randn([n, n], { dtype, device }), randn([n, n], { dtype, device })];
  const seconds = timeIt(() => tidy(() => void a.matmul(b).sum().item()));
  a.dispose();
  b.dispose();
  return { bench: 'matmul', n, dtype, device, ms: +(seconds * 1000).toFixed(3), gflops: +((2 * n ** 3) / seconds / 1e9).toFixed(1) };
}

/** A transformer-style MLP block (d -> 4d -> d, SiLU) forward and backward over `tokens` rows. */
export function benchMlp(tokens: number, dim: number, device: string): BenchRecord {
  const up = new Linear(dim, 4 * dim, { device, bias: false });
  const down = new Linear(4 * dim, dim, { device, bias: false });
  const x = randn([tokens, dim], { device });
  const seconds = timeIt(() =>
    tidy(() => {
      const loss = down.forward(up.forward(x).silu()).square().mean();
      loss.backward();
      up.zeroGrad();
      down.zeroGrad();
    }),
  );
  up.dispose();
  down.dispose();
  x.dispose();
  const flops = 6 * tokens * (8 * dim * dim); // forward 2·params·tokens, backward twice that
  return { bench: 'mlp_fwd_bwd', tokens, dim, device, ms: +(seconds * 1000).toFixed(2), tokens_per_s: Math.round(tokens / seconds), gflops: +(flops / seconds / 1e9).toFixed(1) };
}

/** Cost of one tiny op through the binding: the fixed overhead every tensor call pays. */
export function benchOpOverhead(device: string): BenchRecord {
  const a = randn([4], { device });
  const calls = 2000;
  const seconds = timeIt(() =>
    tidy(() => {
      for (let i = 0; i < calls; i++) a.add(a);
    }),
  );
  a.dispose();
  return { bench: 'op_overhead', op: 'add([4])', device, us_per_op: +((seconds / calls) * 1e6).toFixed(2) };
}

/**
 * A fresh 48 MB tensor written once (a 80 × 151,936 logits block), with glibc's default
 * allocator behaviour and with allocator caching, side by side in this process.
 */
export function benchAllocation(device: string): BenchRecord[] {
  const wasOn = allocatorCachingEnabled();
  const records = [false, true].map((caching) => {
    setAllocatorCaching(caching);
    const seconds = timeIt(() => tidy(() => void full([80, 151936], 1, { device }).add_(1)), 0.5, 3);
    return { bench: 'alloc_fill', bytes: 80 * 151936 * 4, device, allocator_caching: String(caching), ms: +(seconds * 1000).toFixed(2), gb_per_s: +((80 * 151936 * 4 * 2) / seconds / 1e9).toFixed(2) };
  });
  setAllocatorCaching(wasOn);
  return records;
}

export function runBenchOps(options: { device: string; json: boolean; sizes: number[] }): BenchRecord[] {
  manualSeed(0);
  const peak = estimatedPeakGflops();
  const records: BenchRecord[] = [
    {
      bench: 'environment',
      torch: torchVersion(),
      intra_op_threads: numThreads(),
      openblas_threads: process.env.OPENBLAS_NUM_THREADS ?? 'default (one per core)',
      blas: blasInfo().library,
      peak_fp32_gflops_estimate: peak.gflops === null ? null : +peak.gflops.toFixed(0),
      peak_bf16_gflops_estimate: peak.bf16Gflops === null ? null : +peak.bf16Gflops.toFixed(0),
      peak_basis: peak.basis,
    },
  ];
  const emit = (record: BenchRecord): void => {
    records.push(record);
    console.log(formatBenchRecord(record, options.json));
  };
  console.log(formatBenchRecord(records[0]!, options.json));
  for (const n of options.sizes) emit(benchMatmul(n, 'float32', options.device));
  emit(benchMatmul(1024, 'bfloat16', options.device));
  emit(benchMlp(2048, 256, options.device));
  emit(benchMlp(512, 1024, options.device));
  emit(benchOpOverhead(options.device));
  for (const record of benchAllocation(options.device)) emit(record);
  return records;
}
