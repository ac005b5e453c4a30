// generateText(): continue a prompt with a model folder's weights, tokenizer and generation
// defaults (generation_config.json), greedy or sampled: `distillery generate`. Which decoding runs,
// and why, is said in one line (log), since without a sampling option a model whose
// generation_config.json does not ask for sampling decodes greedily and the seed does nothing.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type GenerationDefaults, isAdapterSpec, openModel } from '../models/open-model.js';
import { generate } from '../models/decoder/generate.js';
import { checkDevice, Generator } from '../tensor/index.js';
import { applyChatTemplate, StreamingDecoder } from '../tokenizer/index.js';
import { encodeText } from '../data/segments.js';
import { type Naming, namer } from './naming.js';
import { checkInt, OptionsError, rejectUnknownOptions } from './options.js';

export interface GenerateTextOptions {
  /** Model folder or Hugging Face repo id, or a PEFT adapter folder (applied to its base, unmerged). */
  model: string;
  /** With an adapter folder as `model`: its base model (default: adapter_config.json's base_model_name_or_path). */
  base?: string;
  /** Exactly one of: the prompt text (needs the folder's tokenizer)... */
  prompt?: string;
  /** ...or the prompt's token ids. */
  inputIds?: number[];
  /** Tokens to generate at most, >= 1 (default 64); prompt + new tokens must fit the model's max_position_embeddings. */
  maxNewTokens?: number;
  /** Always take the most likely token. Without it, sampling follows generation_config.json unless a sampling option is given. */
  greedy?: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  /** Sampling seed (default 0; no effect on greedy decoding, which the log then says). */
  seed?: number;
  /** Wrap `prompt` as a user message with the chat template. */
  chat?: boolean;
  /** With `chat`: Qwen3's thinking (default true; false is enable_thinking=False). */
  thinking?: boolean;
  device?: string;
  dtype?: 'float32' | 'bfloat16' | 'float16';
  /** Each new token id as it is chosen. */
  onToken?: (id: number) => void;
  /** The new text as it forms, for streaming (whole characters; not called when the folder has no tokenizer). */
  onText?: (text: string) => void;
  /** Loading messages and the decoding line (`decoding: greedy (...)` or `decoding: sampling, ...`). */
  log?: (line: string) => void;
}

export interface GenerateTextResult {
  /** The new token ids only (an eos id included, as transformers does). */
  ids: number[];
  /** Their text, special tokens skipped; null without a tokenizer. */
  text: string | null;
  finishReason: 'eos' | 'length';
  promptTokens: number;
  /** Which decoding ran, and why, as logged: "greedy (...)" or "sampling, temperature ..., seed ...". */
  decoding: string;
}

const KEYS = ['model', 'base', 'prompt', 'inputIds', 'maxNewTokens', 'greedy', 'temperature', 'topK', 'topP', 'seed', 'chat', 'thinking', 'device', 'dtype', 'onToken', 'onText', 'log'];

export async function generateText(options: GenerateTextOptions, naming: Naming = 'keys'): Promise<GenerateTextResult> {
  const name = namer(naming);
  rejectUnknownOptions('generateText', options, KEYS);
  if (options.base !== undefined && !isAdapterSpec(options.model)) throw new OptionsError(`${name('base')} applies to a PEFT adapter folder (adapter_config.json) as ${name('model')}, and ${options.model} is not one`);
  if ((options.prompt === undefined) === (options.inputIds === undefined)) throw new OptionsError(`give exactly one of ${name('prompt')} or ${name('inputIds')}`);
  if (options.chat && options.prompt === undefined) throw new OptionsError(`${name('chat')} needs ${name('prompt')}`);
  const maxNewTokens = checkInt(name('maxNewTokens'), options.maxNewTokens ?? 64, 1, 1_000_000);
  const seed = checkInt(name('seed'), options.seed ?? 0, 0);
  const { folder, model, tokenizer, generation } = await openModel(options.model, {
    base: options.base,
    baseOption: name('base'),
    dtype: options.dtype ?? 'float32',
    device: checkDevice(options.device ?? 'cpu', name('device')),
    needTokenizer: options.prompt !== undefined ? name('prompt') : undefined,
    log: options.log,
  });
  try {
    const promptIds =
      options.prompt !== undefined
        ? encodeText(tokenizer!, options.chat ? applyChatTemplate(tokenizer!, [{ role: 'user', content: options.prompt }], { enableThinking: options.thinking ?? true }) : options.prompt)
        : options.inputIds!;
    // Past max_position_embeddings the rotary positions are ones the model never saw: refused up front.
    const context = model.config.maxPositionEmbeddings;
    if (promptIds.length + maxNewTokens > context) {
      throw new OptionsError(
        promptIds.length >= context
          ? `the prompt has ${promptIds.length} tokens, but the model's context (max_position_embeddings in config.json) is ${context} tokens, prompt and new tokens together`
          : `the prompt's ${promptIds.length} tokens + ${name('maxNewTokens')} ${maxNewTokens} exceed the model's context of ${context} tokens (max_position_embeddings in config.json); give ${name('maxNewTokens')} ${context - promptIds.length} or less`,
      );
    }
    const decoding = chooseDecoding(options, generation, existsSync(join(folder, 'generation_config.json')), seed, name);
    options.log?.(`decoding: ${decoding.description}`);
    const stream = options.onText && tokenizer ? new StreamingDecoder(tokenizer) : null;
    const result = generate(model, promptIds, {
      maxNewTokens,
      greedy: decoding.greedy,
      temperature: decoding.temperature,
      topK: decoding.topK,
      topP: decoding.topP,
      generator: new Generator(seed),
      eosTokenIds: generation.eosTokenIds,
      onToken: (id) => {
        options.onToken?.(id);
        const text = stream?.push(id);
        if (text) options.onText!(text);
      },
    });
    const rest = stream?.flush();
    if (rest) options.onText!(rest);
    const text = tokenizer ? (result.ids.length > 0 ? tokenizer.decode(result.ids, { skipSpecialTokens: true }) : '') : null;
    return { ids: result.ids, text, finishReason: result.finishReason, promptTokens: result.promptTokens, decoding: decoding.description };
  } finally {
    model.dispose();
  }
}

interface Decoding {
  greedy: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  /** What runs and why, for the log. */
  description: string;
}

/**
 * Sampling options imply sampling; otherwise generation_config.json's do_sample decides (greedy when
 * it is absent, as transformers). Each setting comes from its option, else generation_config.json.
 */
function chooseDecoding(options: GenerateTextOptions, generation: GenerationDefaults, hasGenerationConfig: boolean, seed: number, name: (key: string) => string): Decoding {
  const settings = { temperature: options.temperature ?? generation.temperature, topK: options.topK ?? generation.topK, topP: options.topP ?? generation.topP };
  const samplingAsked = options.temperature !== undefined || options.topK !== undefined || options.topP !== undefined;
  const seedUnused = options.seed !== undefined ? `; ${name('seed')} has no effect on greedy decoding` : '';
  const greedy = (why: string): Decoding => ({ greedy: true, ...settings, description: `greedy (${why})${seedUnused}` });
  if (options.greedy === true) return greedy(name('greedy'));
  if (!samplingAsked && !generation.doSample) {
    const config = hasGenerationConfig ? "the model's generation_config.json does not set do_sample" : 'the model has no generation_config.json';
    return greedy(`no ${name('temperature')}, ${name('topK')} or ${name('topP')}, and ${config}`);
  }
  const from = (key: 'temperature' | 'topK' | 'topP') => (options[key] !== undefined ? name(key) : 'generation_config.json');
  if (settings.temperature === 0) return greedy(`temperature 0, from ${from('temperature')}`);
  const parts = [`temperature ${settings.temperature ?? 1} (${settings.temperature === undefined ? 'default' : from('temperature')})`];
  if (settings.topK !== undefined && settings.topK > 0) parts.push(`top-k ${settings.topK} (${from('topK')})`);
  if (settings.topP !== undefined && settings.topP < 1) parts.push(`top-p ${settings.topP} (${from('topP')})`);
  const why = samplingAsked ? 'a sampling option was given' : 'generation_config.json sets do_sample';
  return { greedy: false, ...settings, description: `sampling (${why}), ${parts.join(', ')}, seed ${seed}` };
}
