// POST /v1/completions bodies checked and resolved into what the server runs: field names, defaults
// and limits as vLLM's CompletionRequest (vllm/entrypoints/openai/completion/protocol.py) and
// SamplingParams._verify_args define them. Fields this server cannot honour are refused by name
// rather than silently ignored; fields it does not know are ignored, as vLLM ignores extra fields.
import { Generator } from '../tensor/index.js';
import { badRequest } from './api-error.js';
import { type Body, optionalBool, optionalInt, optionalNumber, requireObject, shown, tokenIdList } from './json-fields.js';
import { checkModelName, encodePrompt, requireTokenizer, type ServedModel } from './served-model.js';

export interface PromptInput {
  ids: number[];
  /** The prompt as sent when it was text (echoed as is); null for token ids (echoed as their decoding). */
  text: string | null;
}

export interface Sampling {
  greedy: boolean;
  temperature: number;
  topP: number;
  /** 0: off. */
  topK: number;
  /** null: unseeded. */
  seed: number | null;
}

/**
 * The sampling options of models/decoder/sampling.ts for a request's settings; a seeded sampled
 * request draws from its own generator (one per call: a request's draws start from its seed).
 */
export function samplingOptions(sampling: Sampling) {
  const generator = !sampling.greedy && sampling.seed !== null ? new Generator(sampling.seed) : undefined;
  return { greedy: sampling.greedy, temperature: sampling.temperature, topP: sampling.topP, topK: sampling.topK, generator };
}

export interface CompletionRequest {
  prompts: PromptInput[];
  /** New tokens per prompt at most; 0 scores the prompt only. */
  maxTokens: number;
  echo: boolean;
  /** Top-k logprobs per generated (and, with echo, prompt) token; null: none. */
  logprobs: number | null;
  /** Top-k at each prompt position, as vLLM resolves it: prompt_logprobs, else logprobs when echoing; null: none. */
  promptLogprobs: number | null;
  stream: boolean;
  /** stream_options.include_usage: a last chunk with the usage. */
  includeUsage: boolean;
  sampling: Sampling;
  stop: string[];
  stopTokenIds: number[];
  ignoreEos: boolean;
  skipSpecialTokens: boolean;
  /** return_token_ids: each choice carries prompt_token_ids and token_ids. */
  returnTokenIds: boolean;
}

/** vLLM treats temperatures below this as 0 (greedy): _SAMPLING_EPS. */
const SAMPLING_EPS = 1e-5;

/** Fields this server refuses unless they hold their no-op value, with that value. */
const NO_OP_FIELDS: [string, (v: unknown) => boolean, string][] = [
  ['n', (v) => v === 1, '1'],
  ['best_of', (v) => v === 1, '1'],
  ['use_beam_search', (v) => v === false, 'false'],
  ['suffix', (v) => v === '', "''"],
  ['presence_penalty', (v) => v === 0, '0'],
  ['frequency_penalty', (v) => v === 0, '0'],
  ['repetition_penalty', (v) => v === 1, '1'],
  ['min_p', (v) => v === 0, '0'],
  ['min_tokens', (v) => v === 0, '0'],
  ['length_penalty', (v) => v === 1, '1'],
  ['logit_bias', (v) => typeof v === 'object' && v !== null && Object.keys(v).length === 0, '{}'],
  ['allowed_token_ids', (v) => Array.isArray(v) && v.length === 0, '[]'],
  ['bad_words', (v) => Array.isArray(v) && v.length === 0, '[]'],
  ['logprob_token_ids', (v) => Array.isArray(v) && v.length === 0, '[]'],
  ['prompt_embeds', () => false, 'absent'],
  ['response_format', () => false, 'absent'],
  ['structured_outputs', () => false, 'absent'],
  ['truncate_prompt_tokens', () => false, 'absent'],
  ['return_tokens_as_token_ids', (v) => v === false, 'false'],
];

function refuseUnsupported(body: Body): void {
  for (const [key, isNoOp, noOp] of NO_OP_FIELDS) {
    const value = body[key];
    if (value === undefined || value === null || isNoOp(value)) continue;
    throw badRequest(`${key} is not supported by distillery serve (it must be ${noOp} or absent), got ${shown(value)}`, key);
  }
}

/** prompt: a string, a list of token ids, or a list of either (a batch: one choice per prompt). */
function readPrompts(body: Body, served: ServedModel, addSpecialTokens: boolean): PromptInput[] {
  const prompt = body.prompt;
  const fromText = (text: string, key: string): PromptInput => {
    if (text === '') throw badRequest('prompt must not be empty', 'prompt');
    const tokenizer = requireTokenizer(served, 'prompt', `${key} as text`);
    return { ids: encodePrompt(tokenizer, text, addSpecialTokens), text };
  };
  const fromIds = (value: unknown[], key: string): PromptInput => {
    if (value.length === 0) throw badRequest(`${key} must not be an empty list of token ids`, 'prompt');
    return { ids: [...tokenIdList(value, key, served.vocabSize)], text: null };
  };
  if (typeof prompt === 'string') return [fromText(prompt, 'prompt')];
  const valid = 'prompt must be a string, a list of token ids, a list of strings or a list of token id lists';
  if (!Array.isArray(prompt)) throw badRequest(`${valid}, got ${prompt === undefined ? 'nothing' : shown(prompt)}`, 'prompt');
  if (prompt.length === 0) throw badRequest('prompt must not be an empty list', 'prompt');
  if (prompt.every((p) => typeof p === 'number')) return [fromIds(prompt, 'prompt')];
  return prompt.map((p: unknown, i) => {
    if (typeof p === 'string') return fromText(p, `prompt[${i}]`);
    if (Array.isArray(p)) return fromIds(p, `prompt[${i}]`);
    throw badRequest(`${valid}; prompt[${i}] is ${shown(p)}`, 'prompt');
  });
}

/** logprobs / prompt_logprobs: an integer k >= 0, or -1 for the whole vocabulary; at most --max-logprobs. */
function readTopK(body: Body, key: string, served: ServedModel): number | null {
  const k = optionalInt(body, key, -1, served.maxLogprobs, ' (-1: the whole vocabulary)');
  return k === -1 ? served.vocabSize : k;
}

function readStop(body: Body, served: ServedModel): string[] {
  const stop = body.stop;
  if (stop === undefined || stop === null) return [];
  const list = typeof stop === 'string' ? [stop] : stop;
  if (!Array.isArray(list) || list.some((s) => typeof s !== 'string' || s === '')) {
    throw badRequest(`stop must be a non-empty string or a list of them, got ${shown(stop)}`, 'stop');
  }
  if (list.length > 0) requireTokenizer(served, 'stop', 'stop');
  return list as string[];
}

function readSampling(body: Body, served: ServedModel): Sampling {
  const defaults = served.samplingDefaults;
  const temperature = optionalNumber(body, 'temperature', 0, 2) ?? defaults.temperature ?? 1;
  const topP = optionalNumber(body, 'top_p', 0, 1, true) ?? defaults.topP ?? 1;
  const topK = optionalInt(body, 'top_k', -1, Number.MAX_SAFE_INTEGER, ' (0 or -1: off)') ?? defaults.topK ?? 0;
  const seed = optionalInt(body, 'seed', -1, Number.MAX_SAFE_INTEGER, ' (-1: unseeded)');
  return { greedy: temperature < SAMPLING_EPS, temperature, topP, topK: Math.max(0, topK), seed: seed === -1 ? null : seed };
}

export function parseCompletionRequest(raw: unknown, served: ServedModel): CompletionRequest {
  const body = requireObject(raw);
  checkModelName(served, body.model);
  refuseUnsupported(body);
  const echo = optionalBool(body, 'echo') ?? false;
  const stream = optionalBool(body, 'stream') ?? false;
  const logprobs = readTopK(body, 'logprobs', served);
  const requestedPromptLogprobs = readTopK(body, 'prompt_logprobs', served);
  // vLLM: prompt logprobs cannot be streamed (0 is allowed: it asks for nothing per position).
  if (stream && requestedPromptLogprobs !== null && requestedPromptLogprobs > 0) throw badRequest('`prompt_logprobs` are not available when `stream=True`.', 'prompt_logprobs');
  const promptLogprobs = requestedPromptLogprobs ?? (echo ? logprobs : null);
  const maxTokens = optionalInt(body, 'max_tokens', 0) ?? 16;
  if (maxTokens === 0 && !echo && requestedPromptLogprobs === null) {
    throw badRequest('max_tokens must be at least 1, got 0 (0 is allowed with echo or prompt_logprobs: the prompt is scored and nothing is generated)', 'max_tokens');
  }
  const streamOptions = body.stream_options;
  if (streamOptions !== undefined && streamOptions !== null) {
    if (!stream) throw badRequest('Stream options can only be defined when `stream=True`.', 'stream_options');
    if (typeof streamOptions !== 'object' || Array.isArray(streamOptions)) throw badRequest(`stream_options must be an object, got ${shown(streamOptions)}`, 'stream_options');
  }
  const includeUsage = streamOptions ? optionalBool(streamOptions as Body, 'include_usage') ?? true : false;
  const needsText = echo || logprobs !== null;
  if (needsText) requireTokenizer(served, echo ? 'echo' : 'logprobs', echo ? 'echo' : 'logprobs');
  const stopTokenIds = body.stop_token_ids === undefined || body.stop_token_ids === null ? [] : tokenIdList(body.stop_token_ids, 'stop_token_ids', served.vocabSize);
  const request: CompletionRequest = {
    prompts: readPrompts(body, served, optionalBool(body, 'add_special_tokens') ?? true),
    maxTokens,
    echo,
    logprobs,
    promptLogprobs,
    stream,
    includeUsage,
    sampling: readSampling(body, served),
    stop: readStop(body, served),
    stopTokenIds,
    ignoreEos: optionalBool(body, 'ignore_eos') ?? false,
    skipSpecialTokens: optionalBool(body, 'skip_special_tokens') ?? true,
    returnTokenIds: optionalBool(body, 'return_token_ids') ?? false,
  };
  checkLengths(request, served.maxModelLen);
  return request;
}

/** Every prompt, with its new tokens, must fit the context (vLLM's message). */
function checkLengths(request: CompletionRequest, maxModelLen: number): void {
  request.prompts.forEach(({ ids }, i) => {
    const where = request.prompts.length > 1 ? ` (prompt ${i})` : '';
    if (ids.length > maxModelLen) {
      throw badRequest(`This model's maximum context length is ${maxModelLen} tokens. However, your request has ${ids.length} input tokens${where}. Please reduce the length of the input.`, 'prompt');
    }
    if (ids.length + request.maxTokens > maxModelLen) {
      throw badRequest(
        `This model's maximum context length is ${maxModelLen} tokens. However, you requested ${ids.length + request.maxTokens} tokens (${ids.length} in the prompt${where}, ${request.maxTokens} in the completion). Please reduce the length of the prompt or max_tokens.`,
        'max_tokens',
      );
    }
  });
}
