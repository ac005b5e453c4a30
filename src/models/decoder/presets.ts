// Named configurations for `distillery init`: the public Qwen3 configs, and small ones for tests
// and demos that keep every structural feature (GQA, head_dim ≠ hidden/heads, tied heads).
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

export const PRESETS: Record<string, Record<string, unknown>> = {
  // Public Hugging Face configs (Qwen/Qwen3-0.6B, -1.7B, -4B).
  'qwen3-0.6b': { ...QWEN3_COMMON, hidden_size: 1024, intermediate_size: 3072, num_hidden_layers: 28, num_attention_heads: 16, num_key_value_heads: 8, max_window_layers: 28 },
  'qwen3-1.7b': { ...QWEN3_COMMON, hidden_size: 2048, intermediate_size: 6144, num_hidden_layers: 28, num_attention_heads: 16, num_key_value_heads: 8, max_window_layers: 28 },
  'qwen3-4b': { ...QWEN3_COMMON, hidden_size: 2560, intermediate_size: 9728, num_hidden_layers: 36, num_attention_heads: 32, num_key_value_heads: 8, max_window_layers: 36 },
  // Small random models with the real vocabulary (so the real tokenizer works with them).
  'qwen3-tiny': { ...QWEN3_COMMON, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 32, max_window_layers: 2, torch_dtype: 'float32' },
  // Very small vocabulary for unit tests and demos with their own tokenizer.
  'qwen3-micro': { ...QWEN3_COMMON, vocab_size: 512, hidden_size: 48, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, max_window_layers: 2, max_position_embeddings: 2048, rope_theta: 10000, torch_dtype: 'float32', bos_token_id: null, eos_token_id: 1 },
};

export function presetConfig(name: string): DecoderConfig {
  const json = PRESETS[name];
  if (!json) throw new Error(`unknown preset '${name}'; available: ${Object.keys(PRESETS).join(', ')}`);
  return parseModelConfig(json, `preset ${name}`);
}
