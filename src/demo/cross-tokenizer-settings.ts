// Sizes and budgets of `distillery demo --task cross-tokenizer`. The teacher's settings are the text
// demo's, so the two demos share one cached teacher; the student has a vocabulary of its own.
import { DEFAULT_LANGUAGE_DEMO, type ModelShape, QUICK_LANGUAGE_DEMO, type TrainingBudget } from './settings.js';
import type { TextTeacherSettings } from './text-teacher.js';

export interface CrossTokenizerDemoSettings extends TextTeacherSettings {
  /** Size of the student's byte-level BPE vocabulary, trained on other chapters than the teacher's. */
  studentVocabSize: number;
  student: ModelShape & TrainingBudget;
  /** Bytes of Moby-Dick the students train on. */
  transferBytes: number;
  /** Bytes of the held-out chapters every model is scored on (bits per byte, perplexity). */
  heldOutBytes: number;
  alpha: number;
  temperature: number;
  evalEvery: number;
  /** Held-out windows of the in-training evaluations (the student's perplexity curve). */
  maxEvalWindows: number;
}

const teacherOf = ({ seed, vocabSize, context, teacher }: TextTeacherSettings): TextTeacherSettings => ({ seed, vocabSize, context, teacher });

export const DEFAULT_CROSS_TOKENIZER_DEMO: CrossTokenizerDemoSettings = {
  ...teacherOf(DEFAULT_LANGUAGE_DEMO),
  studentVocabSize: 640,
  // The text demo's student and budget (300 steps on a 60 KB transfer set, which the CE-only student
  // overfits). Measured: at 200 steps the CE-only student had not overfit yet and the gold student had
  // not caught up (held-out bits per byte 2.903 vs 2.926); at 300, 3.249 vs 2.754.
  student: DEFAULT_LANGUAGE_DEMO.student,
  transferBytes: DEFAULT_LANGUAGE_DEMO.transferBytes,
  // The 13 held-out chapters hold about 93 KB: all of them.
  heldOutBytes: 100_000,
  alpha: DEFAULT_LANGUAGE_DEMO.alpha,
  temperature: DEFAULT_LANGUAGE_DEMO.temperature,
  evalEvery: DEFAULT_LANGUAGE_DEMO.evalEvery,
  maxEvalWindows: DEFAULT_LANGUAGE_DEMO.maxEvalWindows,
};

export const QUICK_CROSS_TOKENIZER_DEMO: CrossTokenizerDemoSettings = {
  ...teacherOf(QUICK_LANGUAGE_DEMO),
  studentVocabSize: 280,
  student: QUICK_LANGUAGE_DEMO.student,
  transferBytes: QUICK_LANGUAGE_DEMO.transferBytes,
  heldOutBytes: 3_000,
  alpha: QUICK_LANGUAGE_DEMO.alpha,
  temperature: QUICK_LANGUAGE_DEMO.temperature,
  evalEvery: QUICK_LANGUAGE_DEMO.evalEvery,
  maxEvalWindows: QUICK_LANGUAGE_DEMO.maxEvalWindows,
};
