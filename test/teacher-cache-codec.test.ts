// The teacher cache's compact codes: sorted top-k ids as adaptive Rice-coded gaps (against a bit
// pattern worked out by hand, and round trips over edge cases), and one-byte log-probabilities
// (against the quantiser's error bound and the renormalisation it promises).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeLogProbs, encodeLogProbs } from '../src/distill/teacher-cache/log-prob-code.js';
import { BitReader, BitWriter, readSortedIds, writeSortedIds } from '../src/distill/teacher-cache/sorted-ids.js';
import * as T from '../src/tensor/index.js';

function roundTrip(ids: number[], vocab: number): { back: number[]; bytes: number } {
  const out = new BitWriter();
  writeSortedIds(out, ids, vocab);
  const bytes = out.finish();
  const back = new Int32Array(ids.length);
  readSortedIds(new BitReader(bytes, () => 'test'), ids.length, vocab, back, 0);
  return { back: Array.from(back), bytes: bytes.length };
}

/** A deterministic generator (mulberry32), so failures reproduce. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomSet(k: number, vocab: number, next: () => number): number[] {
  const set = new Set<number>();
  while (set.size < k) set.add(Math.floor(next() * vocab));
  return [...set].sort((a, b) => a - b);
}

describe('sorted top-k ids, gap-coded', () => {
  test('bits of a small case equal the ones worked out by hand', () => {
    // V = 16, ids 0 3 4 15. The running mean starts at V/k = 4 (sum 4, count 1):
    //   id 0:  gap 0,  r = 2 (1·2² ≥ 4):   0 | 00
    //   id 3:  gap 2,  r = 1 (2·2 ≥ 4):    10 | 0        (quotient 1, remainder 0)
    //   id 4:  gap 0,  r = 1 (3·2 ≥ 6):    0 | 0
    //   id 15: gap 10, r = 1 (4·2 ≥ 6):    111110 | 0    (quotient 5, remainder 0)
    // 15 bits, least significant first: byte 0 = 0b00001000, byte 1 = 0b00011111.
    const out = new BitWriter();
    writeSortedIds(out, [0, 3, 4, 15], 16);
    assert.deepEqual([...out.finish()], [8, 31]);
  });

  test('round trips: edge ids, every id, one id, outliers past the escape, random sets', () => {
    const cases: [number[], number][] = [
      [[0], 1],
      [[151935], 151936],
      [Array.from({ length: 64 }, (_, i) => i), 64], // k = V: all gaps 0
      [[...Array.from({ length: 40 }, (_, i) => i), 1_000_000, 1_048_575], 1 << 20], // dense run, then far outliers (escape)
      [[5, 6, 7, 151935], 151936],
    ];
    const next = random(7);
    for (const [k, vocab] of [[128, 151936], [8, 151936], [64, 1024], [300, 1000], [128, 2 ** 24]] as const) {
      for (let i = 0; i < 20; i++) cases.push([randomSet(k, vocab, next), vocab]);
    }
    for (const [ids, vocab] of cases) assert.deepEqual(roundTrip(ids, vocab).back, ids, `V ${vocab}, ids ${ids.slice(0, 6).join(',')}…`);
  });

  test('a random 128 of 151,936 costs near the information bound log2 C(V, k)', () => {
    // log2 C(151936, 128) = Σ_{i<128} log2((V − i)/(i + 1)) ≈ 1,492 bits = 186.5 bytes.
    let bound = 0;
    for (let i = 0; i < 128; i++) bound += Math.log2((151936 - i) / (i + 1));
    const next = random(11);
    let total = 0;
    for (let i = 0; i < 50; i++) total += roundTrip(randomSet(128, 151936, next), 151936).bytes;
    const mean = total / 50;
    assert.ok(mean >= bound / 8 && mean < (bound / 8) * 1.06, `mean ${mean} bytes; bound ${(bound / 8).toFixed(1)}`);
  });

  test('ids out of order or outside the vocabulary are refused; a damaged stream is named', () => {
    assert.throws(() => writeSortedIds(new BitWriter(), [3, 3], 10), /strictly increasing and below 10/);
    assert.throws(() => writeSortedIds(new BitWriter(), [3, 10], 10), /strictly increasing and below 10/);
    const out = new BitWriter();
    writeSortedIds(out, [1, 500, 900], 1000);
    const bytes = out.finish();
    assert.throws(() => readSortedIds(new BitReader(bytes.subarray(0, 1), () => 'shard-00003.bin, example 7'), 3, 1000, new Int32Array(3), 0), /shard-00003\.bin, example 7: id stream ends early \(corrupt cache\)/);
    assert.throws(() => readSortedIds(new BitReader(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), () => 'x'), 3, 1000, new Int32Array(3), 0), /x: id \d+ is outside the vocabulary of 1000/);
  });
});

describe('one-byte log-probabilities', () => {
  // A peaked and a flat distribution over V = 2000 (logits with spread 8 and 0.5); top-128 of each.
  const V = 2000;
  const k = 128;
  const next = random(3);
  const logits = T.tensor([Array.from({ length: V }, () => (next() - 0.5) * 16), Array.from({ length: V }, () => next() - 0.5)]);
  const logp = logits.logSoftmax(-1);
  const { values } = logp.topk(k);
  const exact = values.toArray();
  const tailMass = [0, 1].map((r) => 1 - exact.slice(r * k, (r + 1) * k).reduce((s, v) => s + Math.exp(v), 0));

  test('decoded rows are distributions with the stored tail, within the quantiser’s error bound', () => {
    const { codes, spread } = encodeLogProbs(values);
    assert.equal(codes.dtype, 'uint8');
    const decoded = decodeLogProbs(codes, spread, T.tensor(tailMass.map(Math.log))).toArray();
    for (const r of [0, 1]) {
      const row = exact.slice(r * k, (r + 1) * k);
      const back = decoded.slice(r * k, (r + 1) * k);
      const mass = back.reduce((s, v) => s + Math.exp(v), 0);
      assert.ok(Math.abs(mass + tailMass[r]! - 1) < 1e-5, `row ${r}: top-k ${mass} + tail ${tailMass[r]} != 1`);
      // The map ℓ(u) = s(0.2u + 0.8u²), u = c/255, rounds u to the nearest 1/255: an error in ℓ of at most
      // half a step, s(0.2 + 1.6u)/510 at the value's own u (plus second order), and renormalisation
      // shifts every value of the row by the same constant. Compare distances below the row's top.
      const s = row[0]! - row[k - 1]!;
      for (let j = 0; j < k; j++) {
        const distance = row[0]! - row[j]!;
        const u = (-0.2 + Math.sqrt(0.04 + 3.2 * (distance / s))) / 1.6;
        const bound = (s * (0.2 + 1.6 * Math.min(1, u + 1 / 255))) / 510 + 2e-3; // + the float16 spread's rounding
        const got = back[0]! - back[j]!;
        assert.ok(Math.abs(got - distance) <= bound, `row ${r}, entry ${j}: distance ${got} vs ${distance} (bound ${bound})`);
      }
    }
  });

  test('the top entry is kept to 1 %, and values further than 24 nats below it are held at 24', () => {
    const row = T.tensor([[-0.1, -2.5, -40, -60]]);
    const tail = Math.log(1 - [-0.1, -2.5, -40, -60].reduce((s, v) => s + Math.exp(v), 0));
    const { codes, spread } = encodeLogProbs(row);
    assert.deepEqual(codes.toArray(), [0, Math.round((255 * (-0.2 + Math.sqrt(0.04 + (3.2 * 2.4) / 24))) / 1.6), 255, 255]);
    const back = decodeLogProbs(codes, spread, T.tensor([tail])).toArray();
    assert.ok(Math.abs(back[0]! - -0.1) < 0.01, `top ${back[0]}`);
    assert.ok(Math.abs(back[0]! - back[2]! - 24) < 1e-2 && back[2] === back[3], `held at 24 below the top: ${back}`);
  });
});
