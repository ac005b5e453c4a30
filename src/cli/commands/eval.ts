// `distillery eval`: perplexity of a model on token ids, a text, or a dataset file.
import type { Command } from 'commander';
import { readTextRecords } from '../../data/text-records.js';
import { perplexity } from '../../eval/perplexity.js';
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
  json?: boolean;
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('perplexity: token-weighted mean NLL of each token given its prefix')
    .requiredOption('--model <path|ORG/NAME>', 'model folder or Hugging Face repo id')
    .option('--input-ids <ids>', 'comma-separated token ids of one sequence')
    .option('--text <text>', 'a text (needs the model folder’s tokenizer)')
    .option('--data <file>', 'a .txt, .jsonl or .json file of records with input_ids or text')
    .option('--batch-size <n>', 'sequences per forward pass', intOption('--batch-size', 1, 4096), 8)
    .option('--max-length <n>', 'cut longer sequences into windows of this many tokens', intOption('--max-length', 2))
    .option('--device <device>', "'cpu' or 'cuda[:N]'", 'cpu')
    .option('--dtype <dtype>', 'compute dtype: float32, bfloat16 or float16', modelDtype('--dtype'), 'float32')
    .option('--json', 'print one JSON object')
    .action(async (flags: EvalFlags) => {
      const sources = [flags.inputIds, flags.text, flags.data].filter((s) => s !== undefined);
      if (sources.length !== 1) throw new UsageError('give exactly one of --input-ids, --text or --data');
      const ids = flags.inputIds !== undefined ? parseIds('--input-ids', flags.inputIds) : null;
      const records = flags.data !== undefined ? readTextRecords(flags.data) : null;
      const needsTokenizer = flags.text !== undefined || (records?.some((r) => 'text' in r) ?? false);
      const { folder, model, tokenizer } = await openModel(flags.model, {
        dtype: flags.dtype,
        device: checkDevice(flags.device),
        needTokenizer: needsTokenizer ? (flags.text !== undefined ? '--text' : `the text records of ${flags.data}`) : undefined,
      });
      const encode = (text: string) => tokenizer!.encode(text);
      const sequences = ids ? [ids] : flags.text !== undefined ? [encode(flags.text)] : records!.map((r) => ('ids' in r ? r.ids : encode(r.text)));
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
