// Steps both demos share: a random model folder with the demo tokenizer, and the student trained
// twice with identical budgets — cross-entropy only, then distillation — through `distill`'s trainer.
import { join } from 'node:path';
import { resolveConfig } from '../distill/config.js';
import { distill, type DistillHooks } from '../distill/trainer.js';
import { randomQwen3 } from '../models/qwen3/init.js';
import { saveQwen3 } from '../models/qwen3/weights.js';
import { Generator } from '../tensor/index.js';
import type { TextTokenizer } from '../tokenizer/index.js';
import { demoModelConfig, type ModelShape } from './settings.js';

/** Writes a randomly initialised demo model (with the tokenizer files of `tokenizerFrom`); returns its parameter count. */
export function writeRandomModel(folder: string, shape: ModelShape, tokenizer: TextTokenizer, context: number, seed: number, tokenizerFrom: string): number {
  const model = randomQwen3(demoModelConfig(shape, tokenizer.vocabSize, context, tokenizer.eosTokenId ?? 0), { generator: new Generator(seed) });
  const parameters = model.numParameters();
  saveQwen3(model, folder, { copyFrom: tokenizerFrom });
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
export async function timedDistill(settings: Record<string, unknown>, quiet: DistillHooks): Promise<number> {
  const started = Date.now();
  await distill(resolveConfig(settings), quiet);
  return (Date.now() - started) / 1000;
}

/** The same student, steps, data order and seed with α = 0 and with the given α, τ. */
export async function trainStudentPair(
  outDir: string,
  common: Record<string, unknown>,
  kd: { alpha: number; temperature: number },
  hooks: { stage(name: string): void },
  quiet: DistillHooks,
): Promise<StudentPair> {
  const dirs = { ceOnly: join(outDir, 'ce-only'), kd: join(outDir, 'kd') };
  hooks.stage('student, cross-entropy only');
  const ceOnly = await timedDistill({ ...common, out: dirs.ceOnly, alpha: 0, temperature: 1 }, quiet);
  hooks.stage(`student, distillation (α ${kd.alpha}, τ ${kd.temperature})`);
  const kdSeconds = await timedDistill({ ...common, out: dirs.kd, alpha: kd.alpha, temperature: kd.temperature }, quiet);
  return { ...dirs, seconds: { ceOnly, kd: kdSeconds } };
}
