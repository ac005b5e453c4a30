// Several teachers as one target: the mixture Σ w_i·softmax(z_i/τ) (--teacher-weights) and routing
// (--teacher-route), checked against their definitions written out in JavaScript doubles — never
// against the code under test — and the loss's gradient against finite differences of that
// definition.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cachedRowLossSums, lossGradient, lossSums, type LossSettings } from '../src/distill/loss.js';
import { mixtureRows } from '../src/distill/teacher-ensemble/mixture.js';
import { routedSignal } from '../src/distill/teacher-ensemble/routing.js';
import type { EnsembleMember } from '../src/distill/teacher-ensemble/members.js';
import type { CachedRows } from '../src/distill/teacher-cache/reader.js';
import type { TeacherSource } from '../src/distill/teacher.js';
import * as T from '../src/tensor/index.js';
import { seededRows } from './helpers.js';

const matrix = (rows: number, cols: number, seed: number, scale = 3): number[][] => seededRows(rows, cols, seed, scale);

const softmax = (row: readonly number[], tau = 1): number[] => {
  const m = Math.max(...row.map((x) => x / tau));
  const e = row.map((x) => Math.exp(x / tau - m));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / z);
};
const kl = (p: readonly number[], q: readonly number[]) => p.reduce((n, pi, i) => n + (pi > 0 ? pi * Math.log(pi / q[i]!) : 0), 0);
const f64 = (m: number[][]) => T.tensor(m, { dtype: 'float64' });
const close = (actual: number, expected: number, rel: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= rel * Math.max(1e-12, Math.abs(expected)), `${what}: ${actual} vs ${expected}`);

/** A teacher's top-k rows as a cache stores them: the k most likely ids ascending, their log-probabilities, the tail's log-mass. */
function topKOf(logits: number[][], k: number): { rows: CachedRows; probs: number[][]; ids: number[][] } {
  const probs = logits.map((row) => softmax(row));
  const ids = probs.map((p) => p.map((x, i) => [x, i] as const).sort((a, b) => b[0] - a[0]).slice(0, k).map(([, i]) => i).sort((a, b) => a - b));
  const rows: CachedRows = {
    ids: T.tensor(ids, { dtype: 'int64' }),
    logProbs: f64(ids.map((row, r) => row.map((i) => Math.log(probs[r]![i]!)))),
    tailLogMass: T.tensor(ids.map((row, r) => Math.log(1 - row.reduce((n, i) => n + probs[r]![i]!, 0))), { dtype: 'float64' }),
    tailTokens: logits[0]!.length - k,
  };
  return { rows, probs, ids };
}

/** A top-k teacher's tempered distribution over the vocabulary: its k tokens p^(1/τ), each tail token (m/n)^(1/τ), normalised. */
function temperedTopK(probs: readonly number[], ids: readonly number[], tau: number): number[] {
  const V = probs.length;
  const n = V - ids.length;
  const m = 1 - ids.reduce((s, i) => s + probs[i]!, 0);
  const raw = probs.map((p, i) => (ids.includes(i) ? p ** (1 / tau) : (m / n) ** (1 / tau)));
  const z = raw.reduce((a, b) => a + b, 0);
  return raw.map((x) => x / z);
}

/** τ²·KL over buckets: the ids of `union`, each once, and the rest. */
function bucketKl(p: readonly number[], q: readonly number[], union: ReadonlySet<number>, tau: number): number {
  const ids = [...union];
  const bucket = (d: readonly number[]) => [...ids.map((i) => d[i]!), 1 - ids.reduce((n, i) => n + d[i]!, 0)];
  return tau * tau * kl(bucket(p), bucket(q));
}

const settings = (tau: number, alpha = 0.6): LossSettings => ({ alpha, temperature: tau, divergence: { kind: 'forward-kl' } });

describe('a mixture of teachers (--teacher-weights)', () => {
  const K = 5;
  const V = 9;
  const A = matrix(K, V, 1);
  const B = matrix(K, V, 2);
  const S = matrix(K, V, 3, 1.5);
  const targets = [1, 4, 0, 8, 3];
  const w = [0.3, 0.7];

  test('of local teachers equals τ²·KL(Σ w_i·softmax(z_i/τ) ‖ softmax(s/τ)), summed over rows, in doubles', () => {
    for (const tau of [1, 2]) {
      const expected = S.reduce((n, s, r) => {
        const a = softmax(A[r]!, tau);
        const b = softmax(B[r]!, tau);
        return n + tau * tau * kl(a.map((x, i) => w[0]! * x + w[1]! * b[i]!), softmax(s, tau));
      }, 0);
      const sums = T.tidy(() => {
        const rows = mixtureRows([{ kind: 'logits', logits: f64(A) }, { kind: 'logits', logits: f64(B) }], w, settings(tau), V);
        assert.equal(rows.kind, 'logits');
        return lossSums(f64(S), rows, T.tensor(targets, { dtype: 'int64' }), settings(tau)).kdSum.item();
      });
      close(sums, expected, 1e-10, `Σkd at τ ${tau}`);
    }
  });

  test("its gradient (the fused kernel's, in float32) is the definition's, by finite differences in doubles", () => {
    const tau = 2;
    const alpha = 0.6;
    const N = 7; // the step's target count: the micro-batch's share is divided by it
    const loss = (s: number[][]) =>
      s.reduce((n, row, r) => {
        const a = softmax(A[r]!, tau);
        const b = softmax(B[r]!, tau);
        const kd = tau * tau * kl(a.map((x, i) => w[0]! * x + w[1]! * b[i]!), softmax(row, tau));
        const ce = -Math.log(softmax(row)[targets[r]!]!);
        return n + (alpha * kd + (1 - alpha) * ce) / N;
      }, 0);
    const grad = T.tidy(() => {
      const rows = mixtureRows([{ kind: 'logits', logits: T.tensor(A) }, { kind: 'logits', logits: T.tensor(B) }], w, settings(tau, alpha), V);
      return lossGradient(T.tensor(S), rows, T.tensor(targets, { dtype: 'int64' }), settings(tau, alpha), N).dLogits.to('float64').tolist() as number[][];
    });
    const h = 1e-6;
    for (const [r, v] of [[0, 0], [1, 4], [3, 8], [4, 2]] as const) {
      const plus = S.map((row) => [...row]);
      const minus = S.map((row) => [...row]);
      plus[r]![v]! += h;
      minus[r]![v]! -= h;
      const fd = (loss(plus) - loss(minus)) / (2 * h);
      assert.ok(Math.abs(grad[r]![v]! - fd) < 1e-6, `d/ds[${r}][${v}]: ${grad[r]![v]} vs ${fd}`);
    }
  });

  test('with a top-k teacher is compared over buckets: every top-k id, and the rest', () => {
    const tau = 2;
    const { rows: cached, probs, ids } = topKOf(B, 3);
    const expected = S.reduce((n, s, r) => {
      const a = softmax(A[r]!, tau);
      const b = temperedTopK(probs[r]!, ids[r]!, tau);
      return n + bucketKl(a.map((x, i) => w[0]! * x + w[1]! * b[i]!), softmax(s, tau), new Set(ids[r]), tau);
    }, 0);
    const kd = T.tidy(() => {
      const rows = mixtureRows([{ kind: 'logits', logits: f64(A) }, { kind: 'top-k', rows: cached }], w, settings(tau), V);
      assert.equal(rows.kind, 'buckets');
      return lossSums(f64(S), rows, T.tensor(targets, { dtype: 'int64' }), settings(tau)).kdSum.item();
    });
    close(kd, expected, 1e-10, 'Σkd');
  });

  test('of two top-k teachers with overlapping lists counts each id once', () => {
    const tau = 1.5;
    const a = topKOf(A, 4);
    const b = topKOf(B, 2);
    // The lists must overlap somewhere for the case to mean anything.
    assert.ok(a.ids.some((row, r) => row.some((i) => b.ids[r]!.includes(i))), 'the two top-k lists overlap in some row');
    const expected = S.reduce((n, s, r) => {
      const pa = temperedTopK(a.probs[r]!, a.ids[r]!, tau);
      const pb = temperedTopK(b.probs[r]!, b.ids[r]!, tau);
      return n + bucketKl(pa.map((x, i) => w[0]! * x + w[1]! * pb[i]!), softmax(s, tau), new Set([...a.ids[r]!, ...b.ids[r]!]), tau);
    }, 0);
    const kd = T.tidy(() => {
      const rows = mixtureRows([{ kind: 'top-k', rows: a.rows }, { kind: 'top-k', rows: b.rows }], w, settings(tau), V);
      return lossSums(f64(S), rows, T.tensor(targets, { dtype: 'int64' }), settings(tau)).kdSum.item();
    });
    close(kd, expected, 1e-10, 'Σkd');
  });

  test('of one cache with itself is that cache (the single-teacher path)', () => {
    const tau = 3;
    const { rows: cached } = topKOf(B, 3);
    const [mixed, single] = T.tidy(() => {
      const y = T.tensor(targets, { dtype: 'int64' });
      const rows = mixtureRows([{ kind: 'top-k', rows: cached }, { kind: 'top-k', rows: cached }], [0.5, 0.5], settings(tau), V);
      return [lossSums(f64(S), rows, y, settings(tau)).kdSum.item(), cachedRowLossSums(f64(S), cached, y, settings(tau)).kdSum.item()];
    });
    close(mixed!, single!, 1e-10, 'Σkd');
  });
});

describe('routing (--teacher-route)', () => {
  const V = 6;
  /** A stand-in teacher: each target row's "hidden state" is already its logits, teacher-specific and row-specific. */
  function fakeTeacher(id: number, seen: number[][][]): TeacherSource {
    return {
      hiddenRows: (inputIds, _mask, index) => {
        seen.push(inputIds.map((row) => [...row]));
        const T1 = inputIds[0]!.length - 1;
        const flat = index.tolist() as number[];
        return T.tensor(flat.map((i) => Array.from({ length: V }, (_, v) => id * 100 + inputIds[Math.floor(i / T1)]![0]! * 10 + v)));
      },
      headLogits: (hidden) => hidden.clone(),
      dispose: () => {},
    };
  }

  test('runs each local teacher on its own examples only, and answers each row with its example\'s teacher', () => {
    // Four examples (first tokens 1..4) of two targets each, routed a, b, b, a.
    const labels = [[-100, 1, 1], [-100, 2, 2], [-100, 3, 3], [-100, 4, 4]];
    const batch = { inputIds: [[1, 1, 1], [2, 2, 2], [3, 3, 3], [4, 4, 4]], attentionMask: labels.map(() => [1, 1, 1]), labels, targetTokens: 8 };
    const seenA: number[][][] = [];
    const seenB: number[][][] = [];
    const members: EnsembleMember[] = [
      { name: 'a', kind: 'logits', teacher: fakeTeacher(1, seenA) },
      { name: 'b', kind: 'logits', teacher: fakeTeacher(2, seenB) },
    ];
    const sourceIndices = [10, 11, 12, 13];
    const teacherOf: number[] = [];
    [0, 1, 1, 0].forEach((t, i) => (teacherOf[sourceIndices[i]!] = t));
    const signal = routedSignal(members, teacherOf, batch, sourceIndices, 'cpu');
    assert.deepEqual(seenA.map((b) => b.map((row) => row[0])), [[1, 4]], 'teacher a saw examples 1 and 4 only');
    assert.deepEqual(seenB.map((b) => b.map((row) => row[0])), [[2, 3]], 'teacher b saw examples 2 and 3 only');
    // Rows 0-1 are example 1's, 2-3 example 2's, 4-5 example 3's, 6-7 example 4's; ask for rows 1..6.
    const expected = (row: number) => {
      const example = Math.floor(row / 2);
      const teacher = [1, 2, 2, 1][example]!;
      return Array.from({ length: V }, (_, v) => teacher * 100 + (example + 1) * 10 + v);
    };
    T.tidy(() => {
      const rows = signal.rowsAt(1, 6);
      assert.equal(rows.kind, 'routed');
      if (rows.kind !== 'routed') return;
      const got = new Map<number, number[]>();
      for (const part of rows.parts) {
        assert.equal(part.rows.kind, 'logits');
        if (part.rows.kind !== 'logits') continue;
        const values = part.rows.logits.tolist() as number[][];
        (part.positions.tolist() as number[]).forEach((p, i) => got.set(p, values[i]!));
      }
      for (let p = 0; p < 6; p++) assert.deepEqual(got.get(p), expected(1 + p), `row ${1 + p}`);
      // A range within one teacher's rows is that teacher's rows as they are.
      const own = signal.rowsAt(2, 2);
      assert.equal(own.kind, 'logits');
      if (own.kind === 'logits') assert.deepEqual(own.logits.tolist(), [expected(2), expected(3)]);
    });
    signal.dispose();
  });

  test("routed rows' loss and gradient are each part's against its own teacher, at the rows' places", () => {
    const tau = 2;
    const K = 4;
    const A = matrix(K, V, 7);
    const B = matrix(K, V, 8);
    const S = matrix(K, V, 9, 1.5);
    const targets = [0, 5, 2, 3];
    const route = [1, 0, 0, 1]; // rows 0 and 3 against B, rows 1 and 2 against A
    const N = 4;
    const alpha = 0.5;
    const loss = (s: number[][]) =>
      s.reduce((n, row, r) => {
        const t = route[r] === 0 ? A[r]! : B[r]!;
        const kd = tau * tau * kl(softmax(t, tau), softmax(row, tau));
        return n + (alpha * kd - (1 - alpha) * Math.log(softmax(row)[targets[r]!]!)) / N;
      }, 0);
    const { value, grad } = T.tidy(() => {
      const pick = (m: number[][], rows: number[]) => f64(rows.map((r) => m[r]!));
      const parts = [
        { positions: T.tensor([1, 2], { dtype: 'int64' }), rows: { kind: 'logits' as const, logits: pick(A, [1, 2]) } },
        { positions: T.tensor([0, 3], { dtype: 'int64' }), rows: { kind: 'logits' as const, logits: pick(B, [0, 3]) } },
      ];
      const y = T.tensor(targets, { dtype: 'int64' });
      const s = settings(tau, alpha);
      const sums = lossSums(f64(S), { kind: 'routed', parts }, y, s);
      const value = (alpha * sums.kdSum.item() + (1 - alpha) * sums.ceSum.item()) / N;
      return { value, grad: lossGradient(f64(S), { kind: 'routed', parts }, y, s, N).dLogits.tolist() as number[][] };
    });
    close(value, loss(S), 1e-10, 'loss');
    const h = 1e-6;
    for (let r = 0; r < K; r++) {
      for (const v of [0, 3]) {
        const plus = S.map((row) => [...row]);
        const minus = S.map((row) => [...row]);
        plus[r]![v]! += h;
        minus[r]![v]! -= h;
        const fd = (loss(plus) - loss(minus)) / (2 * h);
        assert.ok(Math.abs(grad[r]![v]! - fd) < 1e-7, `d/ds[${r}][${v}]: ${grad[r]![v]} vs ${fd}`);
      }
    }
  });
});
