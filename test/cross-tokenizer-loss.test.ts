// The cross-tokenizer KD term (src/distill/cross-tokenizer/loss.ts) against its definition written
// here in plain doubles: ULD's sorted L1 with zero padding, spans merged by the chain rule, gold's
// divergence over the shared vocabulary renormalised, τ² on gold's one-token spans only. Values by
// hand, then random cases in float64, and autograd's gradient against finite differences.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type CrossRows, crossRowLossSums, type SpanSide, uldPerRow } from '../src/distill/cross-tokenizer/loss.js';
import type { LossSettings } from '../src/distill/loss.js';
import * as T from '../src/tensor/index.js';
import { assertClose, seededRows } from './helpers.js';

// ---- the definition, in doubles ----

function softmax(z: number[], tau: number): number[] {
  const m = Math.max(...z.map((v) => v / tau));
  const e = z.map((v) => Math.exp(v / tau - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** Σ_i |sort↓(a)_i − sort↓(b)_i|, the shorter padded with zeros. */
function uld(a: number[], b: number[]): number {
  const sa = [...a].sort((x, y) => y - x);
  const sb = [...b].sort((x, y) => y - x);
  let d = 0;
  for (let i = 0; i < Math.max(sa.length, sb.length); i++) d += Math.abs((sa[i] ?? 0) - (sb[i] ?? 0));
  return d;
}

/** Chain-rule merge of a span: rows[k−1]'s distribution times the probability of each earlier observed token. */
function merged(rows: number[][], observed: number[], tau: number): number[] {
  const ps = rows.map((z) => softmax(z, tau));
  let prefix = 1;
  for (let j = 0; j < rows.length - 1; j++) prefix *= ps[j]![observed[j]!]!;
  return ps[rows.length - 1]!.map((p) => p * prefix);
}

/** τ²·KL(p_T ‖ p_S) over the mapped ids, both renormalised there. */
function mappedKl(teacher: number[], student: number[], tIds: number[], sIds: number[], tau: number): number {
  const pt = softmax(tIds.map((i) => teacher[i]!), tau);
  const ps = softmax(sIds.map((i) => student[i]!), tau);
  return tau * tau * pt.reduce((a, p, i) => a + (p > 0 ? p * Math.log(p / ps[i]!) : 0), 0);
}

// ---- helpers to build CrossRows ----

const ids = (values: number[]) => T.tensor(values, { dtype: 'int64' });

function side(lastRows: number[], prefix: [row: number, token: number, span: number][] = []): SpanSide {
  return { lastRows: ids(lastRows), prefixRows: ids(prefix.map((p) => p[0])), prefixTokens: ids(prefix.map((p) => p[1])), prefixSpans: ids(prefix.map((p) => p[2])) };
}

const forwardKl = (temperature: number, alpha = 1): LossSettings => ({ alpha, temperature, divergence: { kind: 'forward-kl' } });

describe('ULD', () => {
  test('by hand: sorted L1, the shorter vocabulary padded with zeros', () => {
    // sorted: [0.5, 0.3, 0.2, 0] vs [0.6, 0.2, 0.1, 0.1]: 0.1 + 0.1 + 0.1 + 0.1
    const d = T.tidy(() => uldPerRow(T.tensor([[0.2, 0.5, 0.3]], { dtype: 'float64' }), T.tensor([[0.1, 0.6, 0.1, 0.2]], { dtype: 'float64' })).toArray());
    assertClose(d, [0.4], 1e-12);
    // either order, and equal vocabularies
    const e = T.tidy(() => uldPerRow(T.tensor([[0.1, 0.6, 0.1, 0.2]], { dtype: 'float64' }), T.tensor([[0.2, 0.5, 0.3]], { dtype: 'float64' })).toArray());
    assertClose(e, [0.4], 1e-12);
    assertClose(T.tidy(() => uldPerRow(T.tensor([[0.7, 0.3]], { dtype: 'float64' }), T.tensor([[0.3, 0.7]], { dtype: 'float64' })).toArray()), [0], 1e-15);
  });

  test('a permutation of the same distribution costs nothing; ULD ignores which token is which', () => {
    const p = softmax([0.3, -1.2, 2.0, 0.5, 0.1], 1);
    const q = [p[3]!, p[0]!, p[4]!, p[2]!, p[1]!];
    assertClose(T.tidy(() => uldPerRow(T.tensor([p], { dtype: 'float64' }), T.tensor([q], { dtype: 'float64' })).toArray()), [0], 1e-15);
  });
});

describe('crossRowLossSums against the definition in doubles', () => {
  // Student vocabulary 5, teacher vocabulary 7; 4 student target rows, 5 teacher rows.
  const student = seededRows(4, 5, 11, 2);
  const teacher = seededRows(5, 7, 12, 2);
  const targets = [1, 3, 0, 4];
  // Shared ids: student 0,1,2,4 ↔ teacher 3,0,6,2.
  const sIds = [0, 1, 2, 4];
  const tIds = [3, 0, 6, 2];

  function rows(method: 'gold' | 'uld'): CrossRows {
    return {
      method,
      teacherLogits: T.tensor(teacher, { dtype: 'float64' }),
      // gold: student row 0 ↔ teacher row 0 is a one-token span
      exact: method === 'gold' ? { studentRows: ids([0]), teacherRows: ids([0]) } : null,
      // span 0: student rows 1, 2 (row 1 predicted token 3) ↔ teacher rows 1, 2, 3 (predicted 5, then 1);
      // span 1: student row 3 ↔ teacher row 4 (scored by ULD under uld); under uld also row 0 ↔ 0.
      spans: method === 'gold'
        ? { count: 2, student: side([2, 3], [[1, 3, 0]]), teacher: side([3, 4], [[1, 5, 0], [2, 1, 0]]) }
        : { count: 3, student: side([2, 3, 0], [[1, 3, 0]]), teacher: side([3, 4, 0], [[1, 5, 0], [2, 1, 0]]) },
      vocabulary: { studentIds: ids(sIds), teacherIds: ids(tIds) },
    };
  }

  function expected(method: 'gold' | 'uld', tau: number): number {
    const spanA = uld(merged([teacher[1]!, teacher[2]!, teacher[3]!], [5, 1], tau), merged([student[1]!, student[2]!], [3], tau));
    const spanB = uld(softmax(teacher[4]!, tau), softmax(student[3]!, tau));
    const first = method === 'gold' ? mappedKl(teacher[0]!, student[0]!, tIds, sIds, tau) : uld(softmax(teacher[0]!, tau), softmax(student[0]!, tau));
    return first + spanA + spanB;
  }

  const ce = targets.reduce((a, y, r) => a - Math.log(softmax(student[r]!, 1)[y]!), 0);

  for (const method of ['gold', 'uld'] as const) {
    for (const tau of [1, 2]) {
      test(`${method}, τ ${tau}: Σkd and Σce equal the definition`, () => {
        const [kd, ceSum] = T.tidy(() => {
          const sums = crossRowLossSums(T.tensor(student, { dtype: 'float64' }), rows(method), ids(targets), forwardKl(tau));
          return [sums.kdSum.item(), sums.ceSum.item()];
        });
        assertClose([kd!], [expected(method, tau)], 1e-12, 'Σkd');
        assertClose([ceSum!], [ce], 1e-12, 'Σce');
      });
    }
  }

  test('the merge matters: the span without its prefix factor misses', () => {
    const tau = 1;
    const withoutPrefix = uld(softmax(teacher[3]!, tau), softmax(student[2]!, tau));
    const spanA = uld(merged([teacher[1]!, teacher[2]!, teacher[3]!], [5, 1], tau), merged([student[1]!, student[2]!], [3], tau));
    assert.ok(Math.abs(withoutPrefix - spanA) > 0.05, `${withoutPrefix} vs ${spanA}`);
  });

  test('gold over the identity map with every row a one-token span is the ordinary τ²·KL', () => {
    const sq = seededRows(3, 6, 21, 2);
    const tq = seededRows(3, 6, 22, 2);
    const all = [0, 1, 2, 3, 4, 5];
    const crossRows: CrossRows = {
      method: 'gold', teacherLogits: T.tensor(tq, { dtype: 'float64' }), exact: { studentRows: ids([0, 1, 2]), teacherRows: ids([0, 1, 2]) }, spans: null,
      vocabulary: { studentIds: ids(all), teacherIds: ids(all) },
    };
    const kd = T.tidy(() => crossRowLossSums(T.tensor(sq, { dtype: 'float64' }), crossRows, ids([0, 1, 2]), forwardKl(2)).kdSum.item());
    assertClose([kd], [[0, 1, 2].reduce((a, r) => a + mappedKl(tq[r]!, sq[r]!, all, all, 2), 0)], 1e-12);
  });

  test('the gradient with respect to the student logits equals finite differences of the definition', () => {
    const tau = 2;
    const alpha = 0.7;
    const loss = (s: number[][]) => {
      const spanA = uld(merged([teacher[1]!, teacher[2]!, teacher[3]!], [5, 1], tau), merged([s[1]!, s[2]!], [3], tau));
      const spanB = uld(softmax(teacher[4]!, tau), softmax(s[3]!, tau));
      const kd = mappedKl(teacher[0]!, s[0]!, tIds, sIds, tau) + spanA + spanB;
      const ceTerm = targets.reduce((a, y, r) => a - Math.log(softmax(s[r]!, 1)[y]!), 0);
      return alpha * kd + (1 - alpha) * ceTerm;
    };
    const grad = T.tidy(() => {
      const s = T.tensor(student, { dtype: 'float64' }).requiresGrad_();
      const sums = crossRowLossSums(s, rows('gold'), ids(targets), forwardKl(tau, alpha));
      sums.kdSum.mul(alpha).add(sums.ceSum.mul(1 - alpha)).backward();
      return s.grad!.toArray();
    });
    const h = 1e-6;
    const numeric: number[] = [];
    for (let r = 0; r < 4; r++) {
      for (let v = 0; v < 5; v++) {
        const plus = student.map((row) => [...row]);
        const minus = student.map((row) => [...row]);
        plus[r]![v]! += h;
        minus[r]![v]! -= h;
        numeric.push((loss(plus) - loss(minus)) / (2 * h));
      }
    }
    assertClose(grad, numeric, 1e-6, 'd loss / d student logits');
  });
});
