// vLLM's POST /tokenize and POST /detokenize for completion-style prompts.
import { badRequest } from './api-error.js';
import { optionalBool, requireObject, shown, tokenIdList } from './json-fields.js';
import { checkModelName, encodePrompt, requireTokenizer, type ServedModel } from './served-model.js';

/** {"prompt": text, "add_special_tokens"?: bool (default true)} → {"count", "max_model_len", "tokens", "token_strs"}. */
export function tokenize(raw: unknown, served: ServedModel): string {
  const body = requireObject(raw);
  checkModelName(served, body.model);
  if (body.messages !== undefined) throw badRequest('messages (chat tokenization) is not supported by distillery serve; send prompt as text', 'messages');
  if (typeof body.prompt !== 'string') throw badRequest(`prompt must be a string, got ${body.prompt === undefined ? 'nothing' : shown(body.prompt)}`, 'prompt');
  const tokenizer = requireTokenizer(served, 'prompt', 'tokenize');
  const ids = encodePrompt(tokenizer, body.prompt, optionalBool(body, 'add_special_tokens') ?? true);
  const strings = optionalBool(body, 'return_token_strs') ? JSON.stringify(ids.map((id) => tokenizer.idToToken(id) ?? '')) : 'null';
  return `{"count":${ids.length},"max_model_len":${served.maxModelLen},"tokens":[${ids.join(',')}],"token_strs":${strings}}`;
}

/** {"tokens": [ids]} → {"prompt": text} (special tokens kept, as tokenizer.decode's default). */
export function detokenize(raw: unknown, served: ServedModel): string {
  const body = requireObject(raw);
  checkModelName(served, body.model);
  const ids = tokenIdList(body.tokens, 'tokens', served.vocabSize);
  const tokenizer = requireTokenizer(served, 'tokens', 'detokenize');
  return JSON.stringify({ prompt: tokenizer.decode(ids) });
}
