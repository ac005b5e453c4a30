// A teacher behind `distillery serve`, a student trained with --teacher-url: with k = the whole
// vocabulary the KD term is the in-process teacher's (the same arithmetic through HTTP and JSON);
// a server killed mid-run stops the run with a checkpoint and a message naming the URL, and
// `--resume OUT` against the restarted server ends as the uninterrupted run.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { startServeChild } from '../src/cli/child-process.js';
import { loadCausalLM } from '../src/models/decoder/weights.js';
import { distill, type DistillOptions, type MetricsRecord, serve, type TrainRecord } from '../src/index.js';
import { tinyTextModels } from './tiny-run.js';

const dir = mkdtempSync(join(tmpdir(), 'distillery-teacher-service-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const at = (name: string) => join(dir, name);
const cli = resolve('bin/distillery.mjs');

// A 300-token BPE vocabulary (k = V stays a small JSON answer) and tiny Qwen3-architecture models.
const corpus = Array.from({ length: 40 }, (_, i) => `The ${['cat', 'dog', 'whale', 'ship'][i % 4]} number ${i} sailed ${['north', 'south'][i % 2]} at dawn, and the sea was calm.`);
const data = at('train.jsonl');
writeFileSync(data, corpus.map((text) => `${JSON.stringify({ text })}\n`).join(''));
const folders = { teacher: at('teacher'), student: at('student') };
let vocab = 0;

before(() => {
  vocab = tinyTextModels(dir, corpus, { teacher: { seed: 1, sharpen: 30 }, student: { seed: 2, sharpen: 1 } });
});

const common = { student: folders.student, data, batchSize: 4, maxLength: 48, lr: 1e-3, evalRatio: 0, temperature: 2, alpha: 0.7, maxSteps: 3 } as const;

async function run(options: Record<string, unknown>): Promise<{ steps: TrainRecord[]; lines: string[]; error: Error | null }> {
  const steps: TrainRecord[] = [];
  const lines: string[] = [];
  let error: Error | null = null;
  try {
    await distill({ ...options, log: (l: string) => lines.push(l), onRecord: (r: MetricsRecord) => r.type === 'train' && steps.push(r) } as unknown as DistillOptions);
  } catch (e) {
    error = e as Error;
  }
  return { steps, lines, error };
}

const relativelyClose = (a: number, b: number, tolerance: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tolerance * Math.max(Math.abs(b), 1e-12), `${what}: ${a} vs ${b} (relative tolerance ${tolerance})`);

/** `distillery serve` of the teacher as its own process. */
const startServer = () => startServeChild(['--model', folders.teacher, '--port', '0']);

describe('--teacher-url against distillery serve', () => {
  test('k = the whole vocabulary, τ 2, α 0.7: the in-process teacher\'s KD term (1e-5 relative), step by step', async () => {
    const server = await serve({ model: folders.teacher, port: 0 });
    try {
      const local = await run({ ...common, teacher: folders.teacher, out: at('local') });
      const served = await run({ ...common, teacherUrl: server.url, teacherTopK: vocab, out: at('served') });
      assert.equal(served.error, null, String(served.error));
      assert.equal(served.steps.length, 3);
      served.steps.forEach((s, i) => {
        relativelyClose(s.kdLoss, local.steps[i]!.kdLoss, 1e-5, `step ${s.step} kd`);
        relativelyClose(s.loss, local.steps[i]!.loss, 1e-5, `step ${s.step} loss`);
      });
      assert.ok(served.lines.some((l) => l.startsWith(`teacher service ${server.url}: ${folders.teacher}, top-${vocab}`)), served.lines.join('\n'));
    } finally {
      await server.close();
    }
  });

  test('two data-parallel ranks against one server: the steps of one process with accumulation; the truncation figures', async () => {
    const server = await startServer();
    try {
      const settings = { ...common, teacherUrl: server.url, maxSteps: 2, evalRatio: 0.25 };
      const single = await run({ ...settings, batchSize: 2, gradAccum: 2, out: at('dp-single') });
      assert.equal(single.error, null, String(single.error));
      assert.ok(single.lines.some((l) => /^(warning: )?teacher top-20: [\d.]+ % of the teacher's probability per token on the first step/.test(l)), single.lines.join('\n'));
      const summary = JSON.parse(readFileSync(join(at('dp-single'), 'summary.json'), 'utf8'));
      assert.ok(summary.teacher_tail_mass > 0 && summary.teacher_tail_mass < 1, `tail mass ${summary.teacher_tail_mass}`);
      // m·ln(V − k) per token, averaged: between the smallest and largest m times ln(V − 20).
      assert.ok(summary.teacher_truncation_kl_bound > 0 && summary.teacher_truncation_kl_bound <= Math.log(vocab - 20), `bound ${summary.teacher_truncation_kl_bound}`);
      const launched = await new Promise<{ status: number | null; stderr: string }>((done) => {
        const child = spawn(process.execPath, [
          cli, 'distill', '--teacher-url', server.url, '--student', folders.student, '--data', data, '--out', at('dp-two'), '--batch-size', '2', '--max-length', '48',
          '--lr', '1e-3', '--max-steps', '2', '--eval-ratio', '0.25', '--temperature', '2', '--alpha', '0.7', '--nproc-per-node', '2',
        ], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, OMP_NUM_THREADS: '1' } });
        let stderr = '';
        child.stderr!.on('data', (c) => (stderr += c));
        child.on('exit', (status) => done({ status, stderr }));
      });
      assert.equal(launched.status, 0, launched.stderr);
      const two = readFileSync(join(at('dp-two'), 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.type === 'train');
      two.forEach((r, i) => {
        relativelyClose(r.loss, single.steps[i]!.loss, 1e-5, `step ${r.step} loss`);
        relativelyClose(r.grad_norm, single.steps[i]!.gradNorm!, 1e-4, `step ${r.step} gradient norm`);
      });
    } finally {
      server.child.kill('SIGINT');
    }
  });

  test('the server killed mid-run: a checkpoint and the URL named; `--resume OUT` against the restarted server ends as the uninterrupted run', async () => {
    const first = await startServer();
    const settings = { ...common, maxSteps: 4, teacherTimeout: 2 };
    const whole = await run({ ...settings, teacherUrl: first.url, out: at('whole') });
    assert.equal(whole.error, null, String(whole.error));
    // Killed after step 1. Step 2's rows were asked for while step 1 trained (one step ahead): if
    // the server answered before it died, step 2 still trains; the next step finds no server.
    const stopped = await run({ ...settings, teacherUrl: first.url, out: at('stopped'), onStep: (s: { step: number }) => s.step === 1 && first.child.kill('SIGKILL') });
    assert.ok(stopped.error, 'the run stops');
    assert.match(stopped.error!.message, new RegExp(`${first.url}/v1/completions: no answer within --teacher-timeout 2 s`));
    assert.match(stopped.error!.message, new RegExp(`continue with --resume ${at('stopped')} once the service answers`));
    const done = stopped.steps.length;
    assert.ok(done === 1 || done === 2, `stopped after ${done} steps`);
    assert.deepEqual(stopped.steps.map((s) => s.step), done === 1 ? [1] : [1, 2]);
    assert.match(stopped.error!.message, new RegExp(`stopped before step ${done + 1} with a checkpoint`));
    const second = await startServer();
    try {
      const resumed = spawnSync(process.execPath, [cli, 'distill', '--resume', at('stopped'), '--teacher-url', second.url], { encoding: 'utf8' });
      assert.equal(resumed.status, 0, resumed.stderr);
      const losses = (out: string) => readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.type === 'train').map((r) => r.loss);
      // A server batches whatever requests arrive together, and padding changes float32 rounding in
      // the last digits (vLLM's numbers depend on the batch too): equal up to that, not bitwise.
      const resumedLosses = losses(at('stopped'));
      assert.equal(resumedLosses.length, 4);
      resumedLosses.forEach((loss, i) => relativelyClose(loss, whole.steps[i]!.loss, 1e-6, `step ${i + 1} loss`));
      const [a, b] = [loadCausalLM(join(at('stopped'), 'student')), loadCausalLM(join(at('whole'), 'student'))];
      const weightsOf = (m: typeof a) => new Map([...m.namedParameters()].map(([n, p]) => [n, p.toArray()]));
      const [wa, wb] = [weightsOf(a), weightsOf(b)];
      let largest = 0;
      for (const [name, values] of wa) values.forEach((v, i) => (largest = Math.max(largest, Math.abs(v - wb.get(name)![i]!))));
      a.dispose();
      b.dispose();
      // AdamW's normalised steps carry those last digits into the weights: a few 1e-6 at lr 1e-3
      // (one step moves a weight by ~1e-3).
      assert.ok(largest < 2e-5, `student weights differ by up to ${largest}`);
    } finally {
      second.child.kill('SIGINT');
    }
  });
});
