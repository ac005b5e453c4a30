// Option resolution: defaults (the reference setup) < --config YAML < flags, with named errors.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { configToYaml, readConfigFile, resolveConfig } from '../src/distill/config.js';

const dir = mkdtempSync(join(tmpdir(), 'distillery-config-'));
const required = { teacher: 't', student: 's', data: 'd.jsonl', out: 'o' };

describe('distill options', () => {
  test('defaults are the reference setup', () => {
    const c = resolveConfig(required);
    assert.deepEqual([c.alpha, c.temperature, c.loss, c.lr, c.epochs, c.batchSize, c.schedule, c.responseOnly], [0.7, 5, 'forward-kl', 5e-5, 3, 4, 'constant', true]);
  });

  test('YAML values apply, flags override them, kebab or snake keys', () => {
    const file = join(dir, 'run.yaml');
    writeFileSync(file, 'teacher: Qwen/Qwen3-4B\nalpha: 0.5\nbatch-size: 8\nresponse_only: false\nlr: 0\n');
    const fromFile = readConfigFile(file);
    const c = resolveConfig({ student: 's', data: 'd', out: 'o', alpha: '0.9' }, fromFile);
    assert.equal(c.teacher, 'Qwen/Qwen3-4B');
    assert.equal(c.alpha, 0.9);
    assert.equal(c.batchSize, 8);
    assert.equal(c.responseOnly, false);
    assert.equal(c.lr, 0);
  });

  test('the resolved configuration round-trips through config.yaml', () => {
    const c = resolveConfig({ ...required, temperature: '2', maxSteps: '100' });
    const file = join(dir, 'saved.yaml');
    writeFileSync(file, configToYaml(c));
    assert.deepEqual(resolveConfig({}, readConfigFile(file)), c);
    assert.equal(parse(configToYaml(c)).max_steps, 100);
  });

  test('errors name the flag or the file and key', () => {
    assert.throws(() => resolveConfig({ ...required, batchSize: '2.5' }), /--batch-size must be an integer >= 1, got "2\.5"/);
    assert.throws(() => resolveConfig({ ...required, temperature: '0' }), /--temperature must be > 0/);
    assert.throws(() => resolveConfig({ ...required, schedule: 'step' }), /--schedule must be one of constant, cosine, linear/);
    assert.throws(() => resolveConfig({ teacher: 't' }), /missing --student, --data, --out/);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'alpha: high\n');
    assert.throws(() => readConfigFile(bad), /bad\.yaml: 'alpha' must be a number >= 0 and <= 1, got "high"/);
    writeFileSync(bad, '- just\n- a list\n');
    assert.throws(() => readConfigFile(bad), /must be a mapping of option: value/);
    assert.throws(() => readConfigFile(join(dir, 'absent.yaml')), /absent\.yaml: cannot read \(ENOENT\)/);
  });
});
