// A choice's text as its tokens arrive: decoded incrementally (a character split across byte-level
// tokens waits for its last byte), special tokens skipped unless asked, cut before the first stop
// string. While a stream is running the last (longest stop string - 1) characters are held back,
// as vLLM's output_text_buffer_length does, since they may yet begin a stop string.
import { StreamingDecoder, type TextTokenizer } from '../tokenizer/index.js';

export class CompletionText {
  readonly #decoder: StreamingDecoder | null;
  readonly #stop: readonly string[];
  readonly #holdBack: number;
  #text = '';
  #handedOut = 0;
  #ended = false;

  constructor(tokenizer: TextTokenizer | null, options: { stop: readonly string[]; skipSpecialTokens: boolean }) {
    this.#decoder = tokenizer ? new StreamingDecoder(tokenizer, { skipSpecialTokens: options.skipSpecialTokens }) : null;
    this.#stop = options.stop;
    this.#holdBack = Math.max(0, ...options.stop.map((s) => s.length - 1));
  }

  /** The text so far (all of it once ended). */
  get text(): string {
    return this.#text;
  }

  /** Adds a token's text; returns the stop string it completed (the text then ends before it), or null. */
  push(id: number): string | null {
    if (this.#ended || !this.#decoder) return null;
    const before = this.#text.length;
    this.#text += this.#decoder.push(id);
    return this.#findStop(before);
  }

  /** No more tokens: what the decoder held back is added (and may still complete a stop string). */
  end(): string | null {
    if (this.#ended) return null;
    const before = this.#text.length;
    if (this.#decoder) this.#text += this.#decoder.flush();
    const stop = this.#findStop(before);
    this.#ended = true;
    return stop;
  }

  /** Text not handed out yet: everything once ended, else all but the held-back tail. */
  takeDelta(): string {
    const upTo = this.#ended ? this.#text.length : Math.max(this.#handedOut, this.#text.length - this.#holdBack);
    const delta = this.#text.slice(this.#handedOut, upTo);
    this.#handedOut = upTo;
    return delta;
  }

  #findStop(newFrom: number): string | null {
    // A stop string may begin before the new text: look back by the longest one.
    const from = Math.max(0, newFrom - this.#holdBack);
    let at = -1;
    let found: string | null = null;
    for (const stop of this.#stop) {
      const i = this.#text.indexOf(stop, from);
      if (i >= 0 && (at < 0 || i < at)) [at, found] = [i, stop];
    }
    if (found === null) return null;
    this.#text = this.#text.slice(0, at);
    this.#handedOut = Math.min(this.#handedOut, at);
    this.#ended = true;
    return found;
  }
}
