// `distillery merge-lora`, and `eval` / `generate` given an adapter folder, run as a user types them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { makeModel } from './tiny-run.js';

const dir = mkdtempSync(join(tmpdir(), 'distillery-lora-cli-'));
const FIXTURE = 'test/fixtures/peft-lora';
const base = makeModel(dir, 'base', 7, 0.2);
/** The fixture with base_model_name_or_path naming the base folder, as an adapter trained on it says. */
const adapter = join(dir, 'adapter');
cpSync(FIXTURE, adapter, { recursive: true });
const configPath = join(adapter, 'adapter_config.json');
writeFileSync(configPath, JSON.stringify({ ...JSON.parse(readFileSync(configPath, 'utf8')), base_model_name_or_path: base }, null, 2));

function run(args: string[]) {
  // The fixture's own base_model_name_or_path names no real repo: never look for it online.
  const result = spawnSync(process.execPath, ['bin/distillery.mjs', ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, HF_HUB_OFFLINE: '1' } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function ok(args: string[]): string {
  const result = run(args);
  assert.equal(result.status, 0, `distillery ${args.join(' ')}\n${result.stderr}`);
  return result.stdout;
}

const IDS = '1,5,9,2,33,7,12,30,4,18';

describe('distillery merge-lora', () => {
  test('--base --adapter --out writes a model folder that eval scores as base + adapter', () => {
    const out = join(dir, 'merged');
    const said = run(['merge-lora', '--base', base, '--adapter', FIXTURE, '--out', out]);
    assert.equal(said.status, 0, said.stderr);
    assert.match(said.stderr, /wrote .*merged: 4 layers merged, [\d.]+M parameters, float32/);
    assert.ok(readdirSync(out).includes('model.safetensors'));
    const merged = JSON.parse(ok(['eval', '--model', out, '--input-ids', IDS, '--json']));
    const unmerged = JSON.parse(ok(['eval', '--model', FIXTURE, '--base', base, '--input-ids', IDS, '--json']));
    assert.equal(unmerged.model, FIXTURE);
    assert.ok(Math.abs(merged.nll - unmerged.nll) < 1e-5, `${merged.nll} vs ${unmerged.nll}`);
  });

  test('without --base, the base is adapter_config.json\'s base_model_name_or_path', () => {
    const out = join(dir, 'merged-named');
    ok(['merge-lora', '--adapter', adapter, '--out', out]);
    assert.deepEqual(readFileSync(join(out, 'model.safetensors')), readFileSync(join(dir, 'merged', 'model.safetensors')));
  });

  test('refused, with exit 2 and nothing written: an --out with files, a model folder as --adapter; exit 1: a base that does not resolve', () => {
    const occupied = join(dir, 'occupied');
    mkdirSync(occupied);
    writeFileSync(join(occupied, 'keep.txt'), 'mine');
    const full = run(['merge-lora', '--base', base, '--adapter', FIXTURE, '--out', occupied]);
    assert.equal(full.status, 2);
    assert.match(full.stderr, /^distillery: error: --out .*occupied already exists and is not an empty folder; choose a new output folder \(nothing is overwritten\)\n$/);
    assert.deepEqual(readdirSync(occupied), ['keep.txt']);
    const notAdapter = run(['merge-lora', '--adapter', base, '--out', join(dir, 'x')]);
    assert.equal(notAdapter.status, 2);
    assert.match(notAdapter.stderr, /--adapter .*base is not a PEFT adapter folder/);
    const unresolved = run(['merge-lora', '--adapter', FIXTURE, '--out', join(dir, 'y')]);
    assert.equal(unresolved.status, 1);
    assert.match(unresolved.stderr, /adapter_config\.json: base_model_name_or_path 'tiny-random\/qwen3-micro' does not lead to a model \(.*downloads are off.*\); pass --base with the base model's folder or hub repo id\n$/);
    assert.doesNotMatch(unresolved.stderr, /\n\s+at /, 'no stack trace');
    assert.match(run(['merge-lora', '--adapter', FIXTURE]).stderr, /required option '--out <dir>' not specified/);
  });
});

describe('eval and generate take an adapter folder', () => {
  test('generate --model ADAPTER continues with the adapted model (base from base_model_name_or_path)', () => {
    const adapted = JSON.parse(ok(['generate', '--model', adapter, '--input-ids', IDS, '--max-new-tokens', '4', '--greedy', '--json']));
    const merged = JSON.parse(ok(['generate', '--model', join(dir, 'merged'), '--input-ids', IDS, '--max-new-tokens', '4', '--greedy', '--json']));
    assert.equal(adapted.ids.length, 4);
    assert.deepEqual(adapted.ids, merged.ids);
  });

  test('--base with a model folder is a usage error (exit 2)', () => {
    for (const command of ['eval', 'generate']) {
      const result = run([command, '--model', base, '--base', base, '--input-ids', IDS]);
      assert.equal(result.status, 2, result.stderr);
      assert.match(result.stderr, /--base applies to a PEFT adapter folder \(adapter_config\.json\) as --model, and .* is not one/);
    }
  });
});
