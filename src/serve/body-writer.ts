// A response body written in pieces with backpressure: text is gathered into ~64 KB writes, and a
// write the socket cannot take yet waits for 'drain', so a response of many megabytes (the whole
// vocabulary at every prompt position) never sits in memory twice. A client that goes away ends
// the waiting instead of hanging it.
import type { ServerResponse } from 'node:http';

const FLUSH_AT = 1 << 16;

export class BodyWriter {
  #pending: string[] = [];
  #pendingLength = 0;

  constructor(private readonly response: ServerResponse) {}

  /** True once the client has gone (nothing more reaches it). */
  get closed(): boolean {
    return this.response.destroyed || this.response.writableEnded;
  }

  /** Adds text; flushes (and waits for the socket) past the gathering size. */
  async write(text: string): Promise<void> {
    this.#pending.push(text);
    this.#pendingLength += text.length;
    if (this.#pendingLength >= FLUSH_AT) await this.flush();
  }

  /** Sends everything gathered and waits until the socket can take more (or the client is gone). */
  async flush(): Promise<void> {
    if (this.#pending.length === 0) return;
    const text = this.#pending.join('');
    this.#pending = [];
    this.#pendingLength = 0;
    if (this.closed) return;
    if (this.response.write(text)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.response.off('drain', done);
        this.response.off('close', done);
        resolve();
      };
      this.response.on('drain', done);
      this.response.on('close', done);
    });
  }

  async end(text = ''): Promise<void> {
    if (text) await this.write(text);
    await this.flush();
    if (!this.closed) this.response.end();
  }
}
