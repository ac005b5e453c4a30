// `distillery demo --task cross-tokenizer --quick` end to end through the CLI (tiny models, seconds):
// the table of four models with finite bits per byte, the report files, alignment shares that add
// up; and bits per byte checked against the byte count of the text it scores.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { bitsPerByte, scoreText } from '../src/eval/bits-per-byte.js';
import { perplexity, windows } from '../src/eval/perplexity.js';
import { loadCausalLM } from '../src/models/decoder/weights.js';
import { TextTokenizer } from '../src/tokenizer/index.js';

const dir = mkdtempSync(join(tmpdir(), 'distillery-cross-demo-'));
const out = join(dir, 'out');
const MODELS = ['teacher', 'student, CE only', 'student, KD gold', 'student, KD uld'];

describe('distillery demo --task cross-tokenizer --quick', () => {
  const run = spawnSync(process.execPath, ['bin/distillery.mjs', 'demo', '--task', 'cross-tokenizer', '--quick', '--out', out], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, DISTILLERY_CACHE: join(dir, 'cache') },
  });

  test('prints the four models with vocabulary, parameters, perplexity and finite bits per byte', () => {
    assert.equal(run.status, 0, run.stderr);
    const lines = run.stdout.split('\n');
    const header = lines.indexOf('model | vocabulary | parameters | held-out perplexity (own tokens) | bits per byte');
    assert.ok(header >= 0, run.stdout);
    const rows = lines.slice(header + 1, header + 1 + MODELS.length).map((line) => line.split(' | '));
    assert.deepEqual(rows.map((r) => r[0]), MODELS);
    for (const [model, vocabulary, parameters, ppl, bpb] of rows) {
      assert.match(`${vocabulary}`, /^\d+$/, model);
      assert.match(`${parameters}`, /^\d+\.\d\dM$/, model);
      assert.ok(Number(ppl) > 1 && Number.isFinite(Number(ppl)), `${model} perplexity ${ppl}`);
      assert.ok(Number(bpb) > 0 && Number.isFinite(Number(bpb)), `${model} bits per byte ${bpb}`);
    }
    // The two vocabularies differ (that is the point of the task).
    assert.notEqual(rows[0]![1], rows[1]![1]);
    assert.match(run.stdout, /report: .*report\.html/);
  });

  test('writes report.md and report.html with the comparison and the alignment', () => {
    assert.equal(run.status, 0, run.stderr);
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    for (const model of MODELS) assert.ok(md.includes(`| ${model} |`), model);
    for (const section of ['## Comparison', '## Training curves', '## What was done', '## Alignment']) assert.ok(md.includes(section), section);
    assert.ok(existsSync(join(out, 'report.html')));
    assert.ok(existsSync(join(out, 'perplexity.png')));
  });

  test("the gold and uld runs' alignment shares (summary.json) add up to 1", () => {
    assert.equal(run.status, 0, run.stderr);
    for (const method of ['gold', 'uld']) {
      const summary = JSON.parse(readFileSync(join(out, method, 'summary.json'), 'utf8'));
      assert.equal(summary.cross_tokenizer, method);
      const shares = [summary.aligned_exact, summary.aligned_in_spans, summary.unaligned];
      for (const share of shares) assert.ok(share >= 0 && share <= 1, `${method}: ${shares}`);
      // Each share is rounded to 4 decimals.
      assert.ok(Math.abs(shares.reduce((a, b) => a + b, 0) - 1) < 2e-4, `${method}: ${shares}`);
    }
    assert.match(run.stdout, /alignment of the student's targets with the teacher's tokens: gold: [\d.]+ % one-token spans, [\d.]+ % in longer spans, [\d.]+ % unaligned; uld: /);
  });

  test('bits per byte: the NLL of the predicted tokens over the bytes they stand for, not counting each window’s first token', () => {
    assert.equal(run.status, 0, run.stderr);
    const tokenizer = TextTokenizer.fromFolder(join(out, 'student-tokenizer'));
    const model = loadCausalLM(join(out, 'gold', 'student'));
    // ASCII only, so each token's bytes are its decoded text's.
    const text = 'Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse.';
    const ids = tokenizer.encode(text);
    const length = 8;
    const firstTokenBytes = windows([ids], length).reduce((n, piece) => n + Buffer.byteLength(tokenizer.decode([piece[0]!])), 0);
    const score = scoreText(model, tokenizer, [text], length);
    assert.equal(score.bytes, Buffer.byteLength(text) - firstTokenBytes);
    const reference = perplexity(model, [ids], { maxLength: length });
    assert.equal(score.tokens, reference.tokens);
    // Float32 sums over batches of another size: equal to about 1e-7.
    assert.ok(Math.abs(score.nats - reference.nll * reference.tokens) < 1e-6 * score.nats, `${score.nats} vs ${reference.nll * reference.tokens}`);
    assert.ok(Math.abs(score.bitsPerByte - score.nats / Math.log(2) / score.bytes) < 1e-12);
    assert.throws(() => bitsPerByte(1, 0), /positive byte count/);
    model.dispose();
  });
});
