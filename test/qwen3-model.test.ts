// CausalLM against an independent float64 reference written from modeling_qwen3.py, plus
// RoPE by hand, KV-cache decoding, padding, save/load round trips and bad-input errors.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseModelConfig, type DecoderConfig } from '../src/models/decoder/config.js';
import { randomCausalLM } from '../src/models/decoder/init.js';
import { KVCache } from '../src/models/decoder/kv-cache.js';
import type { CausalLM } from '../src/models/decoder/model.js';
import { allowedAttention, attendableMask } from '../src/models/decoder/mask.js';
import { applyRotary, ropeCosSin, ropeFrequencies } from '../src/models/decoder/rope.js';
import { loadCausalLM, saveCausalLM } from '../src/models/decoder/weights.js';
import { normal_ } from '../src/nn/index.js';
import * as T from '../src/tensor/index.js';
import { assertClose, weightsInDoubles } from './helpers.js';
import { referenceLogits } from './reference/qwen3-reference.js';

const dir = mkdtempSync(join(tmpdir(), 'distillery-qwen3-'));

function config(overrides: Record<string, unknown> = {}): DecoderConfig {
  return parseModelConfig({
    model_type: 'qwen3', vocab_size: 97, hidden_size: 48, intermediate_size: 80, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, rms_norm_eps: 1e-6, rope_theta: 10000,
    tie_word_embeddings: true, max_position_embeddings: 128, torch_dtype: 'float32', ...overrides,
  });
}

/** A random model whose norms and biases are not at their init values, so every weight matters. */
function randomModel(cfg: DecoderConfig, seed: number): CausalLM {
  const g = new T.Generator(seed);
  const model = randomCausalLM(cfg, { generator: g });
  for (const [name, p] of model.namedParameters()) {
    if (/norm\.weight$/.test(name)) T.noGrad(() => T.tidy(() => void p.copy_(T.randn(p.shape, { generator: g }).mul(0.2).add(1))));
    else normal_(p, 0, name.endsWith('.bias') ? 0.1 : 0.15, g);
  }
  return model;
}

function compareWithReference(cfg: DecoderConfig, seed: number): number {
  const model = randomModel(cfg, seed);
  const ids = [3, 17, 42, 5, 96, 0, 61, 8];
  const ours = T.tidy(() => model.forward(T.tensor([ids], { dtype: 'int64' })).toArray());
  const ref = referenceLogits(
    {
      hiddenSize: cfg.hiddenSize, numLayers: cfg.numHiddenLayers, heads: cfg.numAttentionHeads, kvHeads: cfg.numKeyValueHeads,
      headDim: cfg.headDim, eps: cfg.rmsNormEps, ropeTheta: cfg.ropeTheta, tied: cfg.tieWordEmbeddings, bias: cfg.qkvBias,
      windows: cfg.layerTypes.map((t) => (t === 'sliding_attention' ? cfg.slidingWindow : null)),
    },
    weightsInDoubles(model),
    ids,
  );
  model.dispose();
  const flat = ref.flatMap((row) => [...row]);
  let maxDiff = 0;
  flat.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - ours[i]!))));
  return maxDiff;
}

describe('Qwen3 forward matches the float64 reference (max |Δlogit| ≤ 1e-4)', () => {
  test('GQA (4 query heads, 2 KV heads), head_dim 16 ≠ hidden 48 / 4, tied head', () => {
    assert.ok(compareWithReference(config(), 1) <= 1e-4);
  });
  test('untied head with attention biases', () => {
    assert.ok(compareWithReference(config({ tie_word_embeddings: false, attention_bias: true }), 2) <= 1e-4);
  });
  test('multi-head attention (KV heads = heads), three layers', () => {
    assert.ok(compareWithReference(config({ num_key_value_heads: 4, num_hidden_layers: 3 }), 3) <= 1e-4);
  });
  test('sliding-window attention on the later layers', () => {
    const cfg = config({ use_sliding_window: true, sliding_window: 3, max_window_layers: 1 });
    assert.deepEqual(cfg.layerTypes, ['full_attention', 'sliding_attention']);
    assert.ok(compareWithReference(cfg, 4) <= 1e-4);
  });
  test('the comparison can fail: a different model does not match', () => {
    const cfg = config();
    const model = randomModel(cfg, 5);
    const other = randomModel(cfg, 6);
    const ids = T.tensor([[1, 2, 3]], { dtype: 'int64' });
    const ref = referenceLogits({ hiddenSize: 48, numLayers: 2, heads: 4, kvHeads: 2, headDim: 16, eps: 1e-6, ropeTheta: 10000, tied: true, bias: false, windows: [null, null] }, weightsInDoubles(other), [1, 2, 3]);
    const ours = model.forward(ids).toArray();
    assert.ok(ref.flatMap((r) => [...r]).some((v, i) => Math.abs(v - ours[i]!) > 1e-2));
  });
});

describe('rotary embeddings by hand', () => {
  test('inverse frequencies, cos/sin and rotate-half application', () => {
    const cfg = config({ head_dim: 4, rope_theta: 100 });
    const { invFreq, attentionScaling } = ropeFrequencies(cfg, 'cpu');
    assertClose(invFreq.toArray(), [1, 1 / 10], 1e-7); // 1/100^(0/4), 1/100^(2/4)
    assert.equal(attentionScaling, 1);
    const positions = T.tensor([[0, 3]], { dtype: 'int64' });
    const { cos, sin } = ropeCosSin(invFreq, 1, positions, 'float64');
    assertClose(cos.toArray(), [1, 1, 1, 1, Math.cos(3), Math.cos(0.3), Math.cos(3), Math.cos(0.3)], 1e-7);
    // x = [1, 2, 3, 4] at position 3: [x1 c0 − x3 s0, x2 c1 − x4 s1, x3 c0 + x1 s0, x4 c1 + x2 s1]
    const x = T.tensor([[[[0, 0, 0, 0], [1, 2, 3, 4]]]], { dtype: 'float64' });
    const [c0, c1, s0, s1] = [Math.cos(3), Math.cos(0.3), Math.sin(3), Math.sin(0.3)];
    // cos and sin are float32 values (Hugging Face computes them in float32 whatever the model dtype),
    // each within half a float32 ulp (~3e-8 here) of the exact ones; the sums weight them by up to 4.
    // libtorch 2.6's float32 cos/sin land 1.3e-7 off on 2·c1 − 4·s1, 1.13's closer: 1e-6 bounds both.
    assertClose(applyRotary(x, cos, sin).toArray().slice(4), [1 * c0 - 3 * s0, 2 * c1 - 4 * s1, 3 * c0 + 1 * s0, 4 * c1 + 2 * s1], 1e-6);
  });

  test('linear scaling divides the frequencies; YaRN sets the attention scaling 0.1·ln(factor) + 1', () => {
    const plain = ropeFrequencies(config(), 'cpu').invFreq.toArray();
    const linear = ropeFrequencies(config({ rope_scaling: { rope_type: 'linear', factor: 4 } }), 'cpu').invFreq.toArray();
    assertClose(linear, plain.map((v) => v / 4), 1e-7);
    const yarn = ropeFrequencies(config({ rope_scaling: { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 32 } }), 'cpu');
    assertClose([yarn.attentionScaling], [0.1 * Math.log(4) + 1], 1e-12);
    const f = yarn.invFreq.toArray();
    // Highest frequencies are extrapolated (unchanged), lowest interpolated (divided by the factor).
    assertClose([f[0]!, f[f.length - 1]!], [plain[0]!, plain[plain.length - 1]! / 4], 1e-6);
  });
});

describe('decoding, padding and precision', () => {
  const cfg = config();
  const model = randomModel(cfg, 7);
  const ids = [5, 9, 14, 2, 77, 31];

  test('KV-cache decoding equals full recomputation', () => {
    const full = model.forward(T.tensor([ids], { dtype: 'int64' }));
    const cache = new KVCache(cfg.numHiddenLayers);
    const parts = [model.forward(T.tensor([ids.slice(0, 3)], { dtype: 'int64' }), { cache })];
    for (const id of ids.slice(3)) parts.push(model.forward(T.tensor([[id]], { dtype: 'int64' }), { cache }));
    assert.equal(cache.length, ids.length);
    assertClose(T.cat(parts, 1).toArray(), full.toArray(), 1e-5);
    cache.dispose();
  });

  test('right and left padding with an attention mask leave the real tokens’ logits unchanged', () => {
    const alone = model.forward(T.tensor([ids.slice(0, 4)], { dtype: 'int64' })).toArray();
    const right = model.forward(T.tensor([ids, [...ids.slice(0, 4), 0, 0]], { dtype: 'int64' }), {
      attentionMask: T.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]], { dtype: 'int64' }),
    });
    assertClose(right.select(0, 1).slice(0, 0, 4).toArray(), alone, 1e-5);
    const left = model.forward(T.tensor([[0, 0, ...ids.slice(0, 4)]], { dtype: 'int64' }), {
      attentionMask: T.tensor([[0, 0, 1, 1, 1, 1]], { dtype: 'int64' }),
    });
    assertClose(left.select(0, 0).slice(0, 2).toArray(), alone, 1e-5);
  });

  test('left padding leaves every gradient finite (queries with nothing to attend to are not NaN)', () => {
    // A left-padding query may attend to no key at all; fused attention kernels make such rows
    // NaN, and NaN·0 in backward would reach the real positions' gradients.
    model.zeroGrad();
    const logits = model.forward(T.tensor([[0, 0, 0, ...ids.slice(0, 3)], ids], { dtype: 'int64' }), {
      attentionMask: T.tensor([[0, 0, 0, 1, 1, 1], [1, 1, 1, 1, 1, 1]], { dtype: 'int64' }),
    });
    assert.ok(logits.isfinite().all().item(), 'logits finite at padded positions too');
    logits.select(0, 0).slice(0, 3).sum().add(logits.select(0, 1).sum()).backward();
    for (const [name, p] of model.namedParameters()) assert.ok(p.grad!.isfinite().all().item(), `gradient of ${name} is finite`);
    model.zeroGrad();
  });

  test('the fused kernel gets a mask in which every query attends to something (left padding)', () => {
    // Row 0 is left-padded by 2: its first two queries may attend to nothing. Fused kernels turn
    // such rows into NaN, which backward would spread; attendableMask opens them to all keys.
    const allowed = allowedAttention({ queryLength: 4, pastLength: 0, attentionMask: T.tensor([[0, 0, 1, 1], [1, 1, 1, 1]], { dtype: 'int64' }), device: 'cpu' });
    const mask = attendableMask(allowed);
    assert.deepEqual(T.aten('aten::any.dim', mask, -1).flatten().toArray(), [1, 1, 1, 1, 1, 1, 1, 1]);
    assert.deepEqual(mask.select(0, 0).flatten().toArray(), [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 0, 0, 1, 1]);
    assert.deepEqual(mask.select(0, 1).flatten().toArray(), allowed.select(0, 1).flatten().toArray());
    const [q, k, v] = [1, 2, 3].map((seed) => T.randn([2, 2, 4, 8], { generator: new T.Generator(seed) }).requiresGrad_());
    const out = T.scaledDotProductAttention(q!, k!, v!, { attnMask: mask });
    out.sum().backward();
    for (const t of [out, q!.grad!, k!.grad!, v!.grad!]) assert.ok(t.isfinite().all().item(), 'finite outputs and gradients');
  });

  test('bfloat16 weights stay close to float32 and agree on the argmax', () => {
    const path = join(dir, 'bf16-source');
    saveCausalLM(model, path);
    const bf16 = loadCausalLM(path, { dtype: 'bfloat16' });
    const input = T.tensor([ids], { dtype: 'int64' });
    const a = model.forward(input);
    const b = bf16.forward(input).float();
    const scale = a.abs().max().item();
    assert.ok(b.sub(a).abs().max().item() < 0.05 * scale, 'bf16 logits within 5% of the logit range');
    const agree = a.argmax(-1).eq(b.argmax(-1)).float().mean().item();
    assert.ok(agree >= 5 / 6, `top-1 agreement ${agree}`);
    bf16.dispose();
  });
});

describe('Hugging Face folders', () => {
  test('save → load gives identical logits; tied models store no lm_head.weight; config.json is transformers-shaped', () => {
    const cfg = config();
    const model = randomModel(cfg, 8);
    const path = join(dir, 'roundtrip');
    saveCausalLM(model, path);
    const files = readdirSync(path).sort();
    assert.deepEqual(files, ['config.json', 'generation_config.json', 'model.safetensors']);
    const json = JSON.parse(readFileSync(join(path, 'config.json'), 'utf8'));
    assert.equal(json.model_type, 'qwen3');
    assert.deepEqual(json.architectures, ['Qwen3ForCausalLM']);
    assert.equal(json.head_dim, 16);
    assert.equal(json.torch_dtype, 'float32');
    const header = readFileSync(join(path, 'model.safetensors'));
    assert.ok(!header.subarray(8, 8 + Number(header.readBigUInt64LE(0))).toString().includes('lm_head'));
    const loaded = loadCausalLM(path);
    const input = T.tensor([[1, 2, 3, 4]], { dtype: 'int64' });
    assert.deepEqual(loaded.forward(input).toArray(), model.forward(input).toArray());
  });

  test('a sharded save loads to the same weights as a single-file save', () => {
    const cfg = config({ tie_word_embeddings: false });
    const model = randomModel(cfg, 9);
    const single = join(dir, 'single');
    const sharded = join(dir, 'sharded');
    saveCausalLM(model, single);
    saveCausalLM(model, sharded, { maxShardBytes: 20_000 });
    const shards = readdirSync(sharded).filter((f) => f.endsWith('.safetensors'));
    assert.ok(shards.length > 2, `${shards.length} shards`);
    const index = JSON.parse(readFileSync(join(sharded, 'model.safetensors.index.json'), 'utf8'));
    assert.equal(Object.keys(index.weight_map).length, model.stateDict().size);
    const input = T.tensor([[7, 8, 9]], { dtype: 'int64' });
    assert.deepEqual(loadCausalLM(sharded).forward(input).toArray(), loadCausalLM(single).forward(input).toArray());
    // Saving again unsharded removes the stale shards.
    saveCausalLM(model, sharded);
    assert.deepEqual(readdirSync(sharded).filter((f) => f.endsWith('.safetensors')), ['model.safetensors']);
  });

  test('missing, unexpected and mis-shaped weights are listed', () => {
    const path = join(dir, 'mismatch');
    saveCausalLM(randomModel(config(), 10), path);
    const json = JSON.parse(readFileSync(join(path, 'config.json'), 'utf8'));
    writeFileSync(join(path, 'config.json'), JSON.stringify({ ...json, num_hidden_layers: 3, layer_types: undefined, max_window_layers: 3 }));
    assert.throws(() => loadCausalLM(path), /weights do not match config\.json \(missing: model\.layers\.2\.self_attn\.q_proj\.weight/);
    writeFileSync(join(path, 'config.json'), JSON.stringify({ ...json, intermediate_size: 64 }));
    assert.throws(() => loadCausalLM(path), /shape mismatch: model\.layers\.0\.mlp\.gate_proj\.weight: checkpoint \[80,48\] vs config \[64,48\]/);
    writeFileSync(join(path, 'config.json'), JSON.stringify({ ...json, tie_word_embeddings: false }));
    assert.throws(() => loadCausalLM(path), /missing: lm_head\.weight/);
    writeFileSync(join(path, 'config.json'), JSON.stringify({ ...json, num_hidden_layers: 1, layer_types: undefined, max_window_layers: 1 }));
    assert.throws(() => loadCausalLM(path), /unexpected: model\.layers\.1\./);
    const empty = mkdtempSync(join(dir, 'empty-'));
    writeFileSync(join(empty, 'config.json'), JSON.stringify(json));
    assert.throws(() => loadCausalLM(empty), /no model\.safetensors\.index\.json or model\.safetensors/);
  });

  test('bad config.json fields are named', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ model_type: 'gpt2' }, /model_type is "gpt2"; Distillery supports 'qwen3' \(Qwen3ForCausalLM\), 'qwen2' \(Qwen2ForCausalLM\), 'llama' \(LlamaForCausalLM\), 'mistral' \(MistralForCausalLM\)/],
      [{ hidden_size: undefined }, /required field 'hidden_size' is missing/],
      [{ num_key_value_heads: 3 }, /num_attention_heads 4 must be a multiple of num_key_value_heads 3/],
      [{ head_dim: 15 }, /head_dim 15 must be even/],
      [{ vocab_size: -5 }, /field 'vocab_size' must be an integer >= 1, got -5/],
      [{ rope_scaling: { rope_type: 'longrope', factor: 2 } }, /rope_type 'longrope' is not supported; supported: default, linear, dynamic, llama3, yarn/],
      [{ rope_scaling: { rope_type: 'linear' } }, /rope_scaling\): field 'factor' must be a positive number/],
      [{ layer_types: ['full_attention'] }, /layer_types' must be an array of 2 entries/],
      [{ hidden_act: 'gelu' }, /field 'hidden_act' must be one of silu, gelu_pytorch_tanh, got "gelu"/],
      [{ torch_dtype: 'int8' }, /torch_dtype 'int8' must be float32, bfloat16 or float16/],
      [{ layer_types: ['full_attention', 'sliding_attention'] }, /sliding_attention layers but use_sliding_window is false/],
    ];
    for (const [override, pattern] of cases) assert.throws(() => config(override), pattern);
    // The newer rope_parameters form is read too.
    assert.equal(config({ rope_theta: undefined, rope_parameters: { rope_type: 'default', rope_theta: 1e6 } }).ropeTheta, 1e6);
  });
});
