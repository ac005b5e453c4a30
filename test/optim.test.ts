// AdamW and grad clipping against their update formulas computed by hand in float64.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AdamW, clipCoefficient, clipGradNorm, decayParamGroups, gradNorm } from '../src/nn/index.js';
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

/** x rounded to bfloat16 (round to nearest even, as every float32 → bf16 conversion of libtorch), from its float32 bits. */
function toBf16(x: number): number {
  const bits = new Uint32Array(Float32Array.of(x).buffer)[0]!;
  const rounded = (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
  return new Float32Array(Uint32Array.of(rounded << 16).buffer)[0]!;
}

/** n values exactly representable in bfloat16 (k / 128, |k| < 256: 8 significant bits), spread over about ±2. */
function bf16Values(n: number, seed: number): number[] {
  return seededValues(n, seed).map((x) => Math.round(x * 255) / 128);
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

  test('stepMixed: float32 masters stepped from their bf16 copies\' gradients times the clipping scale, the copies rewritten as bf16(master)', () => {
    // Float32 masters take the fused pass; a float64 master (a dtype the pass does not take) the
    // generic one: both must follow the formula, with g = bf16 gradient × scale.
    for (const masterDtype of ['float32', 'float64'] as const) {
      const n = 100_003; // several of the fused kernel's pieces, and a ragged end
      const start = seededValues(n, 11);
      const master = T.tensor(start, { dtype: masterDtype }).requiresGrad_();
      const copy = T.tensor(start, { dtype: 'bfloat16' }).requiresGrad_();
      const other = T.tensor([0.5, -0.25], { dtype: masterDtype }).requiresGrad_(); // no copy: its own gradient
      const hp = { lr: 0.01, wd: 0.1, b1: 0.9, b2: 0.999, eps: 1e-8 };
      const opt = new AdamW([master, other], { lr: hp.lr, betas: [hp.b1, hp.b2], eps: hp.eps, weightDecay: hp.wd });
      const exact = masterDtype === 'float32' ? Array.from(Float32Array.from(start)) : start.slice();
      const exactOther = [0.5, -0.25];
      const [m, v, mo, vo] = [new Array<number>(n).fill(0), new Array<number>(n).fill(0), [0, 0], [0, 0]];
      for (let step = 1; step <= 3; step++) {
        const g = bf16Values(n, 200 + step);
        const scale = [1, 0.5, 0.375][step - 1]!;
        setGrad(copy, g);
        setGrad(other, [1, -2]);
        opt.stepMixed([master], [copy], step === 1 ? null : T.tensor(scale).reshape());
        copy.grad = null;
        other.grad = null;
        adamwByHand(exact, g.map((x) => x * scale), m, v, step, hp);
        adamwByHand(exactOther, [scale, -2 * scale], mo, vo, step, hp);
        // The master's own gradient was never made.
        assert.equal(master.grad, null);
      }
      assertClose(master.toArray(), exact, 1e-6, `${masterDtype} master after three steps`);
      assertClose(other.toArray(), exactOther, 1e-6, `${masterDtype} parameter without a copy`);
      // The copy holds the master rounded to bf16, element for element.
      const masters = master.toArray();
      assert.deepEqual(copy.toArray(), masters.map(toBf16));
    }
  });

  test('stepMixed refuses copies that do not match their masters', () => {
    const master = T.zeros([4]).requiresGrad_();
    const opt = new AdamW([master]);
    assert.throws(() => opt.stepMixed([master], [], null), /1 masters but 0 copies/);
    assert.throws(() => opt.stepMixed([master], [T.zeros([2, 2], { dtype: 'bfloat16' })], null), /master 0 has shape \[4\] but its copy has \[2, 2\]/);
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

  test('gradNorm of bf16 gradients is their L2 norm in float32, untouched; clipCoefficient is clipGradNorm\'s factor', () => {
    const n = 70_001;
    const g = bf16Values(n, 5);
    const a = T.zeros([n], { dtype: 'bfloat16' }).requiresGrad_();
    const b = T.zeros([3], { dtype: 'float32' }).requiresGrad_();
    setGrad(a, g);
    setGrad(b, [3, -4, 12]);
    const expected = Math.sqrt(g.reduce((s, x) => s + x * x, 0) + 9 + 16 + 144);
    const norm = gradNorm([a, b]);
    assert.equal(norm.dtype, 'float32');
    assertClose([norm.item()], [expected], 1e-6);
    assert.deepEqual(a.grad!.toArray(), g);
    assertClose([clipCoefficient(norm, 2).item()], [2 / (expected + 1e-6)], 1e-6);
    assert.equal(clipCoefficient(norm, 1e9).item(), 1);
  });
});
