// `distillery bench serve` as a user types it: the served figures at each client count (rates,
// latency percentiles, CPU per request of the server and of the clients) and, beside them, the same
// prompts scored in process — the baseline that says what HTTP and JSON cost.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { parseModelConfig } from '../src/models/decoder/config.js';
import { randomCausalLM } from '../src/models/decoder/init.js';
import { saveCausalLM } from '../src/models/decoder/weights.js';
import * as T from '../src/tensor/index.js';
import { TextTokenizer, trainByteLevelBpe, writeTokenizerFolder } from '../src/tokenizer/index.js';

const dir = mkdtempSync(join(tmpdir(), 'distillery-bench-serve-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('bench serve prints the served figures per client count and the in-process baseline beside them', () => {
  const corpus = Array.from({ length: 20 }, (_, i) => `The quick brown fox ${i} jumps over the lazy dog while the teacher scores every token.`);
  const tokenizerDir = join(dir, 'tokenizer');
  writeTokenizerFolder(tokenizerDir, trainByteLevelBpe(corpus, { vocabSize: 300 }));
  const tokenizer = TextTokenizer.fromFolder(tokenizerDir);
  const config = parseModelConfig({
    model_type: 'qwen3', vocab_size: tokenizer.vocabSize, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 2,
    num_key_value_heads: 1, head_dim: 16, max_position_embeddings: 256, tie_word_embeddings: true, torch_dtype: 'float32', eos_token_id: tokenizer.eosTokenId,
  });
  const model = randomCausalLM(config, { dtype: 'float32', generator: new T.Generator(1) });
  const folder = join(dir, 'model');
  saveCausalLM(model, folder, { copyFrom: tokenizerDir });
  model.dispose();

  const run = spawnSync(process.execPath, [resolve('bin/distillery.mjs'), 'bench', 'serve', '--model', folder, '--clients', '1,2', '--requests', '6', '--prompt-tokens', '24', '--k', '5', '--json'], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const served = lines.filter((l) => !l.in_process);
  assert.deepEqual(served.map((l) => l.clients), [1, 2]);
  for (const l of served) {
    assert.equal(l.requests, 6);
    assert.ok(l.tokens_per_s > 0 && l.requests_per_s > 0 && l.p50_ms <= l.p99_ms, JSON.stringify(l));
    // Linux gives the server's CPU time through /proc.
    assert.ok(l.server_cpu_ms_per_request > 0 && l.client_cpu_ms_per_request >= 0, JSON.stringify(l));
  }
  const baseline = lines.filter((l) => l.in_process);
  assert.deepEqual(baseline.map((l) => l.batch), [1, 2]);
  for (const l of baseline) {
    assert.ok(l.scoring_tokens_per_s > 0 && l.forward_tokens_per_s > 0 && l.scoring_cpu_ms_per_request > 0, JSON.stringify(l));
    const servedRate = served.find((s) => s.clients === l.batch).tokens_per_s;
    assert.equal(l.served_share_of_scoring, Number((servedRate / l.scoring_tokens_per_s).toFixed(3)));
  }
});
