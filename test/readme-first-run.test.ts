// The README's first run, copied as written into a fresh folder: it must work offline, and what the
// README says of it (a second run into the same --out is refused and names --resume) must be true.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';

/** The commands of the first ```bash block under `heading`, continuation lines joined, comments dropped. */
function readmeCommands(heading: string): string[] {
  const readme = readFileSync('README.md', 'utf8');
  const section = readme.slice(readme.indexOf(heading));
  assert.ok(section.length < readme.length, `README has no section ${heading}`);
  const block = /```bash\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  return block
    .replace(/\\\n\s*/g, '')
    .split('\n')
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter((line) => line !== '');
}

describe("the README's first run", () => {
  // A user's clone: the commands' relative paths (bin/, fixtures/) resolve in the working folder.
  const work = mkdtempSync(join(tmpdir(), 'distillery-first-run-'));
  after(() => rmSync(work, { recursive: true, force: true }));
  for (const name of ['bin', 'fixtures']) symlinkSync(resolve(name), join(work, name));
  const sh = (command: string) => spawnSync('bash', ['-c', command], { cwd: work, encoding: 'utf8', timeout: 300_000, env: { ...process.env, HF_HUB_OFFLINE: '1' } });
  const commands = readmeCommands('## A first run, offline');

  test('runs offline as written and leaves the run folder the README describes', () => {
    assert.equal(commands.length, 3, commands.join('\n'));
    for (const command of commands) {
      const result = sh(command);
      assert.equal(result.status, 0, `${command}\n${result.stderr}`);
    }
    for (const file of ['tokenizer.json', 'tokenizer_config.json']) assert.ok(existsSync(join(work, 'models/student', file)), file);
    for (const file of ['student/model.safetensors', 'student/tokenizer.json', 'metrics.jsonl', 'summary.json', 'report.html']) assert.ok(existsSync(join(work, 'runs/first', file)), file);
  });

  test('the same distill again is refused and names --resume runs/first, which then works', () => {
    const again = sh(commands.at(-1)!);
    assert.equal(again.status, 2, again.stderr);
    assert.match(again.stderr, /continue it with --resume runs\/first, choose another folder, or pass --overwrite/);
    const resumed = sh('node bin/distillery.mjs distill --resume runs/first');
    assert.equal(resumed.status, 0, resumed.stderr);
  });
});
