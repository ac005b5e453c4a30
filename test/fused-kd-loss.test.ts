// The addon's fused KD loss kernel (forward KL at τ plus cross-entropy, and the gradient with
// respect to the student's logits) against the formulas evaluated here in double precision.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as T from '../src/tensor/index.js';
import { assertClose, seededRows } from './helpers.js';

const logSoftmax = (row: number[], tau: number) => {
  const m = Math.max(...row.map((v) => v / tau));
  const z = Math.log(row.reduce((s, v) => s + Math.exp(v / tau - m), 0)) + m;
  return row.map((v) => v / tau - z);
};

/** Σkd, Σce and d(α·Σkd + (1−α)·Σce)·scale/ds, by the definitions (KD over the first `shared` logits). */
function byHand(s: number[][], t: number[][], y: number[], tau: number, alpha: number, scale: number, shared: number) {
  let kd = 0;
  let ce = 0;
  const grad = s.map((row, i) => {
    const ls = logSoftmax(row.slice(0, shared), tau);
    const lt = logSoftmax(t[i]!.slice(0, shared), tau);
    const l1 = logSoftmax(row, 1);
    kd += tau * tau * lt.reduce((acc, v, j) => acc + Math.exp(v) * (v - ls[j]!), 0);
    ce -= l1[y[i]!]!;
    return row.map((_, j) => {
      const kdPart = j < shared ? alpha * tau * (Math.exp(ls[j]!) - Math.exp(lt[j]!)) : 0;
      return scale * (kdPart + (1 - alpha) * (Math.exp(l1[j]!) - (j === y[i] ? 1 : 0)));
    });
  });
  return { kd, ce, grad };
}

describe('fused KD loss kernel', () => {
  const cases = [
    { name: 'a vocabulary that is not a multiple of 8 (the scalar tails)', rows: 3, vocab: 21, teacherVocab: 21, shared: 21 },
    { name: 'a padded student vocabulary (KD over the shared part, CE over all)', rows: 4, vocab: 45, teacherVocab: 40, shared: 37 },
    { name: 'a larger vocabulary (the vectorised body)', rows: 5, vocab: 1000, teacherVocab: 1000, shared: 1000 },
  ];
  for (const c of cases) for (const plainLoop of [false, true]) {
    test(`${c.name}${plainLoop ? ', plain loop' : ''}: sums and gradient equal the definitions`, () => {
      const [tau, alpha, scale] = [1.7, 0.3, 1 / 11];
      const s = seededRows(c.rows, c.vocab, 3, 6);
      const t = seededRows(c.rows, c.teacherVocab, 5, 6);
      const y = s.map((_, i) => (i * 7 + 2) % c.vocab);
      const expected = byHand(s, t, y, tau, alpha, scale, c.shared);
      T.tidy(() => {
        const { sums, grad } = T.fusedKdLoss(T.tensor(s), T.tensor(t), T.tensor(y, { dtype: 'int64' }), { temperature: tau, alpha, scale, shared: c.shared, plainLoop });
        const [kd, ce] = sums.toArray();
        assert.ok(Math.abs(kd! - expected.kd) <= 1e-4 * Math.max(1, Math.abs(expected.kd)), `Σkd ${kd} vs ${expected.kd}`);
        assert.ok(Math.abs(ce! - expected.ce) <= 1e-4 * Math.max(1, Math.abs(expected.ce)), `Σce ${ce} vs ${expected.ce}`);
        assertClose(grad.toArray(), expected.grad.flat(), 2e-6, 'gradient');
      });
    });
  }

  test('a NaN logit gives NaN sums (the trainer then stops), not a finite loss', () => {
    T.tidy(() => {
      const s = T.randn([2, 40]);
      const bad = T.cat([s.narrow(0, 0, 1), T.full([1, 40], NaN)]);
      const { sums } = T.fusedKdLoss(bad, T.randn([2, 40]), T.tensor([1, 2], { dtype: 'int64' }), { temperature: 2, alpha: 0.5, scale: 1, shared: 32 });
      for (const v of sums.toArray()) assert.ok(Number.isNaN(v), `sum ${v}`);
    });
  });

  test('bad inputs are refused with a message, not a crash', () => {
    T.tidy(() => {
      const s = T.zeros([2, 8]);
      assert.throws(() => T.fusedKdLoss(s, T.zeros([2, 8]), T.tensor([0, 8], { dtype: 'int64' }), { temperature: 1, alpha: 0.5, scale: 1, shared: 8 }), /target 8 outside \[0, 8\)/);
      assert.throws(() => T.fusedKdLoss(s, T.zeros([3, 8]), T.tensor([0, 1], { dtype: 'int64' }), { temperature: 1, alpha: 0.5, scale: 1, shared: 8 }), /rows differ/);
      assert.throws(() => T.fusedKdLoss(s.to('float64'), T.zeros([2, 8]), T.tensor([0, 1], { dtype: 'int64' }), { temperature: 1, alpha: 0.5, scale: 1, shared: 8 }), /float32 logits only/);
    });
  });
});
