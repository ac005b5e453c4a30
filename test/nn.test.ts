// Modules: named parameters, state dicts with clear errors, layer math by hand.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Embedding, Linear, Module, RMSNorm } from '../src/nn/index.js';
import * as T from '../src/tensor/index.js';
import { assertClose } from './helpers.js';

class Block extends Module {
  readonly proj = this.registerModule('proj', new Linear(3, 2));
  readonly norm = this.registerModule('norm', new RMSNorm(2));
}
class Net extends Module {
  readonly embed_tokens = this.registerModule('embed_tokens', new Embedding(5, 3));
  readonly layer = this.registerModule('layer', new Block());
}

describe('Module', () => {
  test('parameter names are dotted attribute paths, as in PyTorch state dicts', () => {
    const net = new Net();
    assert.deepEqual([...net.stateDict().keys()], ['embed_tokens.weight', 'layer.proj.weight', 'layer.proj.bias', 'layer.norm.weight']);
    assert.equal(net.numParameters(), 15 + 6 + 2 + 2);
    assert.ok(net.parameters().every((p) => p.requiresGrad));
  });

  test('loadStateDict copies values and converts dtype; errors list missing, unexpected and mis-shaped keys', () => {
    const net = new Net();
    const values = new Map([...net.stateDict()].map(([k, p]) => [k, T.fullLike(p, 0.25, 'float64')] as [string, T.Tensor]));
    net.loadStateDict(values);
    assert.ok(net.parameters().every((p) => p.dtype === 'float32' && p.toArray().every((v) => v === 0.25)));
    const broken = new Map(values);
    broken.delete('layer.norm.weight');
    broken.set('layer.extra', T.zeros([1]));
    broken.set('layer.proj.bias', T.zeros([3]));
    assert.throws(
      () => net.loadStateDict(broken, 'model.safetensors'),
      /cannot load model\.safetensors: missing: layer\.norm\.weight; unexpected: layer\.extra; shape mismatch: layer\.proj\.bias: model\.safetensors \[3\] vs model \[2\]/,
    );
    assert.ok(net.parameters().every((p) => p.toArray().every((v) => v === 0.25)), 'nothing copied on error');
  });

  test('to() converts parameters, train/eval propagate, dispose frees them', () => {
    const before = T.memoryStats().liveTensors;
    const net = new Net();
    net.to({ dtype: 'float64' });
    assert.ok(net.parameters().every((p) => p.dtype === 'float64' && p.requiresGrad && p.isLeaf));
    net.eval();
    assert.equal(net.layer.proj.training, false);
    net.train();
    assert.equal(net.layer.norm.training, true);
    net.dispose();
    assert.equal(T.memoryStats().liveTensors, before);
  });
});

describe('layers', () => {
  test('Linear computes x Wᵀ + b and initialises within ±1/√in', () => {
    const layer = new Linear(4, 3);
    const bound = 1 / Math.sqrt(4);
    assert.ok(layer.weight.toArray().every((v) => Math.abs(v) <= bound));
    assert.deepEqual(layer.weight.shape, [3, 4]);
    T.noGrad(() => {
      layer.weight.copy_(T.tensor([[1, 0, 0, 0], [0, 1, 0, 0], [1, 1, 1, 1]]));
      layer.bias!.copy_(T.tensor([0, 1, 2]));
    });
    assert.deepEqual(layer.forward(T.tensor([[1, 2, 3, 4]])).tolist(), [[1, 3, 12]]);
    assert.equal(new Linear(2, 2, { bias: false }).bias, undefined);
  });

  test('RMSNorm: x / sqrt(mean(x²) + eps) · weight, computed in float32 for bf16 inputs', () => {
    const norm = new RMSNorm(2, { eps: 1e-6 });
    T.noGrad(() => norm.weight.copy_(T.tensor([1, 2])));
    const rms = Math.sqrt((3 * 3 + 4 * 4) / 2 + 1e-6);
    assertClose(norm.forward(T.tensor([[3, 4]])).toArray(), [3 / rms, (2 * 4) / rms], 1e-6);
    const out = norm.forward(T.tensor([[3, 4]], { dtype: 'bfloat16' }));
    assert.equal(out.dtype, 'float32'); // weight is float32, so the product promotes, as in Hugging Face
    assertClose(out.toArray(), [3 / rms, (2 * 4) / rms], 1e-2);
  });

  test('Embedding looks up rows', () => {
    const e = new Embedding(4, 2);
    const rows = e.forward(T.tensor([3, 1], { dtype: 'int64' })).toArray();
    const w = e.weight.toArray();
    assert.deepEqual(rows, [w[6], w[7], w[2], w[3]]);
  });
});
