// `distillery eval`: perplexity of a model on token ids, a text, or a dataset file.
import type { Command } from 'commander';
import { evaluate } from '../../api/evaluate.js';
import { intOption, UsageError } from '../errors.js';
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
      const r = await evaluate(
        {
          model: flags.model, teacher: flags.teacher, data: flags.data, text: flags.text, split: flags.split,
          inputIds: flags.inputIds !== undefined ? parseIds('--input-ids', flags.inputIds) : undefined,
          batchSize: flags.batchSize, maxLength: flags.maxLength, device: flags.device, dtype: flags.dtype,
          onBatch: flags.json || flags.teacher !== undefined ? undefined : (done, total) => note(`  batch ${done}/${total}`),
          log: note,
        },
        'flags',
      );
      if (r.teacher !== undefined) {
        const record = {
          model: r.model, teacher: r.teacher, tokens: r.tokens, nll: r.nll, perplexity: r.perplexity,
          teacher_nll: r.teacherNll, teacher_perplexity: r.teacherPerplexity, top1_agreement: r.top1Agreement, kl_teacher_student: r.klTeacherStudent,
        };
        if (flags.json) console.log(JSON.stringify(record));
        else {
          console.log(`${r.tokens} scored tokens`);
          console.log(`  teacher perplexity        ${r.teacherPerplexity!.toFixed(4)}`);
          console.log(`  student perplexity        ${r.perplexity.toFixed(4)}`);
          console.log(`  top-1 agreement           ${(100 * r.top1Agreement!).toFixed(1)} %`);
          console.log(`  KL(teacher || student)    ${r.klTeacherStudent!.toFixed(4)} nats/token`);
        }
        return;
      }
      if (flags.json) console.log(JSON.stringify({ model: r.model, nll: r.nll, perplexity: r.perplexity, tokens: r.tokens, sequences: r.sequences }));
      else console.log(`perplexity ${r.perplexity.toFixed(4)}  (nll ${r.nll.toFixed(4)} nats/token over ${r.tokens} tokens, ${r.sequences} sequences)`);
    });
}

