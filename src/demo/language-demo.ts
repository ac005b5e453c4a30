// `distillery demo`: the whole idea on a laptop, offline. A Qwen3-architecture teacher learns
// Moby-Dick; a smaller Qwen3 student is trained on a much smaller transfer set twice with the same
// steps, data order and seed — cross-entropy only, and distillation through `distillery distill`'s
// own trainer — and both are compared with the teacher on held-out chapters.
import { join } from 'node:path';
import { compareModels, gapClosed, scoreEveryToken } from '../eval/compare.js';
import { generate } from '../models/decoder/generate.js';
import type { CausalLM } from '../models/decoder/model.js';
import { loadCausalLM } from '../models/decoder/weights.js';
import { type MetricsRecord, readMetrics } from '../report/metrics.js';
import { distilleryCacheDir } from './cache.js';
import type { LanguageDemoSettings } from './settings.js';
import { textTeacherStage } from './text-teacher.js';
import { type DemoHooks, trainStudentPair, writeRandomModel } from './training.js';
import { tokenWindows, writeWindows } from './windows.js';

export interface DemoRow {
  model: string;
  parameters: number;
  perplexity: number;
  gapClosed: number | null;
  top1Agreement: number | null;
  klTeacherStudent: number | null;
}

export interface LanguageDemoResult {
  rows: DemoRow[];
  samples: { prompt: string; outputs: Record<string, string> }[];
  runs: { ceOnly: string; kd: string };
  teacherReused: boolean;
  heldOutTokens: number;
  /** The CE-only student's best held-out perplexity during training (before it overfit), and when. */
  ceOnlyBest: { perplexity: number; step: number } | null;
}

export async function runLanguageDemo(outDir: string, settings: LanguageDemoSettings, hooks: DemoHooks, cacheRoot = distilleryCacheDir()): Promise<LanguageDemoResult> {
  // Stage 1 (cached): the tokenizer and the teacher.
  const { split, teacherModel, teacherTokenizer: tokenizer, reused } = await textTeacherStage(outDir, settings, hooks, cacheRoot);

  // Stage 2: the student's transfer set and the held-out chapters, as token windows.
  const transfer = tokenWindows(split.transferText, tokenizer, settings.context);
  const heldOut = tokenWindows(split.heldOutText, tokenizer, settings.context).slice(0, settings.maxEvalWindows);
  writeWindows(join(outDir, 'transfer.jsonl'), transfer);
  writeWindows(join(outDir, 'heldout.jsonl'), heldOut);
  const studentInit = join(outDir, 'student-init');
  writeRandomModel(studentInit, settings.student, tokenizer, settings.context, settings.seed + 1, teacherModel);
  hooks.log(`  transfer set: ${transfer.length} windows (${settings.transferBytes / 1000} KB of text); held-out: ${heldOut.length} windows from ${split.heldOutText.length} unseen chapters`);

  // Stage 3: the same student, the same steps and data order, with and without the teacher's signal.
  const s = settings.student;
  const common = {
    teacher: teacherModel, student: studentInit, data: join(outDir, 'transfer.jsonl'), evalData: join(outDir, 'heldout.jsonl'),
    lr: s.lr, schedule: 'cosine', warmupRatio: 0.05, maxSteps: s.steps, batchSize: s.batchSize, seed: settings.seed,
    evalEvery: settings.evalEvery, maxEvalExamples: settings.maxEvalWindows, weightDecay: 0.1, logEvery: 50,
  };
  const runs = await trainStudentPair(outDir, common, settings, hooks, s);

  // Stage 4: everyone on the held-out chapters, and samples side by side.
  hooks.stage('evaluation');
  const teacher = loadCausalLM(teacherModel);
  const models: [string, CausalLM][] = [
    ['student at init', loadCausalLM(studentInit)],
    ['student, CE only', loadCausalLM(join(runs.ceOnly, 'student'))],
    ['student, KD', loadCausalLM(join(runs.kd, 'student'))],
  ];
  const batches = scoreEveryToken(heldOut, 16);
  const comparisons = models.map(([name, model]) => [name, model, compareModels(model, teacher, batches)] as const);
  const teacherPpl = comparisons[0]![2].teacher!.perplexity;
  const initPpl = comparisons[0]![2].student.perplexity;
  const rows: DemoRow[] = [
    { model: 'teacher', parameters: teacher.numParameters(), perplexity: teacherPpl, gapClosed: null, top1Agreement: 1, klTeacherStudent: 0 },
    ...comparisons.map(([name, model, c]) => ({
      model: name,
      parameters: model.numParameters(),
      perplexity: c.student.perplexity,
      gapClosed: name === 'student at init' ? 0 : gapClosed(initPpl, c.student.perplexity, teacherPpl),
      top1Agreement: c.top1Agreement,
      klTeacherStudent: c.klTeacherStudent,
    })),
  ];
  const samples = heldOut.slice(0, 3).map((window) => {
    const prompt = window.slice(0, 12);
    const outputs: Record<string, string> = {};
    for (const [name, model] of [['teacher', teacher] as const, ...models.slice(1)]) {
      outputs[name] = tokenizer.decode(generate(model, prompt, { maxNewTokens: 32, greedy: true }).ids);
    }
    return { prompt: tokenizer.decode(prompt), outputs };
  });
  teacher.dispose();
  for (const [, model] of models) model.dispose();
  const ceEvals = readMetrics(join(runs.ceOnly, 'metrics.jsonl')).filter((r) => r.type === 'eval' && r.step > 0);
  const best = ceEvals.reduce<MetricsRecord | null>((b, r) => (b === null || (r.student_perplexity as number) < (b.student_perplexity as number) ? r : b), null);
  const ceOnlyBest = best ? { perplexity: best.student_perplexity as number, step: best.step } : null;
  return { rows, samples, runs, teacherReused: reused, heldOutTokens: comparisons[0]![2].tokens, ceOnlyBest };
}
