// `distillery bench kd`: the KD training step — the trainer's own trainStep (teacher forward,
// student forward and backward, AdamW) — in each loss mode, side by side in one invocation, beside
// the same step in PyTorch eager (baselines/pytorch_kd_step.py) where Python with torch is
// installed. Each mode runs in its own child process, so its peak resident memory is its own.
// (commands/bench-kd.ts registers the command and its flags; this module is loaded when it runs.)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { IndexedExample } from '../distill/prepare.js';
import { chunkRows } from '../distill/chunked-loss.js';
import { DataParallel } from '../distill/data-parallel.js';
import { type StepContext, trainStep } from '../distill/step.js';
import { OnlineTeacher } from '../distill/teacher.js';
import { type CacheManifest, MANIFEST } from '../distill/teacher-cache/format.js';
import { TeacherCache } from '../distill/teacher-cache/reader.js';
import { readJsonFile } from '../io/json-file.js';
import { resolveModelPath } from '../io/hub/index.js';
import { loadCausalLM } from '../models/decoder/weights.js';
import { AdamW } from '../nn/index.js';
import { allocatorCachingEnabled, cpuAllocatorStats, cudaAllocated, type DType, kernelsFor, numThreads, resetCudaPeak, torchVersion } from '../tensor/index.js';
import { benchMatmul } from './bench-ops.js';
import { PhaseClock } from '../distill/phase-clock.js';
import { StudentPrecision } from '../distill/precision.js';
import { adapterSize, attachAdapters, studentLoraConfig } from '../distill/lora-student.js';
import type { LoraConfig } from '../models/lora/index.js';
import { forwardFlopsPerToken, headFlopsPerToken } from '../models/decoder/size.js';
import { peakResidentBytes, resetPeakResident, residentBytes } from '../distill/memory/process-memory.js';
import { checkDevice } from './device.js';
import type { DecoderConfig } from '../models/decoder/config.js';
import type { PlanInput } from '../distill/memory/estimate.js';
import { memoryBudget } from '../distill/memory/limit.js';
import { MemoryPlanError, planMemory } from '../distill/memory/plan.js';
import { withChunkRows } from '../distill/memory/run-plan.js';
import { UsageError } from './errors.js';
import { childJsonResult, whyChildFailed } from './child-process.js';
import { findPythonWithTorch, runBaseline, runBaselineUnlessKilled } from './pytorch-baseline.js';
import { writeRandomTokens } from './random-tokens.js';
import { formatBenchRecord } from './bench-record.js';
import { BASELINE_MODES, type BenchKdFlags, H200_DENSE_BF16_TFLOPS, type Mode, MODES } from './commands/bench-kd.js';

const LEARNING_RATE = 1e-5;

const TUNED_ENV = { MALLOC_MMAP_MAX_: '0', MALLOC_TRIM_THRESHOLD_: '4294967295', OMP_WAIT_POLICY: 'PASSIVE', OPENBLAS_THREAD_TIMEOUT: '4' };

/**
 * What one step needs beyond the memory that persists between steps (weights, gradients, optimizer
 * state): the resident high-water mark during one step minus the resident size before it. Measured
 * in a process of its own with allocator caching off from the start, so that every large tensor is
 * its own mapping, returned when freed, and resident memory follows live memory. Null where /proc
 * cannot say.
 */
function stepWorkingBytes(step: () => void): number | null {
  const before = residentBytes();
  if (before === null || !resetPeakResident()) return null;
  step();
  const peak = peakResidentBytes();
  return peak === null ? null : Math.max(0, peak - before);
}

/** The process's resident memory and the memory budget before any weight is loaded. */
interface BeforeLoading {
  runtimeBytes: number;
  budget: ReturnType<typeof memoryBudget>;
}

/**
 * Rows per chunk of the chunked loss: --chunk-size when given, else what distill's memory plan
 * chooses for this step (withChunkRows), so the benchmark measures the step distill would run.
 */
function plannedChunkRows(flags: BenchKdFlags, mode: Mode, student: DecoderConfig, teacher: DecoderConfig | null, device: string, lora: LoraConfig | null, beforeLoading: BeforeLoading): number {
  const lossChunkRows = chunkRows(flags.chunkSize, student.vocabSize);
  if (flags.chunkSize > 0 || mode === 'naive') return lossChunkRows;
  const input: PlanInput = {
    student, studentDtype: flags.dtype, teacher: mode === 'cached' ? null : teacher, teacherDtype: flags.teacherDtype, teacherElsewhere: false,
    sequenceLength: flags.seqLen, evalSequenceLength: flags.seqLen, evalBatchSize: flags.batchSize, lossImpl: 'chunked', lossChunkRows,
    runtimeBytes: beforeLoading.runtimeBytes, kernels: kernelsFor(device, flags.dtype), gradAccum: 1, batchSize: flags.batchSize,
    lora: lora ? { ...adapterSize(student, lora), rank: lora.rank } : null,
  };
  try {
    const plan = planMemory(input, mode === 'checkpointed' ? 'on' : 'off', beforeLoading.budget, () => []);
    return withChunkRows(input, plan, 0).lossChunkRows;
  } catch (error) {
    if (error instanceof MemoryPlanError) return lossChunkRows;
    throw error;
  }
}

async function runWorker(flags: BenchKdFlags, mode: Mode): Promise<Record<string, unknown>> {
  const device = checkDevice(flags.device);
  // The process and the machine before any weight is loaded, as distill's plan sees them.
  const beforeLoading: BeforeLoading = { runtimeBytes: residentBytes() ?? 512 * 2 ** 20, budget: memoryBudget(device, null) };
  // The cached mode never loads the teacher: its predictions come from the cache.
  const teacher = mode === 'cached' ? null : new OnlineTeacher(loadCausalLM(await resolveModelPath(flags.teacher), { device, dtype: flags.teacherDtype }));
  // float32 master weights; with --dtype bfloat16 a bf16 copy runs forward and backward, as in
  // distill. The lora mode: the student frozen in --dtype, float32 adapters trained, as distill --lora-rank.
  const lora = mode === 'lora' ? studentLoraConfig({ loraRank: flags.loraRank, loraAlpha: null, loraDropout: 0, loraTargets: null, useRslora: false }) : null;
  const master = loadCausalLM(await resolveModelPath(flags.student), { dtype: lora ? flags.dtype : 'float32', device });
  const adapter = lora ? attachAdapters(master, lora, null) : null;
  const precision = new StudentPrecision(master, adapter ? 'float32' : flags.dtype);
  const student = precision.compute;
  const trainable = adapter ? adapter.parameters() : master.parameters();
  const optimizer = new AdamW(trainable, { lr: LEARNING_RATE });
  const ids = readFileSync(flags.batchFile!, 'utf8').trim().split('\n').map((line) => (JSON.parse(line) as { input_ids: number[] }).input_ids);
  // The whole file is one micro-batch. Its records are token ids without labels: every token after
  // the first is a target, as cache-teacher (the cached mode) reads the same file.
  const examples: IndexedExample[] = ids.map((inputIds, sourceIndex) => ({ inputIds, labels: inputIds, sourceIndex }));
  const micro = [{ examples, indices: examples.map((e) => e.sourceIndex), epoch: 0 }];
  // The cache was made from this very batch file: it is opened against its own fingerprint.
  const cache = mode === 'cached' ? TeacherCache.open(flags.cacheDir!, (readJsonFile(join(flags.cacheDir!, MANIFEST)) as CacheManifest).fingerprint) : null;
  // Per-phase laps on CPU only (CUDA queues kernels: laps would time launches).
  const clock = device === 'cpu' ? new PhaseClock() : undefined;
  // The trainer's step at distill's settings for one micro-batch of the file: no clipping, a constant learning rate.
  const context: StepContext = {
    precision, trainable, optimizer, teacher, cache, loss: { alpha: 0.5, temperature: 2, divergence: { kind: 'forward-kl' } }, impl: mode === 'naive' ? 'naive' : 'chunked',
    chunkSize: plannedChunkRows(flags, mode, master.config, teacher?.model.config ?? null, device, lora, beforeLoading), microBatchSize: ids.length,
    checkpointing: mode === 'checkpointed', maxGradNorm: 0, padId: 0, device, parallel: new DataParallel(null), completion: null, clock,
  };
  let stepNumber = 0;
  const step = () => trainStep(context, ++stepNumber, micro, LEARNING_RATE).loss;
  // Warm-up: creates the gradients and optimizer state that persist between steps, and lets the
  // allocator's heap reach the size a step needs.
  const firstLoss = step();
  for (let i = 1; i < flags.warmup; i++) step();
  if (flags.measureMemory) {
    const working = stepWorkingBytes(step);
    return { step_working_mb: working === null ? null : Math.round(working / 2 ** 20) };
  }
  // The matmul ceiling on CPU, measured beside the timed steps (before and after: the better of the
  // two, since a shared machine's noise only ever slows a measurement down).
  const ceilingDtypes = [...new Set([flags.teacherDtype, flags.dtype])];
  const ceilingBefore = device === 'cpu' ? matmulCeiling(ceilingDtypes) : null;
  resetCudaPeak(device);
  clock?.reset(); // the warm-up's laps do not count
  const usageBefore = process.resourceUsage();
  const mappedBefore = cpuAllocatorStats().mappedBytes;
  const start = performance.now();
  for (let i = 0; i < flags.steps; i++) step(); // each step reads its loss once: the device is done
  const seconds = (performance.now() - start) / 1000;
  const usage = process.resourceUsage();
  const peakRss = usage.maxRSS * 1024;
  // Memory the timed steps touched fresh (minor faults: a page mapped on first touch) and the
  // kernel's time: after warm-up a step that reuses its buffers has neither.
  const perStep = (after: number, before: number) => (after - before) / flags.steps;
  // The allocator's own count: MiB of its blocks mapped fresh per timed step (huge pages make one
  // fault per 2 MiB, so faults alone undercount what was touched fresh).
  const faults = {
    minor_faults_per_step: Math.round(perStep(usage.minorPageFault, usageBefore.minorPageFault)),
    system_ms_per_step: Math.round(perStep(usage.systemCPUTime, usageBefore.systemCPUTime) / 1000),
    fresh_block_mb_per_step: Math.round(perStep(cpuAllocatorStats().mappedBytes, mappedBefore) / 2 ** 20),
  };
  const tokensPerSecond = (flags.batchSize * flags.seqLen * flags.steps) / seconds;
  // Model FLOPs: the teacher's forward, the student's forward and backward (3 forwards' worth; 2
  // with LoRA: the frozen weights take no gradient, the adapters' products are negligible).
  const teacherFlopsPerToken = teacher ? forwardFlopsPerToken(teacher.model.config, flags.seqLen) : 0;
  const studentFlopsPerToken = (adapter ? 2 : 3) * forwardFlopsPerToken(student.config, flags.seqLen);
  const flopsPerToken = teacherFlopsPerToken + studentFlopsPerToken;
  // On CPU, the step beside the machine's own matmul rate at each model's dtype: the fraction of the
  // step a perfect matmul-bound implementation would take.
  const ceiling = ceilingBefore === null ? null : betterCeiling(ceilingBefore, matmulCeiling(ceilingDtypes));
  const idealSecondsPerToken = ceiling
    ? teacherFlopsPerToken / (ceiling[teacher ? flags.teacherDtype : flags.dtype]! * 1e9) + studentFlopsPerToken / (ceiling[flags.dtype]! * 1e9)
    : null;
  const phaseMatmulMs = ceiling ? matmulMsByPhase(teacher?.model.config ?? null, student.config, flags, ceiling, adapter !== null) : null;
  const peakTflops = flags.peakTflops ?? (device.startsWith('cuda') ? H200_DENSE_BF16_TFLOPS : null);
  const cudaPeak = cudaAllocated(device)?.peakAllocatedBytes ?? null;
  return {
    mode,
    tokens_per_s: +tokensPerSecond.toFixed(1),
    mfu: peakTflops === null ? null : +((flopsPerToken * tokensPerSecond) / (peakTflops * 1e12)).toFixed(4),
    model_tflops_per_s: +((flopsPerToken * tokensPerSecond) / 1e12).toFixed(3),
    matmul_ceiling_gflops: ceiling,
    // Four significant digits: tiny models sit far below the ceiling.
    fraction_of_matmul_ceiling: idealSecondsPerToken === null ? null : +(idealSecondsPerToken * tokensPerSecond).toPrecision(4),
    // The rate if every model FLOP ran at that ceiling and nothing else took time: no implementation
    // of the same arithmetic on this machine is faster (compareWithBaselines turns it into a bound).
    matmul_bound_tokens_per_s: idealSecondsPerToken === null ? null : +(1 / idealSecondsPerToken).toPrecision(4),
    cuda_max_allocated_mb: cudaPeak === null ? null : Math.round(cudaPeak / 2 ** 20),
    dtype: flags.dtype,
    teacher_dtype: teacher ? flags.teacherDtype : null,
    peak_rss_mb: Math.round(peakRss / 2 ** 20),
    step_ms: +((seconds * 1000) / flags.steps).toFixed(1),
    ...faults,
    first_loss: firstLoss,
    batch_size: flags.batchSize,
    seq_len: flags.seqLen,
    vocab: student.config.vocabSize,
    teacher_parameters: teacher?.model.numParameters() ?? null,
    cache_bytes_per_token: cache ? +cache.manifest.bytesPerToken.toFixed(1) : null,
    student_parameters: student.numParameters(),
    trainable_parameters: trainable.reduce((n, t) => n + t.numel, 0),
    chunk_size: mode === 'naive' ? null : context.chunkSize,
    top_k: cache ? cache.manifest.topK : null,
    phase_ms: clock ? clock.perStep(flags.steps) : null,
    // Each phase's matrix products at the measured ceiling: what phase_ms would be if nothing else took time.
    phase_matmul_ms: phaseMatmulMs,
    phase_minor_faults: clock ? clock.faultsPerStep(flags.steps) : null,
    threads: numThreads(),
    allocator_caching: allocatorCachingEnabled(),
    torch: torchVersion(),
  };
}

/** Measured matmul GFLOP/s (2048 × 2048 × 2048) at each dtype: the CPU's practical ceiling. */
function matmulCeiling(dtypes: DType[]): Record<string, number> {
  return Object.fromEntries(dtypes.map((dtype) => [dtype, benchMatmul(2048, dtype, 'cpu').gflops as number]));
}

/**
 * Milliseconds per step that each phase's matrix products take at the ceiling (laps as in
 * phase_ms): the teacher's layers; the student's layers; the LM heads — the teacher's, the
 * student's and its two backward products (one with LoRA: a frozen head takes no weight gradient);
 * the student's backward through its layers, twice their forward (once with LoRA).
 */
function matmulMsByPhase(teacher: DecoderConfig | null, student: DecoderConfig, flags: BenchKdFlags, ceiling: Record<string, number>, lora: boolean): Record<string, number> {
  const tokens = flags.batchSize * flags.seqLen;
  const ms = (flopsPerToken: number, dtype: string) => +((flopsPerToken * tokens) / (ceiling[dtype]! * 1e9) * 1000).toFixed(1);
  const layers = (c: DecoderConfig) => forwardFlopsPerToken(c, flags.seqLen) - headFlopsPerToken(c);
  return {
    teacher_forward: teacher ? ms(layers(teacher), flags.teacherDtype) : 0,
    student_forward: ms(layers(student), flags.dtype),
    loss_and_head: (teacher ? ms(headFlopsPerToken(teacher), flags.teacherDtype) : 0) + ms((lora ? 2 : 3) * headFlopsPerToken(student), flags.dtype),
    student_backward: ms((lora ? 1 : 2) * layers(student), flags.dtype),
    optimizer: 0,
  };
}

/** Per dtype, the higher of two measured ceilings. */
function betterCeiling(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(a).map(([dtype, gflops]) => [dtype, Math.max(gflops, b[dtype] ?? 0)]));
}

/** The Python for the pytorch mode; null (with a note) when it was not asked for by name and none is found. */
function pytorchFor(flags: BenchKdFlags): string | null {
  const { python, tried } = findPythonWithTorch(flags.python);
  if (python !== null) return python;
  const why = `no Python with torch (tried ${tried.join(', ')}; on Debian/Ubuntu: apt-get install python3-torch)`;
  if (flags.modes !== undefined || flags.python !== undefined) throw new UsageError(`--modes pytorch: ${why}`);
  console.error(`bench kd: skipping the pytorch baseline: ${why}`);
  return null;
}

/**
 * Speed relative to each PyTorch eager step measured, and whether the step computed the same loss on
 * the same weights and tokens (the cached mode's teacher is the top-k cache, so its loss differs by
 * design).
 */
function compareWithBaselines(record: Record<string, unknown>, baselines: Record<string, Record<string, unknown>>, mode: string): Record<string, unknown> {
  const reference = baselines.pytorch ?? baselines['pytorch-tuned'] ?? baselines['pytorch-best'];
  if (reference === undefined || mode.startsWith('pytorch')) return {};
  const out: Record<string, unknown> = {};
  for (const [name, baseline] of Object.entries(baselines)) {
    const key = name.replace('-', '_');
    out[`speedup_vs_${key}`] = +((record.tokens_per_s as number) / (baseline.tokens_per_s as number)).toFixed(2);
    // The largest speedup over this baseline that the machine's matmul rate allows at all.
    const bound = record.matmul_bound_tokens_per_s as number | null | undefined;
    if (typeof bound === 'number') out[`speedup_bound_vs_${key}`] = +(bound / (baseline.tokens_per_s as number)).toFixed(2);
  }
  if (mode === 'cached') return out;
  const [ours, theirs] = [record.first_loss as number, reference.first_loss as number];
  const relative = Math.abs(ours - theirs) / Math.max(1e-12, Math.abs(theirs));
  if (relative > 1e-4) console.error(`bench kd: mode ${mode}'s loss ${ours} differs from PyTorch's ${theirs} (relative ${relative.toExponential(1)}): not the same computation`);
  return { ...out, loss_matches_pytorch: relative <= 1e-4 };
}

/**
 * The thread settings pytorch-best tries: everything on one thread; ATen's kernels on one thread
 * with OpenBLAS on every core (what Debian's torch chooses by itself on this kind of VM, and often
 * the fastest: OpenBLAS's own workers do not compete with a second OpenMP team — so there they keep
 * OpenBLAS's default busy-wait between calls, which then costs nothing and saves waking them);
 * every core for both, with OpenBLAS's workers sleeping between calls (the tuned setting) and with
 * its default busy-wait ('+spin'), whichever suits the step.
 */
function pytorchThreadSettings(cores: number): { label: string; torchThreads: number; env: Record<string, string> }[] {
  const one = { label: '1', torchThreads: 1, env: { OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' } };
  if (cores === 1) return [one];
  const blasSpin = { OPENBLAS_THREAD_TIMEOUT: '28' };
  return [
    one,
    { label: `1+blas${cores}`, torchThreads: 1, env: { OPENBLAS_NUM_THREADS: String(cores), ...blasSpin } },
    { label: String(cores), torchThreads: cores, env: {} },
    { label: `${cores}+spin`, torchThreads: cores, env: blasSpin },
  ];
}

/** glibc's settings in TUNED_ENV: freed memory kept in the heap (fast, but the resident size stays at its high-water mark). */
const KEEP_FREED_MEMORY = ['MALLOC_MMAP_MAX_', 'MALLOC_TRIM_THRESHOLD_'];

/**
 * The PyTorch step at each thread setting (pytorch-best), the fastest returned with every figure;
 * `threads` fixes the setting by its label (the memory run repeats the speed run's choice;
 * --pytorch-threads the speed run's). A run the kernel kills for memory with glibc keeping freed
 * memory (as at Qwen3-4B → 0.6B on 24 GB) runs again with glibc's defaults — what a PyTorch user
 * at the edge of memory does — and says so (`malloc`).
 */
function bestPyTorch(python: string, baselineArgs: string[], extra: string[], env: NodeJS.ProcessEnv, threads?: unknown): Record<string, unknown> {
  const settings = pytorchThreadSettings(numThreads());
  const withSetting = (setting: (typeof settings)[number]): Record<string, unknown> => {
    const args = baselineArgs.map((a, i) => (baselineArgs[i - 1] === '--threads' ? String(setting.torchThreads) : a));
    const run = (runEnv: NodeJS.ProcessEnv) => runBaselineUnlessKilled(python, 'pytorch_kd_step.py', [...args, ...extra], { ...runEnv, ...setting.env });
    const tuned = run(env);
    if (tuned !== null) return { ...tuned, mode: 'pytorch-best', threads: setting.label };
    console.error(`bench kd: pytorch-best (threads ${setting.label}) was killed (out of memory?) with glibc keeping freed memory; running it with glibc's defaults`);
    const lean = run(Object.fromEntries(Object.entries(env).filter(([key]) => !KEEP_FREED_MEMORY.includes(key))));
    if (lean === null) throw new Error(`bench kd: pytorch-best (threads ${setting.label}) was killed (out of memory?) with glibc's defaults too`);
    return { ...lean, mode: 'pytorch-best', threads: setting.label, malloc: 'glibc defaults (killed when keeping freed memory)' };
  };
  const fixed = settings.find((s) => s.label === threads);
  if (fixed) return withSetting(fixed);
  const runs = settings.map(withSetting);
  const best = runs.reduce((a, b) => ((b.tokens_per_s as number) > (a.tokens_per_s as number) ? b : a));
  return { ...best, tokens_per_s_by_threads: Object.fromEntries(runs.map((r) => [r.threads, r.tokens_per_s])) };
}

/** The faster of two runs of one mode; pytorch-best's per-setting figures keep each setting's best. */
function fasterRun(a: Record<string, unknown> | undefined, b: Record<string, unknown>): Record<string, unknown> {
  if (!a) return b;
  const faster = (b.tokens_per_s as number) > (a.tokens_per_s as number) ? b : a;
  const [x, y] = [a.tokens_per_s_by_threads, b.tokens_per_s_by_threads] as (Record<string, number> | undefined)[];
  if (!x || !y) return faster;
  return { ...faster, tokens_per_s_by_threads: Object.fromEntries(Object.keys(x).map((k) => [k, Math.max(x[k]!, y[k] ?? 0)])) };
}

export async function runBenchKd(flags: BenchKdFlags): Promise<void> {
  if (flags.worker) {
    console.log(JSON.stringify(await runWorker(flags, flags.worker)));
    return;
  }
  const asked = (flags.modes ?? MODES.join(',')).split(',').map((m) => m.trim());
  const unknown = asked.filter((m) => !(MODES as readonly string[]).includes(m));
  if (unknown.length) throw new UsageError(`--modes: unknown ${unknown.join(', ')}; valid: ${MODES.join(', ')}`);
  const threadLabels = pytorchThreadSettings(numThreads()).map((s) => s.label);
  if (flags.pytorchThreads !== undefined && !threadLabels.includes(flags.pytorchThreads))
    throw new UsageError(`--pytorch-threads: '${flags.pytorchThreads}' is not a thread setting on this machine; valid: ${threadLabels.join(', ')}`);
  const isBaseline = (m: string) => (BASELINE_MODES as readonly string[]).includes(m);
  const python = asked.some(isBaseline) ? pytorchFor(flags) : null;
  const modes = python === null ? asked.filter((m) => !isBaseline(m)) : asked;
  // Every mode trains on the same batch; the cached mode on a cache of it written beforehand (not timed).
  const work = mkdtempSync(join(tmpdir(), 'distillery-bench-kd-'));
  try {
    const batchFile = join(work, 'batch.jsonl');
    await writeRandomTokens(batchFile, flags.student, flags.batchSize, flags.seqLen, 1234);
    const cli = (args: string[], env: NodeJS.ProcessEnv = process.env) => spawnSync(process.execPath, [process.argv[1]!, ...args], { encoding: 'utf8', maxBuffer: 1 << 24, env });
    const cacheDir = join(work, 'cache');
    if (modes.includes('cached')) {
      const built = cli(['cache-teacher', '--teacher', flags.teacher, '--data', batchFile, '--out', cacheDir, '--top-k', String(flags.topK), '--max-length', String(flags.seqLen), '--device', flags.device]);
      if (built.status !== 0) throw new Error(`bench kd: building the teacher cache failed: ${whyChildFailed(built)}`);
    }
    const passThrough = ['--teacher', flags.teacher, '--student', flags.student, '--batch-size', String(flags.batchSize), '--seq-len', String(flags.seqLen), '--steps', String(flags.steps), '--warmup', String(flags.warmup), '--chunk-size', String(flags.chunkSize), '--device', flags.device, '--dtype', flags.dtype, '--teacher-dtype', flags.teacherDtype, '--lora-rank', String(flags.loraRank), '--batch-file', batchFile, '--cache-dir', cacheDir, ...(flags.peakTflops ? ['--peak-tflops', String(flags.peakTflops)] : [])];
    const baselineArgs = python === null ? [] : ['--teacher', await resolveModelPath(flags.teacher), '--student', await resolveModelPath(flags.student), '--batch-file', batchFile, '--steps', String(flags.steps), '--warmup', String(flags.warmup), '--threads', String(numThreads()), '--device', flags.device, '--dtype', flags.dtype];
    const baselines: Record<string, Record<string, unknown>> = {};
    const run = (mode: string, measureMemory: boolean): Record<string, unknown> => {
      // The working-memory run has caching off, so freed memory goes back to the OS at once
      // (glibc's settings for PyTorch, ours for Distillery); speed runs keep each mode's own.
      const env = measureMemory
        ? { ...process.env, DISTILLERY_ALLOCATOR_CACHING: '0', MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '131072' }
        : mode === 'pytorch-tuned' ? { ...process.env, ...TUNED_ENV } : process.env;
      const extra = measureMemory ? ['--measure-memory'] : [];
      if (mode === 'pytorch-best') return bestPyTorch(python!, baselineArgs, extra, measureMemory ? env : { ...env, ...TUNED_ENV }, measureMemory ? baselines['pytorch-best']?.threads : flags.pytorchThreads);
      if (isBaseline(mode)) return { ...runBaseline(python!, 'pytorch_kd_step.py', [...baselineArgs, ...extra], env), mode };
      return childJsonResult(cli(['bench', 'kd', ...passThrough, '--worker', mode, ...extra], env), `bench kd: mode ${mode}`);
    };
    // Speed runs go round the modes `rounds` times, each mode keeping its fastest run: on a
    // shared machine noise only ever slows a run down, and rotating spreads it over all modes.
    const speeds: Record<string, Record<string, unknown>> = {};
    for (let round = 0; round < flags.rounds; round++) for (const mode of modes) speeds[mode] = fasterRun(speeds[mode], run(mode, false));
    // Every mode is compared with every baseline, whatever their order in --modes.
    for (const mode of modes) if (isBaseline(mode)) baselines[mode] = speeds[mode]!;
    for (const mode of modes) {
      const speed = speeds[mode]!;
      // Step working memory is resident host memory; on CUDA the step's peak is cuda_max_allocated_mb.
      const memory = flags.device.startsWith('cuda') ? {} : run(mode, true);
      const record = { mode: speed.mode, tokens_per_s: speed.tokens_per_s, peak_rss_mb: speed.peak_rss_mb, ...memory, ...compareWithBaselines(speed, baselines, mode), rounds: flags.rounds, ...speed };
      console.log(formatBenchRecord(record, flags.json));
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
