// CausalLM, the one decoder every family describes (src/models/families), following Hugging Face's
// modeling_llama.py / modeling_qwen3.py / modeling_gemma3.py line for line: pre-norm decoder layers
// (Gemma's with norms after the attention and around the MLP too), per-head RMSNorm on q and k
// before rotary embeddings where the family has it, biases where it has them, full or
// sliding-window grouped-query attention with eager softmax in float32, a gated MLP (SiLU or
// GeLU-tanh), final norm, tied or untied LM head, and capped logits where the family caps them.
// Module attribute paths are the checkpoint's weight names, so loading and saving are dictionary
// walks.
import { Linear, Module, ModuleList, RMSNorm, type ParamOptions } from '../../nn/index.js';
import { arange, batchedMatmul, dropout, fusedSwiglu, keep, kernelsFor, linear, scaledDotProductAttention, type Tensor, tidy, where, zeros } from '../../tensor/index.js';
import type { DecoderConfig } from './config.js';
import { softcap } from './softcap.js';
import { TokenEmbedding } from './token-embedding.js';
import type { KVCache } from './kv-cache.js';
import { allowedAttention, attendableMask, dtypeMin } from './mask.js';
import { applyRotary, ropeCosSin, ropeFrequencies } from './rope.js';

/** What every decoder layer of one forward pass shares, built once per pass. */
export interface LayerInputs {
  cos: Tensor;
  sin: Tensor;
  /** Sliding layers' cos/sin where their rope differs from the full layers' (Gemma 3's local base); null: the same. */
  slidingCos: Tensor | null;
  slidingSin: Tensor | null;
  /** Per attention type, what each query may attend to: boolean [B|1, 1, T, S], true = allowed,
   *  built once per forward for all layers; null means plain causal with no padding. */
  fullAllowed: Tensor | null;
  slidingAllowed: Tensor | null;
  /**
   * The same masks as additive biases in the scores' dtype (0 where allowed, the dtype's minimum
   * where not), for the eager attention: one add per layer, as transformers' eager attention does,
   * instead of a masked_fill whose broadcast boolean mask cost several times the add here, in the
   * forward and again in the backward. Null where the fused kernel takes the boolean mask.
   */
  fullBias: Tensor | null;
  slidingBias: Tensor | null;
  cache?: KVCache;
}

/** An RMSNorm over `dim` in the family's style (Llama's weight, or Gemma's 1 + weight). */
function familyNorm(config: DecoderConfig, dim: number, options: ParamOptions): RMSNorm {
  return new RMSNorm(dim, { ...options, eps: config.rmsNormEps, unitOffset: config.normStyle === 'unit-offset' });
}

/** k, v [B, kvH, S, D] → [B, kvH·n, S, D]: each key/value head serves n query heads. */
function repeatKv(x: Tensor, n: number): Tensor {
  if (n === 1) return x;
  const [b, h, s, d] = x.shape as [number, number, number, number];
  return x.unsqueeze(2).expand(b, h, n, s, d).reshape(b, h * n, s, d);
}

export class Attention extends Module {
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly o_proj: Linear;
  /** Per-head norms of q and k, in families that have them (Qwen3); null elsewhere. */
  readonly q_norm: RMSNorm | null;
  readonly k_norm: RMSNorm | null;
  readonly sliding: boolean;

  constructor(readonly config: DecoderConfig, readonly layerIndex: number, options: ParamOptions) {
    super();
    const { hiddenSize, numAttentionHeads: heads, numKeyValueHeads: kvHeads, headDim, qkvBias, outputBias } = config;
    this.q_proj = this.registerModule('q_proj', new Linear(hiddenSize, heads * headDim, { ...options, bias: qkvBias }));
    this.k_proj = this.registerModule('k_proj', new Linear(hiddenSize, kvHeads * headDim, { ...options, bias: qkvBias }));
    this.v_proj = this.registerModule('v_proj', new Linear(hiddenSize, kvHeads * headDim, { ...options, bias: qkvBias }));
    this.o_proj = this.registerModule('o_proj', new Linear(heads * headDim, hiddenSize, { ...options, bias: outputBias }));
    const headNorm = (name: string) => (config.qkNorm ? this.registerModule(name, familyNorm(config, headDim, options)) : null);
    this.q_norm = headNorm('q_norm');
    this.k_norm = headNorm('k_norm');
    this.sliding = config.layerTypes[layerIndex] === 'sliding_attention';
  }

  forward(x: Tensor, inputs: LayerInputs): Tensor {
    const [batch, length] = x.shape as [number, number, number];
    const { headDim, numAttentionHeads, numKeyValueHeads } = this.config;
    const heads = (t: Tensor) => t.view(batch, length, -1, headDim);
    const normed = (norm: RMSNorm | null, t: Tensor) => (norm ? norm.forward(t) : t);
    let q = normed(this.q_norm, heads(this.q_proj.forward(x))).transpose(1, 2);
    let k = normed(this.k_norm, heads(this.k_proj.forward(x))).transpose(1, 2);
    let v = heads(this.v_proj.forward(x)).transpose(1, 2);
    const [cos, sin] = this.sliding && inputs.slidingCos && inputs.slidingSin ? [inputs.slidingCos, inputs.slidingSin] : [inputs.cos, inputs.sin];
    q = applyRotary(q, cos, sin);
    k = applyRotary(k, cos, sin);
    if (inputs.cache) ({ k, v } = inputs.cache.update(this.layerIndex, k, v));
    const groups = numAttentionHeads / numKeyValueHeads;
    const [allowed, bias] = this.sliding ? [inputs.slidingAllowed, inputs.slidingBias] : [inputs.fullAllowed, inputs.fullBias];
    const dropoutP = this.training ? this.config.attentionDropout : 0;
    const out =
      dropoutP === 0 && kernelsFor(q.device, q.dtype).attention === 'sdpa'
        ? fusedAttend(q, repeatKv(k, groups), repeatKv(v, groups), allowed, this.config.attentionScale)
        : this.#eagerAttend(q, k, v, groups, allowed, bias, dropoutP);
    return this.o_proj.forward(out.transpose(1, 2).reshape(batch, length, -1));
  }

  /**
   * softmax(q kᵀ · scale + mask) v with the softmax in float32, as transformers' eager attention. The
   * `groups` query heads that share a key/value head are stacked along the query axis ([B, kvH,
   * groups·T, D]) and multiplied by that head's keys and values directly: the same products as
   * repeating k and v per query head, without copying them, in half as many (larger) matrix products.
   */
  #eagerAttend(q: Tensor, k: Tensor, v: Tensor, groups: number, allowedMask: Tensor | null, bias: Tensor | null, dropoutP: number): Tensor {
    const [batch, heads, queryLength, headDim] = q.shape as [number, number, number, number];
    const [kvHeads, keyLength] = [k.size(1), k.size(2)];
    const stacked = (t: Tensor, width: number) => t.reshape(batch, kvHeads, groups * queryLength, width);
    const perHead = (t: Tensor, width: number) => t.view(batch, heads, queryLength, width);
    let scores = perHead(batchedMatmul(stacked(q, headDim), k, { transposeB: true }), keyLength);
    const scale = this.config.attentionScale;
    // mask + scale·scores in one pass over the scores.
    if (bias) scores = bias.add(scores, scale);
    else {
      // Dropout on a device whose masks were built for the fused kernel: the boolean mask, applied here.
      const allowed = allowedMask ?? allowedAttention({ queryLength, pastLength: keyLength - queryLength, device: q.device });
      scores = scores.mul(scale).maskedFill(allowed.logicalNot(), dtypeMin(scores.dtype));
    }
    let probs = scores.softmax(-1, { dtype: 'float32' }).to(q.dtype);
    if (dropoutP > 0) probs = dropout(probs, dropoutP, true);
    return perHead(batchedMatmul(stacked(probs, keyLength), v), headDim);
  }
}

/**
 * libtorch 2.x's fused scaled_dot_product_attention, with or without a padding mask (flash or
 * memory-efficient kernels on CUDA, no [T × S] scores kept for backward).
 */
function fusedAttend(q: Tensor, k: Tensor, v: Tensor, allowedMask: Tensor | null, scale: number): Tensor {
  const [queryLength, keyLength] = [q.size(2), k.size(2)];
  // The kernel's own 1/√d unless the family scales otherwise (Gemma's query_pre_attn_scalar).
  const ownScale = scale === 1 / Math.sqrt(q.size(-1)) ? undefined : scale;
  return allowedMask
    ? scaledDotProductAttention(q, k, v, { attnMask: allowedMask, scale: ownScale })
    : scaledDotProductAttention(q, k, v, { isCausal: queryLength > 1 && queryLength === keyLength, scale: ownScale });
}

export class GatedMLP extends Module {
  readonly gate_proj: Linear;
  readonly up_proj: Linear;
  readonly down_proj: Linear;

  constructor(readonly config: DecoderConfig, options: ParamOptions) {
    super();
    const o = { ...options, bias: config.mlpBias };
    this.gate_proj = this.registerModule('gate_proj', new Linear(config.hiddenSize, config.intermediateSize, o));
    this.up_proj = this.registerModule('up_proj', new Linear(config.hiddenSize, config.intermediateSize, o));
    this.down_proj = this.registerModule('down_proj', new Linear(config.intermediateSize, config.hiddenSize, o));
  }

  forward(x: Tensor): Tensor {
    const gate = this.gate_proj.forward(x);
    const up = this.up_proj.forward(x);
    return this.down_proj.forward(this.#gated(gate, up));
  }

  #gated(gate: Tensor, up: Tensor): Tensor {
    // GeLU with the tanh approximation (Gemma): ATen's, as torch's gelu(approximate='tanh').
    if (this.config.hiddenAct === 'gelu_pytorch_tanh') return gate.gelu('tanh').mul(up);
    // One fused pass (forward and backward) where kernelsFor says so; ATen's silu and mul elsewhere.
    return kernelsFor(gate.device, gate.dtype).swiglu === 'fused' ? fusedSwiglu(gate, up) : gate.silu().mul(up);
  }
}

/**
 * A decoder layer. Llama's: x + attn(norm₁(x)), then h + mlp(norm₂(h)), its second norm named
 * post_attention_layernorm. Gemma's sandwich: x + norm₂(attn(norm₁(x))), then
 * h + norm₄(mlp(norm₃(h))), with norm₂ under the same name and norm₃, norm₄ named
 * pre_feedforward_layernorm and post_feedforward_layernorm.
 */
export class DecoderLayer extends Module {
  readonly self_attn: Attention;
  readonly mlp: GatedMLP;
  readonly input_layernorm: RMSNorm;
  readonly post_attention_layernorm: RMSNorm;
  readonly pre_feedforward_layernorm: RMSNorm | null;
  readonly post_feedforward_layernorm: RMSNorm | null;

  constructor(config: DecoderConfig, layerIndex: number, options: ParamOptions) {
    super();
    const norm = (name: string) => this.registerModule(name, familyNorm(config, config.hiddenSize, options));
    this.self_attn = this.registerModule('self_attn', new Attention(config, layerIndex, options));
    this.mlp = this.registerModule('mlp', new GatedMLP(config, options));
    this.input_layernorm = norm('input_layernorm');
    this.post_attention_layernorm = norm('post_attention_layernorm');
    this.pre_feedforward_layernorm = config.sandwichNorms ? norm('pre_feedforward_layernorm') : null;
    this.post_feedforward_layernorm = config.sandwichNorms ? norm('post_feedforward_layernorm') : null;
  }

  forward(x: Tensor, inputs: LayerInputs): Tensor {
    const attended = this.self_attn.forward(this.input_layernorm.forward(x), inputs);
    if (!this.pre_feedforward_layernorm || !this.post_feedforward_layernorm) {
      const h = x.add(attended);
      return h.add(this.mlp.forward(this.post_attention_layernorm.forward(h)));
    }
    const h = x.add(this.post_attention_layernorm.forward(attended));
    return h.add(this.post_feedforward_layernorm.forward(this.mlp.forward(this.pre_feedforward_layernorm.forward(h))));
  }
}

export interface ForwardOptions {
  /** [B, past + T]: 1 for real tokens, 0 for padding. */
  attentionMask?: Tensor;
  /** [B, T] absolute positions; by default the running index (or derived from the mask). */
  positionIds?: Tensor;
  cache?: KVCache;
  /** [B, T, hidden] input embeddings to use instead of looking up `inputIds` (as inputs_embeds in transformers). */
  inputsEmbeds?: Tensor;
}

export class DecoderModel extends Module {
  readonly embed_tokens: TokenEmbedding;
  readonly layers: ModuleList<DecoderLayer>;
  readonly norm: RMSNorm;
  readonly #rope = new Map<string, { invFreq: Tensor; attentionScaling: number }>();

  constructor(readonly config: DecoderConfig, options: ParamOptions) {
    super();
    this.embed_tokens = this.registerModule('embed_tokens', new TokenEmbedding(config.vocabSize, config.hiddenSize, config.scaleEmbeddings, options));
    const layers = Array.from({ length: config.numHiddenLayers }, (_, i) => new DecoderLayer(config, i, options));
    this.layers = this.registerModule('layers', new ModuleList(layers));
    this.norm = this.registerModule('norm', familyNorm(config, config.hiddenSize, options));
  }

  /**
   * Inverse rotary frequencies, computed once per device (a non-persistent buffer, as in
   * transformers): the full layers', or the sliding layers' own (Gemma 3: their base, unscaled).
   */
  #frequencies(device: string, layers: 'full' | 'sliding'): { invFreq: Tensor; attentionScaling: number } {
    const key = `${device}/${layers}`;
    let rope = this.#rope.get(key);
    if (!rope) {
      const { slidingRopeTheta } = this.config;
      const config = layers === 'sliding' && slidingRopeTheta !== null ? { ...this.config, ropeTheta: slidingRopeTheta, ropeScaling: { type: 'default' as const } } : this.config;
      rope = ropeFrequencies(config, device);
      keep(rope.invFreq); // lives with the model, not with the forward pass that first needed it
      this.#rope.set(key, rope);
    }
    return rope;
  }

  /**
   * Dynamic NTK scaling (rope_type 'dynamic') for a pass whose positions go past
   * max_position_embeddings: the frequencies for its longest sequence, made for this pass only (a
   * few floats, freed with it). As in transformers' dynamic_rope_update, keys already in a KV cache
   * keep the rotation they were given, and each generation step past the limit rotates its token
   * with the frequencies of its own length. Unlike transformers, a pass never inherits the growth of
   * an earlier, longer one: the result depends only on the inputs. null: the cached frequencies serve.
   */
  #dynamicFrequencies(positions: Tensor, positionBound: number, explicitPositions: boolean): { invFreq: Tensor; attentionScaling: number } | null {
    const { ropeScaling, maxPositionEmbeddings } = this.config;
    if (ropeScaling.type !== 'dynamic') return null;
    // Running positions stay below past + length: only then is reading the largest one needed.
    if (!explicitPositions && positionBound <= maxPositionEmbeddings) return null;
    const sequenceLength = Number(positions.max().item()) + 1;
    return sequenceLength > maxPositionEmbeddings ? ropeFrequencies(this.config, positions.device, sequenceLength) : null;
  }

  /** Final-norm hidden states [B, T, hidden] for token ids [B, T]. */
  forward(inputIds: Tensor, options: ForwardOptions = {}): Tensor {
    return tidy(() => {
      let { embeddings: h, inputs } = this.layerInputs(inputIds, options);
      for (const layer of this.layers.items) h = tidy(() => layer.forward(h, inputs));
      return this.norm.forward(h);
    });
  }

  /**
   * The first decoder layer's input (the token embeddings, or `inputsEmbeds`) and what all layers
   * share: rotary cos/sin for the positions and the attention masks. Split from forward() so that
   * activation checkpointing (checkpointing.ts) can run the layers one at a time.
   */
  layerInputs(inputIds: Tensor, options: ForwardOptions = {}): { embeddings: Tensor; inputs: LayerInputs } {
    const length = inputIds.size(1);
    const device = inputIds.device;
    const past = options.cache?.length ?? 0;
    return tidy(() => {
      const positions = options.positionIds ?? defaultPositions(length, past, device, options.attentionMask);
      const embeddings = options.inputsEmbeds ?? this.embed_tokens.forward(inputIds);
      const rotary = (layers: 'full' | 'sliding') => {
        const { invFreq, attentionScaling } = (layers === 'full' && this.#dynamicFrequencies(positions, past + length, options.positionIds !== undefined)) || this.#frequencies(device, layers);
        return ropeCosSin(invFreq, attentionScaling, positions, embeddings.dtype);
      };
      const { cos, sin } = rotary('full');
      const needsSliding = this.config.layerTypes.includes('sliding_attention');
      const slidingRotary = needsSliding && this.config.slidingRopeTheta !== null ? rotary('sliding') : null;
      const common = { queryLength: length, pastLength: past, attentionMask: options.attentionMask, device };
      // Without padding, and with queries either the whole sequence or one new token, the mask is
      // plain causal and the fused attention kernel can apply it itself.
      const plainCausal = !options.attentionMask && (past === 0 || length === 1);
      const fused = kernelsFor(device, embeddings.dtype).attention === 'sdpa';
      const full = plainCausal && fused ? null : attendableMask(allowedAttention(common));
      const sliding = needsSliding ? attendableMask(allowedAttention({ ...common, slidingWindow: this.config.slidingWindow })) : null;
      // Built in the scores' dtype from the start: a float64 model's minimum does not fit a float32 mask.
      const additive = (allowed: Tensor | null) => (allowed && !fused ? where(allowed, zeros([], { dtype: embeddings.dtype, device }), dtypeMin(embeddings.dtype)) : null);
      const inputs: LayerInputs = {
        cos,
        sin,
        slidingCos: slidingRotary?.cos ?? null,
        slidingSin: slidingRotary?.sin ?? null,
        fullAllowed: full,
        slidingAllowed: sliding,
        fullBias: additive(full),
        slidingBias: additive(sliding),
        cache: options.cache,
      };
      return { embeddings, inputs };
    });
  }

  override dispose(): void {
    super.dispose();
    for (const { invFreq } of this.#rope.values()) invFreq.dispose();
    this.#rope.clear();
  }
}

/**
 * Running positions; with a padding mask, each row counts only its real tokens (left padding).
 * Without one every row has the same positions: [1, T], so rotary cos/sin are built once and
 * broadcast over the batch instead of being repeated per row (the same products, less to read).
 */
function defaultPositions(length: number, past: number, device: string, attentionMask?: Tensor): Tensor {
  return tidy(() => {
    if (!attentionMask) return arange(past, past + length, 1, { device }).unsqueeze(0);
    return attentionMask.long().cumsum(-1).sub(1).clamp(0).slice(1, past);
  });
}

export class CausalLM extends Module {
  readonly model: DecoderModel;
  readonly lm_head: Linear | null;

  constructor(readonly config: DecoderConfig, options: ParamOptions = {}) {
    super();
    this.model = this.registerModule('model', new DecoderModel(config, options));
    // Tied: the head reuses embed_tokens.weight and checkpoints carry no lm_head.weight.
    this.lm_head = config.tieWordEmbeddings ? null : this.registerModule('lm_head', new Linear(config.hiddenSize, config.vocabSize, { ...options, bias: false }));
  }

  /** The [vocab, hidden] matrix that maps hidden states to logits. */
  get lmHeadWeight(): Tensor {
    return this.lm_head ? this.lm_head.weight : this.model.embed_tokens.weight;
  }

  /** Final hidden states [B, T, hidden] (the LM head not applied: for chunked losses). */
  hiddenStates(inputIds: Tensor, options: ForwardOptions = {}): Tensor {
    return this.model.forward(inputIds, options);
  }

  /** Logits [B, T, vocab]: position t scores the token at t + 1. */
  forward(inputIds: Tensor, options: ForwardOptions = {}): Tensor {
    return tidy(() => this.logitsFrom(this.hiddenStates(inputIds, options)));
  }

  /** Logits from final hidden states [.., hidden]: the LM head, then the family's cap where it has one. */
  logitsFrom(hidden: Tensor): Tensor {
    return tidy(() => softcap(linear(hidden, this.lmHeadWeight), this.config.finalLogitSoftcap));
  }

  get device(): string {
    return this.model.embed_tokens.weight.device;
  }

  get dtype(): Tensor['dtype'] {
    return this.model.embed_tokens.weight.dtype;
  }
}
