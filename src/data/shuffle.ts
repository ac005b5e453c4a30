// Deterministic shuffles. Independent of Math.random so that a run's data order is a function of
// (seed, epoch) alone: a resumed run recomputes epochOrder(n, seed, epoch) and skips to its position.
import { DataError } from './errors.js';

/** mulberry32: a small 32-bit PRNG with good statistical quality for shuffling; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** murmur3's 32-bit finalizer: spreads nearby inputs (seed 1 vs 2, epoch 3 vs 4) over the whole state space. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

// Distinct streams, so the held-out split and the epoch orders of one seed are unrelated.
const STREAM_EPOCH = 0x45504f43;
const STREAM_HELD_OUT = 0x484f4c44;

/**
 * A 32-bit seed for one stream of `seed`'s randomness, told apart by `parts` (an epoch; a step and a
 * micro-batch): nearby inputs give unrelated seeds, and the same inputs always the same one.
 */
export function derivedSeed(seed: number, stream: number, ...parts: number[]): number {
  if (!Number.isSafeInteger(seed)) throw new DataError(`seed must be an integer, got ${seed}`);
  const low = seed >>> 0;
  const high = Math.floor(seed / 4294967296) >>> 0;
  let h = fmix32(low ^ stream);
  h = fmix32(h ^ high);
  for (const part of parts) h = fmix32(h ^ part);
  return h;
}

function shuffled(n: number, random: () => number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/** A permutation of 0..n-1 for `epoch`, the same on every run and machine for the same (n, seed, epoch). */
export function epochOrder(n: number, seed: number, epoch: number): number[] {
  if (!Number.isSafeInteger(n) || n < 0) throw new DataError(`epochOrder: n must be a non-negative integer, got ${n}`);
  if (!Number.isSafeInteger(epoch) || epoch < 0 || epoch > 0xffffffff) throw new DataError(`epochOrder: epoch must be an integer in [0, 2^32), got ${epoch}`);
  return shuffled(n, mulberry32(derivedSeed(seed, STREAM_EPOCH, epoch)));
}

/**
 * A deterministic held-out split: round(n * ratio) examples (at least one when ratio > 0, at most
 * n - 1) chosen at random by `seed`. Both parts keep the dataset's order.
 */
export function splitHeldOut<T>(examples: readonly T[], ratio: number, seed: number): { train: T[]; heldOut: T[] } {
  if (!(ratio >= 0 && ratio < 1)) throw new DataError(`held-out ratio must be in [0, 1), got ${ratio}`);
  const n = examples.length;
  if (ratio === 0) return { train: [...examples], heldOut: [] };
  if (n < 2) throw new DataError(`cannot hold out part of ${n} example${n === 1 ? '' : 's'}: at least 2 are needed (one to train on, one held out)`);
  const count = Math.min(n - 1, Math.max(1, Math.round(n * ratio)));
  const chosen = new Set(shuffled(n, mulberry32(derivedSeed(seed, STREAM_HELD_OUT, 0))).slice(0, count));
  const train: T[] = [];
  const heldOut: T[] = [];
  examples.forEach((example, i) => (chosen.has(i) ? heldOut : train).push(example));
  return { train, heldOut };
}
