// A served teacher's rows, one step ahead: while step s trains, the requests of step s + 1 are
// already with the server (its work overlaps the student's), and step s + 1 starts with them.
import type { EncodedExample } from '../../data/index.js';
import type { BatchCursor, DrawnBatch } from '../batches.js';
import type { IndexedExample } from '../prepare.js';
import type { ServedStepRows, ServedTeacher } from './served-teacher.js';
import { TruncationTotals, truncationLine } from './truncation.js';

/** Lets the event loop write the requests just made before the step's computation holds it. */
const letRequestsGoOut = () => new Promise((resolve) => setImmediate(resolve));

export class StepPrefetch {
  #ahead: Promise<ServedStepRows> | null = null;
  /** What the top-k left out, over the run's steps (summary.json). */
  readonly truncation = new TruncationTotals();

  constructor(
    private readonly served: ServedTeacher | null,
    /** This rank's examples of a step's micro-batches. */
    private readonly ownExamples: (micro: readonly DrawnBatch[]) => readonly EncodedExample[],
    private readonly microBatchesPerStep: number,
    private readonly batchSize: number,
    private readonly log: (line: string) => void,
    /** Seconds between the lines that say the run is waiting for a slow service. */
    private readonly waitNoticeSeconds = 15,
  ) {}

  #first = true;

  /** `rows` awaited, saying every waitNoticeSeconds that the run waits (a slow server is not a hung run). */
  async #awaitNoting(rows: Promise<ServedStepRows>): Promise<ServedStepRows> {
    const started = Date.now();
    const url = this.served!.options.url;
    const timer = setInterval(() => this.log(`waiting for the teacher service ${url}: ${Math.round((Date.now() - started) / 1000)} s`), this.waitNoticeSeconds * 1000);
    try {
      return await rows;
    } finally {
      clearInterval(timer);
    }
  }

  /**
   * The rows of `micro` (fetched during the previous step, or now), after sending the next step's
   * requests (drawn from `next`, a fork of the data cursor; null at the last step).
   */
  async forStep(micro: readonly DrawnBatch[], next: BatchCursor | null): Promise<ServedStepRows> {
    const served = this.served!;
    const current = this.#ahead ?? served.prefetch(this.ownExamples(micro) as IndexedExample[]);
    this.#ahead = null;
    const rows = await this.#awaitNoting(current);
    const { tailLogMasses, tailTokens } = rows.tails();
    const figures = this.truncation.add(tailLogMasses, tailTokens);
    if (this.#first) {
      this.#first = false;
      this.log(truncationLine(served.options.topK, figures));
    }
    if (next) {
      const nextMicro = Array.from({ length: this.microBatchesPerStep }, () => next.next(this.batchSize));
      this.#ahead = served.prefetch(this.ownExamples(nextMicro) as IndexedExample[]);
      // Its failure is reported when the next step awaits it, not as an unhandled rejection now.
      this.#ahead.catch(() => {});
      await letRequestsGoOut();
      await letRequestsGoOut();
    }
    return rows;
  }
}
