// `distillery demo --task cross-tokenizer`: distillation between models that tokenize differently.
// The text demo's Moby-Dick teacher (its own 1,024-token vocabulary) teaches a student with another
// byte-level BPE vocabulary, learned from other chapters. The student is trained three times with the
// same steps, data order and seed on the same text — cross-entropy only, `--cross-tokenizer gold` and
// `--cross-tokenizer uld` — and every model is scored on held-out chapters in bits per byte, which,
// unlike perplexity, does not depend on how a tokenizer cuts the text.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AlignmentShares } from '../distill/cross-tokenizer/alignment-totals.js';
import type { CrossTokenizerMethod } from '../distill/cross-tokenizer/loss.js';
import { vocabularyMap } from '../distill/cross-tokenizer/vocabulary-map.js';
import { scoreText } from '../eval/bits-per-byte.js';
import { loadCausalLM } from '../models/decoder/weights.js';
import { TextTokenizer, trainByteLevelBpe, writeTokenizerFolder } from '../tokenizer/index.js';
import { distilleryCacheDir } from './cache.js';
import { firstBytes } from './corpus.js';
import type { CrossTokenizerDemoSettings } from './cross-tokenizer-settings.js';
import { textTeacherStage } from './text-teacher.js';
import { type DemoHooks, timedDistill, writeRandomModel } from './training.js';
import { textWindows, writeTextRecords } from './windows.js';

const METHODS: readonly CrossTokenizerMethod[] = ['gold', 'uld'];

export interface CrossTokenizerRow {
  model: string;
  vocabulary: number;
  parameters: number;
  /** Held-out perplexity on the model's own tokens (not comparable across vocabularies). */
  perplexity: number;
  bitsPerByte: number;
  /** Predicted tokens scored, and the bytes they stand for. */
  tokens: number;
  bytes: number;
}

export interface CrossTokenizerDemoResult {
  rows: CrossTokenizerRow[];
  runs: { ceOnly: string; gold: string; uld: string };
  /** summary.json's shares of each KD run's student targets by how they aligned with the teacher's tokens. */
  alignment: Record<CrossTokenizerMethod, AlignmentShares>;
  /** Wall time of each student run (training and its evaluations), seconds. */
  seconds: { ceOnly: number; gold: number; uld: number };
  teacherReused: boolean;
  transferWindows: number;
  heldOutBytes: number;
}

/** The shares a cross-tokenizer run wrote in its summary.json. */
function alignmentOf(runDir: string): AlignmentShares {
  const path = join(runDir, 'summary.json');
  const summary = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  const share = (key: keyof AlignmentShares) => {
    const value = summary[key];
    if (typeof value !== 'number') throw new Error(`${path}: no ${key} (was the run a --cross-tokenizer run?)`);
    return value;
  };
  return { aligned_exact: share('aligned_exact'), aligned_in_spans: share('aligned_in_spans'), unaligned: share('unaligned') };
}

export async function runCrossTokenizerDemo(outDir: string, settings: CrossTokenizerDemoSettings, hooks: DemoHooks, cacheRoot = distilleryCacheDir()): Promise<CrossTokenizerDemoResult> {
  // Stage 1 (cached, shared with the text demo): the teacher and its tokenizer.
  const { split, teacherModel, teacherTokenizer, reused } = await textTeacherStage(outDir, settings, hooks, cacheRoot);

  // Stage 2: the student's own vocabulary, from the back half of the teacher's chapters (other text,
  // another size: other merges), and the transfer set as text, which both tokenizers can read.
  const studentTokenizerDir = join(outDir, 'student-tokenizer');
  const vocabularyText = split.teacherText.slice(Math.floor(split.teacherText.length / 2));
  writeTokenizerFolder(studentTokenizerDir, trainByteLevelBpe(vocabularyText, { vocabSize: settings.studentVocabSize }), { modelMaxLength: settings.context });
  const studentTokenizer = TextTokenizer.fromFolder(studentTokenizerDir);
  const transfer = textWindows(split.transferText, studentTokenizer, settings.context);
  const heldOutWindows = textWindows(split.heldOutText, studentTokenizer, settings.context).slice(0, settings.maxEvalWindows);
  writeTextRecords(join(outDir, 'transfer.jsonl'), transfer);
  writeTextRecords(join(outDir, 'heldout.jsonl'), heldOutWindows);
  const studentInit = join(outDir, 'student-init');
  writeRandomModel(studentInit, settings.student, studentTokenizer, settings.context, settings.seed + 1, studentTokenizerDir);
  const shared = vocabularyMap(studentTokenizer, teacherTokenizer, studentTokenizer.vocabSize, teacherTokenizer.vocabSize).studentIds.length;
  hooks.log(
    `  vocabularies: teacher ${teacherTokenizer.vocabSize} tokens, student ${studentTokenizer.vocabSize} (${shared} in common); ` +
      `transfer set: ${transfer.length} text windows of ${settings.context} student tokens (${settings.transferBytes / 1000} KB)`,
  );

  // Stage 3: one student, three runs with the same steps, data order and seed.
  const s = settings.student;
  const common = {
    student: studentInit, data: join(outDir, 'transfer.jsonl'), evalData: join(outDir, 'heldout.jsonl'), maxLength: settings.context,
    lr: s.lr, schedule: 'cosine', warmupRatio: 0.05, maxSteps: s.steps, batchSize: s.batchSize, seed: settings.seed,
    evalEvery: settings.evalEvery, maxEvalExamples: settings.maxEvalWindows, weightDecay: 0.1, logEvery: 50,
  };
  const runs = { ceOnly: join(outDir, 'ce-only'), gold: join(outDir, 'gold'), uld: join(outDir, 'uld') };
  hooks.stage('student, cross-entropy only');
  const seconds = { ceOnly: await timedDistill({ ...common, out: runs.ceOnly, alpha: 0 }, hooks, s, { withoutTeacher: true }), gold: 0, uld: 0 };
  for (const method of METHODS) {
    hooks.stage(`student, cross-tokenizer distillation: ${method} (α ${settings.alpha}, τ ${settings.temperature})`);
    seconds[method] = await timedDistill({ ...common, teacher: teacherModel, out: runs[method], alpha: settings.alpha, temperature: settings.temperature, crossTokenizer: method }, hooks, s);
  }

  // Stage 4: every model on the same held-out text, each through its own tokenizer.
  hooks.stage('evaluation');
  const heldOutText = firstBytes(split.heldOutText, settings.heldOutBytes);
  const models: [string, string, TextTokenizer][] = [
    ['teacher', teacherModel, teacherTokenizer],
    ['student, CE only', join(runs.ceOnly, 'student'), studentTokenizer],
    ['student, KD gold', join(runs.gold, 'student'), studentTokenizer],
    ['student, KD uld', join(runs.uld, 'student'), studentTokenizer],
  ];
  const rows = models.map(([name, folder, tokenizer]): CrossTokenizerRow => {
    const model = loadCausalLM(folder);
    try {
      const score = scoreText(model, tokenizer, heldOutText, settings.context);
      return { model: name, vocabulary: tokenizer.vocabSize, parameters: model.numParameters(), perplexity: score.perplexity, bitsPerByte: score.bitsPerByte, tokens: score.tokens, bytes: score.bytes };
    } finally {
      model.dispose();
    }
  });
  return {
    rows,
    runs,
    alignment: { gold: alignmentOf(runs.gold), uld: alignmentOf(runs.uld) },
    seconds,
    teacherReused: reused,
    transferWindows: transfer.length,
    heldOutBytes: heldOutText.reduce((n, text) => n + Buffer.byteLength(text), 0),
  };
}
