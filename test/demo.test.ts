// The demo pipeline end to end in its quick configuration (tiny models, seconds): report files with
// the expected sections, the teacher reused from the cache on a second run, the folder guard.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';

const dir = mkdtempSync(join(tmpdir(), 'distillery-demo-'));
const env = { ...process.env, DISTILLERY_CACHE: join(dir, 'cache') };
const demo = (...args: string[]) => spawnSync(process.execPath, ['bin/distillery.mjs', 'demo', '--quick', ...args], { encoding: 'utf8', timeout: 300_000, env });

describe('distillery demo --quick', () => {
  test('text: trains teacher and both students, writes report.md/html with the comparison and plots', () => {
    const out = join(dir, 'text');
    const first = demo('--out', out);
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /report: .*report\.html/);
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    for (const section of ['## Summary', '## Comparison', '## Training curves', '## What was done', '## Tokenizer', '## Samples on held-out chapters']) {
      assert.ok(md.includes(section), section);
    }
    for (const row of ['teacher', 'student at init', 'student, CE only', 'student, KD']) assert.ok(md.includes(`| ${row} |`), row);
    for (const png of ['loss.png', 'perplexity.png', 'lr.png']) {
      assert.deepEqual([...readFileSync(join(out, png)).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], png);
    }
    assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /<img src="data:image\/png;base64,/);
    assert.doesNotMatch(first.stderr, /reusing the cached teacher/);
    // A second run replaces the demo folder and reuses the cached teacher.
    const second = demo('--out', out);
    assert.equal(second.status, 0, second.stderr);
    assert.match(second.stderr, /reusing the cached teacher/);
  });

  test('arithmetic: exact-match accuracy for teacher, CE-only, KD and on-policy KD students, with wall times', () => {
    const out = join(dir, 'arithmetic');
    const result = demo('--task', 'arithmetic', '--out', out);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /exact-match accuracy: teacher [\d.]+ %, student, CE only [\d.]+ %, student, KD [\d.]+ %, student, on-policy KD [\d.]+ %/);
    assert.match(result.stdout, /training wall time: student, CE only [\d.]+ s, student, KD [\d.]+ s, student, on-policy KD [\d.]+ s; generation [\d.]+ % of the on-policy run's step time/);
    const onPolicySteps = readFileSync(join(out, 'on-policy-kd', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.type === 'train');
    assert.ok(onPolicySteps.some((r) => r.generated_tokens > 0), 'the on-policy student generated answers');
    assert.ok(existsSync(join(out, 'report.html')));
  });

  test('a folder of the user’s files is never replaced', () => {
    const mine = join(dir, 'mine');
    mkdirSync(mine);
    writeFileSync(join(mine, 'notes.txt'), 'precious');
    const result = demo('--out', mine);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /--out .*mine has files that are not from a demo; choose another folder/);
    assert.equal(readFileSync(join(mine, 'notes.txt'), 'utf8'), 'precious');
  });
});
