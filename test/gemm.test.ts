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
});
