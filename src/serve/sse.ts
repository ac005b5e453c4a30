// Server-sent events as vLLM streams completions: each chunk `data: {json}\n\n`, then `data: [DONE]\n\n`.
import type { ServerResponse } from 'node:http';
import { BodyWriter } from './body-writer.js';

export class EventStream {
  readonly #writer: BodyWriter;

  constructor(response: ServerResponse) {
    response.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' });
    response.flushHeaders();
    this.#writer = new BodyWriter(response);
  }

  get closed(): boolean {
    return this.#writer.closed;
  }

  /** Sends one event at once (a streamed token should not wait for the next). */
  async send(json: string): Promise<void> {
    await this.#writer.write(`data: ${json}\n\n`);
    await this.#writer.flush();
  }

  async done(): Promise<void> {
    await this.#writer.end('data: [DONE]\n\n');
  }
}
