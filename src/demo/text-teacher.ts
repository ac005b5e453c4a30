// The Moby-Dick teacher the text demos share: a byte-level BPE tokenizer trained on the teacher's
// text and a Qwen3-architecture model trained on it with cross-entropy through `distill`'s trainer.
// It is cached by everything that determines it, so the text and cross-tokenizer demos (same
// settings) train it once between them.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { resolveConfig } from '../distill/config.js';
import { runDistillation } from '../distill/trainer.js';
import { TextTokenizer, trainByteLevelBpe, writeTokenizerFolder } from '../tokenizer/index.js';
import { cachedFolder, cacheKey } from './cache.js';
import { type CorpusSplit, mobyDickChapters, splitCorpus } from './corpus.js';
import type { ModelShape, TrainingBudget } from './settings.js';
import { type DemoHooks, runHooks, writeRandomModel } from './training.js';
import { tokenWindows, writeWindows } from './windows.js';

// Part of the cache key: a change to how the teacher is made must not reuse an old one.
const PIPELINE_VERSION = 'language-demo-v1';

export interface TextTeacherSettings {
  seed: number;
  vocabSize: number;
  /** Tokens per training window. */
  context: number;
  teacher: ModelShape & TrainingBudget;
}

/** Returns the trained teacher's model folder (tokenizer included), training it unless cached. */
export async function cachedTextTeacher(
  teacherText: string[],
  chapterCount: number,
  settings: TextTeacherSettings,
  hooks: DemoHooks,
  cacheRoot: string,
): Promise<{ model: string; reused: boolean }> {
  const key = cacheKey({ PIPELINE_VERSION, vocab: settings.vocabSize, context: settings.context, teacher: settings.teacher, seed: settings.seed, chapters: chapterCount });
  const { dir, reused } = await cachedFolder(join(cacheRoot, 'demo-teachers'), key, async (folder) => {
    hooks.log(`  training a byte-level BPE tokenizer (${settings.vocabSize} tokens) on the teacher's text`);
    const tokenizerDir = join(folder, 'tokenizer');
    writeTokenizerFolder(tokenizerDir, trainByteLevelBpe(teacherText, { vocabSize: settings.vocabSize }), { modelMaxLength: settings.context });
    const tokenizer = TextTokenizer.fromFolder(tokenizerDir);
    const data = join(folder, 'teacher-train.jsonl');
    const windows = tokenWindows(teacherText, tokenizer, settings.context);
    writeWindows(data, windows);
    const init = join(folder, 'teacher-init');
    const parameters = writeRandomModel(init, settings.teacher, tokenizer, settings.context, settings.seed, tokenizerDir);
    hooks.log(`  training the teacher: ${(parameters / 1e6).toFixed(2)}M parameters, ${settings.teacher.steps} steps on ${windows.length} windows of ${settings.context} tokens`);
    const t = settings.teacher;
    await runDistillation(
      resolveConfig(
        { student: init, data, out: join(folder, 'teacher-run'), alpha: 0, lr: t.lr, schedule: 'cosine', warmupRatio: 0.05, maxSteps: t.steps, batchSize: t.batchSize, evalRatio: 0.02, maxEvalExamples: 32, evalEvery: 0, seed: settings.seed, weightDecay: 0.1, logEvery: 50 },
        {},
        { withoutTeacher: true },
      ),
      runHooks(hooks, t),
    );
  });
  hooks.log(reused ? `  reusing the cached teacher ${dir}` : `  teacher cached in ${dir}`);
  return { model: join(dir, 'teacher-run', 'student'), reused };
}

/**
 * The first stage both text demos share: the demo folder, Moby-Dick split into the teacher's text,
 * the students' transfer set and the held-out chapters, and the (cached) teacher with its tokenizer.
 */
export async function textTeacherStage(
  outDir: string,
  settings: TextTeacherSettings & { transferBytes: number },
  hooks: DemoHooks,
  cacheRoot: string,
): Promise<{ split: CorpusSplit; teacherModel: string; teacherTokenizer: TextTokenizer; reused: boolean }> {
  mkdirSync(outDir, { recursive: true });
  const chapters = mobyDickChapters();
  const split = splitCorpus(chapters, settings.transferBytes);
  hooks.stage('teacher');
  const { model: teacherModel, reused } = await cachedTextTeacher(split.teacherText, chapters.length, settings, hooks, cacheRoot);
  return { split, teacherModel, teacherTokenizer: TextTokenizer.fromFolder(teacherModel), reused };
}
