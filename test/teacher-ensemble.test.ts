// Several teachers in a run (--teacher repeated): mixed by --teacher-weights or routed by
// --teacher-route, local folders, caches and served teachers together. Runs whose mixture is one
// teacher's distribution (a teacher with itself, whatever the weights; a local teacher with its own
// service at k = V) must train as that teacher alone; routing sends each record to its teacher; the
// evaluation reports the student's KL to every local teacher; what cannot work is refused by name.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cacheTeacher, distill, type DistillOptions, type EvalRecord, type MetricsRecord, serve, type TrainRecord } from '../src/index.js';
import { tinyTextModels } from './tiny-run.js';

const dir = mkdtempSync(join(tmpdir(), 'distillery-teacher-ensemble-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const at = (name: string) => join(dir, name);
const cli = resolve('bin/distillery.mjs');

const corpus = Array.from({ length: 32 }, (_, i) => `The ${['cat', 'dog', 'whale', 'ship'][i % 4]} number ${i} sailed ${['north', 'south'][i % 2]} at dawn, and the sea was calm.`);
const data = at('train.jsonl');
// Each record names its teacher: the first half 'one', the second 'two'.
writeFileSync(data, corpus.map((text, i) => `${JSON.stringify({ text, task: i < 16 ? 'one' : 'two' })}\n`).join(''));
const folders = { one: at('one'), two: at('two'), student: at('student') };
let vocab = 0;

before(() => {
  vocab = tinyTextModels(dir, corpus, { one: { seed: 1, sharpen: 30 }, two: { seed: 3, sharpen: 30 }, student: { seed: 2, sharpen: 1 } });
});

const common = { student: folders.student, data, batchSize: 4, maxLength: 48, lr: 1e-3, evalRatio: 0.25, temperature: 2, alpha: 0.7, maxSteps: 3 } as const;

async function run(options: Record<string, unknown>): Promise<{ steps: TrainRecord[]; evals: EvalRecord[]; lines: string[]; error: Error | null }> {
  const steps: TrainRecord[] = [];
  const evals: EvalRecord[] = [];
  const lines: string[] = [];
  let error: Error | null = null;
  try {
    await distill({
      ...options, log: (l: string) => lines.push(l),
      onRecord: (r: MetricsRecord) => (r.type === 'train' ? steps.push(r) : evals.push(r)),
    } as unknown as DistillOptions);
  } catch (e) {
    error = e as Error;
  }
  return { steps, evals, lines, error };
}

const relativelyClose = (a: number, b: number, tolerance: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tolerance * Math.max(Math.abs(b), 1e-12), `${what}: ${a} vs ${b} (relative tolerance ${tolerance})`);

function sameSteps(a: readonly TrainRecord[], b: readonly TrainRecord[], tolerance: number): void {
  assert.equal(a.length, b.length);
  a.forEach((s, i) => {
    relativelyClose(s.kdLoss, b[i]!.kdLoss, tolerance, `step ${s.step} kd`);
    relativelyClose(s.loss, b[i]!.loss, tolerance, `step ${s.step} loss`);
  });
}

describe('several teachers', () => {
  let alone: Awaited<ReturnType<typeof run>>;
  before(async () => {
    alone = await run({ ...common, teacher: folders.one, out: at('alone') });
    assert.equal(alone.error, null, String(alone.error));
  });

  test('a teacher mixed with itself at 0.3 / 0.7 trains as that teacher alone; the eval reports KL to each, by name', async () => {
    const mixed = await run({ ...common, teacher: [`a=${folders.one}`, `b=${folders.one}`], teacherWeights: [0.3, 0.7], out: at('self-mixed') });
    assert.equal(mixed.error, null, String(mixed.error));
    sameSteps(mixed.steps, alone.steps, 1e-5);
    assert.ok(mixed.lines.some((l) => l === `teachers: a (local ${folders.one}), b (local ${folders.one}); mixed 0.300 : 0.700`), mixed.lines.join('\n'));
    const last = mixed.evals.at(-1)!;
    const byTeacher = last.klByTeacher!;
    assert.deepEqual(Object.keys(byTeacher), ['a', 'b']);
    relativelyClose(byTeacher.a!, last.klTeacherStudent!, 1e-9, 'a is the comparison teacher');
    relativelyClose(byTeacher.b!, byTeacher.a!, 1e-6, 'the same teacher twice');
    const summary = JSON.parse(readFileSync(join(at('self-mixed'), 'summary.json'), 'utf8'));
    assert.deepEqual(Object.keys(summary.kl_by_teacher), ['a', 'b']);
  });

  test('a local teacher mixed with its own service at k = V (buckets over every id) trains as it alone', async () => {
    const server = await serve({ model: folders.one, port: 0 });
    try {
      const mixed = await run({ ...common, teacher: [folders.one, `served=${server.url}`], teacherTopK: vocab, out: at('local-served') });
      assert.equal(mixed.error, null, String(mixed.error));
      sameSteps(mixed.steps, alone.steps, 1e-5);
      const summary = JSON.parse(readFileSync(join(at('local-served'), 'summary.json'), 'utf8'));
      assert.ok('served' in summary.teacher_truncation, JSON.stringify(summary.teacher_truncation));
    } finally {
      await server.close();
    }
  });

  test('teacher caches are members too: a cache mixed with itself trains as --teacher-cache; a cache beside a local teacher runs', async () => {
    const cache = at('cache-one');
    await cacheTeacher({ teacher: folders.one, data, out: cache, maxLength: 48, topK: 16, log: () => {} });
    const single = await run({ ...common, teacherCache: cache, out: at('cache-alone') });
    assert.equal(single.error, null, String(single.error));
    const mixed = await run({ ...common, teacher: [`c1=${cache}`, `c2=${cache}`], out: at('cache-mixed') });
    assert.equal(mixed.error, null, String(mixed.error));
    sameSteps(mixed.steps, single.steps, 1e-5);
    assert.ok(mixed.lines.some((l) => l.startsWith(`teachers: c1 (cache ${cache}), c2 (cache ${cache})`)), mixed.lines.join('\n'));
    const beside = await run({ ...common, teacher: [folders.two, cache], out: at('cache-beside') });
    assert.equal(beside.error, null, String(beside.error));
    assert.ok(beside.steps.every((s) => Number.isFinite(s.kdLoss) && s.kdLoss > 0));
    await assert.rejects(distill({ ...common, teacher: [folders.two, cache], onPolicyFraction: 0.5, out: at('cache-on-policy') } as unknown as DistillOptions), /--on-policy-fraction: teacher cache-one .* is a teacher cache, which scores only the data's own text/);
  });

  test('two different teachers mixed: each one\'s KL is reported, and the KD term lies between theirs', async () => {
    const two = await run({ ...common, teacher: folders.two, out: at('two-alone') });
    const mixed = await run({ ...common, teacher: [folders.one, folders.two], out: at('mixed') });
    assert.equal(mixed.error, null, String(mixed.error));
    // KL to a mixture is at most the weighted KLs (convexity), and differs from either teacher's.
    const first = mixed.steps[0]!.kdLoss;
    assert.ok(first <= 0.5 * alone.steps[0]!.kdLoss + 0.5 * two.steps[0]!.kdLoss + 1e-6, `${first} vs ${alone.steps[0]!.kdLoss}, ${two.steps[0]!.kdLoss}`);
    assert.ok(Math.abs(first - alone.steps[0]!.kdLoss) > 1e-3 && Math.abs(first - two.steps[0]!.kdLoss) > 1e-3);
    const byTeacher = mixed.evals.at(-1)!.klByTeacher!;
    assert.deepEqual(Object.keys(byTeacher), ['one', 'two']);
    assert.ok(Math.abs(byTeacher.one! - byTeacher.two!) > 1e-3, JSON.stringify(byTeacher));
  });

  test('--teacher-route: records all routed to one teacher train as that teacher alone; a mixed route runs each record against its own', async () => {
    const onlyOne = at('route-data-one.jsonl');
    writeFileSync(onlyOne, corpus.map((text) => `${JSON.stringify({ text, task: 'one' })}\n`).join(''));
    const routed = await run({ ...common, data: onlyOne, teacher: [folders.one, folders.two], teacherRoute: 'task', out: at('routed-one') });
    assert.equal(routed.error, null, String(routed.error));
    sameSteps(routed.steps, alone.steps, 1e-6);
    assert.ok(routed.lines.some((l) => l.endsWith("routed by the records' 'task' field")), routed.lines.join('\n'));

    const split = await run({ ...common, teacher: [folders.one, folders.two], teacherRoute: 'task', out: at('routed-split') });
    assert.equal(split.error, null, String(split.error));
    // Not either teacher's run: its batches hold records of both.
    assert.ok(Math.abs(split.steps[0]!.kdLoss - alone.steps[0]!.kdLoss) > 1e-4);
  });

  test('what cannot work is refused, naming the flag or the record', async () => {
    const refused = async (options: Record<string, unknown>, pattern: RegExp) => {
      const r = await run({ ...common, out: at(`refused-${Math.random().toString(36).slice(2)}`), ...options });
      assert.ok(r.error, `refused: ${JSON.stringify(options)}`);
      assert.match(r.error!.message, pattern);
    };
    const two = [folders.one, folders.two];
    await refused({ teacher: two, teacherWeights: [1, 2, 3] }, /teacherWeights has 3 weight\(s\) for 2 teachers/);
    await refused({ teacher: folders.one, teacherWeights: [1] }, /teacherWeights combines several teachers: give teacher more than once/);
    await refused({ teacher: two, teacherWeights: [1, 1], teacherRoute: 'task' }, /teacherWeights and teacherRoute were both given/);
    await refused({ teacher: two, seqKd: true }, /seqKd cannot be used with several teachers/);
    await refused({ teacher: [folders.one, `${dir}/x/one`] }, /are both named 'one': name them/);
    await refused({ teacher: two, teacherRoute: 'topic' }, /--teacher-route topic: record 1 of .* has no 'topic' field; each record names its teacher \(one, two\)/);
    await refused({ teacher: [`x=${folders.one}`, `y=${folders.two}`], teacherRoute: 'task' }, /record 1 of .* names teacher "one", which is none of x, y/);
  });

  test('the CLI takes --teacher more than once, as typed; the memory plan counts both teachers', () => {
    const args = ['distill', '--teacher', `a=${folders.one}`, '--teacher', `b=${folders.two}`, '--teacher-weights', '0.7,0.3', '--student', folders.student, '--data', data];
    const teacherMb = (teachers: string[]) => {
      const dry = spawnSync(process.execPath, [cli, 'distill', ...teachers.flatMap((t) => ['--teacher', t]), '--student', folders.student, '--data', data, '--out', at('cli-dry'), '--dry-run', '--json'], { encoding: 'utf8' });
      assert.equal(dry.status, 0, dry.stderr);
      return JSON.parse(dry.stdout.trim().split('\n').at(-1)!).components.teacher_weights as number;
    };
    // Two teachers of one shape weigh twice one (rounded to whole MB each).
    assert.ok(Math.abs(teacherMb([folders.one, folders.two]) - 2 * teacherMb([folders.one])) <= 1);
    const ran = spawnSync(process.execPath, [cli, ...args, '--out', at('cli-run'), '--max-steps', '1', '--batch-size', '4', '--max-length', '48'], { encoding: 'utf8' });
    assert.equal(ran.status, 0, ran.stderr);
    assert.match(ran.stderr, /teachers: a \(local .*\), b \(local .*\); mixed 0\.700 : 0\.300/);
    const config = readFileSync(join(at('cli-run'), 'config.yaml'), 'utf8');
    assert.match(config, /teacher:\n {2}- a=/);
    assert.match(config, /teacher_weights:\n {2}- 0\.7\n {2}- 0\.3/);
  });
});
