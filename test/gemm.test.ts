// gemm / gemmAccumulate (oneDNN's sgemm for float32 CPU matrices where libtorch links it, ATen's
// mm / addmm_ otherwise) against products computed here in double precision.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as T from '../src/tensor/index.js';
import { assertClose, seededRows } from './helpers.js';

const transpose = (m: number[][]) => m[0]!.map((_, j) => m.map((row) => row[j]!));
const product = (a: number[][], b: number[][]) => a.map((row) => b[0]!.map((_, j) => row.reduce((s, v, k) => s + v * b[k]![j]!, 0)));

describe(`gemm (backend here: ${T.gemmBackend()})`, () => {
  const [m, k, n] = [7, 19, 5];
  for (const dtype of ['float32', 'float64'] as const)
    for (const [transposeA, transposeB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
      test(`${dtype}, ${transposeA ? 'aᵀ' : 'a'}·${transposeB ? 'bᵀ' : 'b'}: the product, and += into an existing matrix`, () => {
        const a = seededRows(m, k, 3, 2);
        const b = seededRows(k, n, 5, 2);
        const c = seededRows(m, n, 7, 2);
        T.tidy(() => {
          const stored = (values: number[][], transposed: boolean) => T.tensor(transposed ? transpose(values) : values, { dtype });
          const expected = product(a, b);
          const tolerance = dtype === 'float32' ? 1e-5 : 1e-12;
          const options = { transposeA, transposeB };
          assertClose(T.gemm(stored(a, transposeA), stored(b, transposeB), options).toArray(), expected.flat(), tolerance, 'op(a)·op(b)');
          const into = T.tensor(c, { dtype });
          T.gemmAccumulate(into, stored(a, transposeA), stored(b, transposeB), options);
          assertClose(into.toArray(), expected.flat().map((v, i) => v + c.flat()[i]!), tolerance, 'c + op(a)·op(b)');
        });
      });
    }

  test('a non-contiguous operand (ATen path) gives the same product', () => {
    const a = seededRows(m, k, 11, 2);
    const b = seededRows(n, k, 13, 2);
    T.tidy(() => {
      const bt = T.tensor(transpose(b), { dtype: 'float32' }).t(); // [n, k], column-major
      assertClose(T.gemm(T.tensor(a, { dtype: 'float32' }), bt, { transposeB: true }).toArray(), product(a, transpose(b)).flat(), 1e-5);
    });
  });

  test('refuses shapes that do not multiply, and operands that would need a gradient', () => {
    T.tidy(() => {
      assert.throws(() => T.gemm(T.randn([3, 4]), T.randn([5, 2])), /inner dimensions differ: \[3, 4\] x \[5, 2\]/);
      assert.throws(() => T.gemmAccumulate(T.zeros([3, 3]), T.randn([3, 4]), T.randn([4, 2])), /accumulate must be \[3, 2\]/);
      assert.throws(() => T.gemm(T.randn([3, 4]).requiresGrad_(), T.randn([4, 2])), /records no gradient/);
      assert.doesNotThrow(() => T.noGrad(() => T.gemm(T.randn([3, 4]).requiresGrad_(), T.randn([4, 2]))));
    });
  });

  for (const [transposeA, transposeB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
    test(`batchedMatmul ${transposeA ? 'aᵀ' : 'a'}·${transposeB ? 'bᵀ' : 'b'} over [2, 3] batches: every product, and both gradients, against sums in doubles`, () => {
      const [batches, m, k, n] = [6, 5, 7, 4];
      const as = Array.from({ length: batches }, (_, i) => seededRows(m, k, 31 + i, 2));
      const bs = Array.from({ length: batches }, (_, i) => seededRows(k, n, 53 + i, 2));
      const rs = Array.from({ length: batches }, (_, i) => seededRows(m, n, 71 + i, 2)); // the loss Σ C∘R
      T.tidy(() => {
        const stored = (ms: number[][][], transposed: boolean) => {
          const rows = ms.map((x) => (transposed ? transpose(x) : x));
          return T.tensor(rows.flat(2), { dtype: 'float32' }).reshape(2, 3, rows[0]!.length, rows[0]![0]!.length).requiresGrad_();
        };
        const a = stored(as, transposeA);
        const b = stored(bs, transposeB);
        const c = T.batchedMatmul(a, b, { transposeA, transposeB });
        assert.deepEqual(c.shape, [2, 3, m, n]);
        assertClose(c.toArray(), as.flatMap((x, i) => product(x, bs[i]!).flat()), 1e-5, 'products');
        c.mul(T.tensor(rs.flat(2)).reshape(2, 3, m, n)).sum().backward();
        // ∂/∂op(A) = R·op(B)ᵀ and ∂/∂op(B) = op(A)ᵀ·R, stored transposed where the operand was.
        const gradA = as.map((_, i) => product(rs[i]!, transpose(bs[i]!)));
        const gradB = as.map((x, i) => product(transpose(x), rs[i]!));
        assertClose(a.grad!.toArray(), gradA.flatMap((g) => (transposeA ? transpose(g) : g).flat()), 1e-5, '∂a');
        assertClose(b.grad!.toArray(), gradB.flatMap((g) => (transposeB ? transpose(g) : g).flat()), 1e-5, '∂b');
      });
    });
  }

  test('batchedMatmul: a non-contiguous operand, float64 (ATen path) and mismatched batches', () => {
    const a = seededRows(4, 3, 91, 2);
    const b = seededRows(3, 2, 93, 2);
    T.tidy(() => {
      const bStrided = T.tensor(transpose(b), { dtype: 'float32' }).t().reshape(1, 3, 2).expand(2, 3, 2); // [2, 3, 2], no contiguous storage
      const a2 = T.tensor([...a.flat(), ...a.flat()], { dtype: 'float32' }).reshape(2, 4, 3);
      assertClose(T.batchedMatmul(a2, bStrided).toArray(), [...product(a, b).flat(), ...product(a, b).flat()], 1e-5, 'strided');
      const a64 = T.tensor(a, { dtype: 'float64' }).reshape(1, 4, 3);
      assertClose(T.batchedMatmul(a64, T.tensor(b, { dtype: 'float64' }).reshape(1, 3, 2)).toArray(), product(a, b).flat(), 1e-12, 'float64');
      assert.throws(() => T.batchedMatmul(T.randn([2, 4, 3]), T.randn([3, 3, 2])), /same leading dimensions/);
      assert.throws(() => T.batchedMatmul(T.randn([2, 4, 3]), T.randn([2, 4, 2])), /do not multiply/);
    });
  });
});
