// An independent forward pass of Gemma 3's text decoder (Gemma3ForCausalLM, and the language model
// of Gemma3ForConditionalGeneration) in plain float64 JavaScript loops: no tensor library, nothing
// shared with src/. Written from transformers' modeling_gemma3.py / modular_gemma3.py and
// configuration_gemma3.py (read in the 4.57.6 and 5.18.0 wheels): Gemma3TextScaledWordEmbedding
// (embeddings × √hidden_size), Gemma3RMSNorm (x / √(mean(x²) + eps) · (1 + w)), Gemma3DecoderLayer
// (input_layernorm → attention → post_attention_layernorm → residual; pre_feedforward_layernorm →
// MLP → post_feedforward_layernorm → residual), Gemma3MLP (down(act(gate(x)) · up(x)), act =
// hidden_activation, gelu_pytorch_tanh by default), Gemma3Attention (q_norm / k_norm over each head
// before the rotary embedding, scaling = query_pre_attn_scalar^−½, sliding layers masked with
// masking_utils.sliding_window_overlay: kv_idx > q_idx − sliding_window on top of kv_idx ≤ q_idx),
// the two rotary embeddings (full layers: rope_theta with rope_scaling; sliding layers:
// rope_local_base_freq, always unscaled) and Gemma3ForCausalLM's final_logit_softcapping.
//
// What transformers does NOT do, and this reference therefore does not do by default:
// - Gemma3Attention never passes `softcap=self.attn_logit_softcapping` to the attention function
//   (Gemma2Attention does), so a config's attn_logit_softcapping has no effect on Gemma 3's logits
//   in 4.5x and 5.x alike. `attnLogitSoftcap` below is a knob (null from referenceConfigFromJson)
//   for tests that show the difference.
// - Gemma3ForConditionalGeneration's forward applies no final_logit_softcapping (only
//   Gemma3ForCausalLM does); Gemma 3 checkpoints leave it null, so this reference caps whenever the
//   text config sets it, as Gemma3ForCausalLM would.
import { meanNextTokenNll } from './llama-reference.js';

export { meanNextTokenNll };

/** Rotary scaling modelled for Gemma 3 (gemma-3-4b and larger: linear, factor 8, on the full layers). */
export type Gemma3RefRope = { type: 'default' } | { type: 'linear'; factor: number };

export type Gemma3RefActivation = 'gelu_pytorch_tanh' | 'silu';

export interface Gemma3RefConfig {
  hiddenSize: number;
  numLayers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  eps: number;
  /** Full-attention layers' rope base (rope_theta) and scaling (rope_scaling). */
  ropeTheta: number;
  rope: Gemma3RefRope;
  /** Sliding layers' rope base (rope_local_base_freq) and scaling (transformers: always default). */
  localTheta: number;
  localRope: Gemma3RefRope;
  tied: boolean;
  /** Biases on q_proj, k_proj, v_proj and o_proj (attention_bias). */
  attentionBias: boolean;
  /** Scores are q·k · queryPreAttnScalar^−½. */
  queryPreAttnScalar: number;
  /** Per layer: the sliding window (query i sees key j iff i − window < j ≤ i), or null for full causal attention. */
  windows: (number | null)[];
  /** cap · tanh(logits / cap) on the output logits, or null. */
  finalLogitSoftcap: number | null;
  /** cap · tanh(scores / cap) on the attention scores before the mask, or null (transformers' Gemma 3: always null). */
  attnLogitSoftcap: number | null;
  activation: Gemma3RefActivation;
  // Knobs for ablations (all true / √hidden_size for Gemma 3):
  /** RMSNorm multiplies by (1 + w) (Gemma) rather than w (Llama). */
  unitOffsetNorm: boolean;
  /** The embedding rows are multiplied by this (Gemma 3: √hidden_size). */
  embedScale: number;
  /** post_attention_layernorm on the attention output and post_feedforward_layernorm on the MLP output. */
  sandwichNorms: boolean;
  /** q_norm / k_norm on each head before the rotary embedding. */
  qkNorm: boolean;
}

export interface RefWeight {
  shape: number[];
  data: Float64Array;
}
export type RefWeights = Map<string, RefWeight>;

type Json = Record<string, unknown>;

/** Gemma3TextConfig's __init__ defaults (configuration_gemma3.py, 4.57.6; the same values as 5.18.0's dataclass fields). */
export const GEMMA3_TEXT_CONFIG_DEFAULTS = {
  vocab_size: 262_208,
  hidden_size: 2304,
  intermediate_size: 9216,
  num_hidden_layers: 26,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  head_dim: 256,
  hidden_activation: 'gelu_pytorch_tanh',
  max_position_embeddings: 131_072,
  rms_norm_eps: 1e-6,
  tie_word_embeddings: true,
  rope_theta: 1_000_000,
  attention_bias: false,
  query_pre_attn_scalar: 256,
  sliding_window: 4096,
  final_logit_softcapping: null,
  attn_logit_softcapping: null,
  rope_scaling: null,
  rope_local_base_freq: 10_000,
  /** Not an __init__ argument since layer_types arrived: read from kwargs with this fallback. */
  sliding_window_pattern: 6,
} as const;

function readRope(params: Json | null | undefined, where: string): Gemma3RefRope {
  if (params === null || params === undefined) return { type: 'default' };
  const type = (params.rope_type ?? params.type ?? 'default') as string;
  if (type === 'default') return { type: 'default' };
  if (type === 'linear') {
    if (typeof params.factor !== 'number') throw new Error(`reference: ${where} linear rope without a factor`);
    return { type: 'linear', factor: params.factor };
  }
  throw new Error(`reference: ${where} rope type ${type} is not modelled`);
}

/**
 * The reference config a transformers config.json describes, read as Gemma3TextConfig reads it
 * (only what the forward pass depends on). A `gemma3` file (Gemma3ForConditionalGeneration) is
 * read through its text_config. Missing fields take Gemma3TextConfig's defaults. Layers:
 * `layer_types` when given, else layer i slides iff (i + 1) % sliding_window_pattern ≠ 0 (default
 * pattern 6). Rope: the full layers use rope_theta and rope_scaling, the sliding layers
 * rope_local_base_freq unscaled; or transformers 5's per-layer-type `rope_parameters`
 * {full_attention: {...}, sliding_attention: {...}}. attn_logit_softcapping is read and dropped, as
 * Gemma3Attention drops it.
 */
export function referenceConfigFromJson(file: Json): Gemma3RefConfig {
  let json = file;
  if (file.model_type === 'gemma3') {
    const text = file.text_config;
    if (text === null || typeof text !== 'object') throw new Error('reference: a gemma3 config without text_config');
    json = text as Json;
  } else if (file.model_type !== 'gemma3_text') throw new Error(`reference: model_type ${String(file.model_type)} is not modelled`);
  const D = GEMMA3_TEXT_CONFIG_DEFAULTS;
  const num = (k: keyof typeof D): number => {
    const v = json[k] ?? D[k];
    if (typeof v !== 'number') throw new Error(`reference: ${k} is not a number`);
    return v;
  };
  const optionalNum = (k: 'final_logit_softcapping' | 'attn_logit_softcapping'): number | null => {
    const v = json[k];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number') throw new Error(`reference: ${k} is not a number`);
    return v;
  };
  const flag = (k: 'tie_word_embeddings' | 'attention_bias'): boolean => (json[k] === undefined || json[k] === null ? D[k] : json[k] === true);
  const numLayers = num('num_hidden_layers');
  const heads = num('num_attention_heads');

  let ropeTheta = num('rope_theta');
  let localTheta = num('rope_local_base_freq');
  let rope: Gemma3RefRope;
  let localRope: Gemma3RefRope = { type: 'default' };
  const perType = json.rope_parameters as Json | null | undefined;
  if (perType !== null && perType !== undefined) {
    // transformers 5: one rope per layer type, each with its own rope_theta.
    const full = perType.full_attention as Json | undefined;
    const sliding = perType.sliding_attention as Json | undefined;
    if (!full && !sliding) throw new Error('reference: rope_parameters without full_attention / sliding_attention is not modelled');
    rope = readRope(full, 'rope_parameters.full_attention');
    localRope = readRope(sliding, 'rope_parameters.sliding_attention');
    if (typeof full?.rope_theta === 'number') ropeTheta = full.rope_theta;
    if (typeof sliding?.rope_theta === 'number') localTheta = sliding.rope_theta;
  } else {
    rope = readRope(json.rope_scaling as Json | null | undefined, 'rope_scaling');
  }

  const window = json.sliding_window === null ? null : num('sliding_window');
  let layerTypes = json.layer_types as string[] | undefined | null;
  if (layerTypes === undefined || layerTypes === null) {
    const pattern = num('sliding_window_pattern');
    layerTypes = Array.from({ length: numLayers }, (_, i) => ((i + 1) % pattern !== 0 ? 'sliding_attention' : 'full_attention'));
  }
  if (layerTypes.length !== numLayers) throw new Error('reference: layer_types needs one entry per layer');
  const windows = layerTypes.map((t) => {
    if (t === 'full_attention') return null;
    if (t === 'sliding_attention') return window;
    throw new Error(`reference: layer type ${t} is not modelled`);
  });

  const activation = (json.hidden_activation ?? D.hidden_activation) as string;
  if (activation !== 'gelu_pytorch_tanh' && activation !== 'silu') throw new Error(`reference: hidden_activation ${activation} is not modelled`);
  const hiddenSize = num('hidden_size');
  optionalNum('attn_logit_softcapping'); // read (and validated) but, as in Gemma3Attention, never applied
  return {
    hiddenSize,
    numLayers,
    heads,
    kvHeads: num('num_key_value_heads'),
    headDim: num('head_dim'),
    eps: num('rms_norm_eps'),
    ropeTheta,
    rope,
    localTheta,
    localRope,
    tied: flag('tie_word_embeddings'),
    attentionBias: flag('attention_bias'),
    queryPreAttnScalar: num('query_pre_attn_scalar'),
    windows,
    finalLogitSoftcap: optionalNum('final_logit_softcapping'),
    attnLogitSoftcap: null,
    activation,
    unitOffsetNorm: true,
    embedScale: Math.sqrt(hiddenSize),
    sandwichNorms: true,
    qkNorm: true,
  };
}

/** Rotary inverse frequencies: 1 / theta^(2i / dim), divided by the factor for linear scaling. */
export function gemma3InverseFrequencies(headDim: number, theta: number, rope: Gemma3RefRope): Float64Array {
  const base = Float64Array.from({ length: headDim / 2 }, (_, i) => 1 / theta ** ((2 * i) / headDim));
  return rope.type === 'linear' ? base.map((f) => f / rope.factor) : base;
}

function get(w: RefWeights, name: string): RefWeight {
  const v = w.get(name);
  if (!v) throw new Error(`reference: missing weight ${name}`);
  return v;
}

/** nn.Linear: y = W x (+ b) for W [out, in]. */
function linear(w: RefWeight, x: Float64Array, b?: RefWeight): Float64Array {
  const [out, inp] = w.shape as [number, number];
  if (inp !== x.length) throw new Error(`reference: weight [${w.shape}] applied to a vector of ${x.length}`);
  if (b && b.data.length !== out) throw new Error(`reference: bias of ${b.data.length} for ${out} outputs`);
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = b ? b.data[o]! : 0;
    for (let i = 0; i < inp; i++) s += w.data[o * inp + i]! * x[i]!;
    y[o] = s;
  }
  return y;
}

/** Gemma3RMSNorm: x / √(mean(x²) + eps) · (1 + w); with unitOffset false, · w (the ablation). */
function rmsnorm(x: Float64Array, weight: RefWeight, eps: number, unitOffset: boolean): Float64Array {
  if (weight.data.length !== x.length) throw new Error(`reference: norm of ${weight.data.length} on a vector of ${x.length}`);
  let ms = 0;
  for (const v of x) ms += v * v;
  const scale = 1 / Math.sqrt(ms / x.length + eps);
  return x.map((v, i) => v * scale * ((unitOffset ? 1 : 0) + weight.data[i]!));
}

/** apply_rotary_pos_emb at position `pos`: x·cos + rotate_half(x)·sin, cos/sin = cat(freqs, freqs). */
function rotary(x: Float64Array, pos: number, invFreq: Float64Array): Float64Array {
  const half = x.length / 2;
  const out = new Float64Array(x.length);
  for (let i = 0; i < half; i++) {
    const angle = pos * invFreq[i]!;
    const [c, s] = [Math.cos(angle), Math.sin(angle)];
    out[i] = x[i]! * c - x[i + half]! * s; // rotate_half: the first half gets −x2
    out[i + half] = x[i + half]! * c + x[i]! * s; // the second half gets x1
  }
  return out;
}

/** gelu_pytorch_tanh (torch gelu, approximate='tanh'): ½x(1 + tanh(√(2/π)(x + 0.044715x³))). */
const geluTanh = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
const silu = (v: number) => v / (1 + Math.exp(-v));
const softcap = (v: number, cap: number | null) => (cap === null ? v : cap * Math.tanh(v / cap));

/** Logits [T][vocab] for one sequence of token ids at positions 0 … T − 1. */
export function referenceLogits(cfg: Gemma3RefConfig, w: RefWeights, ids: number[]): Float64Array[] {
  if (cfg.windows.length !== cfg.numLayers) throw new Error('reference: one window entry per layer');
  if (cfg.heads % cfg.kvHeads !== 0) throw new Error('reference: heads must be a multiple of kvHeads');
  const embed = get(w, 'model.embed_tokens.weight');
  const hidden = cfg.hiddenSize;
  const d = cfg.headDim;
  const eps = cfg.eps;
  const norm = (x: Float64Array, name: string) => rmsnorm(x, get(w, name), eps, cfg.unitOffsetNorm);
  const globalFreq = gemma3InverseFrequencies(d, cfg.ropeTheta, cfg.rope);
  const localFreq = gemma3InverseFrequencies(d, cfg.localTheta, cfg.localRope);
  const act = cfg.activation === 'gelu_pytorch_tanh' ? geluTanh : silu;
  const scaling = cfg.queryPreAttnScalar ** -0.5;
  const groups = cfg.heads / cfg.kvHeads; // repeat_kv: query head h reads KV head floor(h / groups)
  let h = ids.map((id) => embed.data.slice(id * hidden, (id + 1) * hidden).map((v) => v * cfg.embedScale));
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}.`;
    const window = cfg.windows[l] ?? null;
    // Gemma3TextModel hands each layer the rotary embedding of its type: sliding → local.
    const invFreq = window === null ? globalFreq : localFreq;
    const bias = (name: string) => (cfg.attentionBias ? get(w, `${p}self_attn.${name}.bias`) : undefined);
    const head = (vec: Float64Array, i: number) => vec.slice(i * d, (i + 1) * d);
    const headNorm = (x: Float64Array, which: 'q_norm' | 'k_norm') => (cfg.qkNorm ? norm(x, `${p}self_attn.${which}.weight`) : x);
    const qs: Float64Array[][] = [];
    const ks: Float64Array[][] = [];
    const vs: Float64Array[][] = [];
    h.forEach((ht, t) => {
      const x = norm(ht, `${p}input_layernorm.weight`);
      const q = linear(get(w, `${p}self_attn.q_proj.weight`), x, bias('q_proj'));
      const k = linear(get(w, `${p}self_attn.k_proj.weight`), x, bias('k_proj'));
      const v = linear(get(w, `${p}self_attn.v_proj.weight`), x, bias('v_proj'));
      qs.push(Array.from({ length: cfg.heads }, (_, i) => rotary(headNorm(head(q, i), 'q_norm'), t, invFreq)));
      ks.push(Array.from({ length: cfg.kvHeads }, (_, i) => rotary(headNorm(head(k, i), 'k_norm'), t, invFreq)));
      vs.push(Array.from({ length: cfg.kvHeads }, (_, i) => head(v, i)));
    });
    h = h.map((ht, t) => {
      // causal (j ≤ t) and, on sliding layers, j > t − window
      const visible = [...Array(t + 1).keys()].filter((j) => window === null || j > t - window);
      const concat = new Float64Array(cfg.heads * d);
      for (let hq = 0; hq < cfg.heads; hq++) {
        const kvh = Math.floor(hq / groups);
        const scores = visible.map((j) => {
          let s = 0;
          for (let i = 0; i < d; i++) s += qs[t]![hq]![i]! * ks[j]![kvh]![i]!;
          return softcap(s * scaling, cfg.attnLogitSoftcap);
        });
        const max = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - max));
        const z = e.reduce((a, c) => a + c, 0);
        visible.forEach((j, n) => {
          for (let i = 0; i < d; i++) concat[hq * d + i]! += (e[n]! / z) * vs[j]![kvh]![i]!;
        });
      }
      let attn = linear(get(w, `${p}self_attn.o_proj.weight`), concat, bias('o_proj'));
      if (cfg.sandwichNorms) attn = norm(attn, `${p}post_attention_layernorm.weight`);
      const h1 = ht.map((v, i) => v + attn[i]!);
      const x2 = norm(h1, `${p}pre_feedforward_layernorm.weight`);
      const gate = linear(get(w, `${p}mlp.gate_proj.weight`), x2);
      const up = linear(get(w, `${p}mlp.up_proj.weight`), x2);
      let mlp = linear(get(w, `${p}mlp.down_proj.weight`), gate.map((g, i) => act(g) * up[i]!));
      if (cfg.sandwichNorms) mlp = norm(mlp, `${p}post_feedforward_layernorm.weight`);
      return h1.map((v, i) => v + mlp[i]!);
    });
  }
  const lmHead = cfg.tied ? embed : get(w, 'lm_head.weight');
  return h.map((ht) => linear(lmHead, norm(ht, 'model.norm.weight')).map((v) => softcap(v, cfg.finalLogitSoftcap)));
}

/**
 * The parameter names transformers' Gemma3ForCausalLM has for the config (state_dict keys; a tied
 * head has no lm_head.weight), with their shapes.
 */
export function referenceParameterShapes(cfg: Gemma3RefConfig, vocabSize: number, intermediateSize: number): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const { hiddenSize: hs, heads, kvHeads, headDim: d } = cfg;
  out.set('model.embed_tokens.weight', [vocabSize, hs]);
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}.`;
    out.set(`${p}input_layernorm.weight`, [hs]);
    out.set(`${p}self_attn.q_proj.weight`, [heads * d, hs]);
    out.set(`${p}self_attn.k_proj.weight`, [kvHeads * d, hs]);
    out.set(`${p}self_attn.v_proj.weight`, [kvHeads * d, hs]);
    out.set(`${p}self_attn.o_proj.weight`, [hs, heads * d]);
    if (cfg.attentionBias) {
      out.set(`${p}self_attn.q_proj.bias`, [heads * d]);
      out.set(`${p}self_attn.k_proj.bias`, [kvHeads * d]);
      out.set(`${p}self_attn.v_proj.bias`, [kvHeads * d]);
      out.set(`${p}self_attn.o_proj.bias`, [hs]);
    }
    out.set(`${p}self_attn.q_norm.weight`, [d]);
    out.set(`${p}self_attn.k_norm.weight`, [d]);
    out.set(`${p}post_attention_layernorm.weight`, [hs]);
    out.set(`${p}pre_feedforward_layernorm.weight`, [hs]);
    out.set(`${p}post_feedforward_layernorm.weight`, [hs]);
    out.set(`${p}mlp.gate_proj.weight`, [intermediateSize, hs]);
    out.set(`${p}mlp.up_proj.weight`, [intermediateSize, hs]);
    out.set(`${p}mlp.down_proj.weight`, [hs, intermediateSize]);
  }
  out.set('model.norm.weight', [hs]);
  if (!cfg.tied) out.set('lm_head.weight', [vocabSize, hs]);
  return out;
}
