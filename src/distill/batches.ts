// The data position of a run: which examples each micro-batch takes, epoch after epoch, in a
// seeded order that depends only on (seed, epoch), so a resumed run continues exactly.
import { type EncodedExample, epochOrder } from '../data/index.js';

export interface DataPosition {
  epoch: number;
  /** Examples of this epoch already consumed. */
  offset: number;
}

/** Sequences per micro-batch: as asked, but never more than there are training examples (a batch cannot repeat one). */
export function batchSizeFor(requested: number, examples: number): number {
  return Math.max(1, Math.min(requested, examples));
}

/** One micro-batch as drawn from the data: its examples, their indices in the training set, the epoch. */
export interface DrawnBatch {
  examples: EncodedExample[];
  indices: number[];
  epoch: number;
}

export class BatchCursor {
  #order: number[];
  #position: DataPosition;

  /** Starts at `position` (a resumed run's), in that epoch's order. */
  constructor(
    private readonly examples: readonly EncodedExample[],
    private readonly seed: number,
    position: DataPosition,
  ) {
    this.#position = position;
    this.#order = epochOrder(examples.length, seed, position.epoch);
  }

  get position(): DataPosition {
    return this.#position;
  }

  /** A cursor at the same position that moves on its own: what the next steps will draw, drawn ahead. */
  fork(): BatchCursor {
    return new BatchCursor(this.examples, this.seed, this.#position);
  }

  /** Back to `position` (a step whose draw was not trained on). */
  moveTo(position: DataPosition): void {
    this.#position = position;
    this.#order = epochOrder(this.examples.length, this.seed, position.epoch);
  }

  /** The next micro-batch (smaller at the end of an epoch), with the example indices it holds. */
  next(batchSize: number): DrawnBatch {
    if (this.#position.offset >= this.examples.length) {
      this.#position = { epoch: this.#position.epoch + 1, offset: 0 };
      this.#order = epochOrder(this.examples.length, this.seed, this.#position.epoch);
    }
    const epoch = this.#position.epoch;
    const indices = this.#order.slice(this.#position.offset, this.#position.offset + batchSize);
    this.#position = { epoch, offset: this.#position.offset + indices.length };
    return { examples: indices.map((i) => this.examples[i]!), indices, epoch };
  }
}
