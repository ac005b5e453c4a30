// Requests that generate more than one token, decoded together one position per step with the KV
// cache of models/decoder/generate.ts, so that the server can answer other requests between steps.
// Rows share one set of sampling settings (the scheduler groups them so); each row stops on its
// own, when its request says so (eos, a stop string) or its budget is spent.
import { BatchDecoder } from '../models/decoder/generate.js';
import type { CausalLM } from '../models/decoder/model.js';
import { type Sampling, samplingOptions } from './completion-request.js';
import { type LogprobRow, type LogprobTable, logprobTable } from './logprob-tables.js';

export interface DecodeJob {
  ids: readonly number[];
  maxTokens: number;
  sampling: Sampling;
  /** Top-k logprobs of each new token; null: none. */
  logprobs: number | null;
  /** Each new token (with its logprobs when asked); returning true ends the row. */
  onToken(id: number, logprobs: LogprobRow | null): boolean;
  /** True once nobody waits for the row (the client went away): it stops at the next step. */
  cancelled(): boolean;
  /** The row has ended. */
  finish(): void;
  fail(error: unknown): void;
}

/** Jobs that may share a decoder: greedy ones, or sampled ones with the same settings and no seed (a seeded job decodes alone, from its own generator). */
export function samplingGroupKey(sampling: Sampling, uniqueId: number): string {
  if (sampling.greedy) return 'greedy';
  if (sampling.seed !== null) return `seeded:${uniqueId}`;
  return `sampled:${sampling.temperature}:${sampling.topP}:${sampling.topK}`;
}

export class DecodeGroup {
  readonly #jobs: readonly DecodeJob[];
  readonly #decoder: BatchDecoder;
  readonly #ended: boolean[];
  /** Token positions the group's KV cache may grow to (rows × (longest prompt + largest budget)): what the scheduler budgets. */
  readonly tokens: number;

  constructor(model: CausalLM, jobs: readonly DecodeJob[]) {
    this.#jobs = jobs;
    this.#decoder = new BatchDecoder(model, jobs.map((j) => [...j.ids]), { ...samplingOptions(jobs[0]!.sampling), maxNewTokens: jobs.map((j) => j.maxTokens) });
    this.#ended = jobs.map(() => false);
    this.tokens = jobs.length * (Math.max(...jobs.map((j) => j.ids.length)) + Math.max(...jobs.map((j) => j.maxTokens)));
  }

  get finished(): boolean {
    return this.#ended.every(Boolean);
  }

  /** One new token for every running row. */
  step(): void {
    this.#jobs.forEach((job, row) => {
      if (!this.#ended[row] && job.cancelled()) this.#decoder.stop(row);
    });
    const k = Math.max(-1, ...this.#jobs.map((j, row) => (this.#ended[row] ? -1 : j.logprobs ?? -1)));
    let table: LogprobTable | null = null;
    this.#decoder.step(
      (id, row) => {
        const job = this.#jobs[row]!;
        if (job.onToken(id, table && job.logprobs !== null ? { table, row, k: job.logprobs } : null)) this.#decoder.stop(row);
      },
      k >= 0 ? (logits, chosen) => (table = logprobTable(logits, chosen, k)) : undefined,
    );
    this.#jobs.forEach((job, row) => {
      if (this.#ended[row] || !this.#decoder.isFinished(row)) return;
      this.#ended[row] = true;
      job.finish();
    });
  }

  /** Fails every row still running (a step threw). */
  fail(error: unknown): void {
    this.#jobs.forEach((job, row) => {
      if (this.#ended[row]) return;
      this.#ended[row] = true;
      job.fail(error);
    });
  }

  dispose(): void {
    this.#decoder.dispose();
  }
}
