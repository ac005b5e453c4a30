// LoRA numerics against independent math: the layer's output and gradients against plain float64
// JavaScript, a whole adapted model's gradients against central finite differences of the float64
// reference model (test/reference) run on W + scale·B·A, and step 0 equal to the base model.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Linear, LoraLinear, loraScale } from '../src/nn/index.js';
import { checkpointedHiddenStates } from '../src/models/decoder/checkpointing.js';
import { randomCausalLM } from '../src/models/decoder/init.js';
import { presetConfig } from '../src/models/decoder/presets.js';
import type { CausalLM } from '../src/models/decoder/model.js';
import { applyLora, isLoraParameterName, loraConfig, PEFT_KEY_PREFIX } from '../src/models/lora/index.js';
import * as T from '../src/tensor/index.js';
import { assertClose, modelLogits, seededIds, seededValues, weightsInDoubles } from './helpers.js';
import { meanNextTokenNll } from './reference/llama-reference.js';
import { referenceLogits } from './reference/qwen3-reference.js';
import { microConfig } from './tiny-run.js';

/** [rows][cols] doubles as a row-major array. */
type Matrix = { rows: number; cols: number; data: number[] };
const matrix = (rows: number, cols: number, seed: number, spread = 0.5): Matrix => ({ rows, cols, data: seededValues(rows * cols, seed, spread) });
const asTensor = (m: Matrix, dtype: T.DType = 'float64') => T.tensor(m.data, { dtype }).reshape(m.rows, m.cols);

/** x Mᵀ for x [n, in] and M [out, in], in doubles. */
function timesTransposed(x: Matrix, m: Matrix): Matrix {
  const out = new Array<number>(x.rows * m.rows).fill(0);
  for (let i = 0; i < x.rows; i++) for (let o = 0; o < m.rows; o++) for (let k = 0; k < x.cols; k++) out[i * m.rows + o]! += x.data[i * x.cols + k]! * m.data[o * m.cols + k]!;
  return { rows: x.rows, cols: m.rows, data: out };
}

/** A Linear holding the given weight and bias. */
function linearWith(weight: Matrix, bias: number[], dtype: T.DType = 'float64'): Linear {
  const layer = new Linear(weight.cols, weight.rows, { dtype, init: false });
  T.noGrad(() => T.tidy(() => {
    layer.weight.copy_(asTensor(weight, dtype));
    layer.bias!.copy_(T.tensor(bias, { dtype }));
  }));
  return layer;
}

function setWeight(layer: Linear, m: Matrix): void {
  T.noGrad(() => T.tidy(() => void layer.weight.copy_(asTensor(m, layer.weight.dtype))));
}

describe('LoraLinear', () => {
  const [inF, outF, rank, n] = [5, 4, 3, 6];
  const W = matrix(outF, inF, 11);
  const bias = seededValues(outF, 12);
  const A = matrix(rank, inF, 13);
  const B = matrix(outF, rank, 14);
  const x = matrix(n, inF, 15, 1);
  /** The loss Σ R ⊙ y, for fixed weights R: every output element matters. */
  const R = seededValues(n * outF, 16);

  /** y = x Wᵀ + b + scale · (x Aᵀ) Bᵀ in doubles, no tensor code. */
  function expectedOutput(a: Matrix, b: Matrix, scale: number): number[] {
    const base = timesTransposed(x, W);
    const update = timesTransposed(timesTransposed(x, a), b);
    return base.data.map((v, i) => v + bias[i % outF]! + scale * update.data[i]!);
  }
  const loss = (a: Matrix, b: Matrix, scale: number) => expectedOutput(a, b, scale).reduce((s, y, i) => s + R[i]! * y, 0);

  function adapted(settings: { alpha: number; useRslora: boolean; dropout?: number }): LoraLinear {
    const layer = new LoraLinear(linearWith(W, bias), { rank, dropout: settings.dropout ?? 0, ...settings });
    setWeight(layer.lora_A, A);
    setWeight(layer.lora_B, B);
    return layer;
  }

  test('forward is base(x) + alpha/r · B(A(x)) (float64, against doubles)', () => {
    const layer = adapted({ alpha: 6, useRslora: false });
    assert.equal(layer.scale, 2);
    const y = T.tidy(() => layer.forward(asTensor(x)).toArray());
    assertClose(y, expectedOutput(A, B, 2), 1e-12, 'y');
    layer.dispose();
  });

  test('use_rslora scales by alpha/√r', () => {
    assert.equal(loraScale({ rank: 16, alpha: 32, useRslora: true }), 8);
    assert.equal(loraScale({ rank: 16, alpha: 32, useRslora: false }), 2);
    const layer = adapted({ alpha: 6, useRslora: true });
    assert.equal(layer.scale, 6 / Math.sqrt(3));
    const y = T.tidy(() => layer.forward(asTensor(x)).toArray());
    assertClose(y, expectedOutput(A, B, 6 / Math.sqrt(3)), 1e-12, 'y (rslora)');
    layer.dispose();
  });

  test('gradients of A and B match central finite differences of the loss in doubles; the base gets none', () => {
    const scale = 7 / Math.sqrt(3);
    const layer = adapted({ alpha: 7, useRslora: true });
    T.tidy(() => layer.forward(asTensor(x)).mul(T.tensor(R, { dtype: 'float64' }).reshape(n, outF)).sum().backward());
    assert.equal(layer.weight.grad, null, 'frozen base weight has no gradient');
    assert.equal(layer.bias!.grad, null, 'frozen base bias has no gradient');
    const eps = 1e-6;
    const numeric = (which: 'A' | 'B') =>
      (which === 'A' ? A : B).data.map((_, i) => {
        const shifted = (delta: number) => {
          const m = which === 'A' ? A : B;
          const data = m.data.slice();
          data[i]! += delta;
          const moved = { ...m, data };
          return which === 'A' ? loss(moved, B, scale) : loss(A, moved, scale);
        };
        return (shifted(eps) - shifted(-eps)) / (2 * eps);
      });
    assertClose(layer.lora_A.weight.grad!.toArray(), numeric('A'), 1e-7, 'dL/dA');
    assertClose(layer.lora_B.weight.grad!.toArray(), numeric('B'), 1e-7, 'dL/dB');
    layer.dispose();
  });

  test('dropout acts on the adapter input in training mode only', () => {
    const layer = adapted({ alpha: 6, useRslora: false, dropout: 0.5 });
    layer.eval();
    const evaluated = T.tidy(() => layer.forward(asTensor(x)).toArray());
    assertClose(evaluated, expectedOutput(A, B, 2), 1e-12, 'eval mode: no dropout');
    layer.train();
    T.manualSeed(1);
    const trained = T.tidy(() => layer.forward(asTensor(x)).toArray());
    assert.ok(trained.some((v, i) => Math.abs(v - evaluated[i]!) > 1e-6), 'training mode drops adapter inputs');
    layer.dispose();
  });

  test("initialisation: A uniform within ±1/√in (PEFT's kaiming_uniform_, a=√5), B zero", () => {
    const inFeatures = 400;
    const layer = new LoraLinear(new Linear(inFeatures, 8, { dtype: 'float32' }), { rank: 16, alpha: 32, dropout: 0, useRslora: false }, { generator: new T.Generator(5) });
    const a = layer.lora_A.weight.toArray();
    const bound = 1 / Math.sqrt(inFeatures);
    assert.deepEqual(layer.lora_A.weight.shape, [16, inFeatures]);
    assert.deepEqual(layer.lora_B.weight.shape, [8, 16]);
    assert.ok(a.every((v) => Math.abs(v) <= bound));
    // A uniform over ±bound has mean |v| = bound/2 and reaches near the edges.
    const meanAbs = a.reduce((s, v) => s + Math.abs(v), 0) / a.length;
    assert.ok(Math.abs(meanAbs - bound / 2) < 0.05 * bound, `mean |A| ${meanAbs} vs ${bound / 2}`);
    assert.ok(Math.max(...a.map(Math.abs)) > 0.98 * bound);
    assert.ok(layer.lora_B.weight.toArray().every((v) => v === 0));
    layer.dispose();
  });
});

/** Token ids and the reference model's config for microConfig(). */
const config = microConfig();
const ids = seededIds(12, config.vocabSize, 21);
const refConfig = {
  hiddenSize: config.hiddenSize, numLayers: config.numHiddenLayers, heads: config.numAttentionHeads, kvHeads: config.numKeyValueHeads,
  headDim: config.headDim, eps: config.rmsNormEps, ropeTheta: config.ropeTheta, tied: config.tieWordEmbeddings, bias: config.qkvBias, windows: [null, null],
};

function baseModel(dtype: 'float32' | 'float64' | 'bfloat16', seed = 3): CausalLM {
  return randomCausalLM(config, { dtype, generator: new T.Generator(seed) });
}

describe('LoRA on a CausalLM', () => {
  test('every linear layer of the decoder gets an adapter by default, under PEFT key names; only A and B train', () => {
    const model = baseModel('float32');
    const adapter = applyLora(model, loraConfig({ rank: 4 }), { generator: new T.Generator(1) });
    const keys = adapter.namedParameters().map(([k]) => k);
    assert.equal(keys.length, 2 * 7 * config.numHiddenLayers);
    assert.ok(keys.includes(`${PEFT_KEY_PREFIX}model.layers.0.self_attn.q_proj.lora_A.weight`));
    assert.ok(keys.includes(`${PEFT_KEY_PREFIX}model.layers.1.mlp.down_proj.lora_B.weight`));
    assert.ok(!keys.some((k) => /lm_head|embed_tokens|norm/.test(k)));
    const named = new Map(model.namedParameters());
    assert.deepEqual(named.get('model.layers.0.self_attn.k_proj.lora_A.weight')!.shape, [4, config.hiddenSize]);
    assert.deepEqual(named.get('model.layers.0.self_attn.k_proj.lora_B.weight')!.shape, [config.numKeyValueHeads * config.headDim, 4]);
    assert.deepEqual(named.get('model.layers.0.mlp.down_proj.lora_A.weight')!.shape, [4, config.intermediateSize]);
    for (const [name, p] of named) assert.equal(p.requiresGrad, isLoraParameterName(name), `${name} requiresGrad`);
    // The base keeps its Hugging Face names and the attribute is the wrapped layer.
    assert.ok(named.has('model.layers.0.self_attn.q_proj.weight'));
    assert.ok(model.model.layers.at(0).self_attn.q_proj instanceof LoraLinear);
    adapter.remove();
    assert.ok(!(model.model.layers.at(0).self_attn.q_proj instanceof LoraLinear));
    assert.ok([...model.namedParameters()].every(([name, p]) => p.requiresGrad && !isLoraParameterName(name)), 'removed: the base is trainable again');
    model.dispose();
  });

  for (const dtype of ['float32', 'bfloat16'] as const) {
    test(`with B = 0 the logits equal the base model's exactly (${dtype} base)`, () => {
      const model = baseModel(dtype);
      const before = modelLogits(model, ids);
      const adapter = applyLora(model, loraConfig({ rank: 8, alpha: 16, dropout: 0.1 }), { generator: new T.Generator(2) });
      model.eval();
      assert.equal([...adapter.layers.values()][0]!.adapterDtype, 'float32');
      assert.deepEqual(modelLogits(model, ids), before);
      model.dispose();
    });
  }

  test('gradients of A and B through the whole model match finite differences of the float64 reference model on W + scale·B·A', () => {
    const model = baseModel('float64');
    const adapter = applyLora(model, loraConfig({ rank: 2, alpha: 3, useRslora: true }), { generator: new T.Generator(4) });
    // B nonzero, so every gradient of A is too.
    for (const [key, p] of adapter.namedParameters()) if (key.includes('lora_B')) T.noGrad(() => T.tidy(() => void p.copy_(T.randn(p.shape, { dtype: 'float64', generator: new T.Generator(key.length) }).mul(0.3))));
    const scale = 3 / Math.sqrt(2);
    T.tidy(() => {
      const logits = model.forward(T.tensor([ids], { dtype: 'int64' }));
      T.crossEntropy(logits.slice(1, 0, ids.length - 1).reshape(ids.length - 1, -1), T.tensor(ids.slice(1), { dtype: 'int64' })).backward();
    });
    // The reference's loss of given adapter values: merged weights W + scale·B·A in doubles, by hand.
    const base = weightsInDoubles(model);
    const adapterValues = new Map(adapter.namedParameters().map(([k, p]) => [k, Float64Array.from(p.toArray())]));
    const shapes = new Map(adapter.namedParameters().map(([k, p]) => [k, p.shape]));
    const referenceLoss = (values: Map<string, Float64Array>) => {
      const weights = new Map([...base].filter(([name]) => !isLoraParameterName(name)));
      for (const path of adapter.layers.keys()) {
        const a = values.get(`${PEFT_KEY_PREFIX}${path}.lora_A.weight`)!;
        const b = values.get(`${PEFT_KEY_PREFIX}${path}.lora_B.weight`)!;
        const [r, inF] = shapes.get(`${PEFT_KEY_PREFIX}${path}.lora_A.weight`)! as [number, number];
        const w = weights.get(`${path}.weight`)!;
        const merged = Float64Array.from(w.data);
        const outF = w.shape[0]!;
        for (let o = 0; o < outF; o++) for (let i = 0; i < inF; i++) for (let k = 0; k < r; k++) merged[o * inF + i]! += scale * b[o * r + k]! * a[k * inF + i]!;
        weights.set(`${path}.weight`, { shape: w.shape, data: merged });
      }
      return meanNextTokenNll(referenceLogits(refConfig, weights, ids), ids);
    };
    const eps = 1e-5;
    const checked = [
      ['model.layers.0.self_attn.q_proj.lora_A.weight', 5], ['model.layers.0.self_attn.v_proj.lora_B.weight', 3],
      ['model.layers.1.mlp.gate_proj.lora_A.weight', 40], ['model.layers.1.mlp.down_proj.lora_B.weight', 17],
      ['model.layers.1.self_attn.o_proj.lora_A.weight', 0], ['model.layers.0.mlp.up_proj.lora_B.weight', 101],
    ] as const;
    for (const [name, index] of checked) {
      const key = `${PEFT_KEY_PREFIX}${name}`;
      const shifted = (delta: number) => {
        const values = new Map(adapterValues);
        const moved = Float64Array.from(values.get(key)!);
        moved[index]! += delta;
        values.set(key, moved);
        return referenceLoss(values);
      };
      const numeric = (shifted(eps) - shifted(-eps)) / (2 * eps);
      const analytic = adapter.stateDict().get(key)!.grad!.toArray()[index]!;
      assert.ok(Math.abs(numeric) > 1e-6, `${name}[${index}]: a gradient worth checking (${numeric})`);
      assertClose([analytic], [numeric], 1e-5, `d loss / d ${name}[${index}]`);
    }
    assert.ok([...model.namedParameters()].every(([name, p]) => isLoraParameterName(name) || p.grad === null), 'no base weight has a gradient');
    model.dispose();
  });

  test('merge() leaves plain layers holding W + scale·B·A, and the merged model computes what base + adapter computed', () => {
    const model = baseModel('float64');
    const adapter = applyLora(model, loraConfig({ rank: 3, alpha: 5, targetModules: ['q_proj', 'down_proj'] }), { generator: new T.Generator(6) });
    for (const p of adapter.parameters()) T.noGrad(() => T.tidy(() => void p.copy_(T.randn(p.shape, { dtype: 'float64', generator: new T.Generator(p.numel) }).mul(0.2))));
    assert.equal(adapter.layers.size, 2 * config.numHiddenLayers);
    const unmerged = modelLogits(model, ids);
    const expected = new Map<string, number[]>();
    for (const [path, layer] of adapter.layers) {
      const a = layer.lora_A.weight.toArray();
      const b = layer.lora_B.weight.toArray();
      const [r, inF] = layer.lora_A.weight.shape as [number, number];
      expected.set(path, layer.weight.toArray().map((w, j) => {
        const [o, i] = [Math.floor(j / inF), j % inF];
        let sum = 0;
        for (let k = 0; k < r; k++) sum += b[o * r + k]! * a[k * inF + i]!;
        return w + (5 / 3) * sum;
      }));
    }
    adapter.merge();
    assert.ok(![...model.namedParameters()].some(([name]) => isLoraParameterName(name)));
    const weights = new Map(model.namedParameters());
    for (const [path, values] of expected) assertClose(weights.get(`${path}.weight`)!.toArray(), values, 1e-13, path);
    assertClose(modelLogits(model, ids), unmerged, 1e-12, 'merged logits');
    assert.throws(() => adapter.parameters(), /merged, removed or disposed/);
    model.dispose();
  });
});

describe('LoRA on every model family', () => {
  for (const preset of ['qwen3-micro', 'llama-tiny', 'qwen2-tiny', 'mistral-tiny', 'gemma-tiny']) {
    test(`${preset}: every decoder linear wrapped (biases kept), B = 0 exact, merge equal to unmerged`, () => {
      // A small vocabulary: the families' real ones only make the embedding large.
      const familyConfig = { ...presetConfig(preset), vocabSize: 64, padTokenId: 0 };
      const model = randomCausalLM(familyConfig, { generator: new T.Generator(8) });
      const familyIds = seededIds(9, 64, 5);
      const before = modelLogits(model, familyIds);
      const adapter = applyLora(model, loraConfig({ rank: 4, alpha: 8 }), { generator: new T.Generator(3) });
      assert.equal(adapter.layers.size, 7 * familyConfig.numHiddenLayers);
      assert.deepEqual(modelLogits(model, familyIds), before);
      for (const p of adapter.parameters()) T.noGrad(() => T.tidy(() => void p.copy_(T.randn(p.shape, { generator: new T.Generator(p.numel) }).mul(0.1))));
      const unmerged = modelLogits(model, familyIds);
      assert.ok(unmerged.some((v, i) => Math.abs(v - before[i]!) > 1e-4), 'the adapter changes the logits');
      const biases = [...model.namedParameters()].filter(([name]) => name.endsWith('_proj.bias')).length;
      adapter.merge();
      assert.equal([...model.namedParameters()].filter(([name]) => name.endsWith('_proj.bias')).length, biases);
      assertClose(modelLogits(model, familyIds), unmerged, 1e-4, `${preset} merged logits`);
      model.dispose();
    });
  }
});

describe('LoRA dropout under activation checkpointing', () => {
  test('the recomputed layers draw the same dropout masks: adapter gradients equal the recorded graph\'s', () => {
    const model = baseModel('float32');
    const adapter = applyLora(model, loraConfig({ rank: 4, alpha: 8, dropout: 0.3 }), { generator: new T.Generator(2) });
    for (const p of adapter.parameters()) T.noGrad(() => T.tidy(() => void p.copy_(T.randn(p.shape, { generator: new T.Generator(p.numel + 1) }).mul(0.2))));
    model.train();
    const input = T.tensor([ids], { dtype: 'int64' });
    const targets = T.tensor(ids.slice(1), { dtype: 'int64' });
    const lossOf = (hidden: T.Tensor) => T.crossEntropy(model.logitsFrom(hidden).slice(1, 0, ids.length - 1).reshape(ids.length - 1, -1), targets);
    const gradients = () => adapter.parameters().map((p) => p.grad!.toArray());

    T.manualSeed(11);
    T.tidy(() => lossOf(model.hiddenStates(input)).backward());
    const recorded = gradients();
    model.zeroGrad();
    T.manualSeed(11);
    const checkpointed = checkpointedHiddenStates(model, input);
    T.tidy(() => lossOf(checkpointed.hidden).backward());
    checkpointed.backward();
    gradients().forEach((g, i) => assertClose(g, recorded[i]!, 1e-5, `adapter tensor ${i}`));
    // And dropout did act: without it the gradients differ.
    model.zeroGrad();
    model.eval();
    T.tidy(() => lossOf(model.hiddenStates(input)).backward());
    assert.ok(gradients().some((g, i) => g.some((v, j) => Math.abs(v - recorded[i]![j]!) > 1e-4)));
    model.dispose();
  });
});
