// `distillery distill` end to end on tiny models: the metrics contract, learning, resume
// exactness, interruption, non-finite losses and bad inputs.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { resolveConfig } from '../src/distill/config.js';
import { runDistillation } from '../src/distill/trainer.js';
import { loadCausalLM, saveCausalLM } from '../src/models/decoder/weights.js';
import { camelCaseKeys } from '../src/report/key-case.js';
import * as T from '../src/tensor/index.js';
import { makeModel, tokenData } from './tiny-run.js';

const dir = mkdtempSync(join(tmpdir(), 'distillery-distill-'));
const quiet = { log: () => {} };

const teacher = makeModel(dir, 'teacher', 1, 0.5);
const student = makeModel(dir, 'student', 2, 0.05);
const data = tokenData(dir, 'data.jsonl', 48, 7);

const readJsonl = (path: string) => readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));

const softmax = (row: number[], tau: number) => {
  const m = Math.max(...row) / tau;
  const e = row.map((v) => Math.exp(v / tau - m));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
};

describe('distillery distill', () => {
  test('the first metrics record equals the DESIGN.md formulas on that sequence (batch 1, no accumulation)', async () => {
    const ids = [3, 14, 15, 9, 26, 5, 35, 8];
    const one = join(dir, 'one.jsonl');
    writeFileSync(one, `${JSON.stringify({ input_ids: ids })}\n`);
    const out = join(dir, 'run-formula');
    const [alpha, tau] = [0.3, 2.5];
    await runDistillation(resolveConfig({ teacher, student, data: one, out, batchSize: 1, maxSteps: 1, alpha, temperature: tau, evalRatio: 0, lr: 0 }), quiet);
    const first = readJsonl(join(out, 'metrics.jsonl')).find((r) => r.type === 'train');
    // By hand from each model's logits: positions 0..n-2 predict tokens 1..n-1.
    const logitsOf = (folder: string) => {
      const m = loadCausalLM(folder);
      const rows = T.tidy(() => m.forward(T.tensor([ids], { dtype: 'int64' })).select(0, 0).tolist()) as number[][];
      m.dispose();
      return rows;
    };
    const [zT, zS] = [logitsOf(teacher), logitsOf(student)];
    let kd = 0;
    let ce = 0;
    for (let t = 0; t + 1 < ids.length; t++) {
      const p = softmax(zT[t]!, tau);
      const q = softmax(zS[t]!, tau);
      kd += tau * tau * p.reduce((s, pi, i) => s + pi * Math.log(pi / q[i]!), 0);
      ce -= Math.log(softmax(zS[t]!, 1)[ids[t + 1]!]!);
    }
    const n = ids.length - 1;
    assert.equal(first.tokens, n);
    assert.ok(Math.abs(first.kd_loss - kd / n) < 1e-5, `kd ${first.kd_loss} vs ${kd / n}`);
    assert.ok(Math.abs(first.ce_loss - ce / n) < 1e-5, `ce ${first.ce_loss} vs ${ce / n}`);
    assert.ok(Math.abs(first.loss - (alpha * kd + (1 - alpha) * ce) / n) < 1e-5);
    assert.equal(first.lr, 0);
  });

  test('a short run lowers held-out KL(teacher‖student) and writes every output', async () => {
    const out = join(dir, 'run-learn');
    const result = await runDistillation(
      resolveConfig({ teacher, student, data, out, batchSize: 4, maxSteps: 40, alpha: 1, temperature: 1, lr: 1e-2, evalEvery: 20 }),
      quiet,
    );
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    assert.ok(summary.kl_teacher_student < 0.95 * summary.kl_teacher_student_before, `KL ${summary.kl_teacher_student_before} -> ${summary.kl_teacher_student}`);
    assert.ok(summary.top1_agreement > summary.top1_agreement_before);
    assert.equal(result.summary?.steps, 40);
    // One casing per side: summary.json snake_case like metrics.jsonl, the returned summary the same fields camelCased.
    assert.ok(Object.keys(summary).every((k) => /^[a-z0-9_]+$/.test(k)), Object.keys(summary).join(', '));
    assert.deepEqual(result.summary, camelCaseKeys(summary));
    assert.equal(result.summary?.microBatchSize, 4);
    for (const file of ['config.yaml', 'metrics.jsonl', 'summary.json', 'student/config.json', 'student/model.safetensors']) assert.ok(existsSync(join(out, file)), file);
    const records = readJsonl(join(out, 'metrics.jsonl'));
    assert.deepEqual(records.filter((r) => r.type === 'eval').map((r) => r.step), [0, 20, 40]);
    const train = records.filter((r) => r.type === 'train');
    assert.equal(train.length, 40);
    for (const key of ['step', 'loss', 'kd_loss', 'ce_loss', 'lr', 'tokens', 'tokens_per_s', 'peak_rss_mb']) assert.ok(key in train[0], key);
    assert.match(readFileSync(join(out, 'config.yaml'), 'utf8'), /alpha: 1\n/);
    // Memory: each step's resident peak, and the run's beside the plan's estimate.
    assert.ok(train.every((r) => (r.peak_rss_mb as number) > 100), 'a resident peak per step (a Node process with libtorch is above 100 MB)');
    assert.ok(summary.peak_rss_mb >= Math.max(...train.map((r) => r.peak_rss_mb as number)));
    assert.ok(summary.estimated_peak_mb > 0);
    assert.equal(summary.micro_batch_size, 4);
    assert.equal(summary.gradient_checkpointing, false);
  });

  test('resume from a checkpoint ends with weights bitwise equal to an uninterrupted run (resumed in the second epoch)', async () => {
    // 43 training examples, 6 per step: epoch 1 starts in step 8; the run stops after step 9.
    const settings = { teacher, student, data, batchSize: 3, gradAccum: 2, maxSteps: 12, lr: 5e-3, temperature: 2, schedule: 'cosine', warmupSteps: 2 };
    const full = join(dir, 'run-full');
    await runDistillation(resolveConfig({ ...settings, out: full }), quiet);
    const split = join(dir, 'run-split');
    let steps = 0;
    const first = await runDistillation(resolveConfig({ ...settings, out: split }), { log: () => {}, onStep: () => steps++, stopRequested: () => steps >= 9 });
    assert.equal(first.interruptedAt, 9);
    assert.ok(existsSync(join(split, 'checkpoints', 'step-00000009', 'optimizer.safetensors')));
    await runDistillation(resolveConfig({ ...settings, out: split, resume: split }), quiet);
    const bytes = (run: string) => readFileSync(join(run, 'student', 'model.safetensors'));
    assert.ok(bytes(full).equals(bytes(split)), 'student weights differ after resume');
    const steps2 = readJsonl(join(split, 'metrics.jsonl')).filter((r) => r.type === 'train').map((r) => r.step);
    assert.deepEqual(steps2, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    // Resuming with other settings is refused with the differences named.
    await assert.rejects(runDistillation(resolveConfig({ ...settings, out: split, resume: split, alpha: 0.5 }), quiet), /different settings \(alpha: 0\.7 then, 0\.5 now\)/);
  });

  test('a run resumed with another --metrics file keeps the true "before" numbers', async () => {
    const out = join(dir, 'run-before');
    const settings = { teacher, student, data, batchSize: 4, maxSteps: 4, evalEvery: 0 };
    let steps = 0;
    await runDistillation(resolveConfig({ ...settings, out }), { log: () => {}, onStep: () => steps++, stopRequested: () => steps >= 2 });
    const stepZero = readJsonl(join(out, 'metrics.jsonl')).find((r) => r.type === 'eval' && r.step === 0);
    const resumed = await runDistillation(resolveConfig({ ...settings, out, resume: out, metrics: join(dir, 'other-metrics.jsonl') }), quiet);
    assert.equal(resumed.summary?.studentPerplexityBefore, stepZero.student_perplexity);
    assert.equal(resumed.summary?.top1AgreementBefore, stepZero.top1_agreement);
    assert.equal(resumed.summary?.klTeacherStudentBefore, stepZero.kl_teacher_student);
    // Gap closed from those numbers: (before − after) / (before − teacher), n/a when the random teacher is no better.
    const { teacherPerplexity: teacherPpl, studentPerplexityAfter: afterPpl } = resumed.summary!;
    const beforePpl = stepZero.student_perplexity;
    assert.equal(resumed.summary?.gapClosed, teacherPpl! < beforePpl ? (beforePpl - afterPpl) / (beforePpl - teacherPpl!) : null);
  });

  test('bfloat16 compute with float32 master weights tracks the float32 run', async () => {
    const run = async (dtype: 'float32' | 'bfloat16') => {
      const out = join(dir, `run-${dtype}`);
      await runDistillation(resolveConfig({ teacher, student, data, out, maxSteps: 3, lr: 1e-3, dtype, evalRatio: 0 }), quiet);
      const config = JSON.parse(readFileSync(join(out, 'student', 'config.json'), 'utf8'));
      assert.equal(config.torch_dtype, 'float32'); // the master weights are what is saved
      return readJsonl(join(out, 'metrics.jsonl')).filter((r) => r.type === 'train');
    };
    const [fp32, bf16] = [await run('float32'), await run('bfloat16')];
    for (let i = 0; i < 3; i++) {
      assert.ok(Number.isFinite(bf16[i].loss));
      assert.ok(Math.abs(bf16[i].loss - fp32[i].loss) < 0.02 * fp32[i].loss, `step ${i + 1}: bf16 ${bf16[i].loss} vs fp32 ${fp32[i].loss}`);
    }
  });

  test('a training step waits for the device once: loss sums and gradient norm read together', async () => {
    // Every read of tensor data (and every operator with a value-dependent output size) drains a
    // CUDA stream; the same calls are made on CPU, so the count holds for both.
    for (const variant of [{ lossImpl: 'chunked' }, { lossImpl: 'naive' }, { gradientCheckpointing: 'on' }, { dtype: 'bfloat16' }]) {
      const waits: number[] = [];
      const out = join(dir, `run-waits-${Object.values(variant).join('-')}`);
      await runDistillation(resolveConfig({ teacher, student, data, out, batchSize: 4, gradAccum: 2, maxSteps: 4, evalRatio: 0, ...variant }), {
        log: () => {},
        onStep: () => waits.push(T.hostSyncCount()),
      });
      const perStep = waits.slice(1).map((count, i) => count - waits[i]!);
      assert.deepEqual(perStep, [1, 1, 1], `host waits per step with ${JSON.stringify(variant)}`);
    }
  });

  test('a NaN loss stops the run naming the step and batch, writing no checkpoint', async () => {
    const broken = makeModel(dir, 'broken', 3, 0.05);
    const model = loadCausalLM(broken);
    T.noGrad(() => model.model.embed_tokens.weight.fill_(Number.NaN));
    saveCausalLM(model, broken);
    model.dispose();
    const out = join(dir, 'run-nan');
    await assert.rejects(
      runDistillation(resolveConfig({ teacher, student: broken, data, out, maxSteps: 3, evalRatio: 0 }), quiet),
      /loss is NaN .* at step 1, batch epoch 0 examples \[\d+(, \d+)*\]; no checkpoint was written/,
    );
    assert.equal(existsSync(join(out, 'checkpoints')), false);
  });

  test('Ctrl-C saves a resumable checkpoint and exits cleanly', async () => {
    const out = join(dir, 'run-sigint');
    const child = spawn(process.execPath, ['bin/distillery.mjs', 'distill', '--teacher', teacher, '--student', student, '--data', data, '--out', out, '--max-steps', '100000', '--log-every', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const code = await new Promise<number | null>((resolve) => {
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
        if (/step 2\//.test(stderr) && !child.killed) child.kill('SIGINT');
      });
      child.on('exit', (c) => resolve(c));
    });
    assert.equal(code, 130, stderr);
    assert.match(stderr, /interrupted: saved .*step-\d{8}; continue with --resume/);
    assert.equal(readdirSync(join(out, 'checkpoints')).length, 1);
    assert.doesNotMatch(stderr, /\n\s+at /);
  });

  test('the command writes the run report at the end', () => {
    const out = join(dir, 'run-cli');
    const result = spawnSync(process.execPath, ['bin/distillery.mjs', 'distill', '--teacher', teacher, '--student', student, '--data', data, '--out', out, '--max-steps', '2'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /report in .*report\.html/);
    for (const file of ['report.md', 'report.html', 'loss.png', 'perplexity.png', 'lr.png']) assert.ok(existsSync(join(out, file)), file);
  });

  test('bad inputs give one clear line naming the flag, key, file or field', () => {
    const run = (args: string[]) => spawnSync(process.execPath, ['bin/distillery.mjs', 'distill', ...args], { encoding: 'utf8', timeout: 60_000 });
    const badYaml = join(dir, 'bad.yaml');
    writeFileSync(badYaml, 'alpha: [1\n');
    const unknownKey = join(dir, 'unknown.yaml');
    writeFileSync(unknownKey, 'alpah: 0.5\n');
    const empty = join(dir, 'empty.jsonl');
    writeFileSync(empty, '\n');
    const noIds = join(dir, 'noids.jsonl');
    writeFileSync(noIds, '{"prompt": "x"}\n');
    const base = ['--teacher', teacher, '--student', student, '--out', join(dir, 'bad-run')];
    // Exit 2: the options are wrong (flags or --config); 1: the data or a model cannot be used.
    const cases: [string[], RegExp, number][] = [
      [['--student', student, '--data', data, '--out', join(dir, 'x')], /missing --teacher/, 2],
      [[...base, '--data', data, '--alpha', '2'], /--alpha must be >= 0 and <= 1, got "2"/, 2],
      [[...base, '--data', data, '--loss', 'kl'], /--loss must be one of forward-kl, reverse-kl, jsd, skew-kl, tvd/, 2],
      [[...base, '--data', data, '--config', badYaml], /bad\.yaml: not valid YAML/, 2],
      [[...base, '--data', data, '--config', unknownKey], /unknown key 'alpah'; valid keys: teacher, student/, 2],
      [[...base, '--data', join(dir, 'nope.jsonl')], /nope\.jsonl/, 1],
      [[...base, '--data', empty], /empty\.jsonl/, 1],
      [[...base, '--data', noIds], /noids\.jsonl.*(fields|prompt)/, 1],
      [['--teacher', join(dir, 'nothing'), '--student', student, '--data', data, '--out', join(dir, 'y')], /nothing/, 1],
    ];
    for (const [args, pattern, status] of cases) {
      const result = run(args);
      assert.equal(result.status, status, `${args.join(' ')}\n${result.stderr}`);
      assert.match(result.stderr, pattern, args.join(' '));
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    }
  });

  test('teacher and student with different vocabulary sizes and no tokenizers are refused', async () => {
    const wide = makeModel(dir, 'wide-teacher', 4, 0.5, { vocab_size: 48 });
    await assert.rejects(runDistillation(resolveConfig({ teacher: wide, student, data, out: join(dir, 'run-vocab') }), quiet), /teacher vocab_size 48 ≠ student vocab_size 40/);
  });
});
