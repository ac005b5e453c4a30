// generateText(): continue a prompt with a model folder's weights, tokenizer and generation
// defaults (generation_config.json), greedy or sampled: `distillery generate`.
import { openModel } from '../models/open-model.js';
import { generate } from '../models/qwen3/generate.js';
import { checkDevice, Generator } from '../tensor/index.js';
import { applyChatTemplate, StreamingDecoder } from '../tokenizer/index.js';
import { type Naming, namer } from './naming.js';
import { checkInt, OptionsError, rejectUnknownOptions } from './options.js';

export interface GenerateTextOptions {
  /** Model folder or Hugging Face repo id. */
  model: string;
  /** Exactly one of: the prompt text (needs the folder's tokenizer)... */
  prompt?: string;
  /** ...or the prompt's token ids. */
  inputIds?: number[];
  /** Tokens to generate at most (default 64). */
  maxNewTokens?: number;
  /** Always take the most likely token. Without it, sampling follows generation_config.json unless a sampling option is given. */
  greedy?: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  /** Sampling seed (default 0). */
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
  log?: (line: string) => void;
}

export interface GenerateTextResult {
  /** The new token ids only (an eos id included, as transformers does). */
  ids: number[];
  /** Their text, special tokens skipped; null without a tokenizer. */
  text: string | null;
  finishReason: 'eos' | 'length';
  promptTokens: number;
}

const KEYS = ['model', 'prompt', 'inputIds', 'maxNewTokens', 'greedy', 'temperature', 'topK', 'topP', 'seed', 'chat', 'thinking', 'device', 'dtype', 'onToken', 'onText', 'log'];

export async function generateText(options: GenerateTextOptions, naming: Naming = 'keys'): Promise<GenerateTextResult> {
  const name = namer(naming);
  rejectUnknownOptions('generateText', options, KEYS);
  if ((options.prompt === undefined) === (options.inputIds === undefined)) throw new OptionsError(`give exactly one of ${name('prompt')} or ${name('inputIds')}`);
  if (options.chat && options.prompt === undefined) throw new OptionsError(`${name('chat')} needs ${name('prompt')}`);
  const maxNewTokens = checkInt(name('maxNewTokens'), options.maxNewTokens ?? 64, 0, 1_000_000);
  const seed = checkInt(name('seed'), options.seed ?? 0, 0);
  const { model, tokenizer, generation } = await openModel(options.model, {
    dtype: options.dtype ?? 'float32',
    device: checkDevice(options.device ?? 'cpu', name('device')),
    needTokenizer: options.prompt !== undefined ? name('prompt') : undefined,
    log: options.log,
  });
  try {
    const promptIds =
      options.prompt !== undefined
        ? tokenizer!.encode(options.chat ? applyChatTemplate(tokenizer!, [{ role: 'user', content: options.prompt }], { enableThinking: options.thinking ?? true }) : options.prompt)
        : options.inputIds!;
    // Sampling options imply sampling; otherwise follow generation_config.json's do_sample (greedy by default).
    const samplingAsked = options.temperature !== undefined || options.topK !== undefined || options.topP !== undefined;
    const stream = options.onText && tokenizer ? new StreamingDecoder(tokenizer) : null;
    const result = generate(model, promptIds, {
      maxNewTokens,
      greedy: options.greedy === true || (!samplingAsked && !generation.doSample),
      temperature: options.temperature ?? generation.temperature,
      topK: options.topK ?? generation.topK,
      topP: options.topP ?? generation.topP,
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
    return { ids: result.ids, text: tokenizer ? tokenizer.decode(result.ids, { skipSpecialTokens: true }) : null, finishReason: result.finishReason, promptTokens: result.promptTokens };
  } finally {
    model.dispose();
  }
}
