// `distillery serve`: a model behind vLLM's OpenAI-compatible HTTP API until Ctrl-C (or SIGTERM),
// which drains: no new connections, the requests in flight are answered, then the process exits.
// A second Ctrl-C exits at once.
import type { Command } from 'commander';
import { intOption } from '../errors.js';
import { modelDtype, note, numberOption } from '../options.js';

interface ServeFlags {
  model: string;
  host: string;
  port: number;
  dtype: 'float32' | 'bfloat16' | 'float16';
  device: string;
  servedModelName?: string;
  maxBatchTokens: number;
  maxQueue: number;
  maxModelLen?: number;
  maxLogprobs?: number;
  maxBodyMb: number;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description("serve a model over HTTP with vLLM's OpenAI-compatible API (/v1/completions with prompt_logprobs, /v1/models, /tokenize, /detokenize, /health)")
    .requiredOption('--model <path|ORG/NAME>', 'model folder or Hugging Face repo id')
    .option('--host <address>', 'address to bind (0.0.0.0: every interface)', '127.0.0.1')
    .option('--port <n>', 'port (0: a free one; the address is printed)', intOption('--port', 0, 65535), 8000)
    .option('--dtype <dtype>', 'compute dtype: float32, bfloat16 or float16 (logprobs are float32 log-softmax whatever it is)', modelDtype('--dtype'), 'float32')
    .option('--device <device>', "'cpu' or 'cuda[:N]'", 'cpu')
    .option('--served-model-name <name>', "the name requests give as 'model' (default: --model as given)")
    .option('--max-batch-tokens <n>', 'padded tokens in one forward pass; a longer prompt runs alone', intOption('--max-batch-tokens', 1), 8192)
    .option('--max-queue <n>', 'completion requests queued or running at once; more are answered 429', intOption('--max-queue', 1), 256)
    .option('--max-model-len <n>', "prompt + new tokens at most (default: config.json's max_position_embeddings, also the most allowed)", intOption('--max-model-len', 1))
    .option('--max-logprobs <k>', 'the largest logprobs / prompt_logprobs a request may ask (default: the vocabulary size)', intOption('--max-logprobs', 0))
    .option('--max-body-mb <n>', 'request bodies larger than this are answered 413', numberOption('--max-body-mb', 0.001, 4096), 64)
    .action(async (flags: ServeFlags) => {
      const { serve } = await import('../../api/serve.js');
      const server = await serve(
        {
          model: flags.model, host: flags.host, port: flags.port, dtype: flags.dtype, device: flags.device, servedModelName: flags.servedModelName,
          maxBatchTokens: flags.maxBatchTokens, maxQueue: flags.maxQueue, maxModelLen: flags.maxModelLen, maxLogprobs: flags.maxLogprobs, maxBodyMb: flags.maxBodyMb, log: note,
        },
        'flags',
      );
      // stdout carries this one line, so a script (or a test) can read the port it got.
      process.stdout.write(`serving ${server.servedModelName} on ${server.url}\n`);
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) process.exit(130);
        stopping = true;
        note(`${signal}: finishing the requests in flight (again to exit at once)`);
        server.close().then(
          () => process.exit(0),
          (error: unknown) => {
            note(`distillery serve: closing failed: ${error instanceof Error ? error.message : String(error)}`);
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
    });
}
