// Where a training step's time goes: laps between named points of the step (teacher forward,
// student forward, loss and LM head, student backward, optimizer), summed over steps. For
// `bench kd` on CPU, where every op runs synchronously; on CUDA kernels are queued, so laps
// would time the launches, and the benchmark reports no phases there.

export class PhaseClock {
  readonly #totals = new Map<string, number>();
  #last = performance.now();

  /** Forgets the laps so far (a benchmark's warm-up). */
  reset(): void {
    this.#totals.clear();
  }

  /** Starts a step: time from here belongs to the next lap. */
  start(): void {
    this.#last = performance.now();
  }

  /** Adds the time since the previous lap (or start) to `phase`. */
  lap(phase: string): void {
    const now = performance.now();
    this.#totals.set(phase, (this.#totals.get(phase) ?? 0) + now - this.#last);
    this.#last = now;
  }

  /** Milliseconds per step in each phase, over `steps` steps. */
  perStep(steps: number): Record<string, number> {
    return Object.fromEntries([...this.#totals].map(([phase, ms]) => [phase, +(ms / steps).toFixed(1)]));
  }
}
