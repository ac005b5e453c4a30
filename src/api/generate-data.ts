// generateData(): sequence-level KD data (Kim & Rush 2016) — every record's answer rewritten by the
// teacher, in the record's own format, so that plain training on the result distils the teacher's
// sequences: `distillery generate-data`. The output is written in batches to OUT.partial and renamed
// to OUT when complete; an interrupted job rerun with the same settings continues where it stopped
// and writes exactly what an uninterrupted one would (sampling is seeded per batch). The output is
// checked before the teacher loads (minutes and gigabytes at real size).
import { createHash } from 'node:crypto';
import { detectFormat, type DataFormat, type DataRecord, encodeExamples, paddingId, readRecords } from '../data/index.js';
import { parseInstructionTemplate } from '../data/instruction.js';
import { checkAnswerFormat, withGeneratedAnswer } from '../data/replace-answer.js';
import { completeExamples, promptLength } from '../distill/completions.js';
import { resolveConfig } from '../distill/config.js';
import { resolveModelPath } from '../io/hub/index.js';
import { ResumableLines } from '../io/resumable-lines.js';
import { openModel, stopTokenIds } from '../models/open-model.js';
import { checkDevice } from '../tensor/index.js';
import { type Naming, namer } from './naming.js';
import { type AbortSignalLike, checkInt, definedOptions, OptionsError, rejectUnknownOptions } from './options.js';

export interface GenerateDataOptions {
  /** The model that writes the answers: a folder or Hugging Face repo id. */
  teacher: string;
  /** The data whose answers are rewritten (guanaco, instruction, chat or tokens records). */
  data: string;
  /** The new data set, a .jsonl file (must not exist yet). */
  out: string;
  /** New tokens per answer at most (default 128; prompt + answer stay within maxLength). */
  maxNewTokens?: number;
  /** Sampling temperature (default 1.0; 0 is greedy). */
  generationTemperature?: number;
  /** Top-p filtering (default 1.0: off). */
  generationTopP?: number;
  /** Seed of the sampling (default 42). */
  seed?: number;
  /** Prompts generated together (default 8). */
  batchSize?: number;
  /** Data preparation, as distill's options of the same names. */
  format?: string;
  template?: string;
  maxLength?: number;
  maxExamples?: number;
  teacherDtype?: 'float32' | 'bfloat16' | 'float16';
  device?: string;
  /** After each batch is on disk: records written so far and in all. */
  onBatch?: (done: number, total: number) => void;
  /** Stops after the current batch; a rerun with the same options continues. */
  signal?: AbortSignalLike;
  log?: (line: string) => void;
}

export interface GenerateDataResult {
  /** The finished file; null when stopped early (OUT.partial holds the progress). */
  out: string | null;
  records: number;
  /** Records given a new answer in this call, and the tokens generated for them. */
  regenerated: number;
  generatedTokens: number;
  /** Records copied as they were: nothing to answer (no prompt, or no target within maxLength). */
  unchanged: number;
  /** Records already written by an earlier, interrupted call. */
  resumedAt: number;
  seconds: number;
}

const KEYS = [
  'teacher', 'data', 'out', 'maxNewTokens', 'generationTemperature', 'generationTopP', 'seed', 'batchSize', 'format', 'template',
  'maxLength', 'maxExamples', 'teacherDtype', 'device', 'onBatch', 'signal', 'log',
];

/** A digest of the records' content: a partial output is continued only over the same data. */
function recordsDigest(records: readonly DataRecord[]): string {
  const hash = createHash('sha256');
  for (const record of records) hash.update(`${JSON.stringify(record)}\n`);
  return hash.digest('hex').slice(0, 16);
}

export async function generateData(options: GenerateDataOptions, naming: Naming = 'keys'): Promise<GenerateDataResult> {
  const name = namer(naming);
  rejectUnknownOptions('generateData', options, KEYS);
  const started = Date.now();
  const log = options.log ?? (() => {});
  const batchSize = checkInt(name('batchSize'), options.batchSize ?? 8, 1, 4096);
  if (typeof options.out !== 'string' || !options.out.endsWith('.jsonl')) throw new OptionsError(`${name('out')} must name a .jsonl file, got ${JSON.stringify(options.out)}`);
  // Validated as distill validates the options of the same names.
  const given = {
    teacher: options.teacher, student: options.teacher, data: options.data, out: options.out,
    ...definedOptions(options, ['maxNewTokens', 'generationTemperature', 'generationTopP', 'seed', 'format', 'template', 'maxLength', 'maxExamples', 'teacherDtype', 'device']),
  };
  const config = resolveConfig(given, {}, { naming });
  const device = checkDevice(config.device, name('device'));
  // Its folder exists and it does not: before anything is read or loaded.
  ResumableLines.check(config.out, name('out'));

  const source = await readRecords(config.data, { split: 'train' });
  const records = config.maxExamples === null ? source.records : source.records.slice(0, config.maxExamples);
  const format = config.format === 'auto' ? detectFormat(records, source.source).format : (config.format as DataFormat);
  checkAnswerFormat(format);
  const template = format === 'instruction' ? parseInstructionTemplate(config.template) : null;
  const folder = await resolveModelPath(options.teacher, { log });
  // What the output depends on: a rerun continues a partial output only when all of it is the same.
  const job = {
    teacher: folder, data: source.source, dataDigest: recordsDigest(records), records: records.length, device, format, template: template?.source ?? null, maxLength: config.maxLength,
    maxNewTokens: config.maxNewTokens, temperature: config.generationTemperature, topP: config.generationTopP, seed: config.seed, batchSize, dtype: config.teacherDtype,
  };
  // An unfinished output of other settings is refused before the teacher loads too.
  ResumableLines.check(config.out, name('out'), job);
  const { model, tokenizer, generation } = await openModel(folder, {
    dtype: config.teacherDtype, device, needTokenizer: format === 'tokens' ? undefined : `the ${format} format`, log,
  });
  let writer: ResumableLines | null = null;
  try {
    writer = ResumableLines.open(config.out, job, batchSize, name('out'));
    const resumedAt = writer.lines;
    log(`generate-data: ${records.length} ${format} records from ${source.source}${resumedAt > 0 ? `; continuing at record ${resumedAt + 1} (${config.out}.partial)` : ''}`);
    const eos = new Set(stopTokenIds([generation], tokenizer?.eosTokenId ?? null));
    const settings = {
      maxNewTokens: config.maxNewTokens, temperature: config.generationTemperature, topP: config.generationTopP, maxLength: config.maxLength,
      eosTokenIds: [...eos], padId: paddingId(tokenizer),
    };
    const encodeOptions = { format, template: template?.source, responseOnly: true, maxLength: config.maxLength, addEos: true };
    let [regenerated, unchanged, generatedTokens] = [0, 0, 0];
    for (let start = resumedAt; start < records.length; start += batchSize) {
      const batch = records.slice(start, start + batchSize);
      // A record encoding drops (nothing to answer) is copied as it is; distill would drop it too.
      // Without a prompt (every token a target) there is nothing to continue: copied as well.
      const encoded = batch.map((record) => {
        const example = encodeExamples([record], tokenizer, encodeOptions).examples[0];
        return example && promptLength(example.labels) > 1 ? example : null;
      });
      const answerable = encoded.flatMap((e, i) => (e ? [{ example: e, at: i }] : []));
      const completed = completeExamples(model, answerable.map((a) => a.example), settings, { seed: config.seed, step: start / batchSize, micro: 0 });
      const lines = batch.map((record) => JSON.stringify(record));
      answerable.forEach(({ example, at }, j) => {
        const prompt = promptLength(example.labels);
        const ids = completed.examples[j]!.inputIds.slice(prompt);
        const text = tokenizer ? tokenizer.decode(ids.filter((id) => !eos.has(id)), { skipSpecialTokens: true }) : '';
        lines[at] = JSON.stringify(withGeneratedAnswer(batch[at] as DataRecord, start + at, format, { text, ids, promptIds: example.inputIds.slice(0, prompt) }, template));
      });
      writer.append(lines);
      // Let Ctrl-C's handler (the CLI's abort) run between batches.
      await new Promise((resolve) => setImmediate(resolve));
      regenerated += answerable.length;
      unchanged += batch.length - answerable.length;
      generatedTokens += completed.generatedTokens;
      options.onBatch?.(writer.lines, records.length);
      if (options.signal?.aborted && writer.lines < records.length) {
        writer.close();
        log(`generate-data: stopped after ${writer.lines} of ${records.length} records; rerun the same command to continue`);
        return { out: null, records: records.length, regenerated, generatedTokens, unchanged, resumedAt, seconds: (Date.now() - started) / 1000 };
      }
    }
    if (regenerated === 0 && resumedAt === 0) {
      writer.discard();
      throw new OptionsError(`${name('data')} ${config.data}: no record has a prompt to answer (every token is a target, or nothing fits within maxLength); nothing was written`);
    }
    writer.finish();
    writer = null;
    return { out: config.out, records: records.length, regenerated, generatedTokens, unchanged, resumedAt, seconds: (Date.now() - started) / 1000 };
  } catch (error) {
    writer?.close();
    throw error;
  } finally {
    model.dispose();
  }
}
