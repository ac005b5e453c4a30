// `distillery eval`: perplexity of a model on token ids, a text, or a dataset file.
import type { Command } from 'commander';
import { readTextRecords } from '../../data/index.js';
import { compareModels, scoreEveryToken } from '../../eval/compare.js';
import { perplexity, windows } from '../../eval/perplexity.js';
import { checkVocabularies } from '../../distill/vocabulary.js';
import { checkDevice } from '../device.js';
import { intOption, UsageError } from '../errors.js';
import { openModel } from '../model-source.js';
import { modelDtype, note, parseIds } from '../options.js';

interface EvalFlags {
  model: string;
  inputIds?: string;
  text?: string;
  data?: string;
  batchSize: number;
  maxLength?: number;
  device: string;
  dtype: 'float32' | 'bfloat16' | 'float16';
  split: 'train' | 'validation' | 'test';
  json?: boolean;
  teacher?: string;
}

function splitOption(value: string): EvalFlags['split'] {
  if (value !== 'train' && value !== 'validation' && value !== 'test') throw new UsageError(`--split must be train, validation or test, got '${value}'`);
  return value;
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('perplexity: token-weighted mean NLL of each token given its prefix')
    .requiredOption('--model <path|ORG/NAME>', 'model folder or Hugging Face repo id')
    .option('--input-ids <ids>', 'comma-separated token ids of one sequence')
    .option('--text <text>', 'a text (needs the model folder’s tokenizer)')
    .option('--data <path|ORG/NAME>', 'records with input_ids or text: a .jsonl, .json, .parquet or .txt file, a folder, or a cached Hugging Face dataset (held-out split)')
    .option('--split <split>', 'which files of a --data folder or hub dataset: train, validation or test', splitOption, 'test')
    .option('--teacher <path|ORG/NAME>', 'also score a teacher on the same tokens: perplexities, top-1 agreement, KL(teacher‖student)')
    .option('--batch-size <n>', 'sequences per forward pass', intOption('--batch-size', 1, 4096), 8)
    .option('--max-length <n>', 'cut longer sequences into windows of this many tokens', intOption('--max-length', 2))
    .option('--device <device>', "'cpu' or 'cuda[:N]'", 'cpu')
    .option('--dtype <dtype>', 'compute dtype: float32, bfloat16 or float16', modelDtype('--dtype'), 'float32')
    .option('--json', 'print one JSON object')
    .action(async (flags: EvalFlags) => {
      const sources = [flags.inputIds, flags.text, flags.data].filter((s) => s !== undefined);
      if (sources.length !== 1) throw new UsageError('give exactly one of --input-ids, --text or --data');
      const ids = flags.inputIds !== undefined ? parseIds('--input-ids', flags.inputIds) : null;
      // Perplexity is a held-out measure, so a folder or hub dataset defaults to its test/eval/validation files.
      const records = flags.data !== undefined ? (await readTextRecords(flags.data, { split: flags.split })).records : null;
      const needsTokenizer = flags.text !== undefined || (records?.some((r) => 'text' in r) ?? false);
      const { folder, model, tokenizer } = await openModel(flags.model, {
        dtype: flags.dtype,
        device: checkDevice(flags.device),
        needTokenizer: needsTokenizer ? (flags.text !== undefined ? '--text' : `the text records of ${flags.data}`) : undefined,
      });
      const encode = (text: string) => tokenizer!.encode(text);
      const sequences = ids ? [ids] : flags.text !== undefined ? [encode(flags.text)] : records!.map((r) => ('ids' in r ? r.ids : encode(r.text)));
      if (flags.teacher !== undefined) {
        const opened = await openModel(flags.teacher, { dtype: flags.dtype, device: model.device });
        try {
          const vocab = checkVocabularies(
            { folder: opened.folder, vocabSize: opened.model.config.vocabSize, tokenizer: opened.tokenizer },
            { folder, vocabSize: model.config.vocabSize, tokenizer },
          );
          const batches = scoreEveryToken(windows(sequences, flags.maxLength ?? model.config.maxPositionEmbeddings), flags.batchSize);
          const c = compareModels(model, opened.model, batches, { sharedVocab: vocab.sharedVocab });
          const record = {
            model: folder, teacher: opened.folder, tokens: c.tokens, nll: c.student.nll, perplexity: c.student.perplexity,
            teacher_nll: c.teacher!.nll, teacher_perplexity: c.teacher!.perplexity, top1_agreement: c.top1Agreement, kl_teacher_student: c.klTeacherStudent,
          };
          if (flags.json) console.log(JSON.stringify(record));
          else {
            console.log(`${c.tokens} scored tokens`);
            console.log(`  teacher perplexity        ${c.teacher!.perplexity.toFixed(4)}`);
            console.log(`  student perplexity        ${c.student.perplexity.toFixed(4)}`);
            console.log(`  top-1 agreement           ${(100 * c.top1Agreement!).toFixed(1)} %`);
            console.log(`  KL(teacher || student)    ${c.klTeacherStudent!.toFixed(4)} nats/token`);
          }
        } finally {
          opened.model.dispose();
        }
        model.dispose();
        return;
      }
      const result = perplexity(model, sequences, {
        batchSize: flags.batchSize,
        maxLength: flags.maxLength,
        onBatch: flags.json ? undefined : (done, total) => note(`  batch ${done}/${total}`),
      });
      if (flags.json) console.log(JSON.stringify({ model: folder, ...result }));
      else console.log(`perplexity ${result.perplexity.toFixed(4)}  (nll ${result.nll.toFixed(4)} nats/token over ${result.tokens} tokens, ${result.sequences} sequences)`);
      model.dispose();
    });
}

