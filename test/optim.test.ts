// AdamW and grad clipping against their update formulas computed by hand in float64.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AdamW, clipGradNorm, decayParamGroups } from '../src/nn/index.js';
import * as T from '../src/tensor/index.js';
import { assertClose, seededValues } from './helpers.js';

/** One hand-computed AdamW step (Loshchilov & Hutter; PyTorch's bias-corrected form). */
function adamwByHand(
  p: number[], g: number[], m: number[], v: number[], t: number,
  { lr, wd, b1, b2, eps }: { lr: number; wd: number; b1: number; b2: number; eps: number },
): void {
  for (let i = 0; i < p.length; i++) {
    p[i]! *= 1 - lr * wd;
    m[i] = b1 * m[i]! + (1 - b1) * g[i]!;
    v[i] = b2 * v[i]! + (1 - b2) * g[i]! * g[i]!;
    const mHat = m[i]! / (1 - b1 ** t);
    const vHat = v[i]! / (1 - b2 ** t);
    p[i]! -= (lr * mHat) / (Math.sqrt(vHat) + eps);
  }
}

/** Sets p.grad = c by back-propagating sum(p * c). */
function setGrad(p: T.Tensor, c: number[]): void {
  T.tidy(() => p.mul(T.tensor(c, { dtype: p.dtype }).reshape(...p.shape)).sum().backward());
}

describe('AdamW', () => {
  test('three steps, including a learning-rate change, match the formula', () => {
    const start = [0.5, -1.25, 2];
    const p = T.tensor(start, { dtype: 'float64' }).requiresGrad_();
    const hp = { lr: 0.1, wd: 0.05, b1: 0.8, b2: 0.95, eps: 1e-8 };
    const opt = new AdamW([p], { lr: hp.lr, betas: [hp.b1, hp.b2], eps: hp.eps, weightDecay: hp.wd });
    const expected = start.slice();
    const m = [0, 0, 0];
    const v = [0, 0, 0];
    const grads = [[1, -2, 0.5], [0.3, 0.3, -4], [-1, 0, 2]];
    grads.forEach((g, i) => {
      const step = i + 1;
      if (step === 3) {
        opt.setLr(0.02);
        hp.lr = 0.02;
      }
      opt.zeroGrad();
      setGrad(p, g);
      opt.step();
      adamwByHand(expected, g, m, v, step, hp);
      assertClose(p.toArray(), expected, 1e-12, `after step ${step}`);
    });
    assert.equal(opt.getLr(), 0.02);
  });

  test('a float32 parameter large enough to be updated in parallel pieces follows the formula in every element', () => {
    const n = 100_003; // several of the fused kernel's pieces, and a ragged end
    const start = seededValues(n, 7);
    const p = T.tensor(start, { dtype: 'float32' }).requiresGrad_();
    const hp = { lr: 0.01, wd: 0.1, b1: 0.9, b2: 0.999, eps: 1e-8 };
    const opt = new AdamW([p], { lr: hp.lr, betas: [hp.b1, hp.b2], eps: hp.eps, weightDecay: hp.wd });
    const exact = Array.from(Float32Array.from(start)); // the formula starts from the float32 values
    const m = new Array<number>(n).fill(0);
    const v = new Array<number>(n).fill(0);
    for (let step = 1; step <= 3; step++) {
      const g = seededValues(n, 100 + step, 2);
      opt.zeroGrad();
      setGrad(p, g);
      opt.step();
      adamwByHand(exact, Array.from(Float32Array.from(g)), m, v, step, hp);
    }
    // Float32 arithmetic against the formula in doubles: each step moves a parameter by about lr.
    assertClose(p.toArray(), exact, 1e-6, 'after three steps');
  });

  test('norms and biases are not decayed; matrices are', () => {
    const weight = T.ones([2, 2], { dtype: 'float64' }).requiresGrad_();
    const bias = T.ones([2], { dtype: 'float64' }).requiresGrad_();
    const norm = T.ones([2], { dtype: 'float64' }).requiresGrad_();
    const groups = decayParamGroups([['layer.weight', weight], ['layer.bias', bias], ['input_layernorm.weight', norm]], 0.1);
    assert.deepEqual(groups.map((g) => g.params.length), [1, 2]);
    const opt = new AdamW(groups, { lr: 0.5 });
    // Zero gradients: the Adam part of the update is 0, only weight decay moves a parameter.
    for (const p of [weight, bias, norm]) setGrad(p, new Array(p.numel).fill(0));
    opt.step();
    assertClose(weight.toArray(), [0.95, 0.95, 0.95, 0.95], 1e-12);
    assert.deepEqual(bias.toArray(), [1, 1]);
    assert.deepEqual(norm.toArray(), [1, 1]);
  });

  test('state saved after two steps and restored continues exactly like an uninterrupted run', () => {
    const make = () => T.tensor([1, 2, 3, 4], { dtype: 'float32' }).requiresGrad_();
    const grads = [[1, 2, 3, 4], [-1, 0.5, 2, 0], [0.1, 0.1, -3, 1], [2, 2, 2, 2]];
    const a = make();
    const optA = new AdamW([a], { lr: 0.01 });
    for (const g of grads) {
      optA.zeroGrad();
      T.tidy(() => a.mul(T.tensor(g)).sum().backward());
      optA.step();
    }
    const b = make();
    let optB = new AdamW([b], { lr: 0.01 });
    for (const g of grads.slice(0, 2)) {
      optB.zeroGrad();
      T.tidy(() => b.mul(T.tensor(g)).sum().backward());
      optB.step();
    }
    const saved = optB.stateDict();
    assert.deepEqual(saved.steps, [2]);
    optB = new AdamW([b], { lr: 0.5 });
    optB.loadStateDict(saved);
    assert.equal(optB.getLr(), 0.01);
    for (const g of grads.slice(2)) {
      optB.zeroGrad();
      T.tidy(() => b.mul(T.tensor(g)).sum().backward());
      optB.step();
    }
    assert.deepEqual(b.toArray(), a.toArray());
  });

  test('bad settings and mismatched state are rejected clearly', () => {
    const p = T.zeros([2]).requiresGrad_();
    assert.throws(() => new AdamW([p], { lr: -1 }), /learning rate must be >= 0/);
    assert.throws(() => new AdamW([p], { betas: [1, 0.9] }), /betas must be in \[0, 1\)/);
    const opt = new AdamW([p]);
    assert.throws(() => opt.setLr(Number.NaN), /learning rate/);
    assert.throws(() => opt.loadStateDict({ tensors: new Map(), steps: [null, null], lrs: [0.1] }), /2 parameters but this optimizer has 1/);
  });
});

describe('clipGradNorm', () => {
  test('scales all gradients by maxNorm / globalNorm and returns the norm before clipping', () => {
    const a = T.zeros([2], { dtype: 'float64' }).requiresGrad_();
    const b = T.zeros([1], { dtype: 'float64' }).requiresGrad_();
    setGrad(a, [3, 4]);
    setGrad(b, [12]);
    const norm = clipGradNorm([a, b], 6.5);
    assert.equal(norm.dtype, 'float64');
    assertClose([norm.item()], [13], 1e-12); // sqrt(9 + 16 + 144)
    const scale = 6.5 / (13 + 1e-6);
    assertClose([...a.grad!.toArray(), ...b.grad!.toArray()], [3 * scale, 4 * scale, 12 * scale], 1e-12);
    // Below the threshold nothing changes.
    assertClose([clipGradNorm([a, b], 100).item()], [6.5], 1e-6);
    assertClose(a.grad!.toArray(), [3 * scale, 4 * scale], 1e-12);
  });
});
