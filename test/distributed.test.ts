// Data-parallel distillation on c10d (Gloo over loopback): collectives against hand-computed values,
// two processes reproducing a single-process run, rank-0-only files, resume checks, and faults — a
// killed or hung rank makes the other stop within the timeout with a message naming it.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { loadCheckpoint } from '../src/distill/checkpoint.js';
import { DistributedEnvironmentError, worldFromEnvironment } from '../src/distributed/environment.js';
import { SafetensorsFile } from '../src/io/safetensors/index.js';
import { makeModel, promptedTokenData, tokenData } from './tiny-run.js';

const dir = mkdtempSync(join(tmpdir(), 'distillery-ddp-'));
const teacher = makeModel(dir, 'teacher', 1, 0.5);
const student = makeModel(dir, 'student', 2, 0.05);
const data = tokenData(dir, 'data.jsonl', 48, 7);
const cli = resolve('bin/distillery.mjs');
// One thread per process everywhere: the single-process baseline and each rank run the same kernels.
const env = { ...process.env, OMP_NUM_THREADS: '1' };

async function freePort(): Promise<number> {
  return new Promise((done) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

const baseArgs = (out: string) => ['distill', '--teacher', teacher, '--student', student, '--data', data, '--out', out, '--lr', '1e-3'];

function runCli(args: string[], extraEnv: Record<string, string> = {}) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 180_000, env: { ...env, ...extraEnv } });
}

interface Worker {
  child: ChildProcess;
  stderr: string;
  exit: Promise<{ code: number | null; at: number }>;
}

/** One rank started from the torchrun environment, as Slurm or a hand-written launch would. */
function startRank(rank: number, port: number, args: string[], cwd = process.cwd()): Worker {
  const child = spawn(process.execPath, [cli, ...args], {
    cwd, stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...env, RANK: String(rank), LOCAL_RANK: String(rank), WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) },
  });
  const worker: Worker = { child, stderr: '', exit: new Promise((done) => child.on('exit', (code) => done({ code, at: Date.now() }))) };
  child.stderr!.on('data', (chunk) => (worker.stderr += chunk));
  child.stdout!.resume();
  return worker;
}

async function until(condition: () => boolean, what: string, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function maxDifference(a: string, b: string): { abs: number; worst: number } {
  const [x, y] = [SafetensorsFile.open(a), SafetensorsFile.open(b)];
  let abs = 0;
  let worst = 0; // |Δ| / (1e-6 + 1e-5·|x|): ≤ 1 passes the tolerance
  for (const name of x.names()) {
    const u = x.tensor(name).toArray();
    const v = y.tensor(name).toArray();
    assert.equal(u.length, v.length, name);
    for (let i = 0; i < u.length; i++) {
      const d = Math.abs(u[i]! - v[i]!);
      abs = Math.max(abs, d);
      worst = Math.max(worst, d / (1e-6 + 1e-5 * Math.abs(u[i]!)));
    }
  }
  x.close();
  y.close();
  return { abs, worst };
}

const trainRecords = (out: string) =>
  readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.type === 'train');

describe('data-parallel distillation (c10d, Gloo on loopback)', () => {
  test('the torchrun environment is read strictly, naming the variable at fault', () => {
    assert.equal(worldFromEnvironment({}), null);
    assert.equal(worldFromEnvironment({ WORLD_SIZE: '1' }), null);
    assert.deepEqual(worldFromEnvironment({ WORLD_SIZE: '4', RANK: '3', LOCAL_RANK: '1', MASTER_ADDR: 'node0', MASTER_PORT: '29500' }), {
      rank: 3, worldSize: 4, localRank: 1, masterAddr: 'node0', masterPort: 29500, interface: null, agentStore: false,
    });
    // Under torchrun its agent serves the store; rank 0 then connects to it like every other rank.
    assert.equal(worldFromEnvironment({ WORLD_SIZE: '2', RANK: '0', MASTER_ADDR: 'a', MASTER_PORT: '1', TORCHELASTIC_USE_AGENT_STORE: 'True' })!.agentStore, true);
    assert.throws(() => worldFromEnvironment({ WORLD_SIZE: '2', MASTER_ADDR: 'a', MASTER_PORT: '1' }), (e: Error) => e instanceof DistributedEnvironmentError && /RANK is not set/.test(e.message));
    assert.throws(() => worldFromEnvironment({ WORLD_SIZE: '2', RANK: '2', MASTER_ADDR: 'a', MASTER_PORT: '1' }), /RANK=2 is not valid: expected an integer in \[0, 1\]/);
    assert.throws(() => worldFromEnvironment({ WORLD_SIZE: '2', RANK: '0', MASTER_PORT: '1' }), /MASTER_ADDR is not set/);
    assert.throws(() => worldFromEnvironment({ WORLD_SIZE: '2', RANK: '0', MASTER_ADDR: 'a', MASTER_PORT: '70000' }), /MASTER_PORT=70000 is not valid/);
    assert.throws(() => worldFromEnvironment({ WORLD_SIZE: 'two' }), /WORLD_SIZE=two is not valid/);
  });

  test('collectives: all-reduce (sum, max, over several buckets of mixed shapes), broadcast and barrier equal hand-computed values', async () => {
    const port = await freePort();
    const script = resolve('test/fixtures/collectives-worker.ts');
    const outputs = await Promise.all(
      [0, 1].map(
        (rank) =>
          new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
            const child = spawn(process.execPath, ['--import', 'tsx', script], {
              stdio: ['ignore', 'pipe', 'pipe'],
              env: { ...env, RANK: String(rank), WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) },
            });
            let [stdout, stderr] = ['', ''];
            child.stdout.on('data', (c) => (stdout += c));
            child.stderr.on('data', (c) => (stderr += c));
            child.on('exit', (code) => done({ code, stdout, stderr }));
          }),
      ),
    );
    for (const o of outputs) assert.equal(o.code, 0, o.stderr);
    const [r0, r1] = outputs.map((o) => JSON.parse(o.stdout));
    // Rank r holds a = [1, 2, 3]·(r + 1) and m = (r + 10·r)·ones: sums [3, 6, 9] and 0 + 11 everywhere.
    for (const r of [r0, r1]) {
      assert.deepEqual(r.sum, [3, 6, 9]);
      assert.deepEqual(r.matrix, [11, 11, 11, 11, 11, 11]);
      assert.deepEqual(r.max, [1, 7]);
      assert.deepEqual(r.broadcast, [10, 11]);
      // 40 tensors of 150,000 floats (24 MB) cross several 25 MB buckets: every element is 0 + 1.
      assert.equal(r.bigSum, 40 * 150_000);
      assert.equal(r.bigWrong, 0);
    }
  });

  test('two processes (batch 2 each) end with the weights of one process with batch 2 × 2 accumulation, across an epoch boundary', async () => {
    // 43 training examples, 4 per global step: step 11 ends the epoch with 3, so rank 1 gets 1.
    const single = join(dir, 'single');
    const one = runCli([...baseArgs(single), '--batch-size', '2', '--grad-accum', '2', '--max-steps', '13']);
    assert.equal(one.status, 0, one.stderr);
    const ddp = join(dir, 'ddp');
    const two = runCli([...baseArgs(ddp), '--batch-size', '2', '--nproc-per-node', '2', '--max-steps', '13', '--save-every', '6']);
    assert.equal(two.status, 0, two.stderr);
    assert.match(two.stderr, /data parallel: 2 processes \(gloo\)/);

    const { abs, worst } = maxDifference(join(single, 'student', 'model.safetensors'), join(ddp, 'student', 'model.safetensors'));
    assert.ok(worst <= 1, `weights differ by up to ${abs} (beyond 1e-6 + 1e-5·|w|)`);
    // The same global batches: the same token counts and (to float rounding) the same losses, once per step.
    const [a, b] = [trainRecords(single), trainRecords(ddp)];
    assert.equal(b.length, 13);
    assert.deepEqual(b.map((r) => [r.step, r.tokens, r.input_tokens]), a.map((r) => [r.step, r.tokens, r.input_tokens]));
    for (const [i, r] of b.entries()) assert.ok(Math.abs(r.loss - a[i].loss) <= 1e-5 * Math.abs(a[i].loss), `step ${r.step}: loss ${r.loss} vs ${a[i].loss}`);
    // Sharded evaluation sums to the single-process numbers.
    const evalOf = (out: string) => JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    assert.equal(evalOf(ddp).held_out_tokens, evalOf(single).held_out_tokens);
    assert.ok(Math.abs(evalOf(ddp).student_perplexity_after - evalOf(single).student_perplexity_after) < 1e-4);
    assert.ok(Math.abs(evalOf(ddp).kl_teacher_student - evalOf(single).kl_teacher_student) < 1e-5);

    // Resuming from step 12 with the same world size ends bitwise where the uninterrupted run did.
    const again = join(dir, 'ddp-resumed');
    const continued = runCli([...baseArgs(again), '--batch-size', '2', '--nproc-per-node', '2', '--max-steps', '13', '--save-every', '6', '--resume', join(ddp, 'checkpoints', 'step-00000012')]);
    assert.equal(continued.status, 0, continued.stderr);
    assert.deepEqual(readFileSync(join(again, 'student', 'model.safetensors')), readFileSync(join(ddp, 'student', 'model.safetensors')));

    // Resuming with another world size is refused with the reason (--resume alone would launch the run's own 2).
    const resumed = runCli([...baseArgs(ddp), '--batch-size', '2', '--max-steps', '13', '--save-every', '6', '--resume', ddp, '--nproc-per-node', '1']);
    assert.equal(resumed.status, 1);
    assert.match(resumed.stderr, /--resume: the checkpoint was made by 2 process\(es\), this run has 1/);
  });

  test('on-policy micro-batches: two processes make the same choices and completions as one process with accumulation', async () => {
    const onPolicy = ['--batch-size', '2', '--max-steps', '4', '--on-policy-fraction', '0.5', '--max-new-tokens', '5', '--data', promptedTokenData(dir, 'prompted.jsonl', 24, 5)];
    const single = join(dir, 'single-on-policy');
    const one = runCli([...baseArgs(single), ...onPolicy, '--grad-accum', '2']);
    assert.equal(one.status, 0, one.stderr);
    const ddp = join(dir, 'ddp-on-policy');
    const two = runCli([...baseArgs(ddp), ...onPolicy, '--nproc-per-node', '2']);
    assert.equal(two.status, 0, two.stderr);
    const [a, b] = [trainRecords(single), trainRecords(ddp)];
    // Each rank generates for its own micro-batches; the counts summed over ranks are the single process's.
    assert.deepEqual(b.map((r) => [r.step, r.on_policy_fraction, r.generated_tokens, r.tokens, r.input_tokens]), a.map((r) => [r.step, r.on_policy_fraction, r.generated_tokens, r.tokens, r.input_tokens]));
    assert.ok(a.some((r) => r.on_policy_fraction === 0.5), `some step mixes on-policy and data micro-batches: ${a.map((r) => r.on_policy_fraction)}`);
    for (const [i, r] of b.entries()) assert.ok(Math.abs(r.loss - a[i].loss) <= 1e-5 * Math.abs(a[i].loss), `step ${r.step}: loss ${r.loss} vs ${a[i].loss}`);
    const { abs, worst } = maxDifference(join(single, 'student', 'model.safetensors'), join(ddp, 'student', 'model.safetensors'));
    assert.ok(worst <= 1, `weights differ by up to ${abs}`);
  });

  test('only rank 0 writes: a rank started in another folder leaves it empty', async () => {
    const port = await freePort();
    const [cwd0, cwd1] = [join(dir, 'node-a'), join(dir, 'node-b')];
    mkdirSync(cwd0);
    mkdirSync(cwd1);
    const args = [...baseArgs('run'), '--batch-size', '2', '--max-steps', '4', '--save-every', '2'];
    const workers = [startRank(0, port, args, cwd0), startRank(1, port, args, cwd1)];
    const exits = await Promise.all(workers.map((w) => w.exit));
    assert.deepEqual(exits.map((e) => e.code), [0, 0], workers.map((w) => w.stderr).join('\n'));
    assert.deepEqual(readdirSync(cwd1), []);
    assert.equal(workers[1]!.stderr, '', 'rank 1 prints nothing on success');
    for (const file of ['config.yaml', 'metrics.jsonl', 'summary.json', 'student', 'checkpoints', 'report.html']) assert.ok(existsSync(join(cwd0, 'run', file)), file);
    assert.deepEqual(trainRecords(join(cwd0, 'run')).map((r) => r.step), [1, 2, 3, 4]);
  });

  test('a killed rank stops the other within the timeout, naming it; the last checkpoint stays intact', async () => {
    const port = await freePort();
    const out = join(dir, 'killed');
    const args = [...baseArgs(out), '--batch-size', '2', '--max-steps', '100000', '--save-every', '5', '--dist-timeout', '20'];
    const [r0, r1] = [startRank(0, port, args), startRank(1, port, args)];
    await until(() => existsSync(join(out, 'checkpoints')) && readdirSync(join(out, 'checkpoints')).some((n) => /^step-\d+$/.test(n)), 'a checkpoint');
    r1!.child.kill('SIGKILL');
    const killedAt = Date.now();
    const { code, at } = await r0!.exit;
    assert.equal(code, 1, r0!.stderr);
    assert.ok(at - killedAt < 20_000 + 5_000, `rank 0 took ${at - killedAt} ms to stop`);
    // The kill can land in a step or in the evaluation at an epoch's end: either phase is named.
    assert.match(r0!.stderr, /rank 0 of 2: rank 1 stopped responding during (step \d+|evaluation at step \d+) \(/);
    assert.match(r0!.stderr, /the last checkpoint, .*step-\d{8}, is intact: continue with --resume/);
    assert.doesNotMatch(r0!.stderr, /\n\s+at /);
    const saved = loadCheckpoint(out);
    assert.equal(saved.state.worldSize, 2);
    SafetensorsFile.open(join(saved.studentFolder, 'model.safetensors')).close();
  });

  test('SIGKILL of the --nproc-per-node launcher stops its workers, the last checkpoint intact', async () => {
    const out = join(dir, 'orphans');
    const launcher = spawn(process.execPath, [cli, ...baseArgs(out), '--batch-size', '2', '--max-steps', '100000', '--save-every', '3', '--nproc-per-node', '2', '--dist-timeout', '10'], { stdio: 'ignore', env });
    await until(() => existsSync(join(out, 'checkpoints')) && readdirSync(join(out, 'checkpoints')).some((n) => /^step-\d+$/.test(n)), 'a checkpoint');
    launcher.kill('SIGKILL');
    const killedAt = Date.now();
    // The workers are the processes whose command line names this run's folder.
    const workers = () => {
      const found = spawnSync('pgrep', ['-f', '--', `--out ${out} `], { encoding: 'utf8' });
      assert.ok(found.status === 0 || found.status === 1, `pgrep failed: ${found.stderr}`);
      return found.stdout.trim();
    };
    assert.notEqual(workers(), '', 'the workers are running');
    await until(() => workers() === '', 'the workers to stop', 10_000 + 30_000);
    assert.ok(Date.now() - killedAt < 40_000);
    const saved = loadCheckpoint(out);
    assert.equal(saved.state.worldSize, 2);
    SafetensorsFile.open(join(saved.studentFolder, 'model.safetensors')).close();
  });

  test('a hung rank (stopped) makes the other give up after --dist-timeout, naming it', async () => {
    const port = await freePort();
    const out = join(dir, 'hung');
    const args = [...baseArgs(out), '--batch-size', '2', '--max-steps', '100000', '--log-every', '1', '--dist-timeout', '4'];
    const [r0, r1] = [startRank(0, port, args), startRank(1, port, args)];
    await until(() => /step 3\//.test(r0!.stderr), 'training to start');
    r1!.child.kill('SIGSTOP');
    const stoppedAt = Date.now();
    const { code, at } = await r0!.exit;
    r1!.child.kill('SIGKILL');
    assert.equal(code, 1, r0!.stderr);
    assert.ok(at - stoppedAt < 4_000 + 8_000, `rank 0 took ${at - stoppedAt} ms to stop`);
    assert.match(r0!.stderr, /rank 1 stopped responding during (step \d+|evaluation at step \d+) \(the .* failed: .*Timed out/);
    assert.match(r0!.stderr, /no checkpoint had been written yet/);
  });

  test('a rank whose peers never arrive fails the rendezvous within the timeout, naming MASTER_ADDR:MASTER_PORT', async () => {
    const port = await freePort();
    const started = Date.now();
    const lonely = startRank(1, port, [...baseArgs(join(dir, 'lonely')), '--dist-timeout', '3']);
    const { code, at } = await lonely.exit;
    assert.equal(code, 1);
    assert.ok(at - started < 3_000 + 15_000);
    assert.doesNotMatch(lonely.stderr, /InitGoogleLogging|socket\.cpp/, 'no raw libtorch log lines');
    assert.match(lonely.stderr, new RegExp(`\\[rank 1\\]: error: rank 1 of 2: the rendezvous at 127\\.0\\.0\\.1:${port} \\(MASTER_ADDR:MASTER_PORT\\) failed within 3 s`));
  });
});
