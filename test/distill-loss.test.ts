// Distillation losses against hand arithmetic on a tiny vocabulary, and their gradients against
// finite differences.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Divergence, divergencePerToken } from '../src/distill/divergences.js';
import { combineLoss, distillationSums } from '../src/distill/loss.js';
import { learningRateAt } from '../src/distill/schedule.js';
import * as T from '../src/tensor/index.js';
import { assertClose } from './helpers.js';

const softmax = (z: number[], tau: number) => {
  const m = Math.max(...z.map((v) => v / tau));
  const e = z.map((v) => Math.exp(v / tau - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};
const kl = (p: number[], q: number[]) => p.reduce((s, pi, i) => s + (pi > 0 ? pi * Math.log(pi / q[i]!) : 0), 0);

/** Each divergence by its textbook definition, in plain doubles. */
function byHand(zT: number[], zS: number[], tau: number, d: Divergence): number {
  const p = softmax(zT, tau);
  const q = softmax(zS, tau);
  let v: number;
  switch (d.kind) {
    case 'forward-kl':
      v = kl(p, q);
      break;
    case 'reverse-kl':
      v = kl(q, p);
      break;
    case 'jsd': {
      const m = p.map((pi, i) => d.beta * pi + (1 - d.beta) * q[i]!);
      v = d.beta * kl(p, m) + (1 - d.beta) * kl(q, m);
      break;
    }
    case 'skew-kl':
      v = kl(p, p.map((pi, i) => d.lambda * pi + (1 - d.lambda) * q[i]!));
      break;
    case 'tvd':
      v = 0.5 * p.reduce((s, pi, i) => s + Math.abs(pi - q[i]!), 0);
      break;
  }
  return tau * tau * v;
}

const DIVERGENCES: Divergence[] = [
  { kind: 'forward-kl' },
  { kind: 'reverse-kl' },
  { kind: 'jsd', beta: 0.5 },
  { kind: 'jsd', beta: 0.1 },
  { kind: 'skew-kl', lambda: 0.1 },
  { kind: 'tvd' },
];

describe('divergences on a 3-token vocabulary', () => {
  const zT = [[1, 2, 0.5], [0, 0, 3]];
  const zS = [[0.2, -1, 1.5], [1, 0.5, 0]];
  for (const d of DIVERGENCES) {
    test(`${JSON.stringify(d)} matches its definition, τ² included (τ = 1, 2, 5)`, () => {
      for (const tau of [1, 2, 5]) {
        const ours = divergencePerToken(T.tensor(zT, { dtype: 'float64' }), T.tensor(zS, { dtype: 'float64' }), tau, d).toArray();
        assertClose(ours, zT.map((row, i) => byHand(row, zS[i]!, tau, d)), 1e-12, `τ=${tau}`);
      }
    });
  }

  test('identical distributions give zero; JSD β=0/β=1 and skew λ=0 reduce to forward/reverse KL', () => {
    for (const d of DIVERGENCES) assertClose(divergencePerToken(T.tensor(zT), T.tensor(zT), 2, d).toArray(), [0, 0], 1e-6);
    const t = T.tensor(zT, { dtype: 'float64' });
    const s = T.tensor(zS, { dtype: 'float64' });
    const fwd = divergencePerToken(t, s, 2, { kind: 'forward-kl' }).toArray();
    assertClose(divergencePerToken(t, s, 2, { kind: 'jsd', beta: 0 }).toArray(), fwd, 1e-12);
    assertClose(divergencePerToken(t, s, 2, { kind: 'skew-kl', lambda: 0 }).toArray(), fwd, 1e-12);
    assertClose(divergencePerToken(t, s, 2, { kind: 'jsd', beta: 1 }).toArray(), divergencePerToken(t, s, 2, { kind: 'reverse-kl' }).toArray(), 1e-12);
  });
});

describe('the distillation loss of DESIGN.md', () => {
  // Batch of 2 sequences of length 4, vocabulary 3. Labels: -100 marks prompt/padding positions.
  const zS = [
    [[0.1, 0.2, 0.3], [1, 0, -1], [0.5, 0.5, 2], [3, 1, 0]],
    [[0, 1, 0], [2, 2, 1], [-1, 0, 1], [0, 0, 0]],
  ];
  const zT = [
    [[1, 0, 0], [0, 2, 1], [1, 1, 1], [2, 0, 1]],
    [[0.5, 0, 1], [1, 3, 0], [0, 0, 2], [1, 1, 1]],
  ];
  const labels = [
    [0, -100, 2, 1], // positions predicting labels[2]=2 (from t=1) and labels[3]=1 (from t=2)
    [1, 2, 0, -100], // the last position is padding; t=0 predicts 2, t=1 predicts 0
  ];
  const counted: [number, number, number][] = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 1, 0]]; // [batch, t, target]

  test('shifted targets, masked positions skipped, τ² KD and CE sums by hand, α mixing per token', () => {
    const tau = 2;
    const alpha = 0.7;
    const sums = distillationSums(T.tensor(zS, { dtype: 'float64' }), T.tensor(zT, { dtype: 'float64' }), T.tensor(labels, { dtype: 'int64' }), {
      alpha, temperature: tau, divergence: { kind: 'forward-kl' },
    });
    assert.equal(sums.count, 4);
    const kdByHand = counted.reduce((s, [b, t]) => s + byHand(zT[b]![t]!, zS[b]![t]!, tau, { kind: 'forward-kl' }), 0);
    const ceByHand = counted.reduce((s, [b, t, y]) => s - Math.log(softmax(zS[b]![t]!, 1)[y]!), 0);
    assertClose([sums.kdSum.item()], [kdByHand], 1e-6);
    assertClose([sums.ceSum.item()], [ceByHand], 1e-6);
    // Normalised over the whole accumulated batch (here 10 targets, of which these are 4).
    assertClose([combineLoss(sums, alpha, 10).item()], [(alpha * kdByHand + (1 - alpha) * ceByHand) / 10], 1e-6);
  });

  test('only the shared vocabulary is compared when the teacher’s embedding is padded further', () => {
    const padded = zT.map((seq) => seq.map((row) => [...row, 50, -50])); // two extra (padded) teacher rows
    const a = distillationSums(T.tensor(zS, { dtype: 'float64' }), T.tensor(padded, { dtype: 'float64' }), T.tensor(labels, { dtype: 'int64' }), {
      alpha: 1, temperature: 1, divergence: { kind: 'forward-kl' }, sharedVocab: 3,
    });
    const b = distillationSums(T.tensor(zS, { dtype: 'float64' }), T.tensor(zT, { dtype: 'float64' }), T.tensor(labels, { dtype: 'int64' }), {
      alpha: 1, temperature: 1, divergence: { kind: 'forward-kl' },
    });
    assertClose([a.kdSum.item()], [b.kdSum.item()], 1e-6);
  });

  for (const d of DIVERGENCES) {
    test(`gradient of the loss (${d.kind}${'beta' in d ? ` β=${d.beta}` : ''}) matches finite differences`, () => {
      const base = zS.flat(2);
      const lossAt = (values: number[]) =>
        T.tidy(() => {
          const s = T.tensor(values, { dtype: 'float64' }).reshape(2, 4, 3);
          const sums = distillationSums(s, T.tensor(zT, { dtype: 'float64' }), T.tensor(labels, { dtype: 'int64' }), { alpha: 0.6, temperature: 2, divergence: d });
          return combineLoss(sums, 0.6, sums.count).item();
        });
      const leaf = T.tensor(base, { dtype: 'float64' }).requiresGrad_();
      T.tidy(() => {
        const sums = distillationSums(leaf.reshape(2, 4, 3), T.tensor(zT, { dtype: 'float64' }), T.tensor(labels, { dtype: 'int64' }), { alpha: 0.6, temperature: 2, divergence: d });
        combineLoss(sums, 0.6, sums.count).backward();
      });
      const analytic = leaf.grad!.toArray();
      const eps = 1e-6;
      const numeric = base.map((_, i) => {
        const plus = base.slice();
        const minus = base.slice();
        plus[i]! += eps;
        minus[i]! -= eps;
        return (lossAt(plus) - lossAt(minus)) / (2 * eps);
      });
      assertClose(analytic, numeric, 1e-6);
      // Masked positions and the last position (it predicts nothing) get no gradient.
      assert.deepEqual(analytic.slice(0, 3), [0, 0, 0]); // batch 0, t=0 predicts labels[1] = -100
      assert.deepEqual(analytic.slice(9, 12), [0, 0, 0]); // batch 0, t=3 is last
      assert.deepEqual(analytic.slice(18, 24), [0, 0, 0, 0, 0, 0]); // batch 1, t=2 predicts padding; t=3 is last
      assert.ok(analytic.slice(3, 6).some((g) => g !== 0)); // batch 0, t=1 predicts labels[2] = 2
    });
  }
});

describe('learning-rate schedules', () => {
  test('warm-up then constant, linear and cosine, as transformers defines them', () => {
    const s = { lr: 1, warmupSteps: 2, totalSteps: 10 };
    assert.deepEqual([0, 1, 2, 5].map((k) => learningRateAt(k, { ...s, schedule: 'constant' })), [0, 0.5, 1, 1]);
    assertClose([2, 6, 10].map((k) => learningRateAt(k, { ...s, schedule: 'linear' })), [1, 0.5, 0]);
    assertClose([2, 6, 10].map((k) => learningRateAt(k, { ...s, schedule: 'cosine' })), [1, 0.5, 0]);
    assertClose([learningRateAt(4, { ...s, schedule: 'cosine' })], [0.5 * (1 + Math.cos(Math.PI * 0.25))]);
  });
});
