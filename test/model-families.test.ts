// Llama, Qwen2 and Mistral as descriptions over the one decoder, each against an independent
// float64 reference written from transformers' modeling_llama.py / modular_qwen2.py /
// modular_mistral.py / modeling_rope_utils.py (test/reference/llama-reference.ts): logits and
// next-token NLL, transformers' weight names, config.json round trips, save → load, KV-cache
// greedy decoding past the sliding window, and bad configs refused with the field named.
// Every optional piece is on (biases at random non-zero values, llama3 rope with frequencies in
// all three bands, sliding windows shorter than the sequence), and for each the test shows that
// the comparison would fail if the model left that piece out.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { perplexity } from '../src/eval/perplexity.js';
import { type DecoderConfig, ModelConfigError, modelConfigToJson, parseModelConfig } from '../src/models/decoder/config.js';
import { generate } from '../src/models/decoder/generate.js';
import { randomCausalLM } from '../src/models/decoder/init.js';
import { KVCache } from '../src/models/decoder/kv-cache.js';
import type { CausalLM } from '../src/models/decoder/model.js';
import { ropeFrequencies } from '../src/models/decoder/rope.js';
import { loadCausalLM, saveCausalLM } from '../src/models/decoder/weights.js';
import * as T from '../src/tensor/index.js';
import { assertClose, maxAbsDiff, modelLogits, nameSeed, seededIds, seededValues, weightsInDoubles } from './helpers.js';
import {
  inverseFrequencies,
  type LlamaRefConfig,
  llama3Bands,
  meanNextTokenNll,
  referenceConfigFromJson,
  referenceLogits,
  referenceParameterShapes,
  type RefWeights,
} from './reference/llama-reference.js';
import { referenceLogits as qwen3ReferenceLogits } from './reference/qwen3-reference.js';

const dir = mkdtempSync(join(tmpdir(), 'distillery-families-'));

/** Max |Δlogit| allowed between a float32 model and the float64 reference (as qwen3-model.test.ts). */
const FLOAT32_TOLERANCE = 1e-4;
/**
 * A float64 model against the float64 reference: transformers computes RoPE's cos/sin in float32
 * whatever the model dtype (as the model does), which leaves ~1e-7 relative error in q and k.
 */
const FLOAT64_TOLERANCE = 1e-5;
/** An ablated reference (one feature left out) must miss the model by far more than the tolerance. */
const ABLATION_GAP = 100 * FLOAT32_TOLERANCE;

type Json = Record<string, unknown>;


/**
 * Every parameter overwritten with seeded values that depend only on its name and the seed (so a
 * float32 and a float64 model get the same weights): matrices and embeddings uniform with std
 * ~0.15, biases std ~0.1 (random init zeroes them: here none is zero), norm weights 1 ± 0.35.
 */
function fillParameters(model: CausalLM, seed: number): void {
  for (const [name, p] of model.namedParameters()) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const norm = /norm\.weight$/.test(name);
    const spread = norm ? 0.35 : name.endsWith('.bias') ? 0.17 : 0.26;
    const values = seededValues(n, nameSeed(name, seed), spread).map((v) => (norm ? 1 + v : v));
    T.noGrad(() => T.tidy(() => void p.copy_(T.tensor(values, { dtype: p.dtype }).reshape(...p.shape))));
  }
}

function buildModel(cfg: DecoderConfig, seed: number, dtype: 'float32' | 'float64' = 'float32'): CausalLM {
  const model = randomCausalLM(cfg, { dtype, generator: new T.Generator(seed) });
  fillParameters(model, seed);
  return model;
}




interface FamilyCase {
  name: string;
  json: Json;
  /** Token ids the forward comparisons run on. */
  ids: number[];
  /** References with one feature left out: each must miss the model by more than ABLATION_GAP. */
  ablations: [string, (ref: LlamaRefConfig) => LlamaRefConfig][];
  /** Checks of the parsed config / parameters specific to this case. */
  extra?: (cfg: DecoderConfig, model: CausalLM, ref: LlamaRefConfig) => void;
}

const LLAMA3_ROPE = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 180 };

/**
 * head_dim 16 and rope_theta 100: wavelengths 2π·100^(i/8) = 6.3, 11.2, 19.9, 35.3 (high: < 180/4
 * = 45, unchanged), 62.8, 111.7 (medium: interpolated) and 198.7, 353.3 (low: > 180, divided by 8),
 * none within 10% of a band edge, so float32 and float64 agree on every band.
 */
const LLAMA: Json = {
  model_type: 'llama', architectures: ['LlamaForCausalLM'], vocab_size: 96, hidden_size: 64, intermediate_size: 112,
  num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, hidden_act: 'silu',
  max_position_embeddings: 1440, rms_norm_eps: 1e-5, rope_theta: 100, rope_scaling: LLAMA3_ROPE,
  attention_bias: true, mlp_bias: true, tie_word_embeddings: false, torch_dtype: 'float32', bos_token_id: 1, eos_token_id: 2,
};

const noRopeScaling = (r: LlamaRefConfig): LlamaRefConfig => ({ ...r, rope: { type: 'default' } });
const noQkvBias = (r: LlamaRefConfig): LlamaRefConfig => ({ ...r, qkvBias: false });
const noOBias = (r: LlamaRefConfig): LlamaRefConfig => ({ ...r, oBias: false });
const noMlpBias = (r: LlamaRefConfig): LlamaRefConfig => ({ ...r, mlpBias: false });
/** llama3's medium band replaced: left unchanged (as the high band) or divided by the factor (as the low band). */
const mediumBandAs = (as: 'high' | 'low') => (r: LlamaRefConfig): LlamaRefConfig => {
  const rope = r.rope;
  assert.ok(rope.type === 'llama3');
  const bands = llama3Bands(r.headDim, r.ropeTheta, rope);
  assert.ok(bands.includes('medium'));
  const scaled = inverseFrequencies(r.headDim, r.ropeTheta, rope);
  const plain = inverseFrequencies(r.headDim, r.ropeTheta, { type: 'default' });
  const factor = rope.factor;
  return { ...r, invFreq: scaled.map((f, i) => (bands[i] !== 'medium' ? f : as === 'high' ? plain[i]! : plain[i]! / factor)) };
};
const noWindows = (r: LlamaRefConfig): LlamaRefConfig => ({ ...r, windows: r.windows.map(() => null) });

const CASES: Record<'llama' | 'qwen2' | 'mistral', FamilyCase[]> = {
  llama: [
    {
      name: 'llama3 rope (all three bands), attention_bias, mlp_bias, untied head',
      json: LLAMA,
      ids: seededIds(18, 96, 11),
      ablations: [
        ['default rope', noRopeScaling],
        ['the medium band unscaled', mediumBandAs('high')],
        ['the medium band divided by the factor', mediumBandAs('low')],
        ['linear rope, factor 8', (r) => ({ ...r, rope: { type: 'linear', factor: 8 } })],
        ['no q/k/v biases', noQkvBias],
        ['no o_proj bias', noOBias],
        ['no MLP biases', noMlpBias],
      ],
      extra: (cfg, _model, ref) => {
        assert.deepEqual(cfg.ropeScaling, { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 180 });
        assert.ok(ref.rope.type === 'llama3');
        const bands = llama3Bands(ref.headDim, ref.ropeTheta, ref.rope);
        assert.deepEqual(bands, ['high', 'high', 'high', 'high', 'medium', 'medium', 'low', 'low']);
        // None within 10% of a band edge (so float32 rounding cannot move one across).
        for (const f of inverseFrequencies(ref.headDim, ref.ropeTheta, { type: 'default' })) {
          const wavelen = (2 * Math.PI) / f;
          for (const edge of [180, 45]) assert.ok(Math.abs(wavelen / edge - 1) > 0.1, `wavelength ${wavelen} near edge ${edge}`);
        }
      },
    },
    {
      name: 'tied head (as Llama-3.2-1B), llama3 rope, head_dim 24 ≠ hidden 64 / 4 heads, three layers',
      json: { ...LLAMA, tie_word_embeddings: true, head_dim: 24, num_hidden_layers: 3 },
      ids: seededIds(16, 96, 12),
      ablations: [['default rope', noRopeScaling], ['no attention biases', (r) => noOBias(noQkvBias(r))]],
      extra: (cfg, model) => {
        assert.equal(cfg.tieWordEmbeddings, true);
        assert.equal(cfg.headDim, 24);
        assert.equal(model.lm_head, null);
      },
    },
    {
      name: 'linear rope (factor 4), attention_bias without mlp_bias',
      json: { ...LLAMA, rope_theta: 10000, rope_scaling: { rope_type: 'linear', factor: 4 }, mlp_bias: false },
      ids: seededIds(17, 96, 13),
      ablations: [['default rope', noRopeScaling], ['no o_proj bias', noOBias]],
      extra: (cfg) => assert.deepEqual(cfg.ropeScaling, { type: 'linear', factor: 4 }),
    },
  ],
  qwen2: [
    {
      name: 'q/k/v biases (no o_proj bias), sliding window 5 on layers ≥ max_window_layers 1',
      json: {
        model_type: 'qwen2', architectures: ['Qwen2ForCausalLM'], vocab_size: 80, hidden_size: 64, intermediate_size: 96,
        num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 2, hidden_act: 'silu', max_position_embeddings: 256,
        rms_norm_eps: 1e-6, rope_theta: 10000, tie_word_embeddings: true, use_sliding_window: true, sliding_window: 5,
        max_window_layers: 1, torch_dtype: 'float32', bos_token_id: 3, eos_token_id: 4,
      },
      ids: seededIds(17, 80, 21),
      ablations: [
        ['no windows', noWindows],
        ['layer 0 sliding too', (r) => ({ ...r, windows: r.windows.map(() => 5) })],
        ['window 6 (off by one)', (r) => ({ ...r, windows: r.windows.map((w) => (w === null ? null : 6)) })],
        ['window 4 (off by one)', (r) => ({ ...r, windows: r.windows.map((w) => (w === null ? null : 4)) })],
        ['no q/k/v biases', noQkvBias],
      ],
      extra: (cfg, model, ref) => {
        assert.deepEqual(cfg.layerTypes, ['full_attention', 'sliding_attention', 'sliding_attention']);
        assert.deepEqual(ref.windows, [null, 5, 5]);
        const names = new Set([...model.namedParameters()].map(([n]) => n));
        assert.ok(names.has('model.layers.0.self_attn.q_proj.bias'), 'q_proj.bias present');
        assert.ok(names.has('model.layers.2.self_attn.v_proj.bias'), 'v_proj.bias present');
        assert.ok(![...names].some((n) => n.endsWith('o_proj.bias')), 'no o_proj.bias');
        assert.ok(![...names].some((n) => n.includes('mlp.') && n.endsWith('.bias')), 'no MLP biases');
      },
    },
  ],
  mistral: [
    {
      name: 'sliding window 4 on every layer, no biases, untied head',
      json: {
        model_type: 'mistral', architectures: ['MistralForCausalLM'], vocab_size: 72, hidden_size: 48, intermediate_size: 80,
        num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, hidden_act: 'silu', max_position_embeddings: 512,
        rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false, sliding_window: 4, torch_dtype: 'float32',
        bos_token_id: 1, eos_token_id: 2,
      },
      ids: seededIds(15, 72, 31),
      ablations: [
        ['no windows', noWindows],
        ['only the last layer sliding', (r) => ({ ...r, windows: r.windows.map((w, i) => (i === 0 ? null : w)) })],
        ['window 5 (off by one)', (r) => ({ ...r, windows: r.windows.map(() => 5) })],
        ['window 3 (off by one)', (r) => ({ ...r, windows: r.windows.map(() => 3) })],
      ],
      extra: (cfg, model, ref) => {
        assert.equal(cfg.slidingWindow, 4);
        assert.deepEqual(cfg.layerTypes, ['sliding_attention', 'sliding_attention']);
        assert.deepEqual(ref.windows, [4, 4]);
        assert.equal(cfg.headDim, 12);
        const biases = [...model.namedParameters()].map(([n]) => n).filter((n) => n.endsWith('.bias'));
        assert.deepEqual(biases, [], 'no .bias parameters');
      },
    },
  ],
};

function familyTests(family: keyof typeof CASES, architecture: string): void {
  for (const c of CASES[family]) {
    describe(`${family}: ${c.name}`, () => {
      const cfg = parseModelConfig(c.json, `${family} test config`);
      const ref = referenceConfigFromJson(c.json);
      const model = buildModel(cfg, 100 + c.ids[0]!);
      const weights = weightsInDoubles(model);
      const refLogits = referenceLogits(ref, weights, c.ids);
      const ours = modelLogits(model, c.ids);

      test('the parsed config is the family’s, with every feature on', () => {
        assert.equal(cfg.modelType, family);
        assert.equal(cfg.qkNorm, false);
        assert.equal(cfg.numHiddenLayers, ref.numLayers);
        assert.equal(cfg.headDim, ref.headDim);
        assert.equal(cfg.qkvBias, ref.qkvBias);
        assert.equal(cfg.outputBias, ref.oBias);
        assert.equal(cfg.mlpBias, ref.mlpBias);
        assert.equal(cfg.tieWordEmbeddings, ref.tied);
        assert.deepEqual(cfg.layerTypes, ref.windows.map((w) => (w === null ? 'full_attention' : 'sliding_attention')));
        for (const w of ref.windows) if (w !== null) assert.ok(w < c.ids.length, `window ${w} shorter than the ${c.ids.length}-token sequence`);
        c.extra?.(cfg, model, ref);
      });

      test(`float32 logits equal the float64 reference (max |Δ| ≤ ${FLOAT32_TOLERANCE})`, () => {
        const diff = maxAbsDiff(refLogits, ours);
        assert.ok(diff <= FLOAT32_TOLERANCE, `max |Δlogit| ${diff}`);
      });

      test('each feature matters: the reference without it misses the model', () => {
        for (const [what, ablate] of c.ablations) {
          const diff = maxAbsDiff(referenceLogits(ablate(ref), weights, c.ids), ours);
          assert.ok(diff > ABLATION_GAP, `reference with ${what}: max |Δlogit| ${diff} is not > ${ABLATION_GAP}`);
        }
      });

      test(`a float64 model equals the reference (max |Δ| ≤ ${FLOAT64_TOLERANCE})`, () => {
        const m64 = buildModel(cfg, 100 + c.ids[0]!, 'float64');
        assert.equal(m64.dtype, 'float64');
        const diff = maxAbsDiff(referenceLogits(ref, weightsInDoubles(m64), c.ids), modelLogits(m64, c.ids));
        m64.dispose();
        assert.ok(diff <= FLOAT64_TOLERANCE, `max |Δlogit| ${diff}`);
      });

      test('the mean next-token NLL equals the reference’s', () => {
        const { nll, tokens } = perplexity(model, [c.ids]);
        assert.equal(tokens, c.ids.length - 1);
        assertClose([nll], [meanNextTokenNll(refLogits, c.ids)], 1e-5, 'mean NLL');
      });

      test('parameter names and shapes are exactly transformers’', () => {
        const ours = new Map([...model.namedParameters()].map(([n, p]) => [n, [...p.shape]]));
        const expected = referenceParameterShapes(ref, c.json.vocab_size as number, c.json.intermediate_size as number);
        assert.deepEqual([...ours.keys()].sort(), [...expected.keys()].sort());
        for (const [name, shape] of expected) assert.deepEqual(ours.get(name), shape, name);
        assert.ok(![...ours.keys()].some((n) => /q_norm|k_norm/.test(n)), 'no q_norm / k_norm');
      });

      test('config.json round trip: same config, transformers’ architectures / model_type, same meaning to transformers', () => {
        const json = modelConfigToJson(cfg);
        assert.deepEqual(json.architectures, [architecture]);
        assert.equal(json.model_type, family);
        assert.deepEqual(parseModelConfig(JSON.parse(JSON.stringify(json))), cfg);
        // Read as transformers would read it, the written file describes the same network.
        assert.deepEqual(referenceConfigFromJson(json), ref);
      });

      test('save → load gives identical logits; the safetensors names are transformers’', () => {
        const path = join(dir, `${family}-${c.ids[0]}`);
        saveCausalLM(model, path);
        const onDisk = JSON.parse(readFileSync(join(path, 'config.json'), 'utf8'));
        assert.equal(onDisk.model_type, family);
        assert.deepEqual(onDisk.architectures, [architecture]);
        const file = readFileSync(join(path, 'model.safetensors'));
        const header = JSON.parse(file.subarray(8, 8 + Number(file.readBigUInt64LE(0))).toString());
        const stored = Object.keys(header).filter((k) => k !== '__metadata__').sort();
        assert.deepEqual(stored, [...referenceParameterShapes(ref, c.json.vocab_size as number, c.json.intermediate_size as number).keys()].sort());
        const loaded = loadCausalLM(path);
        assert.deepEqual(loaded.config, cfg);
        assert.deepEqual(modelLogits(loaded, c.ids), ours);
        loaded.dispose();
      });

      test('KV-cache decoding equals full recomputation past the sliding window (short and long prefill, a chunk, then single tokens)', () => {
        const full = modelLogits(model, c.ids);
        // prefill 3 (inside every window) or 8 (past every window), then a chunk of 3, then one at a time
        for (const prefill of [3, 8]) {
          const cache = new KVCache(cfg.numHiddenLayers);
          const out = [model.forward(T.tensor([c.ids.slice(0, prefill)], { dtype: 'int64' }), { cache })];
          out.push(model.forward(T.tensor([c.ids.slice(prefill, prefill + 3)], { dtype: 'int64' }), { cache }));
          for (const id of c.ids.slice(prefill + 3)) out.push(model.forward(T.tensor([[id]], { dtype: 'int64' }), { cache }));
          const parts = T.cat(out, 1).toArray();
          assert.equal(cache.length, c.ids.length);
          cache.dispose();
          for (const t of out) t.dispose();
          assertClose(parts, full, 1e-4, `cached logits (prefill ${prefill})`);
        }
      });

      test('greedy generation with the KV cache equals argmax over full recomputation, past the window', () => {
        const prompt = c.ids.slice(0, 5);
        const newTokens = 16;
        const windows = ref.windows.filter((w): w is number => w !== null);
        if (windows.length) assert.ok(prompt.length + newTokens > 2 * Math.max(...windows), 'generation runs well past the window');
        const { ids } = generate(model, prompt, { maxNewTokens: newTokens, greedy: true });
        const expected: number[] = [];
        let seq = [...prompt];
        for (let i = 0; i < newTokens; i++) {
          const next = T.tidy(() => model.forward(T.tensor([seq], { dtype: 'int64' })).select(1, -1).argmax(-1).item());
          expected.push(next);
          seq = [...seq, next];
        }
        assert.deepEqual(ids, expected);
        // …and the float64 reference agrees on the whole continuation.
        const refNext = referenceLogits(ref, weights, seq).slice(prompt.length - 1, -1).map((row) => row.indexOf(Math.max(...row)));
        assert.deepEqual(refNext, expected);
      });
    });
  }
}

describe('the reference itself (no model involved)', () => {
  test('default rope, no windows and biases on all four projections: it is the Qwen3 reference without q/k norm', () => {
    // Qwen3's q/k RMSNorm with a huge eps and weight √eps is the identity up to ~mean(x²)/(2·eps);
    // the layer norms get the same eps and weights in both references, so they match exactly.
    const eps = 1e14;
    const [hidden, heads, kvHeads, d, layers, vocab, inter] = [24, 4, 2, 6, 2, 31, 40];
    const w: RefWeights = new Map();
    let seed = 1;
    const put = (name: string, shape: number[], spread: number, offset = 0) =>
      w.set(name, { shape, data: Float64Array.from(seededValues(shape.reduce((a, b) => a * b, 1), seed++, spread), (v) => v + offset) });
    put('model.embed_tokens.weight', [vocab, hidden], 1);
    for (let l = 0; l < layers; l++) {
      const p = `model.layers.${l}.`;
      // input / post-attention norms: weight ≈ √eps so they are O(1) maps despite the huge eps
      put(`${p}input_layernorm.weight`, [hidden], 0.3 * Math.sqrt(eps), Math.sqrt(eps));
      put(`${p}post_attention_layernorm.weight`, [hidden], 0.3 * Math.sqrt(eps), Math.sqrt(eps));
      w.set(`${p}self_attn.q_norm.weight`, { shape: [d], data: new Float64Array(d).fill(Math.sqrt(eps)) });
      w.set(`${p}self_attn.k_norm.weight`, { shape: [d], data: new Float64Array(d).fill(Math.sqrt(eps)) });
      put(`${p}self_attn.q_proj.weight`, [heads * d, hidden], 0.5);
      put(`${p}self_attn.k_proj.weight`, [kvHeads * d, hidden], 0.5);
      put(`${p}self_attn.v_proj.weight`, [kvHeads * d, hidden], 0.5);
      put(`${p}self_attn.o_proj.weight`, [hidden, heads * d], 0.5);
      put(`${p}self_attn.q_proj.bias`, [heads * d], 0.3);
      put(`${p}self_attn.k_proj.bias`, [kvHeads * d], 0.3);
      put(`${p}self_attn.v_proj.bias`, [kvHeads * d], 0.3);
      put(`${p}self_attn.o_proj.bias`, [hidden], 0.3);
      put(`${p}mlp.gate_proj.weight`, [inter, hidden], 0.5);
      put(`${p}mlp.up_proj.weight`, [inter, hidden], 0.5);
      put(`${p}mlp.down_proj.weight`, [hidden, inter], 0.5);
    }
    put('model.norm.weight', [hidden], 0.3 * Math.sqrt(eps), Math.sqrt(eps));
    put('lm_head.weight', [vocab, hidden], 1);
    const ids = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7];
    for (const windows of [[null, null], [null, 3]] as (number | null)[][]) {
      const qwen3 = qwen3ReferenceLogits({ hiddenSize: hidden, numLayers: layers, heads, kvHeads, headDim: d, eps, ropeTheta: 50, tied: false, bias: true, windows }, w, ids);
      const llama = referenceLogits(
        { hiddenSize: hidden, numLayers: layers, heads, kvHeads, headDim: d, eps, ropeTheta: 50, rope: { type: 'default' }, tied: false, qkvBias: true, oBias: true, mlpBias: false, windows },
        w,
        ids,
      );
      const scale = Math.max(...llama.flatMap((r) => [...r].map(Math.abs)));
      assert.ok(scale > 0.5, `logits of size ${scale}`);
      assert.ok(maxAbsDiff(qwen3, llama.flatMap((r) => [...r])) < 1e-9 * scale, `windows ${JSON.stringify(windows)}`);
    }
  });

  test('a one-layer sliding window of W is full attention over the last W tokens (RoPE sees only offsets)', () => {
    const json = {
      model_type: 'mistral', vocab_size: 23, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 1,
      num_attention_heads: 4, num_key_value_heads: 2, sliding_window: 3, rope_theta: 10,
    };
    const ref = referenceConfigFromJson(json);
    assert.deepEqual(ref.windows, [3]);
    const w: RefWeights = new Map();
    let seed = 7;
    for (const [name, shape] of referenceParameterShapes(ref, 23, 24)) {
      const values = seededValues(shape.reduce((a, b) => a * b, 1), seed++, 0.8);
      w.set(name, { shape, data: Float64Array.from(values, (v) => (name.endsWith('norm.weight') ? 1 + v / 2 : v)) });
    }
    const ids = [5, 17, 2, 9, 22, 0, 13, 8];
    const sliding = referenceLogits(ref, w, ids);
    const full = { ...ref, windows: [null] };
    for (let t = 0; t < ids.length; t++) {
      const last = referenceLogits(full, w, ids.slice(Math.max(0, t - 2), t + 1)).at(-1)!;
      assertClose(sliding[t]!, last, 1e-12, `position ${t}`);
    }
    // and the window does change something once a query has more than 3 keys
    assert.ok(maxAbsDiff(referenceLogits(full, w, ids).slice(3), sliding.slice(3).flatMap((r) => [...r])) > 1e-3);
  });

  test('llama3, linear and default inverse frequencies by hand', () => {
    // head_dim 8, theta 10000: 1, 0.1, 0.01, 0.001 (wavelengths 6.28, 62.8, 628, 6283)
    assertClose(inverseFrequencies(8, 10000, { type: 'default' }), [1, 0.1, 0.01, 0.001], 1e-15);
    assertClose(inverseFrequencies(8, 10000, { type: 'linear', factor: 4 }), [0.25, 0.025, 0.0025, 0.00025], 1e-15);
    // original 1000, low 1, high 4: high band < 250, low band > 1000; 628 is medium with
    // smooth = (1000 / 628.3 − 1) / 3 = 0.19718…, scaled = 0.01·((1 − s)/8 + s)
    const rope = { type: 'llama3' as const, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 1000 };
    const s = (1000 / (2 * Math.PI / 0.01) - 1) / 3;
    assertClose([s], [0.19718], 1e-4);
    assertClose(inverseFrequencies(8, 10000, rope), [1, 0.1, 0.01 * ((1 - s) / 8 + s), 0.001 / 8], 1e-12);
    assert.deepEqual(llama3Bands(8, 10000, rope), ['high', 'high', 'medium', 'low']);
    // Continuous at both band edges: at wavelength = original/high the medium formula leaves f
    // unchanged, at wavelength = original/low it divides by the factor.
    const wavelen = 2 * Math.PI / 0.01;
    // (just inside the medium band at each edge)
    const atHighEdge = inverseFrequencies(8, 10000, { ...rope, originalMaxPositionEmbeddings: 4 * wavelen * (1 - 1e-12) })[2]!;
    const atLowEdge = inverseFrequencies(8, 10000, { ...rope, originalMaxPositionEmbeddings: wavelen * (1 + 1e-12) })[2]!;
    assert.deepEqual(llama3Bands(8, 10000, { ...rope, originalMaxPositionEmbeddings: 4 * wavelen * (1 - 1e-12) })[2], 'medium');
    assert.deepEqual(llama3Bands(8, 10000, { ...rope, originalMaxPositionEmbeddings: wavelen * (1 + 1e-12) })[2], 'medium');
    assertClose([atHighEdge, atLowEdge], [0.01, 0.01 / 8], 1e-9);
  });

  test('config.json read as transformers reads it', () => {
    const base = { vocab_size: 10, hidden_size: 32, intermediate_size: 8, num_hidden_layers: 4, num_attention_heads: 4 };
    const q = referenceConfigFromJson({ ...base, model_type: 'qwen2', use_sliding_window: true, sliding_window: 7, max_window_layers: 2 });
    assert.deepEqual([q.windows, q.qkvBias, q.oBias, q.mlpBias, q.headDim, q.kvHeads], [[null, null, 7, 7], true, false, false, 8, 4]);
    // use_sliding_window false: Qwen2Config sets sliding_window to None, so no layer slides.
    assert.deepEqual(referenceConfigFromJson({ ...base, model_type: 'qwen2', sliding_window: 7, max_window_layers: 0 }).windows, [null, null, null, null]);
    assert.deepEqual(referenceConfigFromJson({ ...base, model_type: 'mistral' }).windows, [4096, 4096, 4096, 4096]);
    assert.deepEqual(referenceConfigFromJson({ ...base, model_type: 'mistral', sliding_window: null }).windows, [null, null, null, null]);
    const l = referenceConfigFromJson({ ...base, model_type: 'llama', attention_bias: true, rope_scaling: { type: 'linear', factor: 2 } });
    assert.deepEqual([l.qkvBias, l.oBias, l.mlpBias, l.rope], [true, true, false, { type: 'linear', factor: 2 }]);
  });

  test('max_window_layers defaults to 28 (Qwen2Config, Qwen3Config), not to the depth', () => {
    const json = { vocab_size: 10, hidden_size: 32, intermediate_size: 8, num_hidden_layers: 30, num_attention_heads: 4, use_sliding_window: true, sliding_window: 7 };
    for (const model_type of ['qwen2', 'qwen3']) {
      const ours = parseModelConfig({ ...json, model_type }).layerTypes;
      const reference = referenceConfigFromJson({ ...json, model_type: 'qwen2' }).windows.map((w) => (w === null ? 'full_attention' : 'sliding_attention'));
      assert.deepEqual(ours, reference, model_type);
      assert.deepEqual(ours.slice(27), ['full_attention', 'sliding_attention', 'sliding_attention'], model_type);
    }
  });
});

describe('llama (LlamaForCausalLM)', () => familyTests('llama', 'LlamaForCausalLM'));
describe('qwen2 (Qwen2ForCausalLM)', () => familyTests('qwen2', 'Qwen2ForCausalLM'));
describe('mistral (MistralForCausalLM)', () => familyTests('mistral', 'MistralForCausalLM'));

describe('llama: dynamic NTK rope (rope_type dynamic) past max_position_embeddings', () => {
  // max_position_embeddings 8 and factor 2: a 14-token pass rotates with the base grown to
  // 100 · (2 · 14 / 8 − 1)^(16 / 14) ≈ 316; up to 8 tokens the base stays 100.
  const json: Json = { ...LLAMA, max_position_embeddings: 8, rope_scaling: { rope_type: 'dynamic', factor: 2 } };
  const cfg = parseModelConfig(json, 'dynamic rope test config');
  const ref = referenceConfigFromJson(json);
  const ids = seededIds(14, 96, 41);
  const model = buildModel(cfg, 141);
  const weights = weightsInDoubles(model);
  const ours = modelLogits(model, ids);

  test('inverse frequencies by hand; ours equal them', () => {
    const rope = { type: 'dynamic' as const, factor: 2, maxPositionEmbeddings: 8 };
    // head_dim 8, theta 10000, 16 positions: base = 10000 · (2·16/8 − 1)^(8/6) = 10000 · 3^(4/3)
    const base = 10000 * 3 ** (4 / 3);
    assertClose([base], [43267.487], 1e-3);
    assertClose(inverseFrequencies(8, 10000, rope, 16), [1, base ** -0.25, base ** -0.5, base ** -0.75], 1e-15);
    for (const length of [0, 5, 8]) assertClose(inverseFrequencies(8, 10000, rope, length), [1, 0.1, 0.01, 0.001], 1e-15);
    // ours, from the test model's config (head_dim 16, theta 100), in float32
    for (const length of [8, 14, 100]) {
      const expected = inverseFrequencies(16, 100, ref.rope, length);
      const invFreq = ropeFrequencies(cfg, 'cpu', length).invFreq;
      const got = invFreq.toArray();
      invFreq.dispose();
      got.forEach((v, i) => assert.ok(Math.abs(v / expected[i]! - 1) < 1e-6, `length ${length}, i ${i}: ${v} vs ${expected[i]}`));
    }
  });

  test('the config reads and writes back as transformers’', () => {
    assert.deepEqual(cfg.ropeScaling, { type: 'dynamic', factor: 2 });
    assert.deepEqual(ref.rope, { type: 'dynamic', factor: 2, maxPositionEmbeddings: 8 });
    const written = modelConfigToJson(cfg);
    assert.deepEqual(written.rope_scaling, { rope_type: 'dynamic', factor: 2 });
    assert.deepEqual(parseModelConfig(JSON.parse(JSON.stringify(written))), cfg);
  });

  test(`a pass longer than max_position_embeddings equals the reference (max |Δ| ≤ ${FLOAT32_TOLERANCE}); the unscaled rope misses it`, () => {
    const diff = maxAbsDiff(referenceLogits(ref, weights, ids), ours);
    assert.ok(diff <= FLOAT32_TOLERANCE, `max |Δlogit| ${diff}`);
    const unscaled = maxAbsDiff(referenceLogits(noRopeScaling(ref), weights, ids), ours);
    assert.ok(unscaled > ABLATION_GAP, `the default rope misses by ${unscaled}`);
  });

  test('up to max_position_embeddings it is the default rope', () => {
    const short = ids.slice(0, 8);
    const diff = maxAbsDiff(referenceLogits(noRopeScaling(ref), weights, short), modelLogits(model, short));
    assert.ok(diff <= FLOAT32_TOLERANCE, `max |Δlogit| ${diff}`);
  });

  test('explicit position ids past the limit scale the rope, even for a short input', () => {
    // 6 tokens at positions 8 … 13: the base for 14 positions. RoPE scores see only offsets, so the
    // reference over the same 6 tokens at 0 … 5 with that base gives the same logits.
    const short = ids.slice(0, 6);
    const positionIds = short.map((_, t) => t + 8);
    const shifted = T.tidy(() => model.forward(T.tensor([short], { dtype: 'int64' }), { positionIds: T.tensor([positionIds], { dtype: 'int64' }) }).toArray());
    const invFreq = inverseFrequencies(ref.headDim, ref.ropeTheta, ref.rope, 14);
    const diff = maxAbsDiff(referenceLogits({ ...ref, invFreq }, weights, short), shifted);
    assert.ok(diff <= FLOAT32_TOLERANCE, `max |Δlogit| ${diff}`);
    const unscaled = maxAbsDiff(referenceLogits(noRopeScaling(ref), weights, short), shifted);
    assert.ok(unscaled > ABLATION_GAP, `the default rope misses by ${unscaled}`);
  });

  test('KV-cache decoding as transformers: cached keys keep their rotation, each step past the limit rotates with its own length', () => {
    for (const prefill of [5, 10]) {
      const cache = new KVCache(cfg.numHiddenLayers);
      const out = [model.forward(T.tensor([ids.slice(0, prefill)], { dtype: 'int64' }), { cache })];
      for (const id of ids.slice(prefill)) out.push(model.forward(T.tensor([[id]], { dtype: 'int64' }), { cache }));
      const cached = T.cat(out, 1).toArray();
      cache.dispose();
      for (const t of out) t.dispose();
      // The prefill's tokens rotate with the prefill's length; token t after it with length t + 1.
      const invFreqAt = (t: number) => inverseFrequencies(ref.headDim, ref.ropeTheta, ref.rope, t < prefill ? prefill : t + 1);
      const diff = maxAbsDiff(referenceLogits({ ...ref, invFreqAt }, weights, ids), cached);
      assert.ok(diff <= FLOAT32_TOLERANCE, `prefill ${prefill}: max |Δlogit| ${diff}`);
      // …which is not what one pass over the whole sequence computes.
      const recomputed = maxAbsDiff(referenceLogits(ref, weights, ids), cached);
      assert.ok(recomputed > ABLATION_GAP, `prefill ${prefill}: one pass differs by ${recomputed}`);
    }
  });
});

describe('bad configs are refused with the field named', () => {
  function refused(json: Json, ...patterns: RegExp[]): void {
    let error: unknown;
    try {
      parseModelConfig(json, 'bad/config.json');
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof ModelConfigError, `expected a ModelConfigError, got ${String(error)}`);
    assert.match(error.message, /bad\/config\.json/, 'the file is named');
    for (const p of patterns) assert.match(error.message, p);
  }

  test('an unknown model_type: the message lists the supported ones', () => {
    refused({ ...LLAMA, model_type: 'gemma' }, /model_type/, /gemma/, /'llama'/, /'qwen2'/, /'mistral'/, /'qwen3'/);
    refused({ ...LLAMA, model_type: undefined }, /model_type/, /'llama'/);
  });

  test('an unknown rope type names rope_scaling / rope_type and lists the supported ones', () => {
    for (const family of ['llama', 'qwen2', 'mistral'] as const) {
      const longrope = { rope_type: 'longrope', factor: 2, short_factor: Array(8).fill(1), long_factor: Array(8).fill(1) };
      refused({ ...CASES[family][0]!.json, rope_scaling: longrope }, /rope_scaling/, /rope_type/, /longrope/, /default/, /linear/, /dynamic/, /llama3/);
    }
    // the older `type` key is read as rope_type
    refused({ ...LLAMA, rope_scaling: { type: 'longrope', factor: 2 } }, /rope_scaling/, /longrope/, /llama3/);
  });

  test('llama3 rope without low_freq_factor (or another of its fields)', () => {
    const { low_freq_factor: _low, ...withoutLow } = LLAMA3_ROPE;
    refused({ ...LLAMA, rope_scaling: withoutLow }, /rope_scaling/, /low_freq_factor/);
    const { high_freq_factor: _high, ...withoutHigh } = LLAMA3_ROPE;
    refused({ ...LLAMA, rope_scaling: withoutHigh }, /high_freq_factor/);
    const { original_max_position_embeddings: _orig, ...withoutOriginal } = LLAMA3_ROPE;
    refused({ ...LLAMA, rope_scaling: withoutOriginal }, /original_max_position_embeddings/);
    refused({ ...LLAMA, rope_scaling: { ...LLAMA3_ROPE, factor: undefined } }, /\bfactor\b/);
  });
});
