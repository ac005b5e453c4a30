// Everything a distillation run needs before its first step: both model folders resolved and
// their tokenizers checked against each other, the data read, its format detected, encoded with
// loss masks and split into training and held-out examples.
import { join } from 'node:path';
import {
  type DataFormat,
  detectFormat,
  type EncodedExample,
  encodeExamples,
  isDataFileName,
  MissingSplitError,
  countTargets,
  paddingId,
  readRecords,
  splitHeldOut,
} from '../data/index.js';
import { resolveModelPath } from '../io/hub/index.js';
import { readModelConfig } from '../models/decoder/config.js';
import { TextTokenizer } from '../tokenizer/index.js';
import type { DistillConfig } from './config.js';
import { checkVocabularies } from './vocabulary.js';
import { crossTokenizerNote, crossTokenizerSetup } from './cross-tokenizer/setup.js';
import type { CrossTokenizerSetup } from './cross-tokenizer/signal.js';
import { dataDigest, tokenizerDigest } from './teacher-cache/fingerprint.js';
import type { CacheFingerprint } from './teacher-cache/format.js';

export interface PreparedRun {
  teacherFolder: string | null;
  studentFolder: string;
  /** The student's tokenizer (null for a folder without one: token-id data only). */
  studentTokenizer: TextTokenizer | null;
  /** --cross-tokenizer: both tokenizers and the ids their vocabularies share. */
  crossTokenizer: CrossTokenizerSetup | null;
  sharedVocab?: number;
  /** Training examples; `sourceIndex` is each one's position in the encoded data (teacher-cache rows). */
  train: IndexedExample[];
  heldOut: IndexedExample[];
  /** Every encoded example of --data, before the held-out split (what a teacher cache covers). */
  all: EncodedExample[];
  fingerprint: CacheFingerprint;
  padId: number;
  /** The tokenizer's eos id (what the data's examples end with), if it has one. */
  eosId: number | null;
}

export type IndexedExample = EncodedExample & { sourceIndex: number };

function openTokenizer(folder: string): TextTokenizer | null {
  return TextTokenizer.hasTokenizer(folder) ? TextTokenizer.fromFolder(folder) : null;
}

export async function prepareRun(config: DistillConfig, log: (line: string) => void): Promise<PreparedRun> {
  const teacherFolder = config.teacher === null ? null : await resolveModelPath(config.teacher, { log });
  const studentFolder = await resolveModelPath(config.student, { log });
  const studentTokenizer = openTokenizer(studentFolder);
  // cache-teacher names the teacher as both: one tokenizer, read once (Gemma's takes seconds).
  const teacherTokenizer = teacherFolder === null ? null : teacherFolder === studentFolder ? studentTokenizer : openTokenizer(teacherFolder);
  const tokenizer = studentTokenizer ?? teacherTokenizer;
  const student = { folder: studentFolder, vocabSize: readModelConfig(join(studentFolder, 'config.json')).vocabSize, tokenizer: studentTokenizer };
  const teacher = teacherFolder === null ? null : { folder: teacherFolder, vocabSize: readModelConfig(join(teacherFolder, 'config.json')).vocabSize, tokenizer: teacherTokenizer };
  const crossTokenizer = teacher && config.crossTokenizer ? crossTokenizerSetup(config.crossTokenizer, teacher, student) : null;
  const vocab = teacher === null
    ? { note: `vocabulary: ${student.vocabSize} logits (no teacher)` }
    : crossTokenizer
      ? { note: crossTokenizerNote(crossTokenizer, teacher, student) }
      : checkVocabularies(teacher, student, '--cross-tokenizer gold (or uld)');
  log(vocab.note);

  const trainSet = await readRecords(config.data, { split: 'train' });
  const records = config.maxExamples === null ? trainSet.records : trainSet.records.slice(0, config.maxExamples);
  const detected = config.format === 'auto' ? detectFormat(records, trainSet.source) : { format: config.format as DataFormat, reason: 'set by --format' };
  log(`data: ${records.length} records from ${trainSet.source}; format ${detected.format} (${detected.reason})`);
  const template = detected.format === 'instruction' ? config.template : undefined;
  const encodeOptions = { format: detected.format, template, responseOnly: config.responseOnly, maxLength: config.maxLength, addEos: true };
  const encoded = encodeExamples(records, tokenizer, encodeOptions);
  for (const [reason, count] of Object.entries(encoded.reasons)) log(`data: ${count} × ${reason}`);

  let train: IndexedExample[] = encoded.examples.map((e, sourceIndex) => ({ ...e, sourceIndex }));
  let heldOut: IndexedExample[] = [];
  // Held-out data: --eval-data, else the dataset's own eval/test split when it is a folder or
  // dataset id that has one, else a slice of the training examples.
  const evalSource = config.evalData ?? (isDataFileName(config.data) ? null : config.data);
  if (evalSource !== null) {
    try {
      const evalSet = await readRecords(evalSource, { split: 'test' });
      heldOut = encodeExamples(evalSet.records, tokenizer, encodeOptions).examples.map((e) => ({ ...e, sourceIndex: -1 }));
      log(`data: held-out set ${evalSet.source}`);
    } catch (error) {
      if (!(error instanceof MissingSplitError) || config.evalData !== null) throw error;
    }
  }
  if (heldOut.length === 0 && config.evalRatio > 0) {
    const split = splitHeldOut(train, config.evalRatio, config.seed);
    train = split.train;
    heldOut = split.heldOut;
    log(`data: held out ${heldOut.length} of the training examples (--eval-ratio ${config.evalRatio})`);
  }
  heldOut = heldOut.slice(0, config.maxEvalExamples);
  if (train.length === 0) throw new Error(`--data ${config.data}: no usable training examples (${records.length} records read)`);
  const targetCount = countTargets(train);
  log(`data: ${train.length} training examples (${targetCount} target tokens), ${heldOut.length} held-out`);
  const padId = paddingId(tokenizer);
  const fingerprint: CacheFingerprint = {
    data: dataDigest(encoded.examples), tokenizer: tokenizerDigest(tokenizer), format: detected.format,
    template: template ?? null, maxLength: config.maxLength, responseOnly: config.responseOnly,
  };
  return { teacherFolder, studentFolder, studentTokenizer, crossTokenizer, sharedVocab: 'sharedVocab' in vocab ? vocab.sharedVocab : undefined, train, heldOut, all: encoded.examples, fingerprint, padId, eosId: tokenizer?.eosTokenId ?? null };
}
