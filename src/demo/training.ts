// Steps both demos share: a random model folder with the demo tokenizer, the student trained
// twice with identical budgets — cross-entropy only, then distillation — through `distill`'s trainer,
// and what the demo shows of each run, made from the trainer's metrics records (its log stays silent).
import { join } from 'node:path';
import { type ResolveOptions, resolveConfig } from '../distill/config.js';
import type { DistillHooks, StepReport } from '../distill/hooks.js';
import { comparisonFromRecord, evalLine } from '../distill/summary.js';
import { runDistillation } from '../distill/trainer.js';
import { randomCausalLM } from '../models/decoder/init.js';
import { saveCausalLM } from '../models/decoder/weights.js';
import type { MetricsRecord } from '../report/metrics.js';
import { Generator } from '../tensor/index.js';
import type { TextTokenizer } from '../tokenizer/index.js';
import { demoModelConfig, type ModelShape, type TrainingBudget } from './settings.js';

export interface DemoHooks {
  log(line: string): void;
  stage(name: string): void;
  /** Each optimizer step of each training run (a progress bar). */
  onStep?(report: StepReport): void;
}

const num = (r: MetricsRecord, field: string): number | null => (typeof r[field] === 'number' ? (r[field] as number) : null);


/**
 * The hooks of one training run (a fresh object per run: it sums the run's steps): each evaluation's
 * line as it happens, and after the last of `budget.steps` steps a line about the training — the
 * loss at its first and last step and its throughput.
 */
export function runHooks(hooks: DemoHooks, budget: TrainingBudget): DistillHooks {
  let firstLoss: number | null = null;
  let inputTokens = 0;
  let seconds = 0;
  let trained: string | null = null;
  return {
    log: () => {},
    onRecord(r) {
      if (r.type === 'eval') {
        hooks.log(`    ${evalLine(r.step, comparisonFromRecord(r))}`);
        return;
      }
      const loss = num(r, 'loss') ?? Number.NaN;
      firstLoss ??= loss;
      inputTokens += num(r, 'input_tokens') ?? 0;
      seconds += num(r, 'step_seconds') ?? 0;
      if (r.step === budget.steps) {
        trained = `    trained ${budget.steps} steps of ${budget.batchSize} examples: loss ${firstLoss.toFixed(4)} → ${loss.toFixed(4)}, ${(inputTokens / Math.max(seconds, 1e-6)).toFixed(0)} tokens/s`;
      }
    },
    // A step's record comes before its progress report: the line waits for the bar's last step.
    onStep(report) {
      hooks.onStep?.(report);
      if (trained !== null) hooks.log(trained);
      trained = null;
    },
  };
}

/** Writes a randomly initialised demo model (with the tokenizer files of `tokenizerFrom`); returns its parameter count. */
export function writeRandomModel(folder: string, shape: ModelShape, tokenizer: TextTokenizer, context: number, seed: number, tokenizerFrom: string): number {
  const model = randomCausalLM(demoModelConfig(shape, tokenizer.vocabSize, context, tokenizer.eosTokenId ?? 0), { generator: new Generator(seed) });
  const parameters = model.numParameters();
  saveCausalLM(model, folder, { copyFrom: tokenizerFrom });
  model.dispose();
  return parameters;
}

export interface StudentPair {
  ceOnly: string;
  kd: string;
  /** Wall time of each run (training and its evaluations), seconds. */
  seconds: { ceOnly: number; kd: number };
}

/** One student run through `distill`'s trainer; returns its wall time in seconds. */
export async function timedDistill(settings: Record<string, unknown>, hooks: DemoHooks, budget: TrainingBudget, options: ResolveOptions = {}): Promise<number> {
  const started = Date.now();
  await runDistillation(resolveConfig(settings, {}, options), runHooks(hooks, budget));
  return (Date.now() - started) / 1000;
}

/** The same student, steps, data order and seed with α = 0 and with the given α, τ; `budget` is the student's (in `common`). */
export async function trainStudentPair(
  outDir: string,
  common: Record<string, unknown>,
  kd: { alpha: number; temperature: number },
  hooks: DemoHooks,
  budget: TrainingBudget,
): Promise<StudentPair> {
  const dirs = { ceOnly: join(outDir, 'ce-only'), kd: join(outDir, 'kd') };
  hooks.stage('student, cross-entropy only');
  const ceOnly = await timedDistill({ ...common, out: dirs.ceOnly, alpha: 0, temperature: 1 }, hooks, budget);
  hooks.stage(`student, distillation (α ${kd.alpha}, τ ${kd.temperature})`);
  const kdSeconds = await timedDistill({ ...common, out: dirs.kd, alpha: kd.alpha, temperature: kd.temperature }, hooks, budget);
  return { ...dirs, seconds: { ceOnly, kd: kdSeconds } };
}
