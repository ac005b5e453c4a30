// Past keys and values per layer for incremental decoding: each step appends the new positions,
// so attention over the prefix is never recomputed.
import { cat, keep, type Tensor } from '../../tensor/index.js';

export class KVCache {
  readonly #keys: (Tensor | null)[];
  readonly #values: (Tensor | null)[];

  constructor(numLayers: number) {
    this.#keys = new Array(numLayers).fill(null);
    this.#values = new Array(numLayers).fill(null);
  }

  /** Positions already cached (read before a forward pass: all layers hold the same length). */
  get length(): number {
    return this.#keys[0]?.size(2) ?? 0;
  }

  /** Appends k, v [B, kvHeads, T, D] for `layer`; returns the full cached k, v. */
  update(layer: number, k: Tensor, v: Tensor): { k: Tensor; v: Tensor } {
    const oldK = this.#keys[layer] ?? null;
    const oldV = this.#values[layer] ?? null;
    const newK = keep(oldK ? cat([oldK, k.detach()], 2) : k.detach().clone());
    const newV = keep(oldV ? cat([oldV, v.detach()], 2) : v.detach().clone());
    oldK?.dispose();
    oldV?.dispose();
    this.#keys[layer] = newK;
    this.#values[layer] = newV;
    return { k: newK, v: newV };
  }

  dispose(): void {
    for (const t of [...this.#keys, ...this.#values]) t?.dispose();
    this.#keys.fill(null);
    this.#values.fill(null);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
