// Where a training step's time goes: laps between named points of the step (teacher forward,
// student forward, loss and LM head, student backward, optimizer), summed over steps, with the
// minor page faults of each lap (memory touched fresh: where a step does not reuse its buffers).
// For `bench kd` on CPU, where every op runs synchronously; on CUDA kernels are queued, so laps
// would time the launches, and the benchmark reports no phases there.

const minorFaults = () => process.resourceUsage().minorPageFault;

export class PhaseClock {
  readonly #ms = new Map<string, number>();
  readonly #faults = new Map<string, number>();
  #last = performance.now();
  #lastFaults = minorFaults();

  /** Forgets the laps so far (a benchmark's warm-up). */
  reset(): void {
    this.#ms.clear();
    this.#faults.clear();
  }

  /** Starts a step: time from here belongs to the next lap. */
  start(): void {
    this.#last = performance.now();
    this.#lastFaults = minorFaults();
  }

  /** Adds the time and faults since the previous lap (or start) to `phase`. */
  lap(phase: string): void {
    const [now, faults] = [performance.now(), minorFaults()];
    this.#ms.set(phase, (this.#ms.get(phase) ?? 0) + now - this.#last);
    this.#faults.set(phase, (this.#faults.get(phase) ?? 0) + faults - this.#lastFaults);
    [this.#last, this.#lastFaults] = [now, faults];
  }

  /** Milliseconds per step in each phase, over `steps` steps. */
  perStep(steps: number): Record<string, number> {
    return Object.fromEntries([...this.#ms].map(([phase, ms]) => [phase, +(ms / steps).toFixed(1)]));
  }

  /** Minor page faults per step in each phase, over `steps` steps. */
  faultsPerStep(steps: number): Record<string, number> {
    return Object.fromEntries([...this.#faults].map(([phase, n]) => [phase, Math.round(n / steps)]));
  }
}
