// The batching queue. Requests wait here while the model is busy; between forward passes the event
// loop runs, so whatever arrived during one pass joins the next. Each turn runs one scoring batch
// (prompts padded together up to --max-batch-tokens), starts decode groups that fit beside the
// running ones, and advances every decode group by one token; then it yields to I/O.
import type { CausalLM } from '../models/decoder/model.js';
import { ApiError } from './api-error.js';
import { type DecodeJob, DecodeGroup, samplingGroupKey } from './decoding.js';
import { type ScoreJob, type ScoreResult, scoreBatch } from './scoring.js';

export interface SchedulerLimits {
  /** Padded tokens per scoring forward, and KV-cache positions across running decode groups. */
  maxBatchTokens: number;
  /** Requests waiting or running at once; one more is refused with 429. */
  maxQueue: number;
}

interface QueuedScore {
  job: ScoreJob;
  cancelled: () => boolean;
  resolve: (result: ScoreResult) => void;
  reject: (error: unknown) => void;
}

interface QueuedDecode {
  job: DecodeJob;
  key: string;
}

const yieldToIo = () => new Promise<void>((resolve) => setImmediate(resolve));

export class Scheduler {
  readonly #model: CausalLM;
  readonly #limits: SchedulerLimits;
  #admitted = 0;
  #scoring: QueuedScore[] = [];
  #decoding: QueuedDecode[] = [];
  readonly #groups: DecodeGroup[] = [];
  #running = false;
  #nextId = 0;
  #idleWaiters: (() => void)[] = [];

  constructor(model: CausalLM, limits: SchedulerLimits) {
    this.#model = model;
    this.#limits = limits;
  }

  /** Counts a request in, or refuses it (429) when --max-queue requests are already in; call the returned function when it is done. */
  admit(): () => void {
    if (this.#admitted >= this.#limits.maxQueue) {
      throw new ApiError(429, `the server is busy: ${this.#admitted} requests are queued or running (--max-queue ${this.#limits.maxQueue}); retry later`);
    }
    this.#admitted++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#admitted--;
    };
  }

  /** Scores a prompt in the next scoring batch. */
  score(job: ScoreJob, cancelled: () => boolean = () => false): Promise<ScoreResult> {
    return new Promise((resolve, reject) => {
      this.#scoring.push({ job, cancelled, resolve, reject });
      this.#kick();
    });
  }

  /** Queues a generation; the job's callbacks report its tokens and its end. */
  decode(job: DecodeJob): void {
    this.#decoding.push({ job, key: samplingGroupKey(job.sampling, this.#nextId++) });
    this.#kick();
  }

  /** Resolves once nothing is queued or running. */
  idle(): Promise<void> {
    if (!this.#running) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #kick(): void {
    if (this.#running) return;
    this.#running = true;
    // Not at once: requests whose bodies arrive in this same turn of the event loop join the batch.
    setImmediate(() => void this.#loop());
  }

  async #loop(): Promise<void> {
    try {
      while (this.#scoring.length > 0 || this.#decoding.length > 0 || this.#groups.length > 0) {
        this.#runScoringBatch();
        this.#startDecodeGroups();
        for (const group of [...this.#groups]) this.#stepGroup(group);
        await yieldToIo();
      }
    } finally {
      this.#running = false;
      for (const wake of this.#idleWaiters.splice(0)) wake();
    }
  }

  /** The queue's front prompts that fit --max-batch-tokens padded together (always at least one). */
  #runScoringBatch(): void {
    for (const q of this.#scoring.filter((q) => q.cancelled())) q.reject(new ApiError(499, 'the client closed the connection'));
    this.#scoring = this.#scoring.filter((q) => !q.cancelled());
    if (this.#scoring.length === 0) return;
    let width = 0;
    let count = 0;
    for (const queued of this.#scoring) {
      const nextWidth = Math.max(width, queued.job.ids.length);
      if (count > 0 && nextWidth * (count + 1) > this.#limits.maxBatchTokens) break;
      width = nextWidth;
      count++;
    }
    const batch = this.#scoring.splice(0, count);
    let results: ScoreResult[];
    try {
      results = scoreBatch(this.#model, batch.map((q) => q.job));
    } catch (error) {
      for (const q of batch) q.reject(error);
      return;
    }
    batch.forEach((q, i) => q.resolve(results[i]!));
  }

  /** Starts groups of queued generations with the same sampling settings while their KV caches fit beside the running groups'. */
  #startDecodeGroups(): void {
    for (const q of this.#decoding.filter((d) => d.job.cancelled())) q.job.finish();
    this.#decoding = this.#decoding.filter((d) => !d.job.cancelled());
    while (this.#decoding.length > 0) {
      const key = this.#decoding[0]!.key;
      const members: QueuedDecode[] = [];
      let width = 0;
      let budget = 0;
      for (const queued of this.#decoding) {
        if (queued.key !== key) continue;
        const nextWidth = Math.max(width, queued.job.ids.length);
        const nextBudget = Math.max(budget, queued.job.maxTokens);
        if (members.length > 0 && (members.length + 1) * (nextWidth + nextBudget) > this.#limits.maxBatchTokens) break;
        members.push(queued);
        [width, budget] = [nextWidth, nextBudget];
      }
      const running = this.#groups.reduce((n, g) => n + g.tokens, 0);
      if (this.#groups.length > 0 && running + members.length * (width + budget) > this.#limits.maxBatchTokens) return;
      this.#decoding = this.#decoding.filter((d) => !members.includes(d));
      let group: DecodeGroup;
      try {
        group = new DecodeGroup(this.#model, members.map((m) => m.job));
      } catch (error) {
        for (const m of members) m.job.fail(error);
        continue;
      }
      this.#groups.push(group);
    }
  }

  #stepGroup(group: DecodeGroup): void {
    try {
      group.step();
    } catch (error) {
      group.fail(error);
    }
    if (group.finished) {
      group.dispose();
      this.#groups.splice(this.#groups.indexOf(group), 1);
    }
  }
}
