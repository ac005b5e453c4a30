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
import { isAdapterFolder, type LoraConfig, resolveAdapterBase } from '../models/lora/index.js';
import { type DecoderConfig, readModelConfig } from '../models/decoder/config.js';
import { TextTokenizer } from '../tokenizer/index.js';
import { ConfigError, type DistillConfig } from './config.js';
import { checkVocabularies } from './vocabulary.js';
import { crossTokenizerNote, crossTokenizerSetup } from './cross-tokenizer/setup.js';
import type { CrossTokenizerSetup } from './cross-tokenizer/signal.js';
import { dataDigest, tokenizerDigest } from './teacher-cache/fingerprint.js';
import { mixtureWeights, routeRecords, type TeacherEntry, teacherEntries } from './teacher-ensemble/teacher-list.js';
import type { CacheFingerprint } from './teacher-cache/format.js';

export interface PreparedRun {
  /** The teacher's folder; with several teachers, the first local one's (null when none is local). */
  teacherFolder: string | null;
  /** That teacher's config.json, read once here. */
  teacherConfig: DecoderConfig | null;
  /** Several teachers (--teacher more than once): each one, and how they combine; null with one. */
  ensemble: PreparedEnsemble | null;
  /** The student's model folder (with a --student adapter folder, its base's). */
  studentFolder: string;
  /** Its config.json, read once here (the memory plan, the disk check and a served teacher's probe use it). */
  studentConfig: DecoderConfig;
  /** --student named a PEFT adapter folder: it is trained further, on its base; else null. */
  studentAdapter: StudentAdapter | null;
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

export interface StudentAdapter {
  folder: string;
  config: LoraConfig;
  /** What its adapter_config.json names as the base (written again into the trained adapter's). */
  baseName: string;
}

export interface PreparedEnsemble {
  /** Each teacher; a local model's resolved folder and its config.json in `folder` and `config`. */
  entries: (TeacherEntry & { folder: string | null; config: DecoderConfig | null })[];
  /** --teacher-route: each encoded example's teacher (by source index); null: a mixture. */
  teacherOf: number[] | null;
}

/**
 * Several teachers: local ones resolved and each checked against the student's tokenizer (the
 * logits compared are those every model shares); caches and services are checked as they open.
 */
async function prepareEnsemble(
  config: DistillConfig,
  entries: TeacherEntry[],
  student: { folder: string; vocabSize: number; tokenizer: TextTokenizer | null },
  log: (line: string) => void,
): Promise<{ ensemble: PreparedEnsemble; sharedVocab: number | undefined }> {
  if (config.onPolicyFraction > 0) {
    const remote = entries.find((e) => e.kind !== 'model');
    if (remote) throw new ConfigError(`--on-policy-fraction: teacher ${remote.name} (${remote.ref}) is a ${remote.kind === 'url' ? 'served teacher' : 'teacher cache'}, which scores only the data's own text; the student's completions need every teacher local`);
  }
  let sharedVocab: number | undefined;
  const resolved: PreparedEnsemble['entries'] = [];
  for (const entry of entries) {
    if (entry.kind !== 'model') {
      resolved.push({ ...entry, folder: null, config: null });
      continue;
    }
    const folder = await resolveModelPath(entry.ref, { log });
    const config = readModelConfig(join(folder, 'config.json'));
    const teacher = { folder, vocabSize: config.vocabSize, tokenizer: openTokenizer(folder) };
    const check = checkVocabularies(teacher, student);
    const compared = check.sharedVocab ?? Math.min(teacher.vocabSize, student.vocabSize);
    if (compared < student.vocabSize) sharedVocab = Math.min(sharedVocab ?? compared, compared);
    resolved.push({ ...entry, folder, config });
  }
  const how = config.teacherRoute !== null ? `routed by the records' '${config.teacherRoute}' field` : `mixed ${mixtureWeights(config, entries.length).map((w) => w.toFixed(3)).join(' : ')}`;
  log(`teachers: ${entries.map((e) => `${e.name} (${e.kind === 'url' ? 'served' : e.kind === 'cache' ? 'cache' : 'local'} ${e.ref})`).join(', ')}; ${how}`);
  return { ensemble: { entries: resolved, teacherOf: null }, sharedVocab };
}

function openTokenizer(folder: string): TextTokenizer | null {
  return TextTokenizer.hasTokenizer(folder) ? TextTokenizer.fromFolder(folder) : null;
}

/** The models' side of a run: its teacher(s) resolved and their vocabularies checked against the student's. */
interface PreparedModels {
  teacherFolder: string | null;
  teacherConfig: DecoderConfig | null;
  studentFolder: string;
  studentConfig: DecoderConfig;
  studentAdapter: StudentAdapter | null;
  studentTokenizer: TextTokenizer | null;
  /** What encodes the data: the student's tokenizer, else the teacher's. */
  tokenizer: TextTokenizer | null;
  crossTokenizer: CrossTokenizerSetup | null;
  sharedVocab?: number;
  ensemble: PreparedEnsemble | null;
}

/** A --student adapter folder: its base resolved (base_model_name_or_path), its settings read. */
async function studentAdapterOf(config: DistillConfig, log: (line: string) => void): Promise<{ studentFolder: string; studentAdapter: StudentAdapter | null }> {
  if (!isAdapterFolder(config.student)) return { studentFolder: await resolveModelPath(config.student, { log }), studentAdapter: null };
  const { baseFolder, adapterConfig } = await resolveAdapterBase(config.student, { baseOption: `a --student model folder (train new adapters on it with --lora-rank)`, log });
  log(`student: the LoRA adapter ${config.student} (r ${adapterConfig.config.rank}, alpha ${adapterConfig.config.alpha}) on ${baseFolder}, trained further`);
  return { studentFolder: baseFolder, studentAdapter: { folder: config.student, config: adapterConfig.config, baseName: adapterConfig.baseModelNameOrPath! } };
}

async function prepareModels(config: DistillConfig, log: (line: string) => void): Promise<PreparedModels> {
  const entries = teacherEntries(config);
  const { studentFolder, studentAdapter } = await studentAdapterOf(config, log);
  const studentTokenizer = openTokenizer(studentFolder);
  const studentConfig = readModelConfig(join(studentFolder, 'config.json'));
  const student = { folder: studentFolder, vocabSize: studentConfig.vocabSize, tokenizer: studentTokenizer };
  if (entries) {
    const { ensemble, sharedVocab } = await prepareEnsemble(config, entries, student, log);
    const firstLocal = ensemble.entries.find((e) => e.folder !== null);
    const teacherFolder = firstLocal?.folder ?? null;
    const tokenizer = studentTokenizer ?? (teacherFolder ? openTokenizer(teacherFolder) : null);
    return { teacherFolder, teacherConfig: firstLocal?.config ?? null, studentFolder, studentConfig, studentAdapter, studentTokenizer, tokenizer, crossTokenizer: null, sharedVocab, ensemble };
  }
  const teacherFolder = typeof config.teacher === 'string' ? await resolveModelPath(config.teacher, { log }) : null;
  // cache-teacher names the teacher as both: one tokenizer, read once (Gemma's takes seconds).
  const teacherTokenizer = teacherFolder === null ? null : teacherFolder === studentFolder ? studentTokenizer : openTokenizer(teacherFolder);
  const tokenizer = studentTokenizer ?? teacherTokenizer;
  const teacherConfig = teacherFolder === null ? null : readModelConfig(join(teacherFolder, 'config.json'));
  const teacher = teacherFolder === null ? null : { folder: teacherFolder, vocabSize: teacherConfig!.vocabSize, tokenizer: teacherTokenizer };
  const crossTokenizer = teacher && config.crossTokenizer ? crossTokenizerSetup(config.crossTokenizer, teacher, student) : null;
  const vocab = teacher === null
    ? { note: `vocabulary: ${student.vocabSize} logits (no teacher)` }
    : crossTokenizer
      ? { note: crossTokenizerNote(crossTokenizer, teacher, student) }
      : checkVocabularies(teacher, student, '--cross-tokenizer gold (or uld)');
  log(vocab.note);
  return {
    teacherFolder, teacherConfig, studentFolder, studentConfig, studentAdapter, studentTokenizer, tokenizer, crossTokenizer,
    sharedVocab: 'sharedVocab' in vocab ? vocab.sharedVocab : undefined, ensemble: null,
  };
}

export async function prepareRun(config: DistillConfig, log: (line: string) => void): Promise<PreparedRun> {
  const models = await prepareModels(config, log);
  const { tokenizer } = models;
  const trainSet = await readRecords(config.data, { split: 'train' });
  const records = config.maxExamples === null ? trainSet.records : trainSet.records.slice(0, config.maxExamples);
  const detected = config.format === 'auto' ? detectFormat(records, trainSet.source) : { format: config.format as DataFormat, reason: 'set by --format' };
  log(`data: ${records.length} records from ${trainSet.source}; format ${detected.format} (${detected.reason})`);
  const template = detected.format === 'instruction' ? config.template : undefined;
  const encodeOptions = { format: detected.format, template, responseOnly: config.responseOnly, maxLength: config.maxLength, addEos: true };
  const encoded = encodeExamples(records, tokenizer, encodeOptions);
  for (const [reason, count] of Object.entries(encoded.reasons)) log(`data: ${count} × ${reason}`);

  if (models.ensemble && config.teacherRoute !== null) {
    const routes = routeRecords(records, config.teacherRoute, models.ensemble.entries, trainSet.source);
    models.ensemble.teacherOf = encoded.recordIndices.map((r) => routes[r]!);
  }
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
  const { teacherFolder, teacherConfig, studentFolder, studentConfig, studentAdapter, studentTokenizer, crossTokenizer, sharedVocab, ensemble } = models;
  return { teacherFolder, teacherConfig, ensemble, studentFolder, studentConfig, studentAdapter, studentTokenizer, crossTokenizer, sharedVocab, train, heldOut, all: encoded.examples, fingerprint, padId, eosId: tokenizer?.eosTokenId ?? null };
}

