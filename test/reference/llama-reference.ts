// An independent forward pass of the Llama decoder and the families transformers derives from it
// (Qwen2, Mistral), in plain float64 JavaScript loops: no tensor library, nothing shared with src/.
// Written from transformers' modeling_llama.py (LlamaAttention, LlamaMLP, LlamaDecoderLayer,
// LlamaRMSNorm, rotate_half / apply_rotary_pos_emb, eager_attention_forward), modular_qwen2.py
// (Qwen2Attention: q/k/v biases, no o_proj bias, per-layer sliding window), modular_mistral.py
// (no biases, config.sliding_window on every layer), masking_utils.py (sliding_window_overlay:
// kv_idx > q_idx − sliding_window, on top of kv_idx ≤ q_idx) and modeling_rope_utils.py
// (_compute_default_rope_parameters, _compute_linear_scaling_rope_parameters,
// _compute_dynamic_ntk_parameters and dynamic_rope_update, _compute_llama3_parameters); the config.json reading follows configuration_llama.py,
// configuration_qwen2.py and configuration_mistral.py.

export type RefRope =
  | { type: 'default' }
  | { type: 'linear'; factor: number }
  | { type: 'dynamic'; factor: number; maxPositionEmbeddings: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number };

export interface LlamaRefConfig {
  hiddenSize: number;
  numLayers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  eps: number;
  ropeTheta: number;
  rope: RefRope;
  tied: boolean;
  /** Biases on q_proj, k_proj and v_proj. */
  qkvBias: boolean;
  /** A bias on o_proj. */
  oBias: boolean;
  /** Biases on gate_proj, up_proj and down_proj. */
  mlpBias: boolean;
  /** Per layer: the sliding window (query i sees key j iff i − window < j ≤ i), or null for full causal attention. */
  windows: (number | null)[];
  /** Inverse frequencies given directly instead of from ropeTheta / rope (for tests that perturb them). */
  invFreq?: Float64Array;
  /**
   * The inverse frequencies position t is rotated with, where they differ by position: a KV cache
   * under dynamic rope keeps each key as the step that made it rotated it. Default: one set for all,
   * for a sequence as long as the ids.
   */
  invFreqAt?: (t: number) => Float64Array;
}

export interface RefWeight {
  shape: number[];
  data: Float64Array;
}
export type RefWeights = Map<string, RefWeight>;

type Json = Record<string, unknown>;

/**
 * The reference config a transformers config.json describes, read as LlamaConfig, Qwen2Config
 * and MistralConfig read it (only the fields the forward pass depends on):
 * - llama: `attention_bias` puts a bias on q, k, v and o; `mlp_bias` on gate, up and down; no windows.
 * - qwen2: q, k, v always biased, o never; `sliding_window` only when `use_sliding_window`, and then
 *   on the layers `layer_types` names, else on layers with index ≥ `max_window_layers` (default 28).
 * - mistral: no biases; `sliding_window` (default 4096, null: none) on every layer.
 * head_dim: the explicit field, else hidden_size / num_attention_heads. Rope: `rope_parameters`
 * (newer files) or `rope_scaling` (`rope_type`, or the older `type`), theta from `rope_theta`.
 */
export function referenceConfigFromJson(json: Json): LlamaRefConfig {
  const num = (k: string, fallback?: number): number => {
    const v = json[k];
    if (v === undefined || v === null) {
      if (fallback === undefined) throw new Error(`reference: config.json has no ${k}`);
      return fallback;
    }
    if (typeof v !== 'number') throw new Error(`reference: ${k} is not a number`);
    return v;
  };
  const flag = (k: string, fallback: boolean): boolean => (json[k] === undefined || json[k] === null ? fallback : json[k] === true);
  const hiddenSize = num('hidden_size');
  const heads = num('num_attention_heads');
  const numLayers = num('num_hidden_layers');
  const params = (json.rope_parameters ?? json.rope_scaling ?? null) as Json | null;
  const ropeTheta = (params?.rope_theta as number | undefined) ?? num('rope_theta', 10000);
  const ropeType = (params?.rope_type ?? params?.type ?? 'default') as string;
  let rope: RefRope;
  if (ropeType === 'default') rope = { type: 'default' };
  else if (ropeType === 'linear') rope = { type: 'linear', factor: params!.factor as number };
  else if (ropeType === 'dynamic') rope = { type: 'dynamic', factor: params!.factor as number, maxPositionEmbeddings: num('max_position_embeddings', 2048) };
  else if (ropeType === 'llama3') {
    rope = {
      type: 'llama3',
      factor: params!.factor as number,
      lowFreqFactor: params!.low_freq_factor as number,
      highFreqFactor: params!.high_freq_factor as number,
      originalMaxPositionEmbeddings: params!.original_max_position_embeddings as number,
    };
  } else throw new Error(`reference: rope type ${ropeType} is not modelled`);

  let qkvBias = false;
  let oBias = false;
  let mlpBias = false;
  let windows: (number | null)[] = Array(numLayers).fill(null);
  switch (json.model_type) {
    case 'llama':
      qkvBias = oBias = flag('attention_bias', false);
      mlpBias = flag('mlp_bias', false);
      break;
    case 'qwen2': {
      qkvBias = true;
      const window = flag('use_sliding_window', false) ? num('sliding_window', 4096) : null;
      const maxWindowLayers = num('max_window_layers', 28);
      const layerTypes = (json.layer_types as string[] | undefined) ??
        Array.from({ length: numLayers }, (_, i) => (window !== null && i >= maxWindowLayers ? 'sliding_attention' : 'full_attention'));
      windows = layerTypes.map((t) => (t === 'sliding_attention' ? window : null));
      break;
    }
    case 'mistral': {
      const window = json.sliding_window === null ? null : num('sliding_window', 4096);
      windows = Array(numLayers).fill(window);
      break;
    }
    default:
      throw new Error(`reference: model_type ${String(json.model_type)} is not modelled`);
  }
  return {
    hiddenSize,
    numLayers,
    heads,
    kvHeads: num('num_key_value_heads', heads),
    headDim: num('head_dim', hiddenSize / heads),
    eps: num('rms_norm_eps', 1e-6),
    ropeTheta,
    rope,
    tied: flag('tie_word_embeddings', false),
    qkvBias,
    oBias,
    mlpBias,
    windows,
  };
}

/**
 * The rotary inverse frequencies, one per pair of dimensions (headDim / 2 of them), as
 * modeling_rope_utils computes them (there in float32, here in float64).
 */
export function inverseFrequencies(headDim: number, theta: number, rope: RefRope, sequenceLength = 0): Float64Array {
  // _compute_default_rope_parameters: 1 / base^(arange(0, dim, 2) / dim)
  const defaults = (b: number) => Float64Array.from({ length: headDim / 2 }, (_, i) => 1 / b ** ((2 * i) / headDim));
  const base = defaults(theta);
  switch (rope.type) {
    case 'default':
      return base;
    case 'dynamic': {
      // _compute_dynamic_ntk_parameters: seq_len below max_position_embeddings counts as it, and
      // base = theta · (factor · seq_len / max − (factor − 1)) ^ (dim / (dim − 2)).
      const max = rope.maxPositionEmbeddings;
      const seqLen = Math.max(sequenceLength, max);
      return defaults(theta * ((rope.factor * seqLen) / max - (rope.factor - 1)) ** (headDim / (headDim - 2)));
    }
    case 'linear':
      // _compute_linear_scaling_rope_parameters: inv_freq /= factor
      return base.map((f) => f / rope.factor);
    case 'llama3': {
      // _compute_llama3_parameters
      const { factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings: oldContextLen } = rope;
      const lowFreqWavelen = oldContextLen / lowFreqFactor;
      const highFreqWavelen = oldContextLen / highFreqFactor;
      return base.map((f) => {
        const wavelen = (2 * Math.PI) / f;
        if (wavelen < highFreqWavelen) return f; // high frequency: unchanged
        if (wavelen > lowFreqWavelen) return f / factor; // low frequency: divided by the factor
        // medium: smooth interpolation between the two
        const smooth = (oldContextLen / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
        return ((1 - smooth) * f) / factor + smooth * f;
      });
    }
  }
}

/** Which of llama3's three bands each inverse frequency (before scaling) falls in. */
export function llama3Bands(headDim: number, theta: number, rope: Extract<RefRope, { type: 'llama3' }>): ('high' | 'medium' | 'low')[] {
  const lowFreqWavelen = rope.originalMaxPositionEmbeddings / rope.lowFreqFactor;
  const highFreqWavelen = rope.originalMaxPositionEmbeddings / rope.highFreqFactor;
  return [...inverseFrequencies(headDim, theta, { type: 'default' })].map((f) => {
    const wavelen = (2 * Math.PI) / f;
    return wavelen < highFreqWavelen ? 'high' : wavelen > lowFreqWavelen ? 'low' : 'medium';
  });
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

/** LlamaRMSNorm: weight · x / sqrt(mean(x²) + eps). */
function rmsnorm(x: Float64Array, weight: RefWeight, eps: number): Float64Array {
  let ms = 0;
  for (const v of x) ms += v * v;
  const scale = 1 / Math.sqrt(ms / x.length + eps);
  return x.map((v, i) => v * scale * weight.data[i]!);
}

/** apply_rotary_pos_emb at position `pos`: x·cos + rotate_half(x)·sin, cos/sin = cat(freqs, freqs). */
function rotary(x: Float64Array, pos: number, invFreq: Float64Array): Float64Array {
  const half = x.length / 2;
  const out = new Float64Array(x.length);
  for (let i = 0; i < half; i++) {
    const angle = pos * invFreq[i]!;
    const [c, s] = [Math.cos(angle), Math.sin(angle)];
    out[i] = x[i]! * c - x[i + half]! * s; // rotate_half: first half gets −x2
    out[i + half] = x[i + half]! * c + x[i]! * s; // second half gets x1
  }
  return out;
}

const silu = (v: number) => v / (1 + Math.exp(-v));

/** Logits [T][vocab] for one sequence of token ids at positions 0 … T − 1. */
export function referenceLogits(cfg: LlamaRefConfig, w: RefWeights, ids: number[]): Float64Array[] {
  if (cfg.windows.length !== cfg.numLayers) throw new Error('reference: one window entry per layer');
  const embed = get(w, 'model.embed_tokens.weight');
  const hidden = cfg.hiddenSize;
  const d = cfg.headDim;
  const shared = cfg.invFreq ?? inverseFrequencies(d, cfg.ropeTheta, cfg.rope, ids.length);
  const invFreqAt = cfg.invFreqAt ?? (() => shared);
  if (shared.length !== d / 2) throw new Error('reference: one inverse frequency per pair of dimensions');
  const groups = cfg.heads / cfg.kvHeads; // repeat_kv: query head h reads KV head floor(h / groups)
  let h = ids.map((id) => embed.data.slice(id * hidden, (id + 1) * hidden));
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}.`;
    const attnBias = (name: string, on: boolean) => (on ? get(w, `${p}self_attn.${name}.bias`) : undefined);
    const mlpBias = (name: string) => (cfg.mlpBias ? get(w, `${p}mlp.${name}.bias`) : undefined);
    const head = (vec: Float64Array, i: number) => vec.slice(i * d, (i + 1) * d);
    const qs: Float64Array[][] = [];
    const ks: Float64Array[][] = [];
    const vs: Float64Array[][] = [];
    h.forEach((ht, t) => {
      const x = rmsnorm(ht, get(w, `${p}input_layernorm.weight`), cfg.eps);
      const q = linear(get(w, `${p}self_attn.q_proj.weight`), x, attnBias('q_proj', cfg.qkvBias));
      const k = linear(get(w, `${p}self_attn.k_proj.weight`), x, attnBias('k_proj', cfg.qkvBias));
      const v = linear(get(w, `${p}self_attn.v_proj.weight`), x, attnBias('v_proj', cfg.qkvBias));
      qs.push(Array.from({ length: cfg.heads }, (_, i) => rotary(head(q, i), t, invFreqAt(t))));
      ks.push(Array.from({ length: cfg.kvHeads }, (_, i) => rotary(head(k, i), t, invFreqAt(t))));
      vs.push(Array.from({ length: cfg.kvHeads }, (_, i) => head(v, i)));
    });
    const window = cfg.windows[l] ?? null;
    h = h.map((ht, t) => {
      // causal (j ≤ t) and, on sliding layers, j > t − window
      const visible = [...Array(t + 1).keys()].filter((j) => window === null || j > t - window);
      const concat = new Float64Array(cfg.heads * d);
      for (let hq = 0; hq < cfg.heads; hq++) {
        const kvh = Math.floor(hq / groups);
        const scores = visible.map((j) => {
          let s = 0;
          for (let i = 0; i < d; i++) s += qs[t]![hq]![i]! * ks[j]![kvh]![i]!;
          return s / Math.sqrt(d); // scaling = head_dim ** -0.5
        });
        const max = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - max));
        const z = e.reduce((a, c) => a + c, 0);
        visible.forEach((j, n) => {
          for (let i = 0; i < d; i++) concat[hq * d + i]! += (e[n]! / z) * vs[j]![kvh]![i]!;
        });
      }
      const o = linear(get(w, `${p}self_attn.o_proj.weight`), concat, attnBias('o_proj', cfg.oBias));
      const h1 = ht.map((v, i) => v + o[i]!);
      const x2 = rmsnorm(h1, get(w, `${p}post_attention_layernorm.weight`), cfg.eps);
      const gate = linear(get(w, `${p}mlp.gate_proj.weight`), x2, mlpBias('gate_proj'));
      const up = linear(get(w, `${p}mlp.up_proj.weight`), x2, mlpBias('up_proj'));
      const down = linear(get(w, `${p}mlp.down_proj.weight`), gate.map((g, i) => silu(g) * up[i]!), mlpBias('down_proj'));
      return h1.map((v, i) => v + down[i]!);
    });
  }
  const lmHead = cfg.tied ? embed : get(w, 'lm_head.weight');
  return h.map((ht) => linear(lmHead, rmsnorm(ht, get(w, 'model.norm.weight'), cfg.eps)));
}

/** Mean over t of −log softmax(logits[t])[ids[t + 1]] (the causal-LM loss, no ignored labels). */
export function meanNextTokenNll(logits: ArrayLike<number>[], ids: number[]): number {
  let sum = 0;
  for (let t = 0; t + 1 < ids.length; t++) {
    const row = Array.from(logits[t]!);
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
    sum += lse - row[ids[t + 1]!]!;
  }
  return sum / (ids.length - 1);
}

/**
 * The parameter names transformers' LlamaForCausalLM / Qwen2ForCausalLM / MistralForCausalLM
 * has for the config (state_dict keys; a tied head has no lm_head.weight), with their shapes.
 */
export function referenceParameterShapes(cfg: LlamaRefConfig, vocabSize: number, intermediateSize: number): Map<string, number[]> {
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
    if (cfg.qkvBias) {
      out.set(`${p}self_attn.q_proj.bias`, [heads * d]);
      out.set(`${p}self_attn.k_proj.bias`, [kvHeads * d]);
      out.set(`${p}self_attn.v_proj.bias`, [kvHeads * d]);
    }
    if (cfg.oBias) out.set(`${p}self_attn.o_proj.bias`, [hs]);
    out.set(`${p}post_attention_layernorm.weight`, [hs]);
    out.set(`${p}mlp.gate_proj.weight`, [intermediateSize, hs]);
    out.set(`${p}mlp.up_proj.weight`, [intermediateSize, hs]);
    out.set(`${p}mlp.down_proj.weight`, [hs, intermediateSize]);
    if (cfg.mlpBias) {
      out.set(`${p}mlp.gate_proj.bias`, [intermediateSize]);
      out.set(`${p}mlp.up_proj.bias`, [intermediateSize]);
      out.set(`${p}mlp.down_proj.bias`, [hs]);
    }
  }
  out.set('model.norm.weight', [hs]);
  if (!cfg.tied) out.set('lm_head.weight', [vocabSize, hs]);
  return out;
}
