// The command line as a user runs it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';

const run = (...args: string[]) => spawnSync(process.execPath, ['bin/distillery.mjs', ...args], { encoding: 'utf8', timeout: 120_000 });

describe('distillery CLI', () => {
  test('selfcheck trains and reports a falling loss and flat memory', () => {
    const result = run('selfcheck', '--steps', '150');
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /libtorch \d/);
    assert.match(result.stdout, /selfcheck passed/);
    const [, before, after] = /loss ([\d.]+) -> ([\d.]+)/.exec(result.stdout) ?? [];
    assert.ok(Number(after) < Number(before) * 0.6, result.stdout);
  });

  test('bench ops --json prints one parseable record per measurement with thread settings', () => {
    const result = run('bench', 'ops', '--json', '--sizes', '64,128');
    assert.equal(result.status, 0, result.stderr);
    const records = result.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(records[0].bench, 'environment');
    assert.ok(records[0].intra_op_threads >= 1);
    const matmuls = records.filter((r) => r.bench === 'matmul');
    assert.deepEqual(matmuls.map((r) => r.n), [64, 128, 1024]);
    assert.ok(matmuls.every((r) => r.gflops > 0));
    assert.ok(records.some((r) => r.bench === 'mlp_fwd_bwd' && r.tokens_per_s > 0));
  });

  test('bad flags give one clear line naming the flag, not a stack trace', () => {
    const steps = run('selfcheck', '--steps', 'many');
    assert.equal(steps.status, 1);
    assert.match(steps.stderr, /--steps must be an integer/);
    assert.doesNotMatch(steps.stderr, /at .*\.ts:\d+/);
    const device = run('selfcheck', '--device', 'gpu7');
    assert.equal(device.status, 1);
    assert.match(device.stderr, /--device must be 'cpu' or 'cuda\[:N\]', got 'gpu7'/);
  });
});
