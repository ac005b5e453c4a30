// bench kd's PyTorch eager baseline (baselines/pytorch_kd_step.py, written from transformers'
// modeling files) computes the same model as Distillery for every family: each tiny preset, with
// weights drawn large enough that attention is far from uniform and every norm weight matters, gives
// the same logits in both (float32) on a sequence longer than the preset's sliding window, so the
// windows, the per-layer-type rope and Gemma's pieces all take part (each one, broken in the script
// — a window off by one, llama3 or linear scaling dropped, the global rope on Gemma's sliding
// layers, an unscaled embedding, GeLU without tanh — moves some logit by 2.5e-3 to 25; float32
// rounding moves them by ≤ 2.4e-5). Skipped where no Python with torch is installed (CI installs
// Debian's python3-torch).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { findPythonWithTorch } from '../src/cli/pytorch-baseline.js';
import { readModelConfig } from '../src/models/decoder/config.js';
import { loadCausalLM, saveCausalLM } from '../src/models/decoder/weights.js';
import { normal_ } from '../src/nn/index.js';
import * as T from '../src/tensor/index.js';
import { lehmer } from './helpers.js';

const python = findPythonWithTorch().python;
const skip = python === null && 'no Python with torch (apt-get install python3-torch)';
const dir = mkdtempSync(join(tmpdir(), 'distillery-baseline-families-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Each tiny preset and its sequence length: past its sliding window (gemma-tiny 16, qwen2-tiny and mistral-tiny 64). */
const PRESETS: [string, number][] = [
  ['llama-tiny', 40],
  ['qwen2-tiny', 80],
  ['mistral-tiny', 80],
  ['gemma-tiny', 40],
];

const SPREAD = 0.15;

/**
 * The preset as `init` writes it, then its weights redrawn: matrices and biases N(0, SPREAD²) (init's
 * 0.02 leaves every attention nearly uniform), embeddings N(0, 0.5²), norm weights 1 + N(0, 0.2²)
 * (Gemma's stored as w of 1 + w).
 */
function initModel(preset: string, seed: number): string {
  const out = join(dir, preset);
  const init = spawnSync(process.execPath, ['bin/distillery.mjs', 'init', '--preset', preset, '--out', out, '--no-tokenizer'], { encoding: 'utf8' });
  assert.equal(init.status, 0, init.stderr);
  const model = loadCausalLM(out);
  const g = new T.Generator(seed);
  const unitOffset = model.config.normStyle === 'unit-offset';
  for (const [name, p] of model.namedParameters()) {
    if (/norm\.weight$/.test(name)) normal_(p, unitOffset ? 0 : 1, 0.2, g);
    else normal_(p, 0, /embed_tokens/.test(name) ? 0.5 : SPREAD, g);
  }
  saveCausalLM(model, out);
  model.dispose();
  return out;
}

/** The script's --dump-logits file: the first sequence's logits [T, V] as little-endian bytes in base64. */
function readDump(path: string): { modelType: string; shape: number[]; values: Float32Array } {
  const dump = JSON.parse(readFileSync(path, 'utf8')) as { model_type: string; shape: number[]; dtype: string; data_base64: string };
  assert.equal(dump.dtype, 'float32');
  const bytes = Buffer.from(dump.data_base64, 'base64');
  return { modelType: dump.model_type, shape: dump.shape, values: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)) };
}

/** The largest |a − b| (NaN if any), and the largest |b|. */
function largestDelta(a: ArrayLike<number>, b: ArrayLike<number>): { delta: number; largest: number } {
  let delta = 0;
  let largest = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= delta)) delta = d;
    largest = Math.max(largest, Math.abs(b[i]!));
  }
  return { delta, largest };
}

const loadConfig = (folder: string) => readModelConfig(join(folder, 'config.json'));

describe('the PyTorch baseline computes the same model as Distillery, per family', () => {
  for (const [preset, length] of PRESETS) {
    test(`${preset}: the baseline's logits equal CausalLM.forward's (${length} tokens)`, { skip }, (t) => {
      const folder = initModel(preset, 7);
      const { vocabSize, slidingWindow, modelType } = loadConfig(folder);
      if (slidingWindow !== null) assert.ok(length > slidingWindow, `${length} tokens must pass the window of ${slidingWindow}`);
      const next = lehmer(length + vocabSize);
      const sequence = () => Array.from({ length }, () => next() % vocabSize);
      const ids = sequence();
      // The first sequence is the one dumped; a second one is there to be ignored.
      const batchFile = join(dir, `${preset}.jsonl`);
      writeFileSync(batchFile, `${JSON.stringify({ input_ids: ids })}\n${JSON.stringify({ input_ids: sequence() })}\n`);
      const dump = join(dir, `${preset}-logits.json`);
      const run = spawnSync(python!, ['baselines/pytorch_kd_step.py', '--teacher', folder, '--batch-file', batchFile, '--dump-logits', dump], { encoding: 'utf8', timeout: 300_000 });
      assert.equal(run.status, 0, run.stderr);
      const theirs = readDump(dump);
      assert.equal(theirs.modelType, modelType);
      assert.deepEqual(theirs.shape, [length, vocabSize]);
      const model = loadCausalLM(folder);
      const ours = T.tidy(() => model.forward(T.tensor([ids], { dtype: 'int64' })).toTypedArray() as Float32Array);
      model.dispose();
      const { delta, largest } = largestDelta(ours, theirs.values);
      t.diagnostic(`${preset}: max |Δ logit| ${delta.toExponential(2)}, largest |logit| ${largest.toFixed(2)}`);
      assert.ok(delta <= 1e-4, `${preset}: the baseline's logits differ from Distillery's by up to ${delta} (> 1e-4)`);
    });
  }
});

// The whole KD step beside PyTorch's for a family other than Qwen3 (teacher-cache.test.ts runs a
// Qwen3 pair): gemma-tiny's softcapped logits through the loss, its backward and AdamW.
test('bench kd with a Gemma 3 pair: PyTorch eager and Distillery compute the same first-step loss', { skip }, () => {
  const pair = [1, 2].map((seed) => {
    const out = join(dir, `gemma-pair-${seed}`);
    const init = spawnSync(process.execPath, ['bin/distillery.mjs', 'init', '--preset', 'gemma-tiny', '--seed', String(seed), '--out', out, '--no-tokenizer'], { encoding: 'utf8' });
    assert.equal(init.status, 0, init.stderr);
    return out;
  });
  const args = ['--teacher', pair[0]!, '--student', pair[1]!, '--batch-size', '1', '--seq-len', '24', '--steps', '1', '--warmup', '1', '--modes', 'pytorch,chunked', '--json'];
  const result = spawnSync(process.execPath, ['bin/distillery.mjs', 'bench', 'kd', ...args], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(result.status, 0, result.stderr);
  const records = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.deepEqual(records.map((r) => r.mode), ['pytorch', 'chunked']);
  assert.equal(records[1]!.loss_matches_pytorch, true, JSON.stringify(records));
});
