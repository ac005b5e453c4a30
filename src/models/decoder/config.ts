// Qwen3 configuration: every field of Hugging Face's DecoderConfig (config.json), validated with
// errors that name the file and field, and written back in the same form.
import { readJsonFile } from '../../io/json-file.js';
import { type DType, isDType } from '../../tensor/dtype.js';

export type RopeScaling =
  | { type: 'default' }
  | { type: 'linear'; factor: number }
  | {
      type: 'yarn';
      factor: number;
      originalMaxPositionEmbeddings: number;
      betaFast: number;
      betaSlow: number;
      attentionFactor?: number;
      mscale?: number;
      mscaleAllDim?: number;
      truncate: boolean;
    };

export interface DecoderConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  hiddenAct: 'silu';
  maxPositionEmbeddings: number;
  initializerRange: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  tieWordEmbeddings: boolean;
  attentionBias: boolean;
  attentionDropout: number;
  useSlidingWindow: boolean;
  slidingWindow: number | null;
  maxWindowLayers: number;
  /** Per layer: 'full_attention' or 'sliding_attention'. */
  layerTypes: ('full_attention' | 'sliding_attention')[];
  torchDtype: DType;
  bosTokenId: number | null;
  eosTokenId: number | number[] | null;
  padTokenId: number | null;
  /** Fields of config.json this version does not model, preserved when saving. */
  extra: Record<string, unknown>;
}

/** A config.json that is not a Qwen3 model Distillery can build (the file and field named). */
export class ModelConfigError extends Error {
  override name = 'ModelConfigError';
}

type Json = Record<string, unknown>;

const KNOWN = new Set([
  'model_type', 'architectures', 'vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers',
  'num_attention_heads', 'num_key_value_heads', 'head_dim', 'hidden_act', 'max_position_embeddings',
  'initializer_range', 'rms_norm_eps', 'rope_theta', 'rope_scaling', 'rope_parameters', 'tie_word_embeddings',
  'attention_bias', 'attention_dropout', 'use_sliding_window', 'sliding_window', 'max_window_layers', 'layer_types',
  'torch_dtype', 'dtype', 'bos_token_id', 'eos_token_id', 'pad_token_id', 'use_cache', 'transformers_version',
]);

function reader(source: string, json: Json) {
  const fail = (field: string, expected: string): never => {
    throw new ModelConfigError(`${source}: field '${field}' must be ${expected}, got ${JSON.stringify(json[field])}`);
  };
  const has = (field: string) => json[field] !== undefined && json[field] !== null;
  return {
    has,
    int(field: string, fallback?: number, min = 1): number {
      if (!has(field)) {
        if (fallback === undefined) throw new ModelConfigError(`${source}: required field '${field}' is missing`);
        return fallback;
      }
      const v = json[field];
      return typeof v === 'number' && Number.isSafeInteger(v) && v >= min ? v : fail(field, `an integer >= ${min}`);
    },
    num(field: string, fallback: number, positive = true): number {
      if (!has(field)) return fallback;
      const v = json[field];
      return typeof v === 'number' && Number.isFinite(v) && (!positive || v > 0) ? v : fail(field, positive ? 'a positive number' : 'a number');
    },
    bool(field: string, fallback: boolean): boolean {
      if (!has(field)) return fallback;
      const v = json[field];
      return typeof v === 'boolean' ? v : fail(field, 'true or false');
    },
    tokenId(field: string): number | null {
      if (!has(field)) return null;
      const v = json[field];
      return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : fail(field, 'a token id');
    },
    fail,
  };
}

function parseRopeScaling(source: string, json: Json, maxPositions: number): { theta: number; scaling: RopeScaling } {
  // transformers >= 4.56 writes rope_parameters {rope_type, rope_theta, ...}; older files use
  // rope_theta plus an optional rope_scaling {type|rope_type, factor, ...}.
  const params = (json.rope_parameters ?? json.rope_scaling) as Json | null | undefined;
  const r = reader(source, json);
  let theta = r.num('rope_theta', 10000);
  if (params === null || params === undefined) return { theta, scaling: { type: 'default' } };
  if (typeof params !== 'object' || Array.isArray(params)) r.fail(json.rope_parameters ? 'rope_parameters' : 'rope_scaling', 'an object');
  const field = json.rope_parameters ? 'rope_parameters' : 'rope_scaling';
  const p = reader(`${source} (${field})`, params);
  if (p.has('rope_theta')) theta = p.num('rope_theta', theta);
  const type = (params.rope_type ?? params.type ?? 'default') as string;
  const factor = () => (p.has('factor') ? p.num('factor', 1) : p.fail('factor', 'a positive number'));
  switch (type) {
    case 'default':
      return { theta, scaling: { type: 'default' } };
    case 'linear':
      return { theta, scaling: { type: 'linear', factor: factor() } };
    case 'yarn': {
      const original = p.has('original_max_position_embeddings') ? p.int('original_max_position_embeddings') : maxPositions;
      return {
        theta,
        scaling: {
          type: 'yarn',
          factor: factor(),
          originalMaxPositionEmbeddings: original,
          betaFast: p.num('beta_fast', 32),
          betaSlow: p.num('beta_slow', 1),
          attentionFactor: p.has('attention_factor') ? p.num('attention_factor', 1) : undefined,
          mscale: p.has('mscale') ? p.num('mscale', 1) : undefined,
          mscaleAllDim: p.has('mscale_all_dim') ? p.num('mscale_all_dim', 1) : undefined,
          truncate: p.bool('truncate', true),
        },
      };
    }
    default:
      throw new ModelConfigError(`${source}: ${field}.rope_type '${type}' is not supported; supported: default, linear, yarn`);
  }
}

/** Validates a parsed config.json. `source` names the file in errors. */
export function parseModelConfig(json: unknown, source = 'config.json'): DecoderConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new ModelConfigError(`${source}: must be a JSON object`);
  const j = json as Json;
  if (j.model_type !== 'qwen3') {
    throw new ModelConfigError(`${source}: model_type is ${JSON.stringify(j.model_type)}; Distillery supports 'qwen3' (Qwen3ForCausalLM)`);
  }
  const r = reader(source, j);
  const hiddenSize = r.int('hidden_size');
  const numAttentionHeads = r.int('num_attention_heads');
  const numKeyValueHeads = r.int('num_key_value_heads', numAttentionHeads);
  const numHiddenLayers = r.int('num_hidden_layers');
  // Qwen3's head_dim is explicit and need not equal hidden_size / heads (0.6B: 16 × 128 ≠ 1024).
  const headDim = r.has('head_dim') ? r.int('head_dim') : hiddenSize / numAttentionHeads;
  if (!Number.isInteger(headDim)) throw new ModelConfigError(`${source}: no head_dim given and hidden_size ${hiddenSize} is not divisible by num_attention_heads ${numAttentionHeads}`);
  if (headDim % 2 !== 0) throw new ModelConfigError(`${source}: head_dim ${headDim} must be even for rotary embeddings`);
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    throw new ModelConfigError(`${source}: num_attention_heads ${numAttentionHeads} must be a multiple of num_key_value_heads ${numKeyValueHeads}`);
  }
  const act = j.hidden_act ?? 'silu';
  if (act !== 'silu') throw new ModelConfigError(`${source}: hidden_act '${String(act)}' is not supported; Qwen3 uses 'silu'`);
  const maxPositionEmbeddings = r.int('max_position_embeddings', 32768);
  const { theta, scaling } = parseRopeScaling(source, j, maxPositionEmbeddings);
  const useSlidingWindow = r.bool('use_sliding_window', false);
  const slidingWindow = useSlidingWindow ? r.int('sliding_window', 4096) : null;
  const maxWindowLayers = r.int('max_window_layers', numHiddenLayers, 0);
  let layerTypes: DecoderConfig['layerTypes'];
  if (r.has('layer_types')) {
    const lt = j.layer_types;
    if (!Array.isArray(lt) || lt.length !== numHiddenLayers || !lt.every((t) => t === 'full_attention' || t === 'sliding_attention')) {
      r.fail('layer_types', `an array of ${numHiddenLayers} entries, each 'full_attention' or 'sliding_attention'`);
    }
    layerTypes = lt as DecoderConfig['layerTypes'];
  } else {
    // DecoderConfig's default: sliding attention from layer max_window_layers on, when enabled.
    layerTypes = Array.from({ length: numHiddenLayers }, (_, i) => (slidingWindow !== null && i >= maxWindowLayers ? 'sliding_attention' : 'full_attention'));
  }
  if (layerTypes.includes('sliding_attention') && slidingWindow === null) {
    throw new ModelConfigError(`${source}: layer_types has sliding_attention layers but use_sliding_window is false / sliding_window is unset`);
  }
  const dtypeName = (j.dtype ?? j.torch_dtype ?? 'float32') as string;
  const torchDtype = dtypeName === 'float' ? 'float32' : dtypeName === 'half' ? 'float16' : dtypeName;
  if (!isDType(torchDtype) || !['float32', 'bfloat16', 'float16'].includes(torchDtype)) {
    throw new ModelConfigError(`${source}: torch_dtype '${dtypeName}' must be float32, bfloat16 or float16`);
  }
  let eos: number | number[] | null = null;
  if (Array.isArray(j.eos_token_id)) {
    if (!j.eos_token_id.every((v) => Number.isSafeInteger(v) && v >= 0)) r.fail('eos_token_id', 'a token id or a list of them');
    eos = j.eos_token_id as number[];
  } else eos = r.tokenId('eos_token_id');
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(j)) if (!KNOWN.has(k)) extra[k] = v;
  return {
    vocabSize: r.int('vocab_size'),
    hiddenSize,
    intermediateSize: r.int('intermediate_size'),
    numHiddenLayers,
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    hiddenAct: 'silu',
    maxPositionEmbeddings,
    initializerRange: r.num('initializer_range', 0.02),
    rmsNormEps: r.num('rms_norm_eps', 1e-6),
    ropeTheta: theta,
    ropeScaling: scaling,
    tieWordEmbeddings: r.bool('tie_word_embeddings', false),
    attentionBias: r.bool('attention_bias', false),
    attentionDropout: r.num('attention_dropout', 0, false),
    useSlidingWindow,
    slidingWindow,
    maxWindowLayers,
    layerTypes,
    torchDtype,
    bosTokenId: r.tokenId('bos_token_id'),
    eosTokenId: eos,
    padTokenId: r.tokenId('pad_token_id'),
    extra,
  };
}

export function readModelConfig(path: string): DecoderConfig {
  return parseModelConfig(readJsonFile(path), path);
}

function ropeToJson(config: DecoderConfig): Json | null {
  const s = config.ropeScaling;
  if (s.type === 'default') return null;
  if (s.type === 'linear') return { rope_type: 'linear', factor: s.factor };
  const out: Json = { rope_type: 'yarn', factor: s.factor, original_max_position_embeddings: s.originalMaxPositionEmbeddings, beta_fast: s.betaFast, beta_slow: s.betaSlow };
  if (s.attentionFactor !== undefined) out.attention_factor = s.attentionFactor;
  if (s.mscale !== undefined) out.mscale = s.mscale;
  if (s.mscaleAllDim !== undefined) out.mscale_all_dim = s.mscaleAllDim;
  if (!s.truncate) out.truncate = false;
  return out;
}

/** config.json as transformers writes it for CausalLM. */
export function modelConfigToJson(config: DecoderConfig, dtype: DType = config.torchDtype): Json {
  return {
    ...config.extra,
    architectures: ['Qwen3ForCausalLM'],
    model_type: 'qwen3',
    vocab_size: config.vocabSize,
    hidden_size: config.hiddenSize,
    intermediate_size: config.intermediateSize,
    num_hidden_layers: config.numHiddenLayers,
    num_attention_heads: config.numAttentionHeads,
    num_key_value_heads: config.numKeyValueHeads,
    head_dim: config.headDim,
    hidden_act: config.hiddenAct,
    max_position_embeddings: config.maxPositionEmbeddings,
    initializer_range: config.initializerRange,
    rms_norm_eps: config.rmsNormEps,
    rope_theta: config.ropeTheta,
    rope_scaling: ropeToJson(config),
    tie_word_embeddings: config.tieWordEmbeddings,
    attention_bias: config.attentionBias,
    attention_dropout: config.attentionDropout,
    use_sliding_window: config.useSlidingWindow,
    sliding_window: config.slidingWindow,
    max_window_layers: config.maxWindowLayers,
    layer_types: config.layerTypes,
    torch_dtype: dtype,
    bos_token_id: config.bosTokenId,
    eos_token_id: config.eosTokenId,
    ...(config.padTokenId === null ? {} : { pad_token_id: config.padTokenId }),
    use_cache: true,
  };
}
