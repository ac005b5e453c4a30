// evaluate(): perplexity of a model on held-out data, a text or token ids, and with a teacher, the
// comparison a distillation run reports (teacher perplexity, top-1 agreement, KL(teacher‖student)):
// `distillery eval`. Data is prepared and scored as distill prepares and scores its held-out set
// (format, template, response-only targets, truncation, eos, batches in order), so the numbers
// for a run's student on its held-out file are the run's summary numbers; `allTokens` scores
// every token of every record instead (plain perplexity, long records cut into windows).
import { encodeText } from '../data/segments.js';
import { DataError, type DataFormat, detectFormat, type EncodedExample, encodeExamples, padBatch, paddingId, readRecords, type ReadResult } from '../data/index.js';
import { resolveConfig } from '../distill/config.js';
import { checkVocabularies } from '../distill/vocabulary.js';
import { type Comparison, type ComparisonSums, comparisonFromSums, comparisonSums, type ScoredBatch, scoreEveryToken } from '../eval/compare.js';
import { windows } from '../eval/perplexity.js';
import { checkTokenIds } from '../models/decoder/batch-input.js';
import type { CausalLM } from '../models/decoder/model.js';
import { isAdapterSpec, openModel } from '../models/open-model.js';
import { checkDevice } from '../tensor/index.js';
import { type Naming, namer } from './naming.js';
import { checkInt, definedOptions, OptionsError, rejectUnknownOptions } from './options.js';

export interface EvaluateOptions {
  /** Model folder or Hugging Face repo id, or a PEFT adapter folder (applied to its base, unmerged). */
  model: string;
  /** With an adapter folder as `model`: its base model (default: adapter_config.json's base_model_name_or_path). */
  base?: string;
  /** Exactly one of: a data file/folder/dataset id (guanaco, instruction, chat, text or tokens records)... */
  data?: string;
  /** ...one text (needs the model folder's tokenizer; every token scored)... */
  text?: string;
  /** ...or the token ids of one sequence (every token scored). */
  inputIds?: number[];
  /** Which files of a data folder or hub dataset (default `test`). */
  split?: 'train' | 'validation' | 'test';
  /** Also score this teacher on the same tokens. */
  teacher?: string;
  /**
   * With `data`: score every token of each record, long records cut into `maxLength` windows, instead
   * of the tokens distill scores (response tokens of guanaco/instruction/chat records, a tokens
   * record's labels or loss_mask). Always so for `text` and `inputIds`.
   */
  allTokens?: boolean;
  /** With `data`: its format (default detected) and instruction template, as distill's options of the same names. */
  format?: string;
  template?: string;
  /** With `data`: only the first N examples (a run scores its first maxEvalExamples, default 100). */
  maxExamples?: number;
  /** Sequences per forward pass (default 8, as distill's evalBatchSize). */
  batchSize?: number;
  /**
   * Distill's scoring of `data`: examples are truncated to this many tokens (default 512, distill's).
   * Every token (`allTokens`, `text`, `inputIds`): longer sequences are cut into windows of this many
   * tokens (default: the model's context).
   */
  maxLength?: number;
  device?: string;
  dtype?: 'float32' | 'bfloat16' | 'float16';
  /** After each batch. */
  onBatch?: (done: number, total: number) => void;
  log?: (line: string) => void;
}

export interface EvaluateResult {
  model: string;
  /** Scored tokens. */
  tokens: number;
  /** Mean negative log-likelihood, nats per token, and its exponential. */
  nll: number;
  perplexity: number;
  /** Sequences scored (examples, or windows when every token is scored). */
  sequences: number;
  /** With `data`: its format. */
  format?: DataFormat;
  /** True when every token was scored (`allTokens`, `text`, `inputIds`), false for distill's targets. */
  allTokens: boolean;
  /** With a teacher: */
  teacher?: string;
  teacherNll?: number;
  teacherPerplexity?: number;
  top1Agreement?: number;
  klTeacherStudent?: number;
}

const KEYS = ['model', 'base', 'data', 'text', 'inputIds', 'split', 'teacher', 'allTokens', 'format', 'template', 'maxExamples', 'batchSize', 'maxLength', 'device', 'dtype', 'onBatch', 'log'];

/** Scores the batches one at a time (for progress); token sums of disjoint batches add. */
function scoreBatches(model: CausalLM, teacher: CausalLM | null, batches: ScoredBatch[], sharedVocab: number | undefined, onBatch?: (done: number, total: number) => void): Comparison {
  const total: ComparisonSums = { tokens: 0, studentNll: 0, teacherNll: 0, agree: 0, kl: 0, klOthers: [] };
  batches.forEach((batch, i) => {
    const sums = comparisonSums(model, teacher, [batch], { sharedVocab });
    for (const key of ['tokens', 'studentNll', 'teacherNll', 'agree', 'kl'] as const) total[key] += sums[key];
    onBatch?.(i + 1, batches.length);
  });
  return comparisonFromSums(total, teacher !== null);
}

export async function evaluate(options: EvaluateOptions, naming: Naming = 'keys'): Promise<EvaluateResult> {
  const name = namer(naming);
  rejectUnknownOptions('evaluate', options, KEYS);
  if (options.base !== undefined && !isAdapterSpec(options.model)) throw new OptionsError(`${name('base')} applies to a PEFT adapter folder (adapter_config.json) as ${name('model')}, and ${options.model} is not one`);
  const { dtype = 'float32', split = 'test', log = () => {} } = options;
  const sources = [options.inputIds, options.text, options.data].filter((s) => s !== undefined);
  if (sources.length !== 1) throw new OptionsError(`give exactly one of ${name('inputIds')}, ${name('text')} or ${name('data')}`);
  if (options.data === undefined) {
    for (const key of ['allTokens', 'format', 'template', 'maxExamples'] as const) {
      if (options[key] !== undefined) throw new OptionsError(`${name(key)} applies to ${name('data')} only (${name('text')} and ${name('inputIds')} score every token)`);
    }
  }
  if (options.allTokens !== undefined && typeof options.allTokens !== 'boolean') throw new OptionsError(`${name('allTokens')} must be true or false, got ${JSON.stringify(options.allTokens)}`);
  const allTokens = options.data === undefined || options.allTokens === true;
  const batchSize = checkInt(name('batchSize'), options.batchSize ?? 8, 1, 4096);
  const maxLength = options.maxLength === undefined ? undefined : checkInt(name('maxLength'), options.maxLength, 2);
  const maxExamples = options.maxExamples === undefined ? undefined : checkInt(name('maxExamples'), options.maxExamples, 1);

  // Data: read and its format told before any weights load. Perplexity is a held-out measure, so a
  // folder or hub dataset defaults to its test/eval/validation files.
  let data: { records: ReadResult; format: DataFormat; template?: string; truncateAt: number } | null = null;
  if (options.data !== undefined) {
    // format, template and maxLength checked, and defaulted, as distill's options of the same names.
    const config = resolveConfig(
      { teacher: options.model, student: options.model, data: options.data, out: options.data, ...definedOptions(options, ['format', 'template', 'maxLength']) },
      {},
      { naming },
    );
    const records = await readRecords(options.data, { split });
    const detected = config.format === 'auto' ? detectFormat(records.records, records.source) : { format: config.format as DataFormat, reason: `set by ${name('format')}` };
    log(`data: ${records.records.length} records from ${records.source}; format ${detected.format} (${detected.reason})`);
    data = { records, format: detected.format, template: detected.format === 'instruction' ? config.template : undefined, truncateAt: config.maxLength };
  }

  const needsTokenizer = options.text !== undefined ? name('text') : data !== null && data.format !== 'tokens' ? `the ${data.format} records of ${options.data}` : undefined;
  const { folder, adapter, model, tokenizer } = await openModel(options.model, {
    base: options.base,
    baseOption: name('base'),
    dtype,
    device: checkDevice(options.device ?? 'cpu', name('device')),
    needTokenizer: needsTokenizer,
    log,
  });
  try {
    const vocabSize = model.config.vocabSize;
    let batches: ScoredBatch[];
    if (data === null) {
      const sequences = options.inputIds ? [options.inputIds] : [encodeText(tokenizer!, options.text!)];
      batches = everyToken(sequences, maxLength ?? model.config.maxPositionEmbeddings, batchSize, vocabSize);
    } else {
      const encoded = encodeExamples(data.records.records, tokenizer, {
        format: data.format, template: data.template, responseOnly: !allTokens, maxLength: allTokens ? Number.MAX_SAFE_INTEGER : data.truncateAt, addEos: true,
      });
      // Truncated as distill truncates; a whole long text (a .txt file is one record) is scored with allTokens.
      const hint = allTokens ? '' : ` (${name('maxLength')}; ${name('allTokens')} scores whole records, in windows)`;
      for (const [reason, count] of Object.entries(encoded.reasons)) log(`data: ${count} × ${reason}${reason.startsWith('truncated') ? hint : ''}`);
      const examples = encoded.examples.slice(0, maxExamples);
      if (examples.length === 0) {
        throw new DataError(`${name('data')} ${data.records.source}: no example has a token to score (${data.records.records.length} records; ${Object.keys(encoded.reasons).join('; ')})`);
      }
      if (allTokens) batches = everyToken(examples.map((e) => e.inputIds), maxLength ?? model.config.maxPositionEmbeddings, batchSize, vocabSize);
      else batches = inOrder(examples, batchSize, paddingId(tokenizer), vocabSize);
    }
    const sequences = batches.reduce((n, b) => n + b.inputIds.length, 0);
    const common = { model: adapter ?? folder, sequences, allTokens, ...(data ? { format: data.format } : {}) };
    if (options.teacher === undefined) {
      const c = scoreBatches(model, null, batches, undefined, options.onBatch);
      return { ...common, tokens: c.tokens, nll: c.student.nll, perplexity: c.student.perplexity };
    }
    const opened = await openModel(options.teacher, { dtype, device: model.device, log });
    try {
      const vocab = checkVocabularies(
        { folder: opened.folder, vocabSize: opened.model.config.vocabSize, tokenizer: opened.tokenizer },
        { folder, vocabSize, tokenizer },
      );
      const c = scoreBatches(model, opened.model, batches, vocab.sharedVocab, options.onBatch);
      return {
        ...common, tokens: c.tokens, nll: c.student.nll, perplexity: c.student.perplexity,
        teacher: opened.adapter ?? opened.folder, teacherNll: c.teacher!.nll, teacherPerplexity: c.teacher!.perplexity, top1Agreement: c.top1Agreement!, klTeacherStudent: c.klTeacherStudent!,
      };
    } finally {
      opened.model.dispose();
    }
  } finally {
    model.dispose();
  }
}

/** Every next token scored: windows of `maxLength`, longest first (less padding per batch). */
function everyToken(sequences: number[][], maxLength: number, batchSize: number, vocabSize: number): ScoredBatch[] {
  const pieces = windows(sequences, maxLength);
  for (const ids of pieces) checkTokenIds(ids, vocabSize);
  if (pieces.length === 0) throw new RangeError('nothing to score: every sequence has fewer than two tokens');
  return scoreEveryToken([...pieces].sort((a, b) => b.length - a.length), batchSize);
}

/** Distill's held-out batches: the examples in order, right-padded, labels as encoded. */
function inOrder(examples: readonly EncodedExample[], batchSize: number, padId: number, vocabSize: number): ScoredBatch[] {
  for (const e of examples) checkTokenIds(e.inputIds, vocabSize);
  const out: ScoredBatch[] = [];
  for (let i = 0; i < examples.length; i += batchSize) out.push(padBatch(examples.slice(i, i + batchSize), padId));
  return out;
}
