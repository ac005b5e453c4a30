// Nothing the user made is lost: --out at an existing run, checks that fail before training, a
// full disk, and the "continue with --resume OUT" the tool prints, run as printed.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import { resolveConfig } from '../src/distill/config.js';
import { runDistillation } from '../src/distill/trainer.js';
import { FileWriteError, writeTextAtomic } from '../src/io/atomic.js';
import { makeModel, promptedTokenData, tokenData } from './tiny-run.js';

const dir = mkdtempSync(join(tmpdir(), 'distillery-safety-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const quiet = { log: () => {} };
const teacher = makeModel(dir, 'teacher', 1, 0.5);
const student = makeModel(dir, 'student', 2, 0.05);
const data = tokenData(dir, 'data.jsonl', 24, 7);

const cli = (args: string[]) => spawnSync(process.execPath, ['bin/distillery.mjs', 'distill', ...args], { encoding: 'utf8', timeout: 120_000 });

/** Every file under `path` with its size and modification time: what "left untouched" means. */
function snapshot(path: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (p: string) => {
    for (const name of readdirSync(p)) {
      const full = join(p, name);
      const stats = statSync(full);
      if (stats.isDirectory()) walk(full);
      else out[full] = `${stats.size}@${stats.mtimeMs}`;
    }
  };
  walk(path);
  return out;
}

/** A tmpfs of `size` at a new folder, or null where this process may not mount (not root). */
function smallDisk(t: TestContext, size: string): string | null {
  const mount = mkdtempSync(join(tmpdir(), 'distillery-disk-'));
  const result = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mount]);
  if (result.status !== 0) return null;
  t.after(() => {
    spawnSync('umount', ['-l', mount]);
    rmSync(mount, { recursive: true, force: true });
  });
  return mount;
}

describe('a run never loses work', () => {
  test('distill --out at an existing run refuses, naming --resume, and leaves it untouched; --overwrite replaces it', () => {
    const out = join(dir, 'run-existing');
    const args = ['--teacher', teacher, '--student', student, '--data', data, '--out', out, '--max-steps', '2'];
    const first = cli(args);
    assert.equal(first.status, 0, first.stderr);
    // The resolved configuration goes to config.yaml, not in front of the plan (on request: --show-config).
    assert.doesNotMatch(first.stderr, /configuration:/);
    assert.match(readFileSync(join(out, 'config.yaml'), 'utf8'), /^alpha: 0\.7$/m);
    const before = snapshot(out);
    const again = cli([...args, '--max-steps', '3']);
    assert.equal(again.status, 2, again.stderr); // a usage error: the flags ask for what would lose work
    assert.match(again.stderr, new RegExp(`--out ${out} holds a run already: continue it with --resume ${out}, choose another folder, or pass --overwrite`));
    assert.equal(again.stderr.trim().split('\n').length, 1, again.stderr);
    assert.deepEqual(snapshot(out), before);

    const replaced = cli([...args, '--max-steps', '3', '--overwrite', '--show-config']);
    assert.equal(replaced.status, 0, replaced.stderr);
    assert.match(replaced.stderr, /^configuration:\n(  .*\n)*  max_steps: 3\n/m);
    // The old run's checkpoint is gone with it: only the new run's remains, and its metrics start at step 1.
    assert.deepEqual(readdirSync(join(out, 'checkpoints')), ['step-00000003']);
    const steps = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.type === 'train').map((r) => r.step);
    assert.deepEqual(steps, [1, 2, 3]);
  });

  test('a folder of other files is refused too; an empty one is used', async () => {
    const busy = join(dir, 'busy');
    mkdirSync(busy);
    writeFileSync(join(busy, 'notes.txt'), 'mine');
    await assert.rejects(runDistillation(resolveConfig({ teacher, student, data, out: busy, maxSteps: 1 }), quiet), /--out .*busy already has files \(notes\.txt\): choose another folder/);
    assert.deepEqual(readdirSync(busy), ['notes.txt']);
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    await runDistillation(resolveConfig({ teacher, student, data, out: empty, maxSteps: 1, evalRatio: 0 }), quiet);
    assert.ok(existsSync(join(empty, 'student', 'model.safetensors')));
  });

  test('a check that fails before training leaves no folder: truncated weights, a mismatched teacher cache', async () => {
    const truncated = makeModel(dir, 'truncated', 5, 0.05);
    const weights = join(truncated, 'model.safetensors');
    truncateSync(weights, statSync(weights).size - 100);
    const out = join(dir, 'run-truncated');
    await assert.rejects(runDistillation(resolveConfig({ teacher, student: truncated, data, out, maxSteps: 1 }), quiet), /model\.safetensors/);
    assert.equal(existsSync(out), false, 'no half-made run folder');

    const cache = join(dir, 'cache');
    const made = spawnSync(process.execPath, ['bin/distillery.mjs', 'cache-teacher', '--teacher', teacher, '--data', data, '--top-k', '4', '--out', cache], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(made.status, 0, made.stderr);
    const otherData = tokenData(dir, 'other.jsonl', 24, 8);
    const mismatched = join(dir, 'run-mismatched');
    await assert.rejects(runDistillation(resolveConfig({ student, data: otherData, teacherCache: cache, out: mismatched, maxSteps: 1 }), quiet), /cache/);
    assert.equal(existsSync(mismatched), false, 'no half-made run folder');
  });

  test('--teacher beside --teacher-cache is refused: the teacher would be silently ignored', () => {
    assert.throws(() => resolveConfig({ teacher, student, data, out: join(dir, 'x'), teacherCache: join(dir, 'cache') }), /--teacher .* and --teacher-cache .* were both given: the cache replaces the teacher/);
  });

  test('"continue with --resume OUT", as printed after Ctrl-C, continues the run with no other flag', async () => {
    const out = join(dir, 'run-interrupted');
    const prompted = promptedTokenData(dir, 'prompted.jsonl', 24, 9);
    const child = spawn(process.execPath, ['bin/distillery.mjs', 'distill', '--teacher', teacher, '--student', student, '--data', prompted, '--out', out, '--max-steps', '4', '--alpha', '0.5', '--log-every', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const code = await new Promise<number | null>((resolve) => {
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
        if (/step 1\//.test(stderr) && !child.killed) child.kill('SIGINT');
      });
      child.on('exit', (c) => resolve(c));
    });
    assert.equal(code, 130, stderr);
    const printed = /continue with (--resume \S+)/.exec(stderr)?.[1];
    assert.ok(printed, stderr);
    // A setting that would change the result, given beside it, is refused naming it.
    const changed = cli([...printed.split(' '), '--alpha', '0.9']);
    assert.equal(changed.status, 1, changed.stderr);
    assert.match(changed.stderr, /alpha: 0\.5 then, 0\.9 now/);
    const resumed = cli(printed.split(' '));
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.ok(existsSync(join(out, 'student', 'model.safetensors')));
    const steps = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.type === 'train').map((r) => r.step);
    assert.deepEqual(steps, [1, 2, 3, 4]);
  });

  test('a disk too small for the checkpoints and the student is refused before anything is written', async (t) => {
    const disk = smallDisk(t, '256k');
    if (!disk) return t.skip('mounting a tmpfs needs root');
    const out = join(disk, 'run');
    await assert.rejects(
      runDistillation(resolveConfig({ teacher, student, data, out, maxSteps: 1 }), quiet),
      /--out .*run: the run needs about \d+\.\d MB of disk \(3 checkpoints .* --keep-checkpoints 2, and the final student .*\), but only 0\.\d MB is free there/,
    );
    assert.equal(existsSync(out), false);
  });

  test('the disk filling up mid-run names the file, keeps the last good checkpoint and says how to continue', async (t) => {
    const disk = smallDisk(t, '8m');
    if (!disk) return t.skip('mounting a tmpfs needs root');
    const out = join(disk, 'run');
    const filler = join(disk, 'filler');
    const fill = (step: number) => {
      if (step !== 2) return;
      // Another program takes the rest of the disk after step 2's metrics line is written.
      const chunk = Buffer.alloc(64 * 1024, 1);
      try {
        for (;;) writeFileSync(filler, chunk, { flag: 'a' });
      } catch (error) {
        assert.equal((error as NodeJS.ErrnoException).code, 'ENOSPC');
      }
    };
    await assert.rejects(
      runDistillation(resolveConfig({ teacher, student, data, out, maxSteps: 3, saveEvery: 1, evalRatio: 0 }), { log: () => {}, onStep: (s) => fill(s.step) }),
      (error: Error) => {
        assert.ok(error instanceof FileWriteError, String(error));
        assert.match(error.message, new RegExp(`cannot write ${out}/checkpoints/step-00000002/\\S+: no space left on the device; the last checkpoint, ${out}/checkpoints/step-00000001, is intact: free space and continue with --resume ${out}`));
        return true;
      },
    );
    // The good checkpoint is whole and nothing half-written is left beside it.
    assert.deepEqual(readdirSync(join(out, 'checkpoints')), ['step-00000001']);
    rmSync(filler);
    await runDistillation(resolveConfig({ teacher, student, data, out, maxSteps: 3, saveEvery: 1, evalRatio: 0, resume: out }), quiet);
    assert.ok(existsSync(join(out, 'student', 'model.safetensors')));
  });

  test('an atomic write that fails names its target and leaves neither a temporary nor a partial file', (t) => {
    const disk = smallDisk(t, '64k');
    if (!disk) return t.skip('mounting a tmpfs needs root');
    const target = join(disk, 'summary.json');
    assert.throws(() => writeTextAtomic(target, 'x'.repeat(256 * 1024)), (error: Error) => error instanceof FileWriteError && error.code === 'ENOSPC' && error.message === `cannot write ${target}: no space left on the device`);
    assert.deepEqual(readdirSync(disk), []);
  });
});

describe('what a run says is true', () => {
  test('a --batch-size beyond the data says what it does: each batch is the whole training set', async () => {
    const lines: string[] = [];
    const out = join(dir, 'run-big-batch');
    await runDistillation(resolveConfig({ teacher, student, data, out, maxSteps: 1, batchSize: 1000, evalRatio: 0 }), { log: (l) => lines.push(l) });
    const training = lines.find((l) => l.startsWith('training:'));
    assert.equal(training, 'training: 1 steps (1 per epoch, 24 examples per step); --batch-size 1000 is more than the 24 training examples, so each batch is all 24');
    assert.match(lines.find((l) => l.startsWith('memory plan:'))!, /micro-batch 24 as configured/);
    const records = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(records.map((r) => r.step), [1]);
  });

  test('a diverging run (--lr 10) stops with an error naming the step and the learning rate, not "gap closed Infinity %"', async () => {
    const out = join(dir, 'run-diverged');
    await assert.rejects(
      runDistillation(resolveConfig({ teacher, student, data, out, maxSteps: 4, lr: 10, evalEvery: 1 }), quiet),
      (error: Error) => error.name === 'DivergenceError' && /^the run diverged: the student's held-out loss is [\d.e+]+ nats\/token \(perplexity Infinity\) at step 1 \(--lr 10\); no student or summary was written/.test(error.message),
    );
    assert.equal(existsSync(join(out, 'summary.json')), false);
    assert.equal(existsSync(join(out, 'student')), false);
    const cliRun = cli(['--teacher', teacher, '--student', student, '--data', data, '--out', join(dir, 'run-diverged-cli'), '--max-steps', '4', '--lr', '10', '--eval-every', '1']);
    assert.equal(cliRun.status, 1, cliRun.stderr);
    assert.match(cliRun.stderr, /distillery: error: the run diverged/);
  });
});
