// A model family as a description over the one decoder (as transformers' modular files derive
// Qwen2 or Mistral from Llama): which optional pieces its layers have, which attention each layer
// runs, and the config.json fields that say so — read, and written back as transformers writes them.
import { type ConfigReader, type Json, ModelConfigError } from './config-reader.js';

export type LayerType = 'full_attention' | 'sliding_attention';

/** The MLP's gate activations the decoder runs (transformers' ACT2FN names). */
export const HIDDEN_ACTS = ['silu', 'gelu_pytorch_tanh'] as const;
export type HiddenAct = (typeof HIDDEN_ACTS)[number];

/** What a family's own config.json fields say about the decoder. */
export interface FamilyLayout {
  /** Biases of the q, k and v projections; of o_proj; of the MLP's gate, up and down projections. */
  qkvBias: boolean;
  outputBias: boolean;
  mlpBias: boolean;
  /** Keys a sliding-attention layer's query sees (i − window < j ≤ i); null when no layer slides. */
  slidingWindow: number | null;
  /** Per layer. */
  layerTypes: LayerType[];
  /**
   * How RMSNorm scales the normalised input: Llama's `weight` (the norm cast to the input dtype,
   * then times the weight), or Gemma's `unit-offset` ((1 + weight) times the norm in float32, then
   * cast; weights initialised to zero).
   */
  normStyle: 'weight' | 'unit-offset';
  /** Gemma's: the attention's and the MLP's outputs are normed too (four norms per layer). */
  sandwichNorms: boolean;
  /** Token embeddings times √hidden_size, the factor rounded to the weights' dtype (Gemma). */
  scaleEmbeddings: boolean;
  /** Attention scores are q·kᵀ times this (1/√head_dim, or Gemma's query_pre_attn_scalar^−½). */
  attentionScale: number;
  /** cap·tanh(x/cap) on the final logits (Gemma 2 style); null: none. */
  finalLogitSoftcap: number | null;
  /** Sliding layers' rotary base when it differs from the full layers' (Gemma 3's local rope, unscaled); null: the same rope. */
  slidingRopeTheta: number | null;
}

/** The layout pieces Llama and the families derived from it share (all but biases and windows). */
export function llamaLayout(headDim: number): Pick<FamilyLayout, 'normStyle' | 'sandwichNorms' | 'scaleEmbeddings' | 'attentionScale' | 'finalLogitSoftcap' | 'slidingRopeTheta'> {
  return {
    normStyle: 'weight',
    sandwichNorms: false,
    scaleEmbeddings: false,
    attentionScale: 1 / Math.sqrt(headDim),
    finalLogitSoftcap: null,
    slidingRopeTheta: null,
  };
}

export interface FamilyDescription {
  /** config.json's model_type. */
  modelType: string;
  /** config.json's architectures entry (transformers' class). */
  architecture: string;
  /** RMSNorm over each head of q and k before the rotary embedding (Qwen3). */
  qkNorm: boolean;
  /**
   * Values of config.json fields the file may leave out, as the family's config class defaults
   * them (merged under the file's own before anything is read).
   */
  defaults: Json;
  /** config.json's field naming the MLP activation ('hidden_act'; Gemma's 'hidden_activation'). */
  activationField: string;
  /** The family's own fields (beyond the common ones) that `read` consumes. */
  fields: readonly string[];
  /** The layout its fields describe, and the fields as they will be written back. */
  read(r: ConfigReader, json: Json, shape: { numHiddenLayers: number; headDim: number }): { layout: FamilyLayout; fields: Json };
}

/** Per-layer types from an explicit layer_types list, validated; null when the file has none. */
export function explicitLayerTypes(r: ConfigReader, json: Json, numHiddenLayers: number): LayerType[] | null {
  if (!r.has('layer_types')) return null;
  const types = json.layer_types;
  if (!Array.isArray(types) || types.length !== numHiddenLayers || !types.every((t) => t === 'full_attention' || t === 'sliding_attention')) {
    r.fail('layer_types', `an array of ${numHiddenLayers} entries, each 'full_attention' or 'sliding_attention'`);
  }
  return types as LayerType[];
}

/**
 * Qwen2's and Qwen3's windows: `use_sliding_window` turns them on, for layers from
 * `max_window_layers` on (or as `layer_types` lists them).
 */
export function qwenWindows(r: ConfigReader, json: Json, numHiddenLayers: number): { slidingWindow: number | null; layerTypes: LayerType[]; fields: Json } {
  const useSlidingWindow = r.bool('use_sliding_window', false);
  const slidingWindow = useSlidingWindow ? r.int('sliding_window', 4096) : null;
  // Qwen2Config's and Qwen3Config's default: 28, whatever the depth.
  const maxWindowLayers = r.int('max_window_layers', 28, 0);
  const layerTypes =
    explicitLayerTypes(r, json, numHiddenLayers) ??
    Array.from({ length: numHiddenLayers }, (_, i): LayerType => (slidingWindow !== null && i >= maxWindowLayers ? 'sliding_attention' : 'full_attention'));
  if (layerTypes.includes('sliding_attention') && slidingWindow === null) {
    throw new ModelConfigError(`${r.source}: layer_types has sliding_attention layers but use_sliding_window is false / sliding_window is unset`);
  }
  return {
    slidingWindow,
    layerTypes,
    fields: { use_sliding_window: useSlidingWindow, sliding_window: json.sliding_window ?? null, max_window_layers: maxWindowLayers, layer_types: layerTypes },
  };
}
