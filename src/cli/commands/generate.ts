// `distillery generate`: text or token continuation with a KV cache, streamed to the terminal.
import type { Command } from 'commander';
import { intOption } from '../errors.js';
import { modelDtype, note, numberOption, parseIds } from '../options.js';

interface GenerateFlags {
  model: string;
  base?: string;
  prompt?: string;
  inputIds?: string;
  maxNewTokens: number;
  greedy?: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
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
    .requiredOption('--model <path|ORG/NAME>', 'model folder or Hugging Face repo id, or a PEFT adapter folder (adapter_config.json; applied to its base unmerged)')
    .option('--base <path|ORG/NAME>', "with an adapter folder as --model: its base model (default: adapter_config.json's base_model_name_or_path)")
    .option('--prompt <text>', 'prompt text (needs the model folder’s tokenizer)')
    .option('--input-ids <ids>', 'comma-separated prompt token ids')
    .option('--max-new-tokens <n>', "tokens to generate at most; prompt + new tokens must fit the model's max_position_embeddings", intOption('--max-new-tokens', 1, 1_000_000), 64)
    .option('--greedy', 'always take the most likely token (the default when no sampling flag is given and generation_config.json does not set do_sample; stderr says which decoding runs)')
    .option('--temperature <t>', 'sampling temperature (default: generation_config.json)', numberOption('--temperature', 0, 100))
    .option('--top-k <k>', 'sample among the k most likely tokens', intOption('--top-k', 0))
    .option('--top-p <p>', 'sample from the smallest set reaching probability p', numberOption('--top-p', 1e-9, 1))
    .option('--seed <n>', 'sampling seed (default: 0; no effect on greedy decoding)', intOption('--seed', 0))
    .option('--chat', 'wrap --prompt as a user message with the chat template')
    .option('--no-thinking', 'with --chat: disable Qwen3 thinking (enable_thinking=False)')
    .option('--device <device>', "'cpu' or 'cuda[:N]'", 'cpu')
    .option('--dtype <dtype>', 'compute dtype: float32, bfloat16 or float16', modelDtype('--dtype'), 'float32')
    .option('--json', 'print {"ids": [...new ids...], "text": ...} instead of streaming')
    .action(async (flags: GenerateFlags) => {
      const { generateText } = await import('../../api/generate.js');
      const r = await generateText(
        {
          model: flags.model, base: flags.base, prompt: flags.prompt, inputIds: flags.inputIds !== undefined ? parseIds('--input-ids', flags.inputIds) : undefined,
          maxNewTokens: flags.maxNewTokens, greedy: flags.greedy, temperature: flags.temperature, topK: flags.topK, topP: flags.topP,
          seed: flags.seed, chat: flags.chat, thinking: flags.thinking, device: flags.device, dtype: flags.dtype, log: note,
          // Streamed as text when the folder has a tokenizer; without one the ids are printed at the end.
          onText: flags.json ? undefined : (text) => process.stdout.write(text),
        },
        'flags',
      );
      if (flags.json) {
        const text = r.text !== null ? { text: r.text } : {};
        console.log(JSON.stringify({ ids: r.ids, ...text, finish_reason: r.finishReason, prompt_tokens: r.promptTokens }));
      } else {
        process.stdout.write(`${r.text === null ? r.ids.map((id) => `${id} `).join('') : ''}\n`);
      }
    });
}
