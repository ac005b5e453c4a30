// What every request is answered with: the model, its tokenizer, the limits the server was started
// with, and the sampling defaults of the folder's generation_config.json (vLLM's default
// `--generation-config auto` applies them to requests that leave a setting out).
import type { CausalLM } from '../models/decoder/model.js';
import { encodeText } from '../data/segments.js';
import type { TextTokenizer } from '../tokenizer/index.js';
import { ApiError } from './api-error.js';
import { TokenStrings } from './token-strings.js';

export interface SamplingDefaults {
  temperature?: number;
  topP?: number;
  topK?: number;
}

export interface ServedModel {
  /** The name requests give as `model` (--served-model-name). */
  name: string;
  model: CausalLM;
  tokenizer: TextTokenizer | null;
  /** Rows of the model's head: token ids are in [0, vocabSize). */
  vocabSize: number;
  /** Prompt plus new tokens at most. */
  maxModelLen: number;
  /** The largest `logprobs` / `prompt_logprobs` a request may ask for. */
  maxLogprobs: number;
  /** Generation stops after any of these (generation_config.json and the tokenizer's eos). */
  eosTokenIds: readonly number[];
  samplingDefaults: SamplingDefaults;
  tokenStrings: TokenStrings;
}

export function servedModel(fields: Omit<ServedModel, 'tokenStrings'>): ServedModel {
  return { ...fields, tokenStrings: new TokenStrings(fields.tokenizer) };
}

/** The tokenizer, or a 400 naming the field that needs one. */
export function requireTokenizer(served: ServedModel, field: string, what: string): TextTokenizer {
  if (!served.tokenizer) throw new ApiError(400, `${what} needs a tokenizer, and this model folder has none (tokenizer.json, tokenizer_config.json); send token ids instead`, field);
  return served.tokenizer;
}

/** 404 unless `model` is absent or the served name (vLLM: "The model `x` does not exist."). */
export function checkModelName(served: ServedModel, model: unknown): void {
  if (model === undefined || model === null) return;
  if (model !== served.name) throw new ApiError(404, `The model \`${typeof model === 'string' ? model : JSON.stringify(model)}\` does not exist. This server serves '${served.name}'.`, 'model');
}

/** A prompt's ids: as transformers' tokenizer(text) (its BOS first) with add_special_tokens, else the text's alone. */
export function encodePrompt(tokenizer: TextTokenizer, text: string, addSpecialTokens: boolean): number[] {
  return addSpecialTokens ? encodeText(tokenizer, text) : tokenizer.encode(text);
}
