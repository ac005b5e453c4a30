// distill() for TypeScript users: the same run as `distillery distill`, in this process, with the
// options typed (the camelCase forms of the YAML keys) and validated at run time exactly as the
// flags are; progress through callbacks or an async iterator of the metrics records; an
// AbortSignal stops the run with a resumable checkpoint.
import { type DistillConfig, OPTIONS } from '../distill/config.js';
import { resolveRunConfig } from '../distill/resume-settings.js';
import type { StepReport } from '../distill/hooks.js';
import { type DistillRunResult, runDistillation } from '../distill/trainer.js';
import { checkDevice } from '../tensor/index.js';
import { type AbortSignalLike, OptionsError, rejectUnknownOptions } from './options.js';
import { apiRecord, type MetricsRecord } from './records.js';

/** Settings of a multi-process run, which only the command line launches (`--nproc-per-node`). */
type LauncherKey = 'nprocPerNode' | 'nnodes' | 'nodeRank' | 'distBackend' | 'distTimeout';

type RunSettings = Partial<Omit<DistillConfig, LauncherKey>>;

/**
 * Run settings: every key of a `--config` YAML file, camelCase; `student`, `data` and `out` are
 * required — unless `resume` names a run, whose own settings are then the defaults (as `--resume OUT`).
 */
export type DistillSettings = (RunSettings & Pick<DistillConfig, 'student' | 'data' | 'out'>) | (RunSettings & { resume: string });

export interface DistillCallbacks {
  /** After every optimizer step: loss, learning rate, tokens/s, ETA. */
  onStep?: (report: StepReport) => void;
  /** Every record as it is appended to metrics.jsonl (`type: 'train'` per step, `type: 'eval'` per evaluation), its keys camelCased (`kd_loss` → `kdLoss`). */
  onRecord?: (record: MetricsRecord) => void;
  /** Diagnostic lines (configuration, memory plan, evaluation results); silent by default. */
  log?: (line: string) => void;
  /** Aborting stops the run after the current step, with a checkpoint `resume` continues from. */
  signal?: AbortSignalLike;
}

export type DistillOptions = DistillSettings & DistillCallbacks;

export type { DistillRunResult };

const CALLBACK_KEYS = ['onStep', 'onRecord', 'log', 'signal'] as const;

/** The validated configuration: errors name the option (`maxSteps must be ...`), as flags name the flag. */
export function distillConfig(options: DistillOptions): DistillConfig {
  rejectUnknownOptions('distill', options, [...OPTIONS.map((o) => o.key), ...CALLBACK_KEYS]);
  const values: Record<string, unknown> = {};
  for (const spec of OPTIONS) {
    const value = (options as unknown as Record<string, unknown>)[spec.key];
    if (value !== undefined) values[spec.key] = value;
  }
  for (const key of ['nprocPerNode', 'nnodes'] as const) {
    if (values[key] !== undefined && values[key] !== 1) throw new OptionsError(`distill: ${key} runs several processes, which only the command line launches (distillery distill --${key === 'nnodes' ? 'nnodes' : 'nproc-per-node'})`);
  }
  const config = resolveRunConfig(values, {}, { naming: 'keys', withoutTeacher: options.teacher === null });
  config.device = checkDevice(config.device, 'device');
  if (config.teacherDevice) config.teacherDevice = checkDevice(config.teacherDevice, 'teacherDevice');
  return config;
}

/**
 * Distills `teacher` into `student` on `data`, writing `out/` (student/, metrics.jsonl, summary.json,
 * checkpoints/), and resolves with the held-out comparison.
 *
 * @example
 * const result = await distill({ teacher: 'Qwen/Qwen3-4B', student: 'Qwen/Qwen3-0.6B', data: 'train.jsonl', out: 'runs/a', maxSteps: 100 });
 * console.log(result.summary?.gapClosed);
 */
export async function distill(options: DistillOptions): Promise<DistillRunResult> {
  const config = distillConfig(options);
  const { signal } = options;
  if (signal?.aborted) throw new OptionsError('distill: the signal was already aborted');
  return runDistillation(config, {
    log: options.log ?? (() => {}),
    onStep: options.onStep,
    onRecord: options.onRecord && ((line) => options.onRecord!(apiRecord(line))),
    stopRequested: () => signal?.aborted ?? false,
  });
}

/**
 * distill() as an async iterator of its metrics records (each `train` step and `eval`), ending
 * with the run's result as the iterator's return value. Leaving the loop early (break, return, a
 * throw) stops the run after its current step with a checkpoint, as aborting `signal` does; the
 * loop's exit waits for that.
 *
 * @example
 * const run = distillRecords({ teacher, student, data, out, maxSteps: 10 });
 * for await (const record of run) if (record.type === 'train') console.log(record.step, record.loss);
 */
export async function* distillRecords(options: DistillOptions): AsyncGenerator<MetricsRecord, DistillRunResult> {
  if (options.signal?.aborted) throw new OptionsError('distill: the signal was already aborted');
  // The run stops when the caller's signal aborts or when the caller leaves the loop.
  const stop = new AbortController();
  options.signal?.addEventListener('abort', () => stop.abort(), { once: true });
  const pending: MetricsRecord[] = [];
  let wake: (() => void) | null = null;
  let settled = false;
  const run = distill({
    ...options,
    signal: stop.signal,
    onRecord: (record) => {
      options.onRecord?.(record);
      pending.push(record);
      wake?.();
    },
  }).finally(() => {
    settled = true;
    wake?.();
  });
  let drained = false;
  try {
    // The trainer yields to the event loop between steps, so records arrive while it runs.
    while (true) {
      while (pending.length > 0) yield pending.shift()!;
      if (settled) break;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
    }
    drained = true;
    return await run;
  } finally {
    if (!drained) {
      stop.abort();
      await run;
    }
  }
}
