// Generation and perplexity against recomputation and hand arithmetic.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseModelConfig } from '../src/models/decoder/config.js';
import { generate, generateBatch } from '../src/models/decoder/generate.js';
import { randomCausalLM } from '../src/models/decoder/init.js';
import { sampleToken } from '../src/models/decoder/sampling.js';
import { normal_ } from '../src/nn/index.js';
import { perplexity, windows } from '../src/eval/perplexity.js';
import * as T from '../src/tensor/index.js';
import { assertClose } from './helpers.js';

const cfg = parseModelConfig({
  model_type: 'qwen3', vocab_size: 61, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, head_dim: 8, tie_word_embeddings: true, torch_dtype: 'float32',
});
const g = new T.Generator(3);
const model = randomCausalLM(cfg, { generator: g });
// Larger weights than the 0.02 init, so the distribution over next tokens is far from uniform.
for (const [name, p] of model.namedParameters()) if (!/norm/.test(name)) normal_(p, 0, 0.3, g);

describe('generation', () => {
  test('greedy decoding with the KV cache equals argmax over full recomputation', () => {
    const prompt = [4, 8, 15, 16];
    const { ids, finishReason } = generate(model, prompt, { maxNewTokens: 10, greedy: true });
    assert.equal(finishReason, 'length');
    const expected: number[] = [];
    let seq = [...prompt];
    for (let i = 0; i < 10; i++) {
      const next = T.tidy(() => model.forward(T.tensor([seq], { dtype: 'int64' })).select(1, -1).argmax(-1).item());
      expected.push(next);
      seq = [...seq, next];
    }
    assert.deepEqual(ids, expected);
  });

  test('stops at an eos id (included) and streams every token', () => {
    const first = generate(model, [1, 2, 3], { maxNewTokens: 5, greedy: true }).ids;
    const streamed: number[] = [];
    const result = generate(model, [1, 2, 3], { maxNewTokens: 5, greedy: true, eosTokenIds: [first[2]!], onToken: (id) => streamed.push(id) });
    assert.equal(result.finishReason, 'eos');
    assert.deepEqual(result.ids, first.slice(0, first.indexOf(first[2]!) + 1));
    assert.deepEqual(streamed, result.ids);
  });

  test('seeded sampling repeats; top-k 1 and a tiny top-p reduce to greedy', () => {
    const sample = (seed: number) => generate(model, [5, 6], { maxNewTokens: 12, temperature: 1.5, generator: new T.Generator(seed) }).ids;
    assert.deepEqual(sample(11), sample(11));
    assert.notDeepEqual(sample(11), sample(12));
    const greedy = generate(model, [5, 6], { maxNewTokens: 8, greedy: true }).ids;
    assert.deepEqual(generate(model, [5, 6], { maxNewTokens: 8, topK: 1, generator: new T.Generator(1) }).ids, greedy);
    assert.deepEqual(generate(model, [5, 6], { maxNewTokens: 8, topP: 1e-6, generator: new T.Generator(1) }).ids, greedy);
  });

  test('a batch of prompts of different lengths (left-padded) decodes as each prompt alone, each row stopping on its own', () => {
    const prompts = [[4, 8, 15, 16, 23, 42], [7], [9, 9, 2]];
    const alone = prompts.map((p) => generate(model, p, { maxNewTokens: 7, greedy: true }).ids);
    const together = generateBatch(model, prompts, { maxNewTokens: 7, greedy: true, padId: 0 });
    assert.deepEqual(together.map((r) => r.ids), alone);
    assert.deepEqual(together.map((r) => r.promptTokens), [6, 1, 3]);
    // Per-row budgets and an eos that only the second row meets: it stops there, the others go on.
    const eos = alone[1]![1]!;
    const expectedRow = (ids: number[], budget: number) => {
      const cut = ids.slice(0, budget);
      const at = cut.indexOf(eos);
      return at < 0 ? cut : cut.slice(0, at + 1);
    };
    const stopped = generateBatch(model, prompts, { maxNewTokens: [3, 7, 5], greedy: true, eosTokenIds: [eos] });
    assert.deepEqual(stopped.map((r) => r.ids), [expectedRow(alone[0]!, 3), expectedRow(alone[1]!, 7), expectedRow(alone[2]!, 5)]);
    assert.equal(stopped[1]!.finishReason, 'eos');
    // Seeded sampling of a batch repeats.
    const sampled = (seed: number) => generateBatch(model, prompts, { maxNewTokens: 6, temperature: 1.2, generator: new T.Generator(seed) }).map((r) => r.ids);
    assert.deepEqual(sampled(5), sampled(5));
  });

  test('top-k and top-p keep exactly the tokens the definitions keep', () => {
    // probabilities 0.5, 0.3, 0.15, 0.05
    const logits = T.tensor([0.5, 0.3, 0.15, 0.05]).log();
    const draws = (options: Parameters<typeof sampleToken>[1]) => {
      const gen = new T.Generator(0);
      return new Set(Array.from({ length: 300 }, () => sampleToken(logits, { ...options, generator: gen })));
    };
    assert.deepEqual([...draws({ topK: 2 })].sort(), [0, 1]);
    // top-p 0.7: 0.5 < 0.7 so the second token is needed; 0.5 + 0.3 ≥ 0.7 so the third is not.
    assert.deepEqual([...draws({ topP: 0.7 })].sort(), [0, 1]);
    assert.deepEqual([...draws({ topP: 0.5 })].sort(), [0]);
    assert.deepEqual([...draws({})].sort(), [0, 1, 2, 3]);
  });

  test('bad generation settings are refused with the setting named', () => {
    assert.throws(() => generate(model, [], { maxNewTokens: 1 }), /at least one prompt token/);
    assert.throws(() => generate(model, [99], { maxNewTokens: 1 }), /token id 99 is outside the model's vocabulary \[0, 61\)/);
    assert.throws(() => generate(model, [1], { maxNewTokens: 1, topP: 0 }), /top-p must be in \(0, 1\]/);
    assert.throws(() => generate(model, [1], { maxNewTokens: 1, temperature: -1 }), /temperature must be >= 0/);
  });
});

describe('perplexity', () => {
  /** NLL of each next token by hand from one unbatched forward pass. */
  function handNll(ids: number[]): { sum: number; count: number } {
    const logits = T.tidy(() => model.forward(T.tensor([ids], { dtype: 'int64' })).select(0, 0).toArray());
    let sum = 0;
    for (let t = 0; t + 1 < ids.length; t++) {
      const row = logits.slice(t * 61, (t + 1) * 61);
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
      sum += lse - row[ids[t + 1]!]!;
    }
    return { sum, count: ids.length - 1 };
  }

  test('batched with padding, it is the token-weighted mean NLL computed by hand', () => {
    const sequences = [[1, 2, 3, 4, 5, 6, 7], [9, 8], [10, 20, 30, 40], [5, 5, 5]];
    const parts = sequences.map(handNll);
    const expected = parts.reduce((s, p) => s + p.sum, 0) / parts.reduce((s, p) => s + p.count, 0);
    const result = perplexity(model, sequences, { batchSize: 3 });
    assert.equal(result.tokens, 6 + 1 + 3 + 2);
    assertClose([result.nll], [expected], 1e-5);
    assertClose([result.perplexity], [Math.exp(expected)], 1e-5);
  });

  test('long sequences are cut into windows; too-short pieces are dropped', () => {
    assert.deepEqual(windows([[1, 2, 3, 4, 5, 6, 7]], 3), [[1, 2, 3], [4, 5, 6]]);
    assert.throws(() => perplexity(model, [[1]]), /at least one sequence of two or more tokens/);
    assert.throws(() => perplexity(model, [[1, 500]]), /token id 500 is outside/);
  });
});
