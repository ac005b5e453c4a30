// Autograd against central finite differences in float64, for every differentiable op the
// model and the losses use. f maps the inputs to a scalar; ∂f/∂x_i ≈ (f(x+εe_i) − f(x−εe_i)) / 2ε.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RMSNorm } from '../src/nn/index.js';
import * as T from '../src/tensor/index.js';
import { assertClose } from './helpers.js';

type Fn = (inputs: T.Tensor[]) => T.Tensor;

function randomInput(shape: number[], seed: number, positive = false): T.Tensor {
  const g = new T.Generator(seed);
  const x = T.randn(shape, { dtype: 'float64', generator: g });
  if (!positive) return x;
  const p = x.abs().add(0.5);
  x.dispose();
  return p;
}

/** Checks autograd's gradient of f with respect to every input against finite differences. */
function checkGradients(name: string, f: Fn, inputs: T.Tensor[], tolerance = 1e-6, eps = 1e-6): void {
  T.tidy(() => {
    const leaves = inputs.map((x) => x.detach().requiresGrad_(true));
    f(leaves).backward();
    leaves.forEach((leaf, which) => {
      const analytic = leaf.grad!.toArray();
      const base = inputs[which]!.toArray();
      const numeric = base.map((_, i) =>
        T.tidy(() => {
          const evalAt = (delta: number) => {
            const shifted = base.slice();
            shifted[i]! += delta;
            const args = inputs.map((x, j) => (j === which ? T.fromTypedArray(new Float64Array(shifted), x.shape) : x));
            return T.noGrad(() => f(args).item());
          };
          return (evalAt(eps) - evalAt(-eps)) / (2 * eps);
        }),
      );
      assertClose(analytic, numeric, tolerance, `${name}: d/d input ${which}`);
    });
  });
}

const x23 = () => randomInput([2, 3], 1);
const y23 = () => randomInput([2, 3], 2);
const weights = () => randomInput([2, 3], 3); // fixed weights make every output element matter

describe('gradients match finite differences (float64)', () => {
  const w = weights();
  const weighted = (t: T.Tensor) => t.mul(w).sum();

  test('arithmetic: add, sub, mul, div, pow, neg with broadcasting', () => {
    checkGradients('add', ([a, b]) => weighted(a!.add(b!)), [x23(), randomInput([3], 4)]);
    checkGradients('sub', ([a, b]) => weighted(a!.sub(b!, 2)), [x23(), y23()]);
    checkGradients('mul', ([a, b]) => weighted(a!.mul(b!)), [x23(), randomInput([2, 1], 5)]);
    checkGradients('div', ([a, b]) => weighted(a!.div(b!)), [x23(), randomInput([2, 3], 6, true)]);
    checkGradients('pow scalar', ([a]) => weighted(a!.pow(3)), [x23()]);
    checkGradients('pow tensor', ([a, b]) => weighted(a!.pow(b!)), [randomInput([2, 3], 7, true), y23()]);
    checkGradients('neg/square', ([a]) => weighted(a!.neg().square()), [x23()]);
  });

  test('exp, log, sqrt, rsqrt, silu, sigmoid, tanh', () => {
    checkGradients('exp', ([a]) => weighted(a!.exp()), [x23()]);
    checkGradients('log', ([a]) => weighted(a!.log()), [randomInput([2, 3], 8, true)]);
    checkGradients('sqrt', ([a]) => weighted(a!.sqrt()), [randomInput([2, 3], 9, true)]);
    checkGradients('rsqrt', ([a]) => weighted(a!.rsqrt()), [randomInput([2, 3], 10, true)]);
    checkGradients('silu', ([a]) => weighted(a!.silu()), [x23()]);
    checkGradients('sigmoid', ([a]) => weighted(a!.sigmoid()), [x23()]);
    checkGradients('tanh', ([a]) => weighted(a!.tanh()), [x23()]);
  });

  test('matmul and linear', () => {
    checkGradients('matmul', ([a, b]) => a!.matmul(b!).mul(randomInput([2, 4], 11)).sum(), [x23(), randomInput([3, 4], 12)]);
    checkGradients('linear', ([x, wt, b]) => T.linear(x!, wt!, b!).mul(randomInput([2, 4], 13)).sum(), [x23(), randomInput([4, 3], 14), randomInput([4], 15)]);
    checkGradients('batched matmul', ([a, b]) => a!.matmul(b!).sum(), [randomInput([2, 2, 3], 16), randomInput([2, 3, 2], 17)]);
  });

  test('reductions: sum, mean, logsumexp, softmax, logSoftmax, max', () => {
    checkGradients('sum dim', ([a]) => a!.sum(1).mul(randomInput([2], 18)).sum(), [x23()]);
    checkGradients('mean keepdim', ([a]) => a!.mean(-1, true).mul(a!).sum(), [x23()]);
    checkGradients('logsumexp', ([a]) => a!.logsumexp(1).mul(randomInput([2], 19)).sum(), [x23()]);
    checkGradients('softmax', ([a]) => weighted(a!.softmax(-1)), [x23()]);
    checkGradients('logSoftmax', ([a]) => weighted(a!.logSoftmax(-1)), [x23()]);
    checkGradients('maxDim', ([a]) => a!.maxDim(1).values.mul(randomInput([2], 20)).sum(), [x23()]);
  });

  test('indexing and joining: embedding, indexSelect, gather, cat, stack, split', () => {
    const idx = T.tensor([[2, 0, 2]], { dtype: 'int64' });
    checkGradients('embedding', ([table]) => T.embedding(table!, idx).mul(randomInput([1, 3, 2], 21)).sum(), [randomInput([3, 2], 22)]);
    checkGradients('indexSelect', ([a]) => weighted(a!.indexSelect(1, T.tensor([2, 2, 0], { dtype: 'int64' }))), [x23()]);
    checkGradients('gather', ([a]) => a!.gather(1, T.tensor([[1], [2]], { dtype: 'int64' })).mul(randomInput([2, 1], 23)).sum(), [x23()]);
    checkGradients('cat', ([a, b]) => T.cat([a!, b!], 1).mul(randomInput([2, 6], 24)).sum(), [x23(), y23()]);
    checkGradients('stack', ([a, b]) => T.stack([a!, b!]).mul(randomInput([2, 2, 3], 25)).sum(), [x23(), y23()]);
    checkGradients('split', ([a]) => {
      const [p, q] = a!.split([1, 2], 1);
      return p!.sum().mul(3).add(q!.square().sum());
    }, [x23()]);
  });

  test('views: reshape, transpose, permute, expand, narrow, slice, select, unsqueeze', () => {
    checkGradients('reshape/transpose', ([a]) => a!.reshape(3, 2).transpose(0, 1).mul(w).sum(), [x23()]);
    checkGradients('permute', ([a]) => a!.view(1, 2, 3).permute(2, 1, 0).mul(randomInput([3, 2, 1], 26)).sum(), [x23()]);
    checkGradients('expand', ([a]) => a!.unsqueeze(0).expand(4, 2, 3).mul(randomInput([4, 2, 3], 27)).sum(), [x23()]);
    checkGradients('narrow/slice/select', ([a]) => a!.narrow(1, 1, 2).sum().add(a!.slice(1, 0, 3, 2).square().sum()).add(a!.select(0, 1).exp().sum()), [x23()]);
  });

  test('where, maskedFill, clamp', () => {
    const mask = T.tensor([[true, false, true], [false, true, false]]);
    checkGradients('where', ([a, b]) => weighted(T.where(mask, a!, b!)), [x23(), y23()]);
    checkGradients('maskedFill', ([a]) => weighted(a!.maskedFill(mask, 0)), [x23()]);
    checkGradients('clamp', ([a]) => weighted(a!.clamp(-0.3, 0.3)), [T.tensor([[-1, -0.1, 0.2], [0.5, 0.05, -2]], { dtype: 'float64' })]);
  });

  test('crossEntropy with ignored targets', () => {
    const target = T.tensor([2, -100, 0, 1], { dtype: 'int64' });
    checkGradients('crossEntropy', ([logits]) => T.crossEntropy(logits!, target), [randomInput([4, 3], 28)]);
    checkGradients('crossEntropy sum', ([logits]) => T.crossEntropy(logits!, target, { reduction: 'sum' }), [randomInput([4, 3], 29)]);
  });

  test('scaled dot-product attention (causal and masked) and the fallback', () => {
    const [q, k, v] = [randomInput([1, 2, 3, 4], 30), randomInput([1, 2, 3, 4], 31), randomInput([1, 2, 3, 4], 32)];
    const out = randomInput([1, 2, 3, 4], 33);
    checkGradients('sdpa causal', ([a, b, c]) => T.scaledDotProductAttention(a!, b!, c!, { isCausal: true }).mul(out).sum(), [q, k, v]);
    checkGradients('fallback masked', ([a, b, c]) => T.attentionFallback(a!, b!, c!, { attnMask: T.tensor([[true, false, false], [true, true, false], [true, false, true]]) }, 4).mul(out).sum(), [q, k, v]);
  });

  test('RMSNorm (float32 internals) in float64 parameters', () => {
    // RMSNorm upcasts to float32 internally, so the check runs at float32 precision: a wider
    // finite-difference step keeps float32 rounding noise (~1e-7 / step) below the tolerance.
    const norm = new RMSNorm(3, { dtype: 'float64', eps: 1e-6 });
    checkGradients('rmsnorm', ([a]) => weighted(norm.forward(a!)), [x23()], 1e-3, 1e-3);
    norm.dispose();
  });

  test('a wrong gradient is caught (the checker can fail)', () => {
    assert.throws(() => checkGradients('wrong', ([a]) => weighted(a!.detach().requiresGrad_(true).mul(2).add(a!)), [x23()]), /d\/d input 0/);
  });
});
