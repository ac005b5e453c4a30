// An independent CausalLM forward pass in plain float64 JavaScript loops, written from
// Hugging Face's modeling_qwen3.py (eager attention): no tensor library, no shared code with
// src/, so the model can be checked against it.

export interface RefConfig {
  hiddenSize: number;
  numLayers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  eps: number;
  ropeTheta: number;
  tied: boolean;
  bias: boolean;
  /** Per layer: a window size for sliding-attention layers, or null. */
  windows: (number | null)[];
}

export interface RefWeight {
  shape: number[];
  data: Float64Array;
}
export type RefWeights = Map<string, RefWeight>;

function get(w: RefWeights, name: string): RefWeight {
  const v = w.get(name);
  if (!v) throw new Error(`reference: missing weight ${name}`);
  return v;
}

/** y = W x (+ b) for W [out, in]. */
function matvec(w: RefWeight, x: Float64Array, b?: RefWeight): Float64Array {
  const [out, inp] = w.shape as [number, number];
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = b ? b.data[o]! : 0;
    for (let i = 0; i < inp; i++) s += w.data[o * inp + i]! * x[i]!;
    y[o] = s;
  }
  return y;
}

function rmsnorm(x: Float64Array, weight: RefWeight, eps: number): Float64Array {
  let ms = 0;
  for (const v of x) ms += v * v;
  const scale = 1 / Math.sqrt(ms / x.length + eps);
  return x.map((v, i) => v * scale * weight.data[i]!);
}

/** rotate-half RoPE of one head vector at position `pos`. */
function rope(x: Float64Array, pos: number, theta: number): Float64Array {
  const d = x.length;
  const half = d / 2;
  const out = new Float64Array(d);
  for (let i = 0; i < half; i++) {
    const angle = pos / theta ** ((2 * i) / d);
    const [c, s] = [Math.cos(angle), Math.sin(angle)];
    out[i] = x[i]! * c - x[i + half]! * s;
    out[i + half] = x[i + half]! * c + x[i]! * s;
  }
  return out;
}

const silu = (v: number) => v / (1 + Math.exp(-v));

/** Logits [T][vocab] for one sequence of token ids. */
export function referenceLogits(cfg: RefConfig, w: RefWeights, ids: number[]): Float64Array[] {
  const embed = get(w, 'model.embed_tokens.weight');
  const hidden = cfg.hiddenSize;
  let h = ids.map((id) => embed.data.slice(id * hidden, (id + 1) * hidden));
  const groups = cfg.heads / cfg.kvHeads;
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}.`;
    const b = (name: string) => (cfg.bias ? get(w, `${p}self_attn.${name}.bias`) : undefined);
    const qs: Float64Array[][] = [];
    const ks: Float64Array[][] = [];
    const vs: Float64Array[][] = [];
    h.forEach((ht, t) => {
      const x = rmsnorm(ht, get(w, `${p}input_layernorm.weight`), cfg.eps);
      const q = matvec(get(w, `${p}self_attn.q_proj.weight`), x, b('q_proj'));
      const k = matvec(get(w, `${p}self_attn.k_proj.weight`), x, b('k_proj'));
      const v = matvec(get(w, `${p}self_attn.v_proj.weight`), x, b('v_proj'));
      const head = (vec: Float64Array, i: number) => vec.slice(i * cfg.headDim, (i + 1) * cfg.headDim);
      qs.push(Array.from({ length: cfg.heads }, (_, i) => rope(rmsnorm(head(q, i), get(w, `${p}self_attn.q_norm.weight`), cfg.eps), t, cfg.ropeTheta)));
      ks.push(Array.from({ length: cfg.kvHeads }, (_, i) => rope(rmsnorm(head(k, i), get(w, `${p}self_attn.k_norm.weight`), cfg.eps), t, cfg.ropeTheta)));
      vs.push(Array.from({ length: cfg.kvHeads }, (_, i) => head(v, i)));
    });
    const window = cfg.windows[l] ?? null;
    h = h.map((ht, t) => {
      const concat = new Float64Array(cfg.heads * cfg.headDim);
      for (let hq = 0; hq < cfg.heads; hq++) {
        const kvh = Math.floor(hq / groups);
        const visible = [...Array(t + 1).keys()].filter((j) => window === null || j > t - window);
        const scores = visible.map((j) => {
          let s = 0;
          for (let i = 0; i < cfg.headDim; i++) s += qs[t]![hq]![i]! * ks[j]![kvh]![i]!;
          return s / Math.sqrt(cfg.headDim);
        });
        const max = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - max));
        const z = e.reduce((a, c) => a + c, 0);
        visible.forEach((j, n) => {
          for (let i = 0; i < cfg.headDim; i++) concat[hq * cfg.headDim + i]! += (e[n]! / z) * vs[j]![kvh]![i]!;
        });
      }
      const o = matvec(get(w, `${p}self_attn.o_proj.weight`), concat, b('o_proj'));
      const h1 = ht.map((v, i) => v + o[i]!);
      const x2 = rmsnorm(h1, get(w, `${p}post_attention_layernorm.weight`), cfg.eps);
      const gate = matvec(get(w, `${p}mlp.gate_proj.weight`), x2);
      const up = matvec(get(w, `${p}mlp.up_proj.weight`), x2);
      const down = matvec(get(w, `${p}mlp.down_proj.weight`), gate.map((g, i) => silu(g) * up[i]!));
      return h1.map((v, i) => v + down[i]!);
    });
  }
  const head = cfg.tied ? embed : get(w, 'lm_head.weight');
  return h.map((ht) => matvec(head, rmsnorm(ht, get(w, 'model.norm.weight'), cfg.eps)));
}
