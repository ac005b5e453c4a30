// Op results against values computed by hand.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as T from '../src/tensor/index.js';
import { assertClose } from './helpers.js';

const t = (data: Parameters<typeof T.tensor>[0], dtype: T.DType = 'float32') => T.tensor(data, { dtype });

describe('creation and dtypes', () => {
  test('zeros, ones, full, arange, shapes and dtypes', () => {
    assert.deepEqual(T.zeros([2, 3]).tolist(), [[0, 0, 0], [0, 0, 0]]);
    assert.deepEqual(T.ones([2], { dtype: 'int32' }).toArray(), [1, 1]);
    assert.equal(T.ones([2], { dtype: 'int32' }).dtype, 'int32');
    assert.deepEqual(T.full([2], 7.5).toArray(), [7.5, 7.5]);
    assert.deepEqual(T.arange(5).toArray(), [0, 1, 2, 3, 4]);
    assert.equal(T.arange(5).dtype, 'int64');
    assertClose(T.arange(0, 1, 0.25).toArray(), [0, 0.25, 0.5, 0.75]);
    assert.deepEqual(T.tensor([[1, 2, 3], [4, 5, 6]]).shape, [2, 3]);
    assert.equal(T.tensor([true, false]).dtype, 'bool');
    assert.throws(() => T.tensor([[1, 2], [3]]), /ragged/);
  });

  test('every dtype converts and round-trips through typed arrays', () => {
    for (const dtype of T.DTYPES) {
      const x = T.tensor([0, 1, 2, 3], { dtype });
      assert.equal(x.dtype, dtype);
      const expected = dtype === 'bool' ? [0, 1, 1, 1] : [0, 1, 2, 3];
      assert.deepEqual(x.toArray(), expected, dtype);
      assert.equal(x.toBytes().byteLength, 4 * T.BYTES_PER_ELEMENT[dtype], dtype);
    }
    const f = T.fromTypedArray(new Float64Array([1.5, -2]), [2]);
    assert.equal(f.dtype, 'float64');
    assert.deepEqual(f.toArray(), [1.5, -2]);
    const big = T.fromTypedArray(new BigInt64Array([1n, -(2n ** 40n)]), [2]);
    assert.deepEqual(big.toArray(), [1, -(2 ** 40)]);
  });

  test('bfloat16 and float16 keep the published rounding', () => {
    // bfloat16 has 8 significant bits: 1 + 2^-8 rounds to 1 (ties to even); 1 + 2^-7 is exact.
    assert.deepEqual(T.tensor([1 + 2 ** -8, 1 + 2 ** -7], { dtype: 'bfloat16' }).toArray(), [1, 1 + 2 ** -7]);
    // float16 has 11: 1 + 2^-11 rounds to 1, 1 + 2^-10 is exact; 65504 is its maximum.
    assert.deepEqual(T.tensor([1 + 2 ** -11, 1 + 2 ** -10, 65504], { dtype: 'float16' }).toArray(), [1, 1 + 2 ** -10, 65504]);
    // The bytes of bfloat16 1.0 are 0x3F80 little-endian.
    assert.deepEqual([...T.tensor([1], { dtype: 'bfloat16' }).toBytes()], [0x80, 0x3f]);
  });
});

describe('elementwise math', () => {
  test('arithmetic with broadcasting and scalars', () => {
    const a = t([[1, 2, 3], [4, 5, 6]]);
    const b = t([10, 20, 30]);
    assert.deepEqual(a.add(b).tolist(), [[11, 22, 33], [14, 25, 36]]);
    assert.deepEqual(a.sub(1).tolist(), [[0, 1, 2], [3, 4, 5]]);
    assert.deepEqual(a.mul(t([[2], [3]])).tolist(), [[2, 4, 6], [12, 15, 18]]);
    assertClose(a.div(4).toArray(), [0.25, 0.5, 0.75, 1, 1.25, 1.5]);
    assert.deepEqual(a.add(b, 2).tolist(), [[21, 42, 63], [24, 45, 66]]);
    assert.deepEqual(a.pow(2).toArray(), [1, 4, 9, 16, 25, 36]);
    assert.deepEqual(t([2, 3]).pow(t([3, 2])).toArray(), [8, 9]);
    assert.deepEqual(t([-1, 2]).neg().toArray(), [1, -2]);
    assert.deepEqual(t([-1.5, 2]).abs().toArray(), [1.5, 2]);
    // Integer tensors stay integral with integral scalars, as in PyTorch.
    assert.equal(T.arange(3).mul(2).dtype, 'int64');
    assert.equal(T.arange(3).mul(0.5).dtype, 'float32');
  });

  test('pow, sqrt, rsqrt, exp, log, silu, sigmoid, clamp against hand values', () => {
    const x = t([0.5, 1, 4], 'float64');
    assertClose(x.sqrt().toArray(), [Math.SQRT1_2, 1, 2], 1e-12);
    assertClose(x.rsqrt().toArray(), [Math.SQRT2, 1, 0.5], 1e-12);
    assertClose(x.exp().toArray(), [Math.exp(0.5), Math.E, Math.exp(4)], 1e-12);
    assertClose(x.log().toArray(), [Math.log(0.5), 0, Math.log(4)], 1e-12);
    // silu(x) = x / (1 + e^-x)
    assertClose(x.silu().toArray(), [0.5 / (1 + Math.exp(-0.5)), 1 / (1 + Math.exp(-1)), 4 / (1 + Math.exp(-4))], 1e-12);
    assertClose(x.sigmoid().toArray(), [1 / (1 + Math.exp(-0.5)), 1 / (1 + Math.exp(-1)), 1 / (1 + Math.exp(-4))], 1e-12);
    assert.deepEqual(t([-2, 0.5, 3]).clamp(-1, 1).toArray(), [-1, 0.5, 1]);
    assert.deepEqual(t([-2, 0.5, 3]).clamp(0).toArray(), [0, 0.5, 3]);
  });

  test('comparisons, logic, where and maskedFill', () => {
    const x = t([1, 2, 3]);
    assert.deepEqual(x.gt(1.5).toArray(), [0, 1, 1]);
    assert.equal(x.gt(1.5).dtype, 'bool');
    assert.deepEqual(x.eq(t([1, 0, 3])).toArray(), [1, 0, 1]);
    assert.deepEqual(x.le(2).toArray(), [1, 1, 0]);
    assert.deepEqual(x.ne(2).logicalNot().toArray(), [0, 1, 0]);
    assert.deepEqual(T.where(x.gt(1.5), x, t([9, 9, 9])).toArray(), [9, 2, 3]);
    assert.deepEqual(T.where(x.gt(1.5), x, 0).toArray(), [0, 2, 3]);
    assert.deepEqual(x.maskedFill(t([true, false, true], 'bool'), -1).toArray(), [-1, 2, -1]);
    assert.deepEqual(t([[1, 2], [3, 4]]).maskedFill(t([[true, false]], 'bool'), 0).tolist(), [[0, 2], [0, 4]]);
  });

  test('triu and tril', () => {
    const m = t([[1, 2, 3], [4, 5, 6], [7, 8, 9]]);
    assert.deepEqual(m.triu().tolist(), [[1, 2, 3], [0, 5, 6], [0, 0, 9]]);
    assert.deepEqual(m.tril().tolist(), [[1, 0, 0], [4, 5, 0], [7, 8, 9]]);
    assert.deepEqual(m.triu(1).tolist(), [[0, 2, 3], [0, 0, 6], [0, 0, 0]]);
  });

  test('matmul and linear', () => {
    const a = t([[1, 2], [3, 4]]);
    assert.deepEqual(a.matmul(t([[5, 6], [7, 8]])).tolist(), [[19, 22], [43, 50]]);
    // linear: x Wᵀ + b with W [out, in]
    const w = t([[1, 0], [0, 2], [1, 1]]);
    assert.deepEqual(T.linear(a, w, t([0, 0, 10])).tolist(), [[1, 4, 13], [3, 8, 17]]);
    // batched matmul broadcasts the batch dimension
    assert.deepEqual(T.stack([a, a]).matmul(t([[1], [1]])).tolist(), [[[3], [7]], [[3], [7]]]);
  });
});

describe('reductions', () => {
  const m = t([[1, 5, 3], [4, 2, 6]]);
  test('sum, mean, max, argmax with dims and keepdim', () => {
    assert.equal(m.sum().item(), 21);
    assert.deepEqual(m.sum(0).toArray(), [5, 7, 9]);
    assert.deepEqual(m.sum(1, true).shape, [2, 1]);
    assert.deepEqual(m.sum([0, 1]).item(), 21);
    assert.equal(m.mean().item(), 3.5);
    assert.deepEqual(m.mean(1).toArray(), [3, 4]);
    assert.equal(m.max().item(), 6);
    const { values, indices } = m.maxDim(1);
    assert.deepEqual(values.toArray(), [5, 6]);
    assert.deepEqual(indices.toArray(), [1, 2]);
    assert.deepEqual(m.argmax(1).toArray(), [1, 2]);
    assert.deepEqual(m.argmax(0, true).shape, [1, 3]);
    assert.equal(m.argmax().item(), 5);
    assert.equal(m.min().item(), 1);
  });

  test('logsumexp, softmax and logSoftmax', () => {
    const x = t([[1, 2, 3]], 'float64');
    const lse = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));
    assertClose(x.logsumexp(1).toArray(), [lse], 1e-12);
    assertClose(x.softmax(-1).toArray(), [1, 2, 3].map((v) => Math.exp(v - lse)), 1e-12);
    assertClose(x.logSoftmax(-1).toArray(), [1, 2, 3].map((v) => v - lse), 1e-12);
    // Stable at large logits.
    assertClose(t([[1000, 1000]]).softmax(-1).toArray(), [0.5, 0.5]);
    assertClose(t([[1, 2, 3]], 'bfloat16').softmax(-1, { dtype: 'float32' }).toArray(), [1, 2, 3].map((v) => Math.exp(v - lse)), 1e-6);
  });

  test('topk, sort and cumsum', () => {
    const x = t([3, 1, 4, 1, 5, 9, 2, 6]);
    const { values, indices } = x.topk(3);
    assert.deepEqual(values.toArray(), [9, 6, 5]);
    assert.deepEqual(indices.toArray(), [5, 7, 4]);
    assert.deepEqual(x.topk(2, -1, false).values.toArray(), [1, 1]);
    assert.deepEqual(x.sort(-1, true).values.toArray(), [9, 6, 5, 4, 3, 2, 1, 1]);
    assert.deepEqual(t([1, 2, 3]).cumsum(0).toArray(), [1, 3, 6]);
  });
});

describe('indexing, joining and views', () => {
  test('embedding, indexSelect and gather', () => {
    const w = t([[0, 1], [10, 11], [20, 21]]);
    const idx = T.tensor([[2, 0]], { dtype: 'int64' });
    assert.deepEqual(T.embedding(w, idx).tolist(), [[[20, 21], [0, 1]]]);
    assert.deepEqual(w.indexSelect(0, T.tensor([1, 1], { dtype: 'int64' })).tolist(), [[10, 11], [10, 11]]);
    assert.deepEqual(w.gather(1, T.tensor([[1], [0], [1]], { dtype: 'int64' })).tolist(), [[1], [10], [21]]);
  });

  test('cat, stack, split and chunk', () => {
    const a = t([[1, 2]]);
    const b = t([[3, 4]]);
    assert.deepEqual(T.cat([a, b]).tolist(), [[1, 2], [3, 4]]);
    assert.deepEqual(T.cat([a, b], 1).tolist(), [[1, 2, 3, 4]]);
    assert.deepEqual(T.stack([a, b], 0).shape, [2, 1, 2]);
    const x = T.arange(10);
    assert.deepEqual(x.split(4).map((p) => p.toArray()), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    assert.deepEqual(x.split([3, 7]).map((p) => p.numel), [3, 7]);
    assert.deepEqual(x.chunk(2).map((p) => p.toArray()), [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]);
  });

  test('view, reshape, transpose, permute, contiguous, expand, (un)squeeze, narrow, slice, select', () => {
    const x = T.arange(6);
    assert.deepEqual(x.view(2, 3).tolist(), [[0, 1, 2], [3, 4, 5]]);
    assert.deepEqual(x.reshape(3, -1).shape, [3, 2]);
    const m = x.view(2, 3);
    assert.deepEqual(m.transpose(0, 1).tolist(), [[0, 3], [1, 4], [2, 5]]);
    assert.deepEqual(m.t().contiguous().view(6).toArray(), [0, 3, 1, 4, 2, 5]);
    assert.throws(() => m.t().view(6), /view size is not compatible/);
    assert.deepEqual(x.view(1, 2, 3).permute(2, 0, 1).shape, [3, 1, 2]);
    assert.deepEqual(t([[1], [2]]).expand(2, 3).tolist(), [[1, 1, 1], [2, 2, 2]]);
    assert.deepEqual(x.unsqueeze(0).shape, [1, 6]);
    assert.deepEqual(x.view(1, 6, 1).squeeze().shape, [6]);
    assert.deepEqual(x.view(1, 6, 1).squeeze(2).shape, [1, 6]);
    assert.deepEqual(x.narrow(0, 2, 3).toArray(), [2, 3, 4]);
    assert.deepEqual(x.slice(0, 1, undefined, 2).toArray(), [1, 3, 5]);
    assert.deepEqual(x.slice(0, -2).toArray(), [4, 5]);
    assert.deepEqual(m.select(1, 2).toArray(), [2, 5]);
    assert.deepEqual(m.flatten().toArray(), [0, 1, 2, 3, 4, 5]);
  });
});

describe('losses and attention', () => {
  test('crossEntropy matches −log softmax by hand, with ignoreIndex and reductions', () => {
    const logits = t([[1, 2, 3], [1, 1, 1], [0, 0, 5]], 'float64');
    const target = T.tensor([2, 0, 1], { dtype: 'int64' });
    const nll = (row: number[], y: number) => Math.log(row.reduce((s, v) => s + Math.exp(v), 0)) - row[y]!;
    const per = [nll([1, 2, 3], 2), nll([1, 1, 1], 0), nll([0, 0, 5], 1)];
    assertClose(T.crossEntropy(logits, target, { reduction: 'none' }).toArray(), per, 1e-12);
    assertClose([T.crossEntropy(logits, target).item()], [(per[0]! + per[1]! + per[2]!) / 3], 1e-12);
    assertClose([T.crossEntropy(logits, target, { reduction: 'sum' }).item()], [per[0]! + per[1]! + per[2]!], 1e-12);
    // Ignored targets contribute nothing and are not counted in the mean.
    const ignored = T.tensor([2, -100, 1], { dtype: 'int64' });
    assertClose([T.crossEntropy(logits, ignored).item()], [(per[0]! + per[2]!) / 2], 1e-12);
    assertClose([T.crossEntropy(logits, T.tensor([2, 7, 1], { dtype: 'int64' }), { ignoreIndex: 7 }).item()], [(per[0]! + per[2]!) / 2], 1e-12);
  });

  test('scaled dot-product attention equals softmax(q kᵀ/√d) v computed by hand', () => {
    // One head, two positions, head_dim 2.
    const q = t([[[[1, 0], [0, 1]]]], 'float64');
    const k = t([[[[1, 0], [1, 1]]]], 'float64');
    const v = t([[[[1, 2], [3, 4]]]], 'float64');
    const s = 1 / Math.SQRT2;
    const row = (scores: number[]) => {
      const e = scores.map(Math.exp);
      const z = e[0]! + e[1]!;
      return [(e[0]! * 1 + e[1]! * 3) / z, (e[0]! * 2 + e[1]! * 4) / z];
    };
    const full = [...row([1 * s, 1 * s]), ...row([0, 1 * s])];
    assertClose(T.scaledDotProductAttention(q, k, v).toArray(), full, 1e-12);
    // Causal: position 0 sees only itself.
    const causal = [1, 2, ...row([0, 1 * s])];
    assertClose(T.scaledDotProductAttention(q, k, v, { isCausal: true }).toArray(), causal, 1e-12);
    // A boolean mask with the same pattern gives the same result; so does the fallback path.
    const mask = T.tensor([[true, false], [true, true]]);
    assertClose(T.scaledDotProductAttention(q, k, v, { attnMask: mask }).toArray(), causal, 1e-12);
    assertClose(T.attentionFallback(q, k, v, { isCausal: true }, 2).toArray(), causal, 1e-12);
    assertClose(T.scaledDotProductAttention(q, k, v, { scale: 1 }).toArray(), [...row([1, 1]), ...row([0, 1])], 1e-12);
  });
});

describe('errors', () => {
  test('libtorch errors become JS exceptions with libtorch messages', () => {
    assert.throws(() => t([1, 2]).add(t([1, 2, 3])), /size of tensor a \(2\) must match the size of tensor b \(3\)/);
    assert.throws(() => t([[1, 2]]).matmul(t([[1, 2]])), /cannot be multiplied|size mismatch|shapes/);
    assert.throws(() => T.arange(3).view(2, 2), /invalid for input of size 3/);
    assert.throws(() => t([1]).to('cuda:0'), /CUDA|cuda/);
    assert.throws(() => t([1]).to('tpu' as never), /device/i);
  });

  test('disposed tensors fail clearly; dispose is idempotent', () => {
    const x = t([1, 2]);
    x.dispose();
    x.dispose();
    assert.equal(x.isDisposed, true);
    assert.throws(() => x.add(1), /already disposed/);
    assert.throws(() => x.shape, /already disposed/);
  });

  test('wrong argument types name the operator argument', () => {
    assert.throws(() => T.aten('aten::add.Tensor', t([1]), 'x'), /other is not a tensor/);
    assert.throws(() => T.aten('aten::sum.dim_IntList', t([1]), [0.5]), /argument 'dim' must be an integer/);
    assert.throws(() => T.aten('aten::no_such_op'), /not available/);
    assert.equal(T.hasOp('aten::add.Tensor'), true);
  });
});
