// Each token id's text as vLLM reports it in logprobs (`decoded_token`, and the keys of the legacy
// `top_logprobs`): tokenizer.decode([id]), special tokens kept, computed once per id. The JSON
// string of each is kept too: a response with the whole vocabulary at every position writes each
// id's text many times.
import type { TextTokenizer } from '../tokenizer/index.js';

export class TokenStrings {
  readonly #texts: (string | undefined)[] = [];
  readonly #json: (string | undefined)[] = [];
  readonly #entryStarts: (string | undefined)[] = [];
  readonly #entryEnds: (string | undefined)[] = [];

  constructor(private readonly tokenizer: TextTokenizer | null) {}

  /** decode([id]); '' for ids past the tokenizer's vocabulary (a padded head's extra rows) or without a tokenizer. */
  text(id: number): string {
    let text = this.#texts[id];
    if (text === undefined) {
      text = this.tokenizer && id < this.tokenizer.vocabSize ? this.tokenizer.decode([id]) : '';
      this.#texts[id] = text;
    }
    return text;
  }

  /** JSON.stringify(text(id)), or null (the JSON literal) without a tokenizer, as vLLM's decoded_token then is. */
  json(id: number): string {
    let json = this.#json[id];
    if (json === undefined) {
      json = this.tokenizer ? JSON.stringify(this.text(id)) : 'null';
      this.#json[id] = json;
    }
    return json;
  }

  /** `"<id>":{"logprob":` — how a prompt_logprobs entry of `id` begins. */
  entryStart(id: number): string {
    return (this.#entryStarts[id] ??= `"${id}":{"logprob":`);
  }

  /** `,"decoded_token":<json>}` — how a prompt_logprobs entry of `id` ends. */
  entryEnd(id: number): string {
    return (this.#entryEnds[id] ??= `,"decoded_token":${this.json(id)}}`);
  }
}
