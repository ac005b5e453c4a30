// `distillery bench serve`: prompt-logprob requests/s and tokens/s of a served model, the hot path
// of a served teacher, at several numbers of concurrent clients. This module registers the command
// and loads nothing heavy; ../bench-serve.ts runs it.
import type { Command } from 'commander';
import { intOption, UsageError } from '../errors.js';
import { modelDtype } from '../options.js';

export interface BenchServeFlags {
  model?: string;
  url?: string;
  clients: string;
  requests: number;
  promptTokens: number;
  k: number;
  device: string;
  dtype: 'float32' | 'bfloat16' | 'float16';
  maxBatchTokens: number;
  json?: boolean;
}

export function registerBenchServe(bench: Command): void {
  bench
    .command('serve')
    .description('prompt-logprob requests/s and tokens/s of `distillery serve` (or any vLLM-compatible --url) at 1..N concurrent clients')
    .option('--model <path|ORG/NAME>', 'model to serve in a child process (with --url: the name to send as model)')
    .option('--url <http://HOST:PORT>', 'an already running server (distillery serve or vLLM) instead of starting one')
    .option('--clients <list>', 'concurrent clients, comma-separated', '1,16')
    .option('--requests <n>', 'requests per client setting', intOption('--requests', 1, 1_000_000), 64)
    .option('--prompt-tokens <n>', 'tokens per prompt', intOption('--prompt-tokens', 2, 1_000_000), 128)
    .option('--k <n>', 'prompt_logprobs top-k', intOption('--k', 0), 20)
    .option('--device <device>', "'cpu' or 'cuda[:N]' (the served model's)", 'cpu')
    .option('--dtype <dtype>', 'float32, bfloat16 or float16 (the served model’s)', modelDtype('--dtype'), 'float32')
    .option('--max-batch-tokens <n>', "the server's --max-batch-tokens", intOption('--max-batch-tokens', 1), 8192)
    .option('--json', 'one JSON object per line')
    .action(async (flags: BenchServeFlags) => {
      if (flags.model === undefined && flags.url === undefined) throw new UsageError('give --model (a model to serve) or --url (a running server)');
      const clients = flags.clients.split(',').map((s) => intOption('--clients', 1, 4096)(s.trim()));
      const { runBenchServe } = await import('../bench-serve.js');
      await runBenchServe(flags, clients);
    });
}
