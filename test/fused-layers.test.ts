// The addon's fused RMSNorm and rotary kernels (forward and backward) against the formulas
// evaluated here in double precision, their gradients against finite differences of those
// formulas, and their bfloat16 rounding against ATen's own ops.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as T from '../src/tensor/index.js';
import { assertClose, seededValues } from './helpers.js';

/** RMSNorm of each row of `x` (width d), by the definition, in doubles. */
function rmsNormByHand(x: number[], w: number[], eps: number): number[] {
  const d = w.length;
  const y: number[] = [];
  for (let r = 0; r < x.length / d; r++) {
    const row = x.slice(r * d, (r + 1) * d);
    const rstd = 1 / Math.sqrt(row.reduce((s, v) => s + v * v, 0) / d + eps);
    row.forEach((v, j) => y.push(w[j]! * v * rstd));
  }
  return y;
}

/** x·cos + rotate_half(x)·sin for x [B, H, T, D] (row-major values) and cos/sin [B or 1, T, D]. */
function rotaryByHand(x: number[], cos: number[], sin: number[], [, h, t, d]: [number, number, number, number], tableBatch: number): number[] {
  const half = d / 2;
  return x.map((v, i) => {
    const j = i % d;
    const row = Math.floor(i / d);
    const position = row % t;
    const batch = Math.floor(row / (t * h!));
    const table = (tableBatch === 1 ? 0 : batch * t * d) + position * d + j;
    const rotated = j < half ? -x[i + half]! : x[i - half]!;
    return v * cos[table]! + rotated * sin[table]!;
  });
}

/** ∂(Σ c·f(x))/∂x by central differences of a double-precision f. */
function finiteDifferences(f: (x: number[]) => number[], x: number[], c: number[], h = 1e-5): number[] {
  const dot = (y: number[]) => y.reduce((s, v, i) => s + v * c[i]!, 0);
  return x.map((_, i) => {
    const plus = x.slice();
    const minus = x.slice();
    plus[i]! += h;
    minus[i]! -= h;
    return (dot(f(plus)) - dot(f(minus))) / (2 * h);
  });
}

/** Runs `op` on leaf tensors made of `inputs`, backpropagates Σ c·out and returns out and the gradients. */
function forwardBackward(op: (leaves: T.Tensor[]) => T.Tensor, inputs: { values: number[]; shape: number[] }[], c: number[]) {
  return T.tidy(() => {
    const leaves = inputs.map(({ values, shape }) => T.tensor(values, { dtype: 'float32' }).reshape(...shape).requiresGrad_());
    const out = op(leaves);
    out.reshape(-1).mul(T.tensor(c, { dtype: 'float32' })).sum().backward();
    return { out: out.contiguous().toArray(), grads: leaves.map((l) => l.grad!.toArray()) };
  });
}

describe('fused RMSNorm kernel', () => {
  for (const d of [20, 48]) {
    test(`width ${d} (${d % 16 ? 'a scalar tail after the vectorised lanes' : 'whole lanes'}): output, input gradient and weight gradient`, () => {
      const rows = 6;
      const eps = 1e-6;
      const x = seededValues(rows * d, 11 + d, 3);
      const w = seededValues(d, 7, 1.5);
      const c = seededValues(rows * d, 5);
      const { out, grads } = forwardBackward(([xs, ws]) => T.fusedRmsNorm(xs!, ws!, eps), [{ values: x, shape: [2, 3, d] }, { values: w, shape: [d] }], c);
      assertClose(out, rmsNormByHand(x, w, eps), 2e-6, 'y');
      assertClose(grads[0]!, finiteDifferences((xs) => rmsNormByHand(xs, w, eps), x, c), 2e-4, 'dx');
      assertClose(grads[1]!, finiteDifferences((ws) => rmsNormByHand(x, ws, eps), w, c), 2e-4, 'dw');
    });
  }

  test('bfloat16: rounds where the float32-then-cast formula rounds (as ATen ops compute it)', () => {
    T.tidy(() => {
      const x = T.tensor(seededValues(4 * 40, 3, 4), { dtype: 'float32' }).reshape(4, 40).to('bfloat16');
      const w = T.tensor(seededValues(40, 9, 2), { dtype: 'float32' }).to('bfloat16');
      const x32 = x.to('float32');
      const normed = x32.mul(x32.square().mean(-1, true).add(1e-6).rsqrt());
      const expected = w.mul(normed.to('bfloat16'));
      const actual = T.fusedRmsNorm(x, w, 1e-6);
      assert.equal(actual.dtype, 'bfloat16');
      // One bfloat16 step at most: the sum of squares is added in another order.
      assertClose(actual.to('float32').toArray(), expected.to('float32').toArray(), 2 ** -7, 'y');
    });
  });

  test('under no-grad it runs and records nothing', () => {
    T.tidy(() => {
      const x = T.randn([3, 8]).requiresGrad_();
      const y = T.noGrad(() => T.fusedRmsNorm(x, T.ones([8]), 1e-6));
      assert.equal(y.requiresGrad, false);
    });
  });

  test('bad inputs are refused with what was expected', () => {
    T.tidy(() => {
      assert.throws(() => T.fusedRmsNorm(T.randn([2, 8]), T.ones([7]), 1e-6), /rmsNorm: weight \[8\] expected/);
      assert.throws(() => T.fusedRmsNorm(T.randn([2, 8]), T.ones([8], { dtype: 'float64' }), 1e-6), /weight dtype .* differs/);
      assert.throws(() => T.fusedRmsNorm(T.tensor([1, 2], { dtype: 'int64' }), T.ones([2]), 1e-6), /floating-point tensors only/);
    });
  });
});

describe('fused rotary kernel', () => {
  const [b, h, t, d] = [2, 3, 5, 8];
  /** Values in [B, H, T, D] order rearranged into [B, T, H, D] order. */
  const toBTHD = (values: number[]) =>
    values.map((_, i) => {
      const [j, rest] = [i % d, Math.floor(i / d)];
      const [head, rest2] = [rest % h, Math.floor(rest / h)];
      const [position, batch] = [rest2 % t, Math.floor(rest2 / t)];
      return values[((batch * h + head) * t + position) * d + j]!;
    });
  for (const tableBatch of [1, b]) {
    test(`cos/sin [${tableBatch}, T, D], input in [B, T, H, D] memory order: output and input gradient`, () => {
      const x = seededValues(b * h * t * d, 17, 2);
      const cos = seededValues(tableBatch * t * d, 19);
      const sin = seededValues(tableBatch * t * d, 23);
      const c = seededValues(b * h * t * d, 29);
      const table = (values: number[]) => T.tensor(values, { dtype: 'float32' }).reshape(tableBatch, t, d);
      // The model's q and k: a [B, T, H, D] projection seen as [B, H, T, D] (a transposed view).
      const leafValues = toBTHD(x);
      const { out, grads } = forwardBackward(([leaf]) => T.fusedRotary(leaf!.transpose(1, 2), table(cos), table(sin)), [{ values: leafValues, shape: [b, t, h, d] }], c);
      const rotary = (xs: number[]) => rotaryByHand(xs, cos, sin, [b, h, t, d], tableBatch);
      assertClose(out, rotary(x), 1e-6, 'y');
      // Rotary is linear in x: central differences are exact here up to float32 rounding.
      assertClose(grads[0]!, toBTHD(finiteDifferences(rotary, x, c, 1e-3)), 1e-4, 'dx');
    });
  }

  test('float32 output equals the composite ATen ops bit for bit, and is contiguous', () => {
    T.tidy(() => {
      const x = T.randn([b, t, h, d]).transpose(1, 2);
      const cos = T.randn([1, t, d]);
      const sin = T.randn([1, t, d]);
      const half = d / 2;
      const rotated = T.cat([x.slice(-1, half).neg(), x.slice(-1, 0, half)], -1);
      const composite = x.mul(cos.unsqueeze(1)).add(rotated.mul(sin.unsqueeze(1)));
      const fused = T.fusedRotary(x, cos, sin);
      assert.deepEqual(fused.toArray(), composite.contiguous().toArray());
      assert.deepEqual(fused.strides, [h * t * d, t * d, d, 1]);
    });
  });

  test('bfloat16 output and input gradient equal the composite ATen ops (and their autograd) bit for bit', () => {
    // d = 64: the vectorised lanes and a scalar tail of the half-rows; every product and sum rounded to bf16 as ATen's ops round them.
    const [bb, hh, tt, dd] = [2, 3, 7, 64];
    T.tidy(() => {
      const x = T.randn([bb, tt, hh, dd]).mul(3).to('bfloat16').requiresGrad_();
      const cos = T.randn([1, tt, dd]).to('bfloat16');
      const sin = T.randn([1, tt, dd]).to('bfloat16');
      const upstream = T.randn([bb, hh, tt, dd]).to('bfloat16');
      const view = x.transpose(1, 2);
      const half = dd / 2;
      const rotated = T.cat([view.slice(-1, half).neg(), view.slice(-1, 0, half)], -1);
      const composite = view.mul(cos.unsqueeze(1)).add(rotated.mul(sin.unsqueeze(1)));
      composite.mul(upstream).sum().backward();
      const compositeGrad = x.grad!.toArray();
      x.grad = null;
      const fused = T.fusedRotary(view, cos, sin);
      fused.mul(upstream).sum().backward();
      assert.deepEqual(fused.toArray(), composite.contiguous().toArray());
      assert.deepEqual(x.grad!.toArray(), compositeGrad);
    });
  });

  test('bad inputs are refused with what was expected', () => {
    T.tidy(() => {
      assert.throws(() => T.fusedRotary(T.randn([1, 2, 3, 5]), T.randn([1, 3, 5]), T.randn([1, 3, 5])), /even D/);
      assert.throws(() => T.fusedRotary(T.randn([1, 2, 3, 4]), T.randn([1, 4, 4]), T.randn([1, 4, 4])), /cos\/sin \[1 or 1, 3, 4\] expected/);
      assert.throws(() => T.fusedRotary(T.randn([1, 2, 3, 4]), T.randn([1, 3, 4], { dtype: 'float64' }), T.randn([1, 3, 4], { dtype: 'float64' })), /dtype .* differs/);
    });
  });
});

describe('fused SwiGLU kernel', () => {
  const silu = (g: number) => g / (1 + Math.exp(-g));
  // 8 rows × 13: whole vectors of 8 and a scalar tail, with large |g| where σ saturates.
  const gate = seededValues(8 * 13, 31, 12);
  const up = seededValues(8 * 13, 37, 3);
  const c = seededValues(8 * 13, 41);
  for (const plainLoop of [false, true]) {
    test(`${plainLoop ? 'plain loop' : 'vectorised where AVX2 is'}: silu(g)·u and both gradients`, () => {
      const { out, grads } = forwardBackward(([g, u]) => T.fusedSwiglu(g!, u!, { plainLoop }), [{ values: gate, shape: [8, 13] }, { values: up, shape: [8, 13] }], c);
      assertClose(out, gate.map((g, i) => silu(g) * up[i]!), 1e-6, 'y');
      const swiglu = (gs: number[], us: number[]) => gs.map((g, i) => silu(g) * us[i]!);
      assertClose(grads[0]!, finiteDifferences((gs) => swiglu(gs, up), gate, c), 1e-4, 'dg');
      assertClose(grads[1]!, finiteDifferences((us) => swiglu(gate, us), up, c), 1e-4, 'du');
    });
  }

  test('bad inputs are refused with what was expected', () => {
    T.tidy(() => {
      assert.throws(() => T.fusedSwiglu(T.randn([2, 8]), T.randn([2, 7])), /gate \[2, 8\] and up \[2, 7\] differ in shape/);
      assert.throws(() => T.fusedSwiglu(T.randn([2, 8], { dtype: 'float64' }), T.randn([2, 8], { dtype: 'float64' })), /float32 tensors only/);
    });
  });
});

test('fused rotary keeps float64 in double precision (a float64 model is not rounded to float32)', () => {
  T.tidy(() => {
    const x = T.tensor([1 + 2 ** -40, 3, 0.1, -7], { dtype: 'float64' }).reshape(1, 1, 1, 4);
    const cos = T.tensor([1, 0.5, 1, 0.5], { dtype: 'float64' }).reshape(1, 1, 4);
    const sin = T.tensor([0.25, 2, 0.25, 2], { dtype: 'float64' }).reshape(1, 1, 4);
    // y = x·cos + [−x₃, −x₄, x₁, x₂]·sin, in doubles.
    const expected = [(1 + 2 ** -40) * 1 - 0.1 * 0.25, 3 * 0.5 - -7 * 2, 0.1 * 1 + (1 + 2 ** -40) * 0.25, -7 * 0.5 + 3 * 2];
    assert.deepEqual(T.fusedRotary(x, cos, sin).toArray(), expected);
  });
});
