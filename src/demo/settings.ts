// Sizes and budgets of the demo. The default fits the 2-core machine in a few minutes; QUICK is the
// same pipeline shrunk to seconds for the test suite.
import { parseModelConfig, type DecoderConfig } from '../models/decoder/config.js';

export interface ModelShape {
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
}

export interface TrainingBudget {
  steps: number;
  batchSize: number;
  lr: number;
}

export interface LanguageDemoSettings {
  seed: number;
  vocabSize: number;
  /** Tokens per training window. */
  context: number;
  teacher: ModelShape & TrainingBudget;
  student: ModelShape & TrainingBudget;
  /** Bytes of Moby-Dick the students see (the teacher sees the whole book but the held-out chapters). */
  transferBytes: number;
  alpha: number;
  temperature: number;
  evalEvery: number;
  maxEvalWindows: number;
}

export const DEFAULT_LANGUAGE_DEMO: LanguageDemoSettings = {
  seed: 7,
  vocabSize: 1024,
  context: 128,
  teacher: { layers: 4, hidden: 256, heads: 4, kvHeads: 2, headDim: 64, intermediate: 768, steps: 400, batchSize: 16, lr: 2e-3 },
  student: { layers: 2, hidden: 128, heads: 4, kvHeads: 2, headDim: 32, intermediate: 384, steps: 300, batchSize: 16, lr: 2e-3 },
  transferBytes: 60_000,
  alpha: 0.9,
  temperature: 1,
  evalEvery: 25,
  maxEvalWindows: 96,
};

export const QUICK_LANGUAGE_DEMO: LanguageDemoSettings = {
  ...DEFAULT_LANGUAGE_DEMO,
  vocabSize: 300,
  context: 32,
  teacher: { layers: 1, hidden: 32, heads: 2, kvHeads: 1, headDim: 16, intermediate: 64, steps: 12, batchSize: 8, lr: 3e-3 },
  student: { layers: 1, hidden: 16, heads: 2, kvHeads: 1, headDim: 8, intermediate: 32, steps: 8, batchSize: 8, lr: 3e-3 },
  transferBytes: 8_000,
  evalEvery: 4,
  maxEvalWindows: 8,
};

export function demoModelConfig(shape: ModelShape, vocabSize: number, context: number, eosTokenId: number): DecoderConfig {
  return parseModelConfig(
    {
      model_type: 'qwen3',
      vocab_size: vocabSize,
      hidden_size: shape.hidden,
      intermediate_size: shape.intermediate,
      num_hidden_layers: shape.layers,
      num_attention_heads: shape.heads,
      num_key_value_heads: shape.kvHeads,
      head_dim: shape.headDim,
      max_position_embeddings: Math.max(context, 256),
      rope_theta: 10000,
      tie_word_embeddings: true,
      torch_dtype: 'float32',
      eos_token_id: eosTokenId,
      bos_token_id: null,
    },
    'demo model',
  );
}
