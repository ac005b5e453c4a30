// evaluate(): perplexity of a model on held-out text or token ids, and with a teacher, the
// comparison a distillation run reports (teacher perplexity, top-1 agreement, KL(teacher‖student)):
// `distillery eval`.
import { readTextRecords } from '../data/index.js';
import { checkVocabularies } from '../distill/vocabulary.js';
import { compareModels, scoreEveryToken } from '../eval/compare.js';
import { perplexity, windows } from '../eval/perplexity.js';
import { openModel } from '../models/open-model.js';
import { checkDevice } from '../tensor/index.js';
import { type Naming, namer } from './naming.js';
import { checkInt, OptionsError, rejectUnknownOptions } from './options.js';

export interface EvaluateOptions {
  /** Model folder or Hugging Face repo id. */
  model: string;
  /** Exactly one of: a data file/folder/dataset id (records with `input_ids` or `text`)... */
  data?: string;
  /** ...one text (needs the model folder's tokenizer)... */
  text?: string;
  /** ...or the token ids of one sequence. */
  inputIds?: number[];
  /** Which files of a data folder or hub dataset (default `test`). */
  split?: 'train' | 'validation' | 'test';
  /** Also score this teacher on the same tokens. */
  teacher?: string;
  /** Sequences per forward pass (default 8). */
  batchSize?: number;
  /** Cut longer sequences into windows of this many tokens (default: the model's context). */
  maxLength?: number;
  device?: string;
  dtype?: 'float32' | 'bfloat16' | 'float16';
  /** After each batch (perplexity without a teacher). */
  onBatch?: (done: number, total: number) => void;
  log?: (line: string) => void;
}

export interface EvaluateResult {
  model: string;
  /** Scored tokens (every token after the first of each window). */
  tokens: number;
  /** Mean negative log-likelihood, nats per token, and its exponential. */
  nll: number;
  perplexity: number;
  /** Sequences scored (without a teacher). */
  sequences?: number;
  /** With a teacher: */
  teacher?: string;
  teacherNll?: number;
  teacherPerplexity?: number;
  top1Agreement?: number;
  klTeacherStudent?: number;
}

const KEYS = ['model', 'data', 'text', 'inputIds', 'split', 'teacher', 'batchSize', 'maxLength', 'device', 'dtype', 'onBatch', 'log'];

export async function evaluate(options: EvaluateOptions, naming: Naming = 'keys'): Promise<EvaluateResult> {
  const name = namer(naming);
  rejectUnknownOptions('evaluate', options, KEYS);
  const { dtype = 'float32', split = 'test', log = () => {} } = options;
  const sources = [options.inputIds, options.text, options.data].filter((s) => s !== undefined);
  if (sources.length !== 1) throw new OptionsError(`give exactly one of ${name('inputIds')}, ${name('text')} or ${name('data')}`);
  const batchSize = checkInt(name('batchSize'), options.batchSize ?? 8, 1, 4096);
  const maxLength = options.maxLength === undefined ? undefined : checkInt(name('maxLength'), options.maxLength, 2);
  // Perplexity is a held-out measure, so a folder or hub dataset defaults to its test/eval/validation files.
  const records = options.data !== undefined ? (await readTextRecords(options.data, { split })).records : null;
  const needsTokenizer = options.text !== undefined || (records?.some((r) => 'text' in r) ?? false);
  const { folder, model, tokenizer } = await openModel(options.model, {
    dtype,
    device: checkDevice(options.device ?? 'cpu', name('device')),
    needTokenizer: needsTokenizer ? (options.text !== undefined ? name('text') : `the text records of ${options.data}`) : undefined,
    log,
  });
  try {
    const encode = (text: string) => tokenizer!.encode(text);
    const sequences = options.inputIds ? [options.inputIds] : options.text !== undefined ? [encode(options.text)] : records!.map((r) => ('ids' in r ? r.ids : encode(r.text)));
    if (options.teacher === undefined) {
      const result = perplexity(model, sequences, { batchSize, maxLength, onBatch: options.onBatch });
      return { model: folder, tokens: result.tokens, nll: result.nll, perplexity: result.perplexity, sequences: result.sequences };
    }
    const opened = await openModel(options.teacher, { dtype, device: model.device, log });
    try {
      const vocab = checkVocabularies(
        { folder: opened.folder, vocabSize: opened.model.config.vocabSize, tokenizer: opened.tokenizer },
        { folder, vocabSize: model.config.vocabSize, tokenizer },
      );
      const batches = scoreEveryToken(windows(sequences, maxLength ?? model.config.maxPositionEmbeddings), batchSize);
      const c = compareModels(model, opened.model, batches, { sharedVocab: vocab.sharedVocab });
      return {
        model: folder, tokens: c.tokens, nll: c.student.nll, perplexity: c.student.perplexity,
        teacher: opened.folder, teacherNll: c.teacher!.nll, teacherPerplexity: c.teacher!.perplexity, top1Agreement: c.top1Agreement!, klTeacherStudent: c.klTeacherStudent!,
      };
    } finally {
      opened.model.dispose();
    }
  } finally {
    model.dispose();
  }
}
