// Gemma 3's text decoder (gemma3_text / Gemma3ForCausalLM, and the language model of
// Gemma3ForConditionalGeneration folders) against an independent float64 reference written from
// transformers' modeling_gemma3.py / configuration_gemma3.py (test/reference/gemma3-reference.ts):
// logits and next-token NLL in float32 and float64, transformers' weight names, config.json round
// trips, save → load, multimodal folders in both checkpoint layouts, KV-cache greedy decoding past
// the sliding window, and bad configs refused with the field named.
// Every Gemma piece is exercised where it changes the logits — (1 + w) norms, √hidden embedding
// scale, sandwich norms, q/k norms, GeLU-tanh, query_pre_attn_scalar ≠ head_dim, the local rope base,
// linear scaling on the full layers only, windows shorter than the sequence, the final logit
// softcap, attention biases — and for each the test shows the comparison would fail without it.
// attn_logit_softcapping: transformers' Gemma3Attention never passes it to the attention function
// (Gemma 2's does), so a file that sets it gets uncapped scores there; the reference follows
// transformers and the test shows that capping the scores would miss.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { perplexity } from '../src/eval/perplexity.js';
import { type RawEntry, writeSafetensors } from '../src/io/safetensors/index.js';
import { type DecoderConfig, ModelConfigError, modelConfigToJson, parseModelConfig } from '../src/models/decoder/config.js';
import { generate } from '../src/models/decoder/generate.js';
import { randomCausalLM } from '../src/models/decoder/init.js';
import { KVCache } from '../src/models/decoder/kv-cache.js';
import type { CausalLM } from '../src/models/decoder/model.js';
import { loadCausalLM, saveCausalLM } from '../src/models/decoder/weights.js';
import * as T from '../src/tensor/index.js';
import { assertClose, maxAbsDiff, modelLogits, nameSeed, seededIds, seededValues, weightsInDoubles } from './helpers.js';
import {
  GEMMA3_TEXT_CONFIG_DEFAULTS,
  type Gemma3RefConfig,
  meanNextTokenNll,
  referenceConfigFromJson,
  referenceLogits,
  referenceParameterShapes,
  type RefWeights,
} from './reference/gemma3-reference.js';
import { referenceLogits as llamaReferenceLogits } from './reference/llama-reference.js';

const dir = mkdtempSync(join(tmpdir(), 'distillery-gemma3-'));

/** Max |Δlogit| allowed between a float32 model and the float64 reference (as model-families.test.ts). */
const FLOAT32_TOLERANCE = 1e-4;
/**
 * A float64 model against the float64 reference: transformers computes RoPE's cos/sin in float32
 * (and Gemma3RMSNorm in float32: x.float()) whatever the model dtype, which leaves ~1e-7 relative error.
 */
const FLOAT64_TOLERANCE = 1e-5;
/** An ablated reference (one feature left out) must miss the model by far more than the tolerance. */
const ABLATION_GAP = 100 * FLOAT32_TOLERANCE;

type Json = Record<string, unknown>;


/**
 * Every parameter overwritten with seeded values that depend only on its name and the seed (so a
 * float32 and a float64 model get the same weights): matrices and embeddings uniform with std
 * ~0.15, biases ~0.1 (none zero), norm weights w in (−0.5, 0.5) — Gemma's norms multiply by
 * (1 + w), so a Llama-style norm (× w) would be far off.
 */
function fillParameters(model: CausalLM, seed: number): void {
  for (const [name, p] of model.namedParameters()) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const spread = /norm\.weight$/.test(name) ? 0.5 : name.endsWith('.bias') ? 0.17 : 0.26;
    const values = seededValues(n, nameSeed(name, seed), spread);
    T.noGrad(() => T.tidy(() => void p.copy_(T.tensor(values, { dtype: p.dtype }).reshape(...p.shape))));
  }
}

function buildModel(cfg: DecoderConfig, seed: number, dtype: 'float32' | 'float64' = 'float32'): CausalLM {
  const model = randomCausalLM(cfg, { dtype, generator: new T.Generator(seed) });
  fillParameters(model, seed);
  return model;
}




type Ablation = [string, (ref: Gemma3RefConfig) => Gemma3RefConfig];

/** The ablations every Gemma 3 case must fail, plus those its config makes meaningful. */
function gemmaAblations(ref: Gemma3RefConfig, json: Json): Ablation[] {
  const list: Ablation[] = [
    ['norms × w instead of × (1 + w)', (r) => ({ ...r, unitOffsetNorm: false })],
    ['no embedding scale', (r) => ({ ...r, embedScale: 1 })],
    ['no post-attention / post-feedforward norms', (r) => ({ ...r, sandwichNorms: false })],
    ['no q/k norms', (r) => ({ ...r, qkNorm: false })],
    ['silu instead of gelu-tanh', (r) => ({ ...r, activation: 'silu' })],
    ['no windows', (r) => ({ ...r, windows: r.windows.map(() => null) })],
    ['full and sliding layers swapped', (r) => ({ ...r, windows: r.windows.map((w) => (w === null ? (json.sliding_window as number) : null)) })],
    ['window + 1 (off by one)', (r) => ({ ...r, windows: r.windows.map((w) => (w === null ? null : w + 1)) })],
    ['window − 1 (off by one)', (r) => ({ ...r, windows: r.windows.map((w) => (w === null ? null : w - 1)) })],
  ];
  if (ref.queryPreAttnScalar !== ref.headDim) list.push(['scores scaled by 1/√head_dim', (r) => ({ ...r, queryPreAttnScalar: r.headDim })]);
  if (ref.localTheta !== ref.ropeTheta) list.push(['sliding layers on rope_theta', (r) => ({ ...r, localTheta: r.ropeTheta })]);
  if (ref.localTheta !== ref.ropeTheta) list.push(['full layers on the local base', (r) => ({ ...r, ropeTheta: r.localTheta })]);
  if (ref.rope.type === 'linear') {
    list.push(['linear scaling dropped', (r) => ({ ...r, rope: { type: 'default' } })]);
    list.push(['linear scaling on the sliding layers too', (r) => ({ ...r, localRope: r.rope })]);
  }
  if (ref.finalLogitSoftcap !== null) list.push(['no final logit softcap', (r) => ({ ...r, finalLogitSoftcap: null })]);
  if (typeof json.attn_logit_softcapping === 'number') {
    const cap = json.attn_logit_softcapping;
    list.push([`attention scores softcapped at ${cap} (Gemma 2's attention; Gemma 3's never passes softcap)`, (r) => ({ ...r, attnLogitSoftcap: cap })]);
  }
  if (ref.attentionBias) list.push(['no attention biases', (r) => ({ ...r, attentionBias: false })]);
  return list;
}

interface GemmaCase {
  name: string;
  json: Json;
  ids: number[];
  /** Expected per-layer kinds (F: full, S: sliding). */
  kinds: string;
  extra?: (cfg: DecoderConfig, model: CausalLM, ref: Gemma3RefConfig) => void;
}

/**
 * (a) every Gemma 3 piece at once on a tied head: layers S S F S (pattern 3), window 5 < 20 tokens,
 * full layers on rope_theta 10000 with linear factor 4, sliding layers on rope_local_base_freq 50,
 * query_pre_attn_scalar 24 ≠ head_dim 16.
 */
const GEMMA_A: Json = {
  model_type: 'gemma3_text', architectures: ['Gemma3ForCausalLM'], vocab_size: 96, hidden_size: 64, intermediate_size: 112,
  num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, hidden_activation: 'gelu_pytorch_tanh',
  max_position_embeddings: 2048, rms_norm_eps: 1e-6, rope_theta: 10000, rope_scaling: { rope_type: 'linear', factor: 4 },
  rope_local_base_freq: 50, query_pre_attn_scalar: 24, sliding_window: 5, sliding_window_pattern: 3, attention_bias: false,
  final_logit_softcapping: null, attn_logit_softcapping: null, tie_word_embeddings: true, torch_dtype: 'float32',
  bos_token_id: 2, eos_token_id: 1, pad_token_id: 0,
};

/**
 * (b) softcaps that bite on the tiny model (logits of a few units, scores up to ~5), attention
 * biases and an untied head; sliding_window_pattern, hidden_activation, rms_norm_eps and
 * max_position_embeddings left out (Gemma3TextConfig's defaults: pattern 6, so S S S S S F).
 */
const GEMMA_B: Json = {
  model_type: 'gemma3_text', architectures: ['Gemma3ForCausalLM'], vocab_size: 96, hidden_size: 64, intermediate_size: 96,
  num_hidden_layers: 6, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 16, rope_theta: 1000,
  rope_local_base_freq: 10000, query_pre_attn_scalar: 6, sliding_window: 4, attention_bias: true,
  final_logit_softcapping: 2.5, attn_logit_softcapping: 2, tie_word_embeddings: false, torch_dtype: 'float32',
};

/** (c) explicit layer_types (F S S F S: no sliding_window_pattern gives it), overriding a contradicting pattern of 2. */
const GEMMA_C: Json = {
  model_type: 'gemma3_text', architectures: ['Gemma3ForCausalLM'], vocab_size: 96, hidden_size: 64, intermediate_size: 80,
  num_hidden_layers: 5, num_attention_heads: 4, num_key_value_heads: 1, head_dim: 16, hidden_activation: 'gelu_pytorch_tanh',
  max_position_embeddings: 1024, rms_norm_eps: 1e-6, rope_theta: 5000, rope_scaling: { rope_type: 'linear', factor: 2 },
  rope_local_base_freq: 100, query_pre_attn_scalar: 32, sliding_window: 6, sliding_window_pattern: 2,
  layer_types: ['full_attention', 'sliding_attention', 'sliding_attention', 'full_attention', 'sliding_attention'],
  tie_word_embeddings: true, torch_dtype: 'float32', bos_token_id: 2, eos_token_id: 1, pad_token_id: 0,
};

/** (c′) transformers 5's per-layer-type rope_parameters (each type its own rope_theta), with layer_types. */
const GEMMA_C5: Json = {
  ...Object.fromEntries(Object.entries(GEMMA_C).filter(([k]) => !['rope_theta', 'rope_scaling', 'rope_local_base_freq', 'sliding_window_pattern'].includes(k))),
  layer_types: ['sliding_attention', 'full_attention', 'sliding_attention', 'sliding_attention', 'full_attention'],
  rope_parameters: {
    full_attention: { rope_type: 'linear', factor: 4, rope_theta: 20000 },
    sliding_attention: { rope_type: 'default', rope_theta: 40 },
  },
};

const CASES: GemmaCase[] = [
  {
    name: '(a) tied head, pattern 3, window 5, local base 50, linear ×4 on full layers, query_pre_attn_scalar 24',
    json: GEMMA_A,
    ids: seededIds(20, 96, 41),
    kinds: 'SSFS',
    extra: (cfg, model) => {
      assert.equal(cfg.tieWordEmbeddings, true);
      assert.equal(model.lm_head, null);
      assert.deepEqual(cfg.ropeScaling, { type: 'linear', factor: 4 });
    },
  },
  {
    name: '(b) final and attention softcaps, attention_bias, untied head, default pattern 6 and activation',
    json: GEMMA_B,
    ids: seededIds(22, 96, 42),
    kinds: 'SSSSSF',
    extra: (cfg, model) => {
      assert.equal(cfg.tieWordEmbeddings, false);
      assert.notEqual(model.lm_head, null);
      assert.equal(cfg.hiddenAct, 'gelu_pytorch_tanh');
      assert.equal(cfg.rmsNormEps, 1e-6);
      const biases = [...model.namedParameters()].map(([n]) => n).filter((n) => n.endsWith('.bias'));
      assert.equal(biases.length, 6 * 4, 'q, k, v and o biases on every layer');
    },
  },
  {
    name: '(c) explicit layer_types F S S F S over a contradicting sliding_window_pattern 2',
    json: GEMMA_C,
    ids: seededIds(19, 96, 43),
    kinds: 'FSSFS',
  },
  {
    name: '(c′) transformers 5 rope_parameters per layer type (full: linear ×4, θ 20000; sliding: θ 40)',
    json: GEMMA_C5,
    ids: seededIds(21, 96, 44),
    kinds: 'SFSSF',
    extra: (cfg) => assert.deepEqual(cfg.ropeScaling, { type: 'linear', factor: 4 }),
  },
];

/** The Gemma 3 fields config.json carries (besides rope), as transformers names them. */
const GEMMA_FIELDS = [
  'hidden_activation', 'query_pre_attn_scalar', 'rope_local_base_freq', 'sliding_window', 'sliding_window_pattern',
  'layer_types', 'final_logit_softcapping', 'attn_logit_softcapping', 'attention_bias',
] as const;

describe('gemma3_text (Gemma3ForCausalLM) against the float64 reference', () => {
  for (const c of CASES) {
    describe(c.name, () => {
      const cfg = parseModelConfig(c.json, 'gemma3 test config');
      const ref = referenceConfigFromJson(c.json);
      const model = buildModel(cfg, 200 + c.ids[0]!);
      const weights = weightsInDoubles(model);
      const refLogits = referenceLogits(ref, weights, c.ids);
      const ours = modelLogits(model, c.ids);
      const vocab = c.json.vocab_size as number;
      const inter = c.json.intermediate_size as number;

      test('the parsed config is Gemma 3’s, with the expected layer kinds', () => {
        assert.equal(cfg.modelType, 'gemma3_text');
        assert.equal(cfg.qkNorm, true);
        assert.equal(cfg.numHiddenLayers, ref.numLayers);
        assert.equal(cfg.headDim, ref.headDim);
        assert.equal(cfg.tieWordEmbeddings, ref.tied);
        assert.equal(cfg.hiddenAct, 'gelu_pytorch_tanh');
        const kinds = ref.windows.map((w) => (w === null ? 'F' : 'S')).join('');
        assert.equal(kinds, c.kinds, 'the reference reads the layer kinds as expected');
        assert.deepEqual(cfg.layerTypes, ref.windows.map((w) => (w === null ? 'full_attention' : 'sliding_attention')));
        for (const w of ref.windows) if (w !== null) assert.ok(w < c.ids.length, `window ${w} shorter than the ${c.ids.length}-token sequence`);
        c.extra?.(cfg, model, ref);
      });

      test(`float32 logits equal the float64 reference (max |Δ| ≤ ${FLOAT32_TOLERANCE})`, () => {
        const diff = maxAbsDiff(refLogits, ours);
        assert.ok(diff <= FLOAT32_TOLERANCE, `max |Δlogit| ${diff}`);
      });

      test('each Gemma piece matters: the reference without it misses the model', () => {
        const misses: string[] = [];
        for (const [what, ablate] of gemmaAblations(ref, c.json)) {
          const diff = maxAbsDiff(referenceLogits(ablate(ref), weights, c.ids), ours);
          if (!(diff > ABLATION_GAP)) misses.push(`${what}: max |Δlogit| ${diff} is not > ${ABLATION_GAP}`);
        }
        assert.deepEqual(misses, []);
      });

      test(`a float64 model equals the reference (max |Δ| ≤ ${FLOAT64_TOLERANCE})`, () => {
        const m64 = buildModel(cfg, 200 + c.ids[0]!, 'float64');
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
        const names = new Map([...model.namedParameters()].map(([n, p]) => [n, [...p.shape]]));
        const expected = referenceParameterShapes(ref, vocab, inter);
        assert.deepEqual([...names.keys()].sort(), [...expected.keys()].sort());
        for (const [name, shape] of expected) assert.deepEqual(names.get(name), shape, name);
      });

      test('config.json round trip keeps every Gemma field; Gemma3ForCausalLM / gemma3_text; the same network to transformers', () => {
        const json = modelConfigToJson(cfg);
        assert.deepEqual(json.architectures, ['Gemma3ForCausalLM']);
        assert.equal(json.model_type, 'gemma3_text');
        const reread = JSON.parse(JSON.stringify(json)) as Json;
        assert.deepEqual(parseModelConfig(reread), cfg);
        // Read as transformers would read it, the written file describes the same network…
        assert.deepEqual(referenceConfigFromJson(reread), ref);
        // …with each Gemma field the source gave kept as it was (attn_logit_softcapping included,
        // though transformers' Gemma 3 ignores it), and those it left out absent or at the default.
        const defaults: Json = { ...GEMMA3_TEXT_CONFIG_DEFAULTS };
        for (const field of GEMMA_FIELDS) {
          if (c.json[field] !== undefined) assert.deepEqual(reread[field], c.json[field], field);
          else if (field === 'layer_types') {
            if (reread.layer_types !== undefined) assert.deepEqual(reread.layer_types, cfg.layerTypes, field);
          } else if (field === 'rope_local_base_freq') {
            if (reread[field] !== undefined) assert.equal(reread[field], ref.localTheta, field);
          } else if (reread[field] !== undefined) assert.deepEqual(reread[field], defaults[field], field);
        }
        if (c.json.sliding_window_pattern === undefined && c.json.layer_types === undefined) {
          // the default pattern must survive either as layer_types or as the (default) pattern
          assert.ok(reread.layer_types !== undefined || reread.sliding_window_pattern === undefined || reread.sliding_window_pattern === 6);
        }
      });

      test('save → load gives identical logits; the safetensors names are transformers’', () => {
        const path = join(dir, `gemma3-${c.ids[0]}`);
        saveCausalLM(model, path);
        const onDisk = JSON.parse(readFileSync(join(path, 'config.json'), 'utf8')) as Json;
        assert.equal(onDisk.model_type, 'gemma3_text');
        assert.deepEqual(onDisk.architectures, ['Gemma3ForCausalLM']);
        assert.deepEqual(referenceConfigFromJson(onDisk), ref);
        const file = readFileSync(join(path, 'model.safetensors'));
        const header = JSON.parse(file.subarray(8, 8 + Number(file.readBigUInt64LE(0))).toString());
        const stored = Object.keys(header).filter((k) => k !== '__metadata__').sort();
        assert.deepEqual(stored, [...referenceParameterShapes(ref, vocab, inter).keys()].sort());
        const loaded = loadCausalLM(path);
        assert.deepEqual(loaded.config, cfg);
        assert.deepEqual(modelLogits(loaded, c.ids), ours);
        loaded.dispose();
      });

      test('KV-cache decoding equals full recomputation past the sliding window (short and long prefill, a chunk, then single tokens)', () => {
        const full = modelLogits(model, c.ids);
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
        assert.ok(prompt.length + newTokens > 2 * Math.max(...windows), 'generation runs well past the window');
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
});

/** The text part of a Gemma3ForConditionalGeneration config, sparse as the hub writes it (defaults fill the rest). */
function conditionalConfig(tied: boolean): Json {
  return {
    architectures: ['Gemma3ForConditionalGeneration'],
    model_type: 'gemma3',
    boi_token_index: 255_999,
    eoi_token_index: 256_000,
    image_token_index: 262_144,
    mm_tokens_per_image: 4,
    eos_token_id: [1, 106],
    torch_dtype: 'float32',
    transformers_version: '4.50.0.dev0',
    ...(tied ? {} : { tie_word_embeddings: false }),
    text_config: {
      model_type: 'gemma3_text',
      vocab_size: 96,
      hidden_size: 64,
      intermediate_size: 112,
      num_hidden_layers: 4,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      head_dim: 16,
      query_pre_attn_scalar: 24,
      rope_theta: 10000,
      rope_local_base_freq: 50,
      rope_scaling: { factor: 4.0, rope_type: 'linear' },
      sliding_window: 5,
      sliding_window_pattern: 3,
      ...(tied ? {} : { tie_word_embeddings: false }),
    },
    vision_config: {
      model_type: 'siglip_vision_model', hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2,
      image_size: 4, patch_size: 2, vision_use_head: false,
    },
  };
}

/** A few vision-tower / projector tensors (bfloat16 zeros) under `prefix` that the loader must skip. */
function otherTowers(prefix: string): [string, RawEntry][] {
  const raw = (shape: number[]): RawEntry => ({ dtype: 'bfloat16', shape, data: new Uint8Array(shape.reduce((a, b) => a * b, 1) * 2) });
  return [
    [`${prefix}vision_tower.vision_model.embeddings.patch_embedding.weight`, raw([8, 3, 2, 2])],
    [`${prefix}vision_tower.vision_model.embeddings.position_embedding.weight`, raw([4, 8])],
    [`${prefix}vision_tower.vision_model.post_layernorm.weight`, raw([8])],
    [`${prefix}multi_modal_projector.mm_input_projection_weight`, raw([8, 64])],
    [`${prefix}multi_modal_projector.mm_soft_emb_norm.weight`, raw([8])],
  ];
}

describe('Gemma3ForConditionalGeneration folders: the language model is loaded, the other towers skipped', () => {
  const layouts = [
    { name: 'the hub’s layout (language_model.model.*, tied head)', tied: true, text: 'language_model.model.', head: 'language_model.lm_head.', towers: '' },
    { name: 'transformers ≥ 4.52’s layout (model.language_model.*, untied lm_head.weight)', tied: false, text: 'model.language_model.', head: 'lm_head.', towers: 'model.' },
  ];
  for (const layout of layouts) {
    test(layout.name, () => {
      const outer = conditionalConfig(layout.tied);
      const cfg = parseModelConfig(outer, 'gemma3 folder config.json');
      assert.equal(cfg.modelType, 'gemma3_text');
      assert.equal(cfg.tieWordEmbeddings, layout.tied);
      const ref = referenceConfigFromJson(outer);
      assert.deepEqual(ref.windows, [5, 5, null, 5]);
      assert.deepEqual(ref.rope, { type: 'linear', factor: 4 });
      // The sparse text_config means what GEMMA_A spells out (bar the head's tying).
      assert.deepEqual(ref, { ...referenceConfigFromJson(GEMMA_A), tied: layout.tied });
      const model = buildModel(cfg, 300 + (layout.tied ? 1 : 2));
      const ids = seededIds(20, 96, 45);
      const ours = modelLogits(model, ids);
      const weights = weightsInDoubles(model);
      const names = [...model.stateDict().keys()];
      assert.equal(names.includes('lm_head.weight'), !layout.tied);
      const folder = join(dir, `conditional-${layout.tied ? 'hub' : 'new'}`);
      mkdirSync(folder, { recursive: true });
      writeFileSync(join(folder, 'config.json'), JSON.stringify(outer, null, 2));
      const entries: [string, T.Tensor | RawEntry][] = [...model.stateDict()].map(([name, t]) => [
        name.startsWith('model.') ? layout.text + name.slice('model.'.length) : layout.head + name.slice('lm_head.'.length),
        t,
      ]);
      entries.splice(3, 0, ...otherTowers(layout.towers));
      if (layout.tied) assert.ok(entries.every(([n]) => !n.endsWith('lm_head.weight')));
      writeSafetensors(join(folder, 'model.safetensors'), entries);

      const loaded = loadCausalLM(folder);
      assert.equal(loaded.config.modelType, 'gemma3_text');
      assert.deepEqual(loaded.config.layerTypes, cfg.layerTypes);
      const loadedLogits = modelLogits(loaded, ids);
      assert.deepEqual(loadedLogits, ours, 'the loaded language model is the one written');
      const diff = maxAbsDiff(referenceLogits(ref, weights, ids), loadedLogits);
      assert.ok(diff <= FLOAT32_TOLERANCE, `max |Δlogit| against the reference ${diff}`);
      // Saved again, it is a Gemma3ForCausalLM folder transformers reads as the same network.
      const again = join(dir, `conditional-${layout.tied ? 'hub' : 'new'}-saved`);
      saveCausalLM(loaded, again);
      const onDisk = JSON.parse(readFileSync(join(again, 'config.json'), 'utf8')) as Json;
      assert.equal(onDisk.model_type, 'gemma3_text');
      assert.deepEqual(onDisk.architectures, ['Gemma3ForCausalLM']);
      assert.deepEqual(referenceConfigFromJson(onDisk), ref);
      const reloaded = loadCausalLM(again);
      assert.deepEqual(modelLogits(reloaded, ids), ours);
      reloaded.dispose();
      loaded.dispose();
      model.dispose();
    });
  }
});

describe('bad Gemma 3 configs are refused with the field named', () => {
  function refused(json: Json, ...patterns: RegExp[]): void {
    let error: unknown;
    try {
      parseModelConfig(json, 'bad/config.json');
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof ModelConfigError, `expected a ModelConfigError for ${JSON.stringify(json).slice(0, 160)}…, got ${String(error)}`);
    assert.match(error.message, /bad\/config\.json/, 'the file is named');
    for (const p of patterns) assert.match(error.message, p);
  }

  test('hidden_activation relu: the supported ones are listed', () => {
    refused({ ...GEMMA_A, hidden_activation: 'relu' }, /hidden_activation/, /gelu_pytorch_tanh/);
  });

  test('query_pre_attn_scalar ≤ 0 or not a number', () => {
    for (const v of [0, -16, '256', [16]]) refused({ ...GEMMA_A, query_pre_attn_scalar: v }, /query_pre_attn_scalar/);
  });

  test('a negative or zero final_logit_softcapping (or attn_logit_softcapping), or one that is not a number', () => {
    for (const v of [-30, 0, '30']) refused({ ...GEMMA_B, final_logit_softcapping: v }, /final_logit_softcapping/);
    for (const v of [-50, 0]) refused({ ...GEMMA_B, attn_logit_softcapping: v }, /attn_logit_softcapping/);
  });

  test('layer_types of the wrong length or with an unknown kind; sliding_window_pattern 0', () => {
    refused({ ...GEMMA_C, layer_types: ['full_attention', 'sliding_attention'] }, /layer_types/);
    refused({ ...GEMMA_C, layer_types: ['full_attention', 'sliding_attention', 'chunked_attention', 'full_attention', 'sliding_attention'] }, /layer_types/);
    refused({ ...GEMMA_A, sliding_window_pattern: 0 }, /sliding_window_pattern/);
  });

  test('a gemma3 folder config without text_config', () => {
    const { text_config: _text, ...withoutText } = conditionalConfig(true);
    refused(withoutText, /text_config/);
    refused({ ...withoutText, text_config: 'gemma3_text' }, /text_config/);
  });
});

describe('the Gemma 3 reference itself (no model involved)', () => {
  function seededWeights(ref: Gemma3RefConfig, vocab: number, inter: number, seed: number): RefWeights {
    const w: RefWeights = new Map();
    let s = seed;
    for (const [name, shape] of referenceParameterShapes(ref, vocab, inter)) {
      const values = seededValues(shape.reduce((a, b) => a * b, 1), s++, name.endsWith('norm.weight') ? 0.4 : 0.5);
      w.set(name, { shape, data: Float64Array.from(values) });
    }
    return w;
  }

  test('with every Gemma piece switched off it is the Llama reference', () => {
    const json: Json = {
      model_type: 'gemma3_text', vocab_size: 29, hidden_size: 24, intermediate_size: 40, num_hidden_layers: 2,
      num_attention_heads: 4, num_key_value_heads: 2, head_dim: 6, rope_theta: 50, rope_local_base_freq: 50,
      layer_types: ['full_attention', 'sliding_attention'], sliding_window: 3, tie_word_embeddings: false, rms_norm_eps: 1e-6,
      attention_bias: true,
    };
    const gemma = referenceConfigFromJson(json);
    const off: Gemma3RefConfig = {
      ...gemma, unitOffsetNorm: false, embedScale: 1, sandwichNorms: false, qkNorm: false, activation: 'silu', queryPreAttnScalar: gemma.headDim,
    };
    const w = seededWeights(gemma, 29, 40, 5);
    // Llama's post_attention_layernorm is the norm before the MLP: Gemma's pre_feedforward_layernorm.
    const llamaWeights: RefWeights = new Map(w);
    for (let l = 0; l < 2; l++) llamaWeights.set(`model.layers.${l}.post_attention_layernorm.weight`, w.get(`model.layers.${l}.pre_feedforward_layernorm.weight`)!);
    const ids = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7];
    const llama = llamaReferenceLogits(
      { hiddenSize: 24, numLayers: 2, heads: 4, kvHeads: 2, headDim: 6, eps: 1e-6, ropeTheta: 50, rope: { type: 'default' }, tied: false, qkvBias: true, oBias: true, mlpBias: false, windows: [null, 3] },
      llamaWeights,
      ids,
    );
    const ours = referenceLogits(off, w, ids);
    const scale = Math.max(...llama.flatMap((r) => [...r].map(Math.abs)));
    assert.ok(scale > 0.5, `logits of size ${scale}`);
    assert.ok(maxAbsDiff(ours, llama.flatMap((r) => [...r])) < 1e-12 * scale);
    // and the Gemma pieces together change everything
    assert.ok(maxAbsDiff(referenceLogits(gemma, w, ids), llama.flatMap((r) => [...r])) > 0.1);
  });

  test('Gemma3TextConfig’s defaults, and the hub’s sparse gemma-3-4b text_config', () => {
    const d = referenceConfigFromJson({ model_type: 'gemma3_text' });
    assert.deepEqual(
      [d.hiddenSize, d.numLayers, d.heads, d.kvHeads, d.headDim, d.eps, d.ropeTheta, d.localTheta, d.queryPreAttnScalar, d.tied, d.attentionBias, d.activation],
      [2304, 26, 8, 4, 256, 1e-6, 1e6, 1e4, 256, true, false, 'gelu_pytorch_tanh'],
    );
    assert.deepEqual([d.rope, d.localRope, d.finalLogitSoftcap, d.attnLogitSoftcap, d.embedScale], [{ type: 'default' }, { type: 'default' }, null, null, Math.sqrt(2304)]);
    assert.deepEqual(d.windows.map((w, i) => (w === null ? i : -1)).filter((i) => i >= 0), [5, 11, 17, 23]);
    assert.ok(d.windows.every((w) => w === null || w === 4096));
    // google/gemma-3-4b-it's config.json: the text_config names only what differs from the defaults.
    const hub = referenceConfigFromJson({
      architectures: ['Gemma3ForConditionalGeneration'], model_type: 'gemma3',
      text_config: { hidden_size: 2560, intermediate_size: 10240, model_type: 'gemma3_text', num_hidden_layers: 34, rope_scaling: { factor: 8.0, rope_type: 'linear' }, sliding_window: 1024 },
      vision_config: { model_type: 'siglip_vision_model' },
    });
    assert.deepEqual([hub.hiddenSize, hub.numLayers, hub.heads, hub.kvHeads, hub.headDim, hub.queryPreAttnScalar], [2560, 34, 8, 4, 256, 256]);
    assert.deepEqual([hub.rope, hub.localRope, hub.ropeTheta, hub.localTheta], [{ type: 'linear', factor: 8 }, { type: 'default' }, 1e6, 1e4]);
    assert.deepEqual(hub.windows.map((w, i) => (w === null ? i : -1)).filter((i) => i >= 0), [5, 11, 17, 23, 29]);
    assert.ok(hub.windows.every((w) => w === null || w === 1024));
    // attn_logit_softcapping is read but, as in Gemma3Attention, never applied
    assert.equal(referenceConfigFromJson({ model_type: 'gemma3_text', attn_logit_softcapping: 50 }).attnLogitSoftcap, null);
    // transformers 5's per-layer-type rope_parameters mean what rope_theta / rope_scaling / rope_local_base_freq mean
    const v5 = referenceConfigFromJson({
      model_type: 'gemma3_text',
      rope_parameters: { full_attention: { rope_type: 'linear', factor: 8, rope_theta: 1e6 }, sliding_attention: { rope_type: 'default', rope_theta: 1e4 } },
    });
    assert.deepEqual(v5, referenceConfigFromJson({ model_type: 'gemma3_text', rope_scaling: { rope_type: 'linear', factor: 8 } }));
  });

  test('a layer that computes nothing leaves logits = cap · tanh(E · rmsnorm(√H·e) · (1 + w) / cap), by hand', () => {
    const json: Json = {
      model_type: 'gemma3_text', vocab_size: 5, hidden_size: 4, intermediate_size: 6, num_hidden_layers: 1, num_attention_heads: 1,
      num_key_value_heads: 1, head_dim: 4, final_logit_softcapping: 1.5, rms_norm_eps: 1e-6,
    };
    const ref = referenceConfigFromJson(json);
    const w = seededWeights(ref, 5, 6, 9);
    // zero o_proj and down_proj: the post norms see zero vectors (and give zeros), the residual stream stays √H·e
    for (const name of ['model.layers.0.self_attn.o_proj.weight', 'model.layers.0.mlp.down_proj.weight']) w.get(name)!.data.fill(0);
    const norm = w.get('model.norm.weight')!.data;
    const E = w.get('model.embed_tokens.weight')!.data;
    const ids = [3, 0, 4];
    const logits = referenceLogits(ref, w, ids);
    ids.forEach((id, t) => {
      const e = [0, 1, 2, 3].map((i) => 2 * E[id * 4 + i]!);
      const rms = Math.sqrt(e.reduce((a, v) => a + v * v, 0) / 4 + 1e-6);
      const x = e.map((v, i) => (v / rms) * (1 + norm[i]!));
      const expected = [0, 1, 2, 3, 4].map((v) => 1.5 * Math.tanh([0, 1, 2, 3].reduce((a, i) => a + E[v * 4 + i]! * x[i]!, 0) / 1.5));
      assertClose(logits[t]!, expected, 1e-12, `position ${t}`);
    });
  });

  test('one sliding layer of window W is full attention over the last W tokens (on the local base)', () => {
    const json: Json = {
      model_type: 'gemma3_text', vocab_size: 23, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 1, num_attention_heads: 4,
      num_key_value_heads: 2, head_dim: 4, sliding_window: 3, layer_types: ['sliding_attention'], rope_theta: 1e4, rope_local_base_freq: 10,
    };
    const ref = referenceConfigFromJson(json);
    assert.deepEqual(ref.windows, [3]);
    const w = seededWeights(ref, 23, 24, 21);
    const ids = [5, 17, 2, 9, 22, 0, 13, 8];
    const sliding = referenceLogits(ref, w, ids);
    // the full layer of the same weights on the local base (rope only sees offsets)
    const full: Gemma3RefConfig = { ...ref, windows: [null], ropeTheta: ref.localTheta };
    for (let t = 0; t < ids.length; t++) {
      const last = referenceLogits(full, w, ids.slice(Math.max(0, t - 2), t + 1)).at(-1)!;
      assertClose(sliding[t]!, last, 1e-12, `position ${t}`);
    }
    assert.ok(maxAbsDiff(referenceLogits(full, w, ids).slice(3), sliding.slice(3).flatMap((r) => [...r])) > 1e-3);
  });
});
