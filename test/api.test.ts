// The TypeScript API as users call it (src/index.ts): options validated at run time with errors
// that name the option as written, progress through callbacks and an async iterator, and an
// AbortSignal that stops with a checkpoint `resume` continues from.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { distill, distillRecords, initModel, type MetricsRecord } from '../src/index.js';
import { camelCaseKeys } from '../src/report/key-case.js';
import { makeModel, tokenData } from './tiny-run.js';

const dir = mkdtempSync(join(tmpdir(), 'distillery-api-'));
const teacher = makeModel(dir, 'teacher', 1, 0.5);
const student = makeModel(dir, 'student', 2, 0.05);
const data = tokenData(dir, 'data.jsonl', 24, 5);
const base = { teacher, student, data, batchSize: 4, evalRatio: 0.25 };

describe('the TypeScript API', () => {
  test('bad options are errors naming the option as written, before anything is read', async () => {
    const out = join(dir, 'never');
    await assert.rejects(distill({ ...base, out, maxStep: 3 } as never), /distill: unknown option 'maxStep' \(did you mean 'maxSteps'\?\)/);
    await assert.rejects(distill({ ...base, out, maxSteps: -1 }), /^ConfigError: maxSteps must be /);
    await assert.rejects(distill({ ...base, out, loss: 'kl' as never }), /loss must be one of forward-kl, /);
    await assert.rejects(distill({ ...base, out, device: 'gpu' }), /device must be 'cpu' or 'cuda\[:N\]', got 'gpu'/);
    await assert.rejects(distill({ teacher, data, out } as never), /missing student \(required options/);
    assert.equal(existsSync(out), false, 'no folder is left behind');
    assert.throws(() => initModel({ out: join(dir, 'm'), preset: 'qwen3-9b' }), /preset 'qwen3-9b' is unknown; available: /);
  });

  test('distillRecords yields every metrics record and returns the result', async () => {
    const out = join(dir, 'records');
    const run = distillRecords({ ...base, out, maxSteps: 3 });
    const seen: MetricsRecord[] = [];
    let next = await run.next();
    while (!next.done) {
      seen.push(next.value);
      next = await run.next();
    }
    const onDisk = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    // The file's lines, keys camelCased: kd_loss on disk is kdLoss here.
    assert.deepEqual(seen, onDisk.map(camelCaseKeys));
    const train = seen.find((r) => r.type === 'train')!;
    const evaluation = seen.find((r) => r.type === 'eval')!;
    assert.deepEqual(Object.keys(train).sort(), ['ceLoss', 'epoch', 'gradNorm', 'inputTokens', 'kdLoss', 'loss', 'lr', 'peakRssMb', 'step', 'stepSeconds', 'tokens', 'tokensPerS', 'type']);
    assert.deepEqual(Object.keys(evaluation).sort(), ['evalTokens', 'klTeacherStudent', 'step', 'studentNll', 'studentPerplexity', 'teacherNll', 'teacherPerplexity', 'top1Agreement', 'type']);
    assert.deepEqual(seen.filter((r) => r.type === 'train').map((r) => r.step), [1, 2, 3]);
    assert.equal(next.value.studentDir, join(out, 'student'));
    assert.equal(next.value.summary?.steps, 3);
  });

  test('leaving the distillRecords loop stops the run after its step, with a checkpoint', async () => {
    const out = join(dir, 'left');
    for await (const record of distillRecords({ ...base, out, maxSteps: 50 })) {
      if (record.type === 'train' && record.step === 2) break;
    }
    const steps = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line)).filter((r) => r.type === 'train');
    assert.deepEqual(steps.map((r) => r.step), [1, 2]);
    assert.ok(existsSync(join(out, 'checkpoints', 'step-00000002', 'optimizer.safetensors')));
    assert.equal(existsSync(join(out, 'student')), false, 'the run did not go on to the end');
  });

  test('an AbortSignal stops after the step, with a checkpoint that resume continues from', async () => {
    const out = join(dir, 'aborted');
    const controller = new AbortController();
    const first = await distill({ ...base, out, maxSteps: 4, signal: controller.signal, onStep: (r) => r.step === 2 && controller.abort() });
    assert.equal(first.interruptedAt, 2);
    assert.equal(first.summary, null);
    assert.ok(first.checkpoint && existsSync(join(first.checkpoint, 'optimizer.safetensors')));
    // As the README says: the run folder alone; its checkpoint holds the rest.
    const resumed = await distill({ resume: out });
    assert.equal(resumed.interruptedAt, null);
    assert.equal(resumed.summary?.steps, 4);
  });
});
