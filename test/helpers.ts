// Shared assertions for numeric tests.
import assert from 'node:assert/strict';
import * as T from '../src/tensor/index.js';

export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-6, what = 'values'): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} != ${expected.length}`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const ok = Number.isNaN(e) ? Number.isNaN(a) : a === e || Math.abs(a - e) <= tolerance * Math.max(1, Math.abs(e));
    assert.ok(ok, `${what}[${i}]: got ${a}, expected ${e} (tolerance ${tolerance})`);
  }
}

/** A Lehmer (Park–Miller) generator: integers in [1, 2³¹ − 1), the same sequence for the same seed. */
export function lehmer(seed: number): () => number {
  let state = seed;
  return () => (state = (state * 16807) % 2147483647);
}

/** `count` pseudo-random values in (−spread, spread), the same for the same seed. */
export function seededValues(count: number, seed: number, spread = 1): number[] {
  const next = lehmer(seed);
  return Array.from({ length: count }, () => (next() / 2147483647 - 0.5) * 2 * spread);
}

/** seededValues as `rows` rows of `width`. */
export function seededRows(rows: number, width: number, seed: number, spread = 1): number[][] {
  const values = seededValues(rows * width, seed, spread);
  return Array.from({ length: rows }, (_, r) => values.slice(r * width, (r + 1) * width));
}

/** A model's weights as the float64 references take them: by checkpoint name, shape and values in doubles. */
export function weightsInDoubles(model: { stateDict(): Map<string, { shape: number[]; toArray(): ArrayLike<number> }> }): Map<string, { shape: number[]; data: Float64Array }> {
  return new Map([...model.stateDict()].map(([name, p]) => [name, { shape: [...p.shape], data: Float64Array.from(p.toArray()) }]));
}

// Shared by the families' reference tests (model-families, gemma3-family).

/** A seed from a parameter's name and a run seed: the same weights in a float32 and a float64 model. */
export function nameSeed(name: string, seed: number): number {
  let h = seed * 7919 + 17;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) % 2147483629;
  return h + 1;
}

/** Logits of one sequence, flattened. */
export function modelLogits(model: { forward(ids: T.Tensor): T.Tensor }, ids: number[]): number[] {
  return T.tidy(() => model.forward(T.tensor([ids], { dtype: 'int64' })).toArray());
}

/** Max |Δ| between a reference's rows and flattened values. */
export function maxAbsDiff(ref: Float64Array[], ours: ArrayLike<number>): number {
  const flat = ref.flatMap((row) => [...row]);
  assert.equal(ours.length, flat.length, 'logit count');
  let max = 0;
  flat.forEach((v, i) => (max = Math.max(max, Math.abs(v - ours[i]!))));
  return max;
}

/** `length` seeded token ids below `vocab`. */
export function seededIds(length: number, vocab: number, seed: number): number[] {
  const next = lehmer(seed);
  return Array.from({ length }, () => next() % vocab);
}
