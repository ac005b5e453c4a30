// One choice's generated tokens as they arrive, and why it stops, as vLLM decides: an eos id of the
// model (finish "stop", stop_reason null) unless ignore_eos, one of stop_token_ids (stop_reason
// the id), a stop string (stop_reason the string, the text cut before it), or max_tokens ("length").
// A token that stops the choice by its id keeps its id but not its text, as vLLM's detokenizer
// drops a stop token's text.
import type { CompletionRequest } from './completion-request.js';
import { CompletionText } from './completion-text.js';
import type { LogprobRow } from './logprob-tables.js';
import type { ServedModel } from './served-model.js';

import type { TokenOut } from './logprob-json.js';

export type { TokenOut };

/** What a stream sends per token: the new text, the tokens it covers, and on the last the finish and stop reasons. */
export type ChunkListener = (delta: string, tokens: TokenOut[], finish: 'length' | 'stop' | null, stopReason: string | number | null) => void;

export class ChoiceTokens {
  readonly tokens: TokenOut[] = [];
  finishReason: 'length' | 'stop' = 'length';
  stopReason: string | number | null = null;
  readonly #text: CompletionText;
  readonly #served: ServedModel;
  readonly #request: CompletionRequest;
  readonly #onChunk: ChunkListener | null;
  #ended = false;

  constructor(served: ServedModel, request: CompletionRequest, onChunk: ChunkListener | null = null) {
    this.#served = served;
    this.#request = request;
    this.#onChunk = onChunk;
    this.#text = new CompletionText(served.tokenizer, { stop: request.stop, skipSpecialTokens: request.skipSpecialTokens });
  }

  /** The generated text (whole once ended). */
  get text(): string {
    return this.#text.text;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Adds a new token; true when the choice stops with it. */
  push(id: number, row: LogprobRow | null): boolean {
    if (this.#ended) return true;
    const token = { id, row };
    this.tokens.push(token);
    let stopped = true;
    if (!this.#request.ignoreEos && this.#served.eosTokenIds.includes(id)) this.finishReason = 'stop';
    else if (this.#request.stopTokenIds.includes(id)) [this.finishReason, this.stopReason] = ['stop', id];
    else {
      const stop = this.#text.push(id);
      if (stop !== null) [this.finishReason, this.stopReason] = ['stop', stop];
      else stopped = this.tokens.length >= this.#request.maxTokens;
    }
    if (stopped) this.#end();
    this.#onChunk?.(this.#text.takeDelta(), [token], stopped ? this.finishReason : null, stopped ? this.stopReason : null);
    return stopped;
  }

  /** Ends the choice without a new token (nothing to generate, or its row was stopped): a last chunk carries the finish reason. */
  end(): void {
    if (this.#ended) return;
    this.#end();
    this.#onChunk?.(this.#text.takeDelta(), [], this.finishReason, this.stopReason);
  }

  #end(): void {
    this.#ended = true;
    // The decoder may hold the bytes of an unfinished character, which may complete a stop string.
    const stop = this.#text.end();
    if (stop !== null) [this.finishReason, this.stopReason] = ['stop', stop];
  }
}
