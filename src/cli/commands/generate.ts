// `distillery generate`: text or token continuation with a KV cache, streamed to the terminal.
import type { Command } from 'commander';
import { generate } from '../../models/qwen3/generate.js';
import { Generator } from '../../tensor/index.js';
import { applyChatTemplate, StreamingDecoder } from '../../tokenizer/index.js';
import { checkDevice } from '../device.js';
import { intOption, UsageError } from '../errors.js';
import { openModel } from '../model-source.js';
import { modelDtype, numberOption, parseIds } from '../options.js';

interface GenerateFlags {
  model: string;
  prompt?: string;
  inputIds?: string;
  maxNewTokens: number;
  greedy?: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed: number;
  chat?: boolean;
  thinking: boolean;
  device: string;
  dtype: 'float32' | 'bfloat16' | 'float16';
  json?: boolean;
}

export function registerGenerate(program: Command): void {
  program
    .command('generate')
    .description('continue a prompt (greedy or sampled), stopping at the eos ids of generation_config.json')
    .requiredOption('--model <path|ORG/NAME>', 'model folder or Hugging Face repo id')
    .option('--prompt <text>', 'prompt text (needs the model folder’s tokenizer)')
    .option('--input-ids <ids>', 'comma-separated prompt token ids')
    .option('--max-new-tokens <n>', 'tokens to generate at most', intOption('--max-new-tokens', 0, 1_000_000), 64)
    .option('--greedy', 'always take the most likely token')
    .option('--temperature <t>', 'sampling temperature (default: generation_config.json)', numberOption('--temperature', 0, 100))
    .option('--top-k <k>', 'sample among the k most likely tokens', intOption('--top-k', 0))
    .option('--top-p <p>', 'sample from the smallest set reaching probability p', numberOption('--top-p', 1e-9, 1))
    .option('--seed <n>', 'sampling seed', intOption('--seed', 0), 0)
    .option('--chat', 'wrap --prompt as a user message with the chat template')
    .option('--no-thinking', 'with --chat: disable Qwen3 thinking (enable_thinking=False)')
    .option('--device <device>', "'cpu' or 'cuda[:N]'", 'cpu')
    .option('--dtype <dtype>', 'compute dtype: float32, bfloat16 or float16', modelDtype('--dtype'), 'float32')
    .option('--json', 'print {"ids": [...new ids...], "text": ...} instead of streaming')
    .action(async (flags: GenerateFlags) => {
      if ((flags.prompt === undefined) === (flags.inputIds === undefined)) throw new UsageError('give exactly one of --prompt or --input-ids');
      if (flags.chat && flags.prompt === undefined) throw new UsageError('--chat needs --prompt');
      const { model, tokenizer, generation } = await openModel(flags.model, {
        dtype: flags.dtype,
        device: checkDevice(flags.device),
        needTokenizer: flags.prompt !== undefined ? '--prompt' : undefined,
      });
      let promptIds: number[];
      if (flags.prompt !== undefined) {
        const text = flags.chat ? applyChatTemplate(tokenizer!, [{ role: 'user', content: flags.prompt }], { enableThinking: flags.thinking }) : flags.prompt;
        promptIds = tokenizer!.encode(text);
      } else {
        promptIds = parseIds('--input-ids', flags.inputIds!);
      }
      // Sampling flags imply sampling; otherwise follow generation_config.json's do_sample (greedy by default).
      const samplingAsked = flags.temperature !== undefined || flags.topK !== undefined || flags.topP !== undefined;
      const greedy = flags.greedy === true || (!samplingAsked && !generation.doSample);
      const stream = !flags.json && tokenizer ? new StreamingDecoder(tokenizer) : null;
      const result = generate(model, promptIds, {
        maxNewTokens: flags.maxNewTokens,
        greedy,
        temperature: flags.temperature ?? generation.temperature,
        topK: flags.topK ?? generation.topK,
        topP: flags.topP ?? generation.topP,
        generator: new Generator(flags.seed),
        eosTokenIds: generation.eosTokenIds,
        onToken: flags.json ? undefined : (id) => process.stdout.write(stream ? stream.push(id) : `${id} `),
      });
      if (flags.json) {
        const text = tokenizer ? { text: tokenizer.decode(result.ids, { skipSpecialTokens: true }) } : {};
        console.log(JSON.stringify({ ids: result.ids, ...text, finish_reason: result.finishReason, prompt_tokens: result.promptTokens }));
      } else {
        process.stdout.write(`${stream ? stream.flush() : ''}\n`);
      }
      model.dispose();
    });
}
