// `distillery bench model`: forward (prefill) tokens/s and KV-cache generation tokens/s. This
// module registers the command and loads nothing heavy; ../bench-model.ts runs it.
import type { Command } from 'commander';
import { PRESETS } from '../../models/decoder/presets.js';
import { intOption } from '../errors.js';
import { modelDtype } from '../options.js';

export interface BenchModelFlags {
  model?: string;
  preset?: string;
  batchSize: number;
  seqLen: number;
  newTokens: number;
  repeats: number;
  device: string;
  dtype: 'float32' | 'bfloat16' | 'float16';
  json?: boolean;
}

export function registerBenchModel(bench: Command): void {
  bench
    .command('model')
    .description('forward tokens/s (batch × seq-len) and greedy generation tokens/s with the KV cache')
    .option('--model <path|ORG/NAME>', 'model folder or Hugging Face repo id')
    .option('--preset <name>', `a random model from a preset: ${Object.keys(PRESETS).join(', ')}`)
    .option('--batch-size <n>', 'forward batch size', intOption('--batch-size', 1, 4096), 1)
    .option('--seq-len <n>', 'forward sequence length', intOption('--seq-len', 1, 1_000_000), 256)
    .option('--new-tokens <n>', 'tokens to generate', intOption('--new-tokens', 1, 100_000), 64)
    .option('--repeats <n>', 'timed forward passes (best is reported)', intOption('--repeats', 1, 1000), 3)
    .option('--device <device>', "'cpu' or 'cuda[:N]'", 'cpu')
    .option('--dtype <dtype>', 'float32, bfloat16 or float16', modelDtype('--dtype'), 'float32')
    .option('--json', 'one JSON object')
    .action(async (flags: BenchModelFlags) => {
      const { runBenchModel } = await import('../bench-model.js');
      await runBenchModel(flags);
    });
}
