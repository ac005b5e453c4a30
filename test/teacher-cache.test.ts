// The offline teacher cache: round trip against the teacher itself, the top-k + tail loss against
// hand arithmetic, and refusal of mismatched or damaged caches.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { resolveConfig } from '../src/distill/config.js';
import { cachedRowLossSums } from '../src/distill/loss.js';
import type { Divergence } from '../src/distill/divergences.js';
import { prepareRun } from '../src/distill/prepare.js';
import { TeacherCache } from '../src/distill/teacher-cache/reader.js';
import { writeTeacherCache } from '../src/distill/teacher-cache/writer.js';
import { findPythonWithTorch } from '../src/cli/pytorch-baseline.js';
import { OnlineTeacher } from '../src/distill/teacher.js';
import { runDistillation } from '../src/distill/trainer.js';
import { parseModelConfig } from '../src/models/decoder/config.js';
import { randomCausalLM } from '../src/models/decoder/init.js';
import { loadCausalLM, saveCausalLM } from '../src/models/decoder/weights.js';
import { normal_ } from '../src/nn/index.js';
import * as T from '../src/tensor/index.js';
import { assertClose } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'distillery-cache-'));
const quiet = () => {};

function model(name: string, seed: number): string {
  const g = new T.Generator(seed);
  const m = randomCausalLM(parseModelConfig({ model_type: 'qwen3', vocab_size: 30, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 8, tie_word_embeddings: true, torch_dtype: 'float32' }), { generator: g });
  for (const [n, p] of m.namedParameters()) if (!/norm/.test(n)) normal_(p, 0, 0.5, g);
  const path = join(dir, name);
  saveCausalLM(m, path);
  m.dispose();
  return path;
}
const teacherPath = model('teacher', 1);
const studentPath = model('student', 2);
const data = join(dir, 'data.jsonl');
writeFileSync(data, [[1, 2, 3, 4, 5, 6], [7, 8, 9], [10, 11, 12, 13, 14]].map((ids) => JSON.stringify({ input_ids: ids })).join('\n'));

async function buildCache(out: string, topK: number) {
  const config = resolveConfig({ teacher: teacherPath, student: teacherPath, data, out: join(dir, 'unused'), evalRatio: 0 });
  const prepared = await prepareRun(config, quiet);
  const teacher = new OnlineTeacher(loadCausalLM(teacherPath));
  const manifest = writeTeacherCache(out, teacher, prepared.all, { topK, fingerprint: prepared.fingerprint, teacherName: teacherPath, batchSize: 2, examplesPerShard: 2, padId: 0, log: quiet });
  return { prepared, teacher, manifest };
}

describe('teacher cache', () => {
  test('round trip: cached top-k ids, log-probabilities and tail mass equal the teacher’s own', async () => {
    const out = join(dir, 'cache-rt');
    const { prepared, teacher, manifest } = await buildCache(out, 4);
    assert.equal(manifest.shards.length, 2);
    assert.equal(manifest.tokens, 5 + 2 + 4);
    // Per token 2 + 2 bytes of tail and spread and 4 one-byte log-probabilities; per example an 8-byte
    // header (3 examples, 11 tokens); and the ids: at least log2 C(30, 4) = 14.8 bits a row, at most
    // 6 bits a gap here. Version 1 needed 5k + 4 = 24.
    const fixed = 8 + (3 * 8) / 11;
    assert.ok(manifest.bytesPerToken >= fixed + 14.8 / 8 && manifest.bytesPerToken <= fixed + 3, `${manifest.bytesPerToken} B/token`);
    const cache = TeacherCache.open(out, prepared.fingerprint);
    const rows = cache.rows([2, 0], 'cpu');
    // By hand: the teacher's log-softmax at every position of example 2, then example 0, its top 4
    // listed by id.
    const expectedIds: number[] = [];
    const expectedLogp: number[] = [];
    const expectedTail: number[] = [];
    for (const ids of [[10, 11, 12, 13, 14], [1, 2, 3, 4, 5, 6]]) {
      const logits = T.tidy(() => teacher.model.forward(T.tensor([ids], { dtype: 'int64' })).select(0, 0).tolist()) as number[][];
      for (const row of logits.slice(0, -1)) {
        const max = Math.max(...row);
        const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
        const top = row.map((v, i) => [v - lse, i] as const).sort((a, b) => b[0] - a[0]).slice(0, 4);
        const byId = [...top].sort((a, b) => a[1] - b[1]);
        expectedIds.push(...byId.map(([, i]) => i));
        expectedLogp.push(...byId.map(([v]) => v));
        expectedTail.push(Math.log(1 - top.reduce((s, [v]) => s + Math.exp(v), 0)));
      }
    }
    assert.deepEqual(rows.ids.toArray(), expectedIds);
    // One byte per log-probability: these rows spread over < 4 nats, so a step is < 4·1.8/255.
    assertClose(rows.logProbs.toArray(), expectedLogp, 0.03);
    assertClose(rows.tailLogMass.toArray(), expectedTail, 1e-3); // float16
    assert.equal(rows.tailTokens, 30 - 4);
    cache.close();
    teacher.dispose();
  });

  test('top-k + tail divergence equals the bucketed KL computed by hand (τ = 2)', () => {
    // Teacher over V = 5: cached top-2 ids 3 and 0 with p 0.5 and 0.3; the tail (3 tokens) holds 0.2.
    const tau = 2;
    const z = [0.2, -1, 0.7, 1.5, 0];
    const sums = cachedRowLossSums(T.tensor([z]), {
      ids: T.tensor([[3, 0]], { dtype: 'int64' }), logProbs: T.tensor([[Math.log(0.5), Math.log(0.3)]]), tailLogMass: T.tensor([Math.log(0.2)]), tailTokens: 3,
    }, T.tensor([3], { dtype: 'int64' }), { alpha: 0.5, temperature: tau, divergence: { kind: 'forward-kl' } });
    const tempered = [0.5 ** (1 / tau), 0.3 ** (1 / tau), 3 * (0.2 / 3) ** (1 / tau)];
    const zt = tempered.reduce((a, b) => a + b, 0);
    const p = tempered.map((v) => v / zt);
    const e = z.map((v) => Math.exp(v / tau));
    const ze = e.reduce((a, b) => a + b, 0);
    const q = [e[3]! / ze, e[0]! / ze, (e[1]! + e[2]! + e[4]!) / ze];
    const kl = p.reduce((s, pi, i) => s + pi * Math.log(pi / q[i]!), 0);
    assertClose([sums.kdSum.item()], [tau * tau * kl], 1e-5);
  });

  test('a teacher with more rows than the student (gemma-3-4b beside gemma-3-1b): cached ids past the student join the tail (τ = 1, by hand)', () => {
    // Teacher over V_T = 7 rows, student over V = 5: cached top-3 ids 1, 4 and 6 with p 0.4, 0.25
    // and 0.15 (id 6 has no student row), tail 0.2 over 4 tokens. Over the student's vocabulary
    // the buckets are id 1, id 4, and everything else: 0.4, 0.25 and 0.2 + 0.15.
    const z = [0.3, 1.1, -0.4, 0.8, -1.2];
    const rows = {
      ids: T.tensor([[1, 4, 6]], { dtype: 'int64' }), logProbs: T.tensor([[Math.log(0.4), Math.log(0.25), Math.log(0.15)]]), tailLogMass: T.tensor([Math.log(0.2)]), tailTokens: 4,
    };
    const e = z.map(Math.exp);
    const ze = e.reduce((a, b) => a + b, 0);
    const q = [e[1]! / ze, e[4]! / ze, (e[0]! + e[2]! + e[3]!) / ze];
    const p = [0.4, 0.25, 0.35];
    const settings = (divergence: Divergence) => ({ alpha: 0.5, temperature: 1, divergence });
    const forward = cachedRowLossSums(T.tensor([z]), rows, T.tensor([1], { dtype: 'int64' }), settings({ kind: 'forward-kl' }));
    assertClose([forward.kdSum.item()], [p.reduce((s, pi, i) => s + pi * Math.log(pi / q[i]!), 0)], 1e-5);
    // The emptied bucket adds nothing in the other direction either (no NaN from 0·log 0).
    const reverse = cachedRowLossSums(T.tensor([z]), rows, T.tensor([1], { dtype: 'int64' }), settings({ kind: 'reverse-kl' }));
    assertClose([reverse.kdSum.item()], [q.reduce((s, qi, i) => s + qi * Math.log(qi / p[i]!), 0)], 1e-5);
  });

  test('training from the cache loads no teacher', async () => {
    const out = join(dir, 'cache-train');
    const { teacher } = await buildCache(out, 8);
    teacher.dispose();
    const lines: string[] = [];
    const result = await runDistillation(resolveConfig({ student: studentPath, teacherCache: out, data, out: join(dir, 'run'), maxSteps: 2, batchSize: 2, evalRatio: 0 }), { log: (l) => lines.push(l) });
    assert.equal(result.interruptedAt, null);
    assert.ok(lines.some((l) => /no teacher loaded/.test(l)));
    assert.ok(!lines.some((l) => /loading teacher/.test(l)));
  });

  test('a cache for other data or settings is refused, naming what differs', async () => {
    const out = join(dir, 'cache-mismatch');
    const { prepared, teacher } = await buildCache(out, 4);
    teacher.dispose();
    assert.throws(() => TeacherCache.open(out, { ...prepared.fingerprint, maxLength: 64 }), /made for other data or settings: max length \(cache: 512, now: 64\)/);
    assert.throws(() => TeacherCache.open(out, { ...prepared.fingerprint, data: 'f'.repeat(64) }), /tokenized data/);
  });

  test('bench kd prints one JSON line per mode (naive, chunked, cached) with tokens/s and peak RSS', async () => {
    const { spawnSync } = await import('node:child_process');
    const result = spawnSync(process.execPath, ['bin/distillery.mjs', 'bench', 'kd', '--teacher', teacherPath, '--student', studentPath, '--batch-size', '2', '--seq-len', '16', '--steps', '1', '--top-k', '4', '--modes', 'naive,chunked,cached', '--json'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(result.status, 0, result.stderr);
    const records = result.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(records.map((r) => r.mode), ['naive', 'chunked', 'cached']);
    for (const r of records) {
      assert.ok(r.tokens_per_s > 0 && r.peak_rss_mb > 0, JSON.stringify(r));
      // Fresh memory and kernel time of the timed steps, from getrusage (whole numbers per step).
      assert.ok(Number.isInteger(r.minor_faults_per_step) && r.minor_faults_per_step >= 0 && Number.isInteger(r.system_ms_per_step) && r.system_ms_per_step >= 0, JSON.stringify(r));
      // The phases account for the whole step (rounding aside).
      const phases = Object.values(r.phase_ms as Record<string, number>).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(phases - r.step_ms) <= 0.02 * r.step_ms + 0.5, `phases ${JSON.stringify(r.phase_ms)} vs step ${r.step_ms} ms`);
      assert.deepEqual(Object.keys(r.phase_ms).sort(), ['loss_and_head', 'optimizer', 'student_backward', 'student_forward', 'teacher_forward']);
      // Beside the machine's own fp32 matmul rate, measured in the same process.
      assert.ok(r.matmul_ceiling_gflops.float32 > 1, JSON.stringify(r.matmul_ceiling_gflops));
      assert.ok(r.fraction_of_matmul_ceiling > 0 && r.fraction_of_matmul_ceiling < 1, `fraction ${r.fraction_of_matmul_ceiling}`);
      // The matmul-bound rate is the measured one over that fraction, so above it.
      assertClose([r.matmul_bound_tokens_per_s], [r.tokens_per_s / r.fraction_of_matmul_ceiling], 2e-3);
      // Each phase's products at that rate: together the step's share that the ceiling explains.
      assert.deepEqual(Object.keys(r.phase_matmul_ms).sort(), Object.keys(r.phase_ms).sort());
      const ideal = Object.values(r.phase_matmul_ms as Record<string, number>).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(ideal - r.fraction_of_matmul_ceiling * r.step_ms) <= 0.01 * ideal + 0.5, `products ${ideal} ms vs ${r.fraction_of_matmul_ceiling} × ${r.step_ms} ms`);
      // Memory the allocator mapped afresh per timed step, in whole MiB.
      assert.ok(Number.isInteger(r.fresh_block_mb_per_step) && r.fresh_block_mb_per_step >= 0, JSON.stringify(r));
    }
    assert.equal(records[2].teacher_parameters, null); // the cached mode loads no teacher
  });

  // PyTorch eager is the baseline of bench kd, and an independent check of the whole step: its Qwen3
  // forward and KD loss (baselines/pytorch_kd_step.py, written from transformers' modeling_qwen3 and
  // TRL's loss) must give the same first-step loss on the same weights and tokens.
  const python = findPythonWithTorch().python;
  test('bench kd beside PyTorch eager: the same loss on the same weights and tokens', { skip: python === null && 'no Python with torch (apt-get install python3-torch)' }, async () => {
    const { spawnSync } = await import('node:child_process');
    const result = spawnSync(process.execPath, ['bin/distillery.mjs', 'bench', 'kd', '--teacher', teacherPath, '--student', studentPath, '--batch-size', '2', '--seq-len', '16', '--steps', '1', '--modes', 'pytorch,pytorch-best,naive,chunked', '--json'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(result.status, 0, result.stderr);
    const records = result.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(records.map((r) => r.mode), ['pytorch', 'pytorch-best', 'naive', 'chunked']);
    // pytorch-best ran at each thread setting (one thread; ATen on one and OpenBLAS on every core; every core, OpenBLAS sleeping or busy-waiting between calls) and kept the fastest.
    const best = records[1];
    const byThreads = Object.values(best.tokens_per_s_by_threads as Record<string, number>);
    const cores = availableParallelism();
    assert.deepEqual(Object.keys(best.tokens_per_s_by_threads).sort(), (cores === 1 ? ['1'] : ['1', `1+blas${cores}`, String(cores), `${cores}+spin`]).sort());
    assert.equal(best.tokens_per_s, Math.max(...byThreads));
    for (const r of records.slice(2)) {
      assert.ok(r.speedup_vs_pytorch_best > 0);
      // The bound on any speedup: the matmul-bound rate over the baseline's, never below the speedup measured.
      assertClose([r.speedup_bound_vs_pytorch_best], [r.matmul_bound_tokens_per_s / best.tokens_per_s], 0.01);
      assert.ok(r.speedup_bound_vs_pytorch_best >= r.speedup_vs_pytorch_best, JSON.stringify(r));
      assert.equal(r.loss_matches_pytorch, true, JSON.stringify(r));
      assertClose([r.first_loss], [records[0].first_loss], 1e-5);
      assert.ok(r.speedup_vs_pytorch > 0);
    }
    // --pytorch-threads runs pytorch-best at that one setting.
    const fixed = spawnSync(process.execPath, ['bin/distillery.mjs', 'bench', 'kd', '--teacher', teacherPath, '--student', studentPath, '--batch-size', '2', '--seq-len', '16', '--steps', '1', '--modes', 'pytorch-best', '--pytorch-threads', '1', '--json'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(fixed.status, 0, fixed.stderr);
    const one = JSON.parse(fixed.stdout.trim().split('\n').at(-1)!);
    assert.equal(one.threads, '1');
    assert.equal(one.tokens_per_s_by_threads, undefined);
    assertClose([one.first_loss], [records[0].first_loss], 1e-5);
  });

  test('bench kd --pytorch-threads: a setting this machine does not have is refused, naming the valid ones', async () => {
    const { spawnSync } = await import('node:child_process');
    const result = spawnSync(process.execPath, ['bin/distillery.mjs', 'bench', 'kd', '--teacher', teacherPath, '--student', studentPath, '--modes', 'chunked', '--pytorch-threads', '3+turbo'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(result.status, 2, result.stderr);
    const cores = availableParallelism();
    assert.match(result.stderr, new RegExp(`--pytorch-threads: '3\\+turbo' is not a thread setting on this machine; valid: 1${cores > 1 ? `, 1\\+blas${cores}` : ''}`));
  });

  test('truncated shards and missing manifests are detected and never read', async () => {
    const out = join(dir, 'cache-damaged');
    const { prepared, teacher, manifest } = await buildCache(out, 4);
    teacher.dispose();
    const shard = join(out, manifest.shards[1]!.file);
    const bytes = readFileSync(shard);
    truncateSync(shard, bytes.length - 1);
    assert.throws(() => TeacherCache.open(out, prepared.fingerprint), /shard-00001\.bin: \d+ bytes, the manifest records \d+ \(truncated or modified shard\)/);
    // Same size, but the first example's header claims a longer id stream: the blocks no longer tile the shard.
    const longer = Buffer.from(bytes);
    longer.writeUInt32LE(longer.readUInt32LE(4) + 1, 4);
    writeFileSync(shard, longer);
    assert.throws(() => TeacherCache.open(out, prepared.fingerprint), /shard-00001\.bin: examples end at byte \d+ but the shard has \d+ \(corrupt shard\)/);
    // Same size and structure, but an id stream of all ones: decoding names the shard and example.
    const ones = Buffer.from(bytes);
    const rowsOfFirst = ones.readUInt32LE(0);
    ones.fill(0xff, 8 + rowsOfFirst * (4 + 4), 8 + rowsOfFirst * (4 + 4) + ones.readUInt32LE(4));
    writeFileSync(shard, ones);
    const cache = TeacherCache.open(out, prepared.fingerprint);
    assert.throws(() => cache.rows([2], 'cpu'), /shard-00001\.bin, example 2: (id \d+ is outside the vocabulary of 30|id stream ends early) \(corrupt cache\)/);
    cache.close();
    writeFileSync(shard, bytes);
    // A cache written by an older Distillery (format version 1) is refused with what to do.
    const manifestPath = join(out, 'manifest.json');
    const current = readFileSync(manifestPath, 'utf8');
    writeFileSync(manifestPath, current.replace('"version": 2', '"version": 1'));
    assert.throws(() => TeacherCache.open(out, prepared.fingerprint), /cache version 1, this Distillery reads version 2 — write the cache again with distillery cache-teacher/);
    writeFileSync(manifestPath, current);
    rmSync(join(out, 'manifest.json'));
    assert.throws(() => TeacherCache.open(out, prepared.fingerprint), /no manifest\.json; the cache is incomplete/);
  });
});
