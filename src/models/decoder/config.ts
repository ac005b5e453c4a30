// The decoder's configuration: every field of a supported family's config.json (Qwen3Config,
// LlamaConfig, ...), validated with errors that name the file and field, and written back in the
// same form. The fields every family shares are read here; each family's own fields by its
// description (src/models/families).
import { readJsonFile } from '../../io/json-file.js';
import { type DType, isDType } from '../../tensor/dtype.js';
import { FAMILIES } from '../families/index.js';
import { configReader, type Json, ModelConfigError } from './config-reader.js';
import { type FamilyLayout, HIDDEN_ACTS, type HiddenAct } from './family.js';

export { ModelConfigError };

export type RopeScaling =
  | { type: 'default' }
  | { type: 'linear'; factor: number }
  /** Dynamic NTK: past max_position_embeddings, the base grows with the sequence (rope.ts). */
  | { type: 'dynamic'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number }
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

export interface DecoderConfig extends FamilyLayout {
  /** The family (config.json's model_type) this config describes: src/models/families. */
  modelType: string;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  /** The MLP's gate activation (config.json's hidden_act, Gemma's hidden_activation). */
  hiddenAct: HiddenAct;
  maxPositionEmbeddings: number;
  initializerRange: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  tieWordEmbeddings: boolean;
  attentionDropout: number;
  /** RMSNorm over each head of q and k before the rotary embedding (the family's). */
  qkNorm: boolean;
  /** The family's own config.json fields (attention_bias, use_sliding_window, ...), as written back. */
  familyFields: Record<string, unknown>;
  torchDtype: DType;
  bosTokenId: number | null;
  eosTokenId: number | number[] | null;
  padTokenId: number | null;
  /** Fields of config.json this version does not model, preserved when saving. */
  extra: Record<string, unknown>;
}

/** Fields every family reads the same way. */
const COMMON_FIELDS = [
  'model_type', 'architectures', 'vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers',
  'num_attention_heads', 'num_key_value_heads', 'head_dim', 'max_position_embeddings',
  'initializer_range', 'rms_norm_eps', 'rope_theta', 'rope_scaling', 'rope_parameters', 'tie_word_embeddings',
  'attention_dropout', 'torch_dtype', 'dtype', 'bos_token_id', 'eos_token_id', 'pad_token_id', 'use_cache', 'transformers_version',
];

function parseRopeScaling(source: string, json: Json, maxPositions: number, defaultTheta: number): { theta: number; scaling: RopeScaling } {
  // transformers >= 4.56 writes rope_parameters {rope_type, rope_theta, ...}; older files use
  // rope_theta plus an optional rope_scaling {type|rope_type, factor, ...}.
  let params = (json.rope_parameters ?? json.rope_scaling) as Json | null | undefined;
  // transformers 5 writes one set per layer type where they differ (Gemma 3): the full layers'
  // rope is read here, the sliding layers' by the family (slidingRopeTheta).
  if (params && typeof params === 'object' && 'full_attention' in params) params = params.full_attention as Json;
  const r = configReader(source, json);
  let theta = r.num('rope_theta', defaultTheta);
  if (params === null || params === undefined) return { theta, scaling: { type: 'default' } };
  if (typeof params !== 'object' || Array.isArray(params)) r.fail(json.rope_parameters ? 'rope_parameters' : 'rope_scaling', 'an object');
  const field = json.rope_parameters ? 'rope_parameters' : 'rope_scaling';
  const p = configReader(`${source} (${field})`, params as Json);
  if (p.has('rope_theta')) theta = p.num('rope_theta', theta);
  const type = (params.rope_type ?? params.type ?? 'default') as string;
  const factor = () => (p.has('factor') ? p.num('factor', 1) : p.fail('factor', 'a positive number'));
  switch (type) {
    case 'default':
      return { theta, scaling: { type: 'default' } };
    case 'linear':
      return { theta, scaling: { type: 'linear', factor: factor() } };
    case 'dynamic':
      return { theta, scaling: { type: 'dynamic', factor: factor() } };
    case 'llama3':
      return {
        theta,
        scaling: {
          type: 'llama3',
          factor: factor(),
          lowFreqFactor: p.requiredNum('low_freq_factor'),
          highFreqFactor: p.requiredNum('high_freq_factor'),
          originalMaxPositionEmbeddings: p.int('original_max_position_embeddings'),
        },
      };
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
      throw new ModelConfigError(`${source}: ${field}.rope_type '${type}' is not supported; supported: default, linear, dynamic, llama3, yarn`);
  }
}

/**
 * Multimodal folders whose language model Distillery distills: config.json's model_type, the
 * class, and the field holding the text model's config. Their other towers are skipped.
 */
const TEXT_PARTS: Record<string, { architecture: string; field: string; textModelType: string }> = {
  gemma3: { architecture: 'Gemma3ForConditionalGeneration', field: 'text_config', textModelType: 'gemma3_text' },
};

/** Fields the text model takes from the outer config when its own config leaves them out. */
const INHERITED_FIELDS = ['torch_dtype', 'dtype', 'bos_token_id', 'eos_token_id', 'pad_token_id'];

/** The class of the multimodal model a config.json describes, when Distillery uses only its language model; else null. */
export function textPartOf(json: unknown): string | null {
  const type = (json as Json | null)?.model_type;
  return typeof type === 'string' ? (TEXT_PARTS[type]?.architecture ?? null) : null;
}

/** A multimodal config's text model config, with what it inherits; other configs as they are. */
function languageModelConfig(j: Json, source: string): Json {
  const part = TEXT_PARTS[j.model_type as string];
  if (!part) return j;
  const text = j[part.field];
  if (text === null || typeof text !== 'object' || Array.isArray(text)) {
    throw new ModelConfigError(`${source}: a '${j.model_type}' config (${part.architecture}) must have a '${part.field}' object: the language model's config`);
  }
  const inherited = Object.fromEntries(INHERITED_FIELDS.filter((k) => j[k] !== undefined).map((k) => [k, j[k]]));
  return { ...inherited, ...(text as Json), model_type: part.textModelType };
}

/** Validates a parsed config.json of a supported family. `source` names the file in errors. */
export function parseModelConfig(json: unknown, source = 'config.json'): DecoderConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new ModelConfigError(`${source}: must be a JSON object`);
  const own = languageModelConfig(json as Json, source);
  const family = FAMILIES.get(own.model_type as string);
  if (!family) {
    const supported = [...FAMILIES.values()].map((f) => `'${f.modelType}' (${f.architecture})`).join(', ');
    const parts = Object.entries(TEXT_PARTS).map(([type, p]) => `'${type}' (${p.architecture}, its language model)`).join(', ');
    throw new ModelConfigError(`${source}: model_type is ${JSON.stringify(own.model_type)}; Distillery supports ${supported}, ${parts}`);
  }
  // Fields the file leaves out take the family's config class defaults, as transformers fills them.
  const j: Json = { ...family.defaults, ...own };
  const r = configReader(source, j);
  const hiddenSize = r.int('hidden_size');
  const numAttentionHeads = r.int('num_attention_heads');
  const numKeyValueHeads = r.int('num_key_value_heads', numAttentionHeads);
  const numHiddenLayers = r.int('num_hidden_layers');
  // head_dim may be explicit and differ from hidden_size / heads (Qwen3-0.6B: 16 × 128 ≠ 1024).
  const headDim = r.has('head_dim') ? r.int('head_dim') : hiddenSize / numAttentionHeads;
  if (!Number.isInteger(headDim)) throw new ModelConfigError(`${source}: no head_dim given and hidden_size ${hiddenSize} is not divisible by num_attention_heads ${numAttentionHeads}`);
  if (headDim % 2 !== 0) throw new ModelConfigError(`${source}: head_dim ${headDim} must be even for rotary embeddings`);
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    throw new ModelConfigError(`${source}: num_attention_heads ${numAttentionHeads} must be a multiple of num_key_value_heads ${numKeyValueHeads}`);
  }
  const hiddenAct = (j[family.activationField] ?? 'silu') as HiddenAct;
  if (!HIDDEN_ACTS.includes(hiddenAct)) r.fail(family.activationField, `one of ${HIDDEN_ACTS.join(', ')}`);
  const maxPositionEmbeddings = r.int('max_position_embeddings');
  const { theta, scaling } = parseRopeScaling(source, j, maxPositionEmbeddings, 10000);
  const { layout, fields: familyFields } = family.read(r, j, { numHiddenLayers, headDim });
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
  const known = new Set([...COMMON_FIELDS, family.activationField, ...family.fields]);
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(j)) if (!known.has(k)) extra[k] = v;
  return {
    modelType: family.modelType,
    vocabSize: r.int('vocab_size'),
    hiddenSize,
    intermediateSize: r.int('intermediate_size'),
    numHiddenLayers,
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    hiddenAct,
    maxPositionEmbeddings,
    initializerRange: r.num('initializer_range', 0.02),
    rmsNormEps: r.num('rms_norm_eps', 1e-6),
    ropeTheta: theta,
    ropeScaling: scaling,
    tieWordEmbeddings: r.bool('tie_word_embeddings', false),
    attentionDropout: r.num('attention_dropout', 0, false),
    qkNorm: family.qkNorm,
    ...layout,
    familyFields,
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
  if (s.type === 'linear' || s.type === 'dynamic') return { rope_type: s.type, factor: s.factor };
  if (s.type === 'llama3') {
    return { rope_type: 'llama3', factor: s.factor, low_freq_factor: s.lowFreqFactor, high_freq_factor: s.highFreqFactor, original_max_position_embeddings: s.originalMaxPositionEmbeddings };
  }
  const out: Json = { rope_type: 'yarn', factor: s.factor, original_max_position_embeddings: s.originalMaxPositionEmbeddings, beta_fast: s.betaFast, beta_slow: s.betaSlow };
  if (s.attentionFactor !== undefined) out.attention_factor = s.attentionFactor;
  if (s.mscale !== undefined) out.mscale = s.mscale;
  if (s.mscaleAllDim !== undefined) out.mscale_all_dim = s.mscaleAllDim;
  if (!s.truncate) out.truncate = false;
  return out;
}

/** config.json as transformers writes it for the config's family. */
export function modelConfigToJson(config: DecoderConfig, dtype: DType = config.torchDtype): Json {
  const family = FAMILIES.get(config.modelType)!;
  return {
    ...config.extra,
    architectures: [family.architecture],
    model_type: family.modelType,
    vocab_size: config.vocabSize,
    hidden_size: config.hiddenSize,
    intermediate_size: config.intermediateSize,
    num_hidden_layers: config.numHiddenLayers,
    num_attention_heads: config.numAttentionHeads,
    num_key_value_heads: config.numKeyValueHeads,
    head_dim: config.headDim,
    [family.activationField]: config.hiddenAct,
    max_position_embeddings: config.maxPositionEmbeddings,
    initializer_range: config.initializerRange,
    rms_norm_eps: config.rmsNormEps,
    rope_theta: config.ropeTheta,
    rope_scaling: ropeToJson(config),
    tie_word_embeddings: config.tieWordEmbeddings,
    attention_dropout: config.attentionDropout,
    ...config.familyFields,
    torch_dtype: dtype,
    bos_token_id: config.bosTokenId,
    eos_token_id: config.eosTokenId,
    ...(config.padTokenId === null ? {} : { pad_token_id: config.padTokenId }),
    use_cache: true,
  };
}
