// Tiny random Qwen3 folders and token data for end-to-end training tests (shared by the distill
// and data-parallel suites).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseModelConfig } from '../src/models/decoder/config.js';
import { randomCausalLM } from '../src/models/decoder/init.js';
import { saveCausalLM } from '../src/models/decoder/weights.js';
import { normal_ } from '../src/nn/index.js';
import * as T from '../src/tensor/index.js';
import { lehmer } from './helpers.js';
import { TextTokenizer, trainByteLevelBpe, writeTokenizerFolder } from '../src/tokenizer/index.js';

export const microConfig = (overrides: Record<string, unknown> = {}) =>
  parseModelConfig({
    model_type: 'qwen3', vocab_size: 40, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, head_dim: 8, tie_word_embeddings: true, torch_dtype: 'float32', ...overrides,
  });

/** A model folder DIR/NAME; `std` sets how peaked its predictions are (a teacher with opinions). */
export function makeModel(dir: string, name: string, seed: number, std: number, overrides: Record<string, unknown> = {}): string {
  const g = new T.Generator(seed);
  const model = randomCausalLM(microConfig(overrides), { generator: g });
  for (const [n, p] of model.namedParameters()) if (!/norm/.test(n)) normal_(p, 0, std, g);
  const path = join(dir, name);
  saveCausalLM(model, path);
  model.dispose();
  return path;
}

/** DIR/NAME: `count` JSONL records of 6–15 pseudo-random token ids. */
export function tokenData(dir: string, name: string, count: number, seed: number, vocab = 40): string {
  const next = lehmer(seed);
  return writeRecords(dir, name, Array.from({ length: count }, () => ({ input_ids: Array.from({ length: 6 + (next() % 10) }, () => next() % vocab) })));
}

/** DIR/NAME: `count` JSONL records of 6–15 pseudo-random token ids whose first 2–4 are a prompt (labels -100). */
export function promptedTokenData(dir: string, name: string, count: number, seed: number, vocab = 40): string {
  const next = lehmer(seed);
  const records = Array.from({ length: count }, () => {
    const ids = Array.from({ length: 6 + (next() % 10) }, () => next() % vocab);
    const prompt = 2 + (next() % 3);
    return { input_ids: ids, labels: ids.map((id, t) => (t < prompt ? -100 : id)) };
  });
  return writeRecords(dir, name, records);
}

/** DIR/NAME: the records as JSON lines; returns the path. */
function writeRecords(dir: string, name: string, records: readonly object[]): string {
  const path = join(dir, name);
  writeFileSync(path, `${records.map((r) => JSON.stringify(r)).join('\n')}\n`);
  return path;
}

/**
 * A byte-level BPE tokenizer trained on `texts` (DIR/tokenizer) and tiny Qwen3 folders over it, one
 * per entry of `models` (DIR/NAME): each with its seed, and its embeddings scaled by `sharpen` (a
 * sharper teacher, as a trained one is: KL well above float32 noise). Returns the vocabulary size.
 */
export function tinyTextModels(dir: string, texts: readonly string[], models: Record<string, { seed: number; sharpen: number }>, vocabSize = 300): number {
  const tokenizerDir = join(dir, 'tokenizer');
  writeTokenizerFolder(tokenizerDir, trainByteLevelBpe([...texts], { vocabSize }));
  const tokenizer = TextTokenizer.fromFolder(tokenizerDir);
  const config = parseModelConfig({
    model_type: 'qwen3', vocab_size: tokenizer.vocabSize, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1,
    head_dim: 16, max_position_embeddings: 256, rope_theta: 10000, tie_word_embeddings: true, torch_dtype: 'float32', eos_token_id: tokenizer.eosTokenId, bos_token_id: null,
  });
  for (const [name, { seed, sharpen }] of Object.entries(models)) {
    const model = randomCausalLM(config, { dtype: 'float32', generator: new T.Generator(seed) });
    T.noGrad(() => model.model.embed_tokens.weight.mul_(sharpen));
    saveCausalLM(model, join(dir, name), { copyFrom: tokenizerDir });
    model.dispose();
  }
  return tokenizer.vocabSize;
}
