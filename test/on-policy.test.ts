// On-policy distillation and sequence-level KD: a step on completions against the DESIGN.md
// formulas computed here by hand from each model's logits, resume exactness with sampled
// completions, and the refusals.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, resolveConfig } from '../src/distill/config.js';
import { runDistillation } from '../src/distill/trainer.js';
import { loadCausalLM } from '../src/models/decoder/weights.js';
import * as T from '../src/tensor/index.js';
import { makeModel, promptedTokenData, tokenData } from './tiny-run.js';

const dir = mkdtempSync(join(tmpdir(), 'distillery-on-policy-'));
const quiet = { log: () => {} };
const teacher = makeModel(dir, 'teacher', 1, 0.5);
const student = makeModel(dir, 'student', 2, 0.3);
const data = promptedTokenData(dir, 'data.jsonl', 48, 7);
// Every token a target: no prompt to continue.
const unprompted = tokenData(dir, 'unprompted.jsonl', 8, 3);
const readJsonl = (path: string) => readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));

// One pre-tokenized record: its labels make the first four tokens the prompt.
const ids = [3, 14, 15, 9, 26, 5, 35, 8];
const one = join(dir, 'one.jsonl');
writeFileSync(one, `${JSON.stringify({ input_ids: ids, labels: [-100, -100, -100, -100, 26, 5, 35, 8] })}\n`);
const prompt = ids.slice(0, 4);

const logSoftmax = (row: number[], tau: number) => {
  const m = Math.max(...row.map((v) => v / tau));
  const z = Math.log(row.reduce((s, v) => s + Math.exp(v / tau - m), 0)) + m;
  return row.map((v) => v / tau - z);
};

/** Each position's logits over a whole sequence: a plain forward pass, no KV cache. */
function logitsOf(folder: string, sequence: number[]): number[][] {
  const model = loadCausalLM(folder);
  const rows = T.tidy(() => model.forward(T.tensor([sequence], { dtype: 'int64' })).select(0, 0).tolist()) as number[][];
  model.dispose();
  return rows;
}

/** Greedy continuation by recomputing every position (independent of the KV-cache generator). */
function greedyByRecomputation(folder: string, start: number[], count: number): number[] {
  let sequence = [...start];
  for (let i = 0; i < count; i++) {
    const last = logitsOf(folder, sequence).at(-1)!;
    sequence = [...sequence, last.indexOf(Math.max(...last))];
  }
  return sequence.slice(start.length);
}

/** Σ over positions predicting `sequence[from..]` of τ²·KL(teacher‖student) and of CE, by hand. */
function sumsByHand(sequence: number[], from: number, tau: number): { kd: number; ce: number; n: number } {
  const [zT, zS] = [logitsOf(teacher, sequence), logitsOf(student, sequence)];
  let kd = 0;
  let ce = 0;
  for (let t = from - 1; t + 1 < sequence.length; t++) {
    const [p, q] = [logSoftmax(zT[t]!, tau), logSoftmax(zS[t]!, tau)];
    kd += tau * tau * p.reduce((s, lp, i) => s + Math.exp(lp) * (lp - q[i]!), 0);
    ce -= logSoftmax(zS[t]!, 1)[sequence[t + 1]!]!;
  }
  return { kd, ce, n: sequence.length - from };
}

describe('on-policy and sequence-level distillation', () => {
  test('on-policy, greedy: kd_loss is τ²·KL over exactly the positions predicting the student\'s own tokens (no CE term)', async () => {
    const out = join(dir, 'run-on-policy');
    const tau = 2;
    await runDistillation(resolveConfig({ teacher, student, data: one, out, batchSize: 1, maxSteps: 1, evalRatio: 0, lr: 0, temperature: tau, onPolicyFraction: 1, generationTemperature: 0, maxNewTokens: 5 }), quiet);
    const step = readJsonl(join(out, 'metrics.jsonl')).find((r) => r.type === 'train');
    const generated = greedyByRecomputation(student, prompt, 5);
    const { kd, n } = sumsByHand([...prompt, ...generated], prompt.length, tau);
    assert.equal(n, 5);
    assert.equal(step.tokens, 5);
    assert.equal(step.generated_tokens, 5);
    assert.equal(step.on_policy_fraction, 1);
    assert.equal(step.ce_loss, null, 'no reference answer, no CE');
    assert.ok(Math.abs(step.kd_loss - kd / n) < 1e-5, `kd ${step.kd_loss} vs ${kd / n}`);
    assert.ok(Math.abs(step.loss - kd / n) < 1e-5, 'the loss is the KD term alone');
    assert.ok(step.generation_tokens_per_s > 0);
  });

  test('sequence-level KD, greedy: the teacher\'s completion replaces the answer and trains with α·KD + (1−α)·CE', async () => {
    const out = join(dir, 'run-seq-kd');
    const [alpha, tau] = [0.3, 1.5];
    await runDistillation(resolveConfig({ teacher, student, data: one, out, batchSize: 1, maxSteps: 1, evalRatio: 0, lr: 0, alpha, temperature: tau, seqKd: true, generationTemperature: 0, maxNewTokens: 3 }), quiet);
    const step = readJsonl(join(out, 'metrics.jsonl')).find((r) => r.type === 'train');
    const written = greedyByRecomputation(teacher, prompt, 3);
    const { kd, ce, n } = sumsByHand([...prompt, ...written], prompt.length, tau);
    assert.equal(step.tokens, 3);
    assert.equal(step.on_policy_fraction, 0);
    assert.ok(Math.abs(step.kd_loss - kd / n) < 1e-5, `kd ${step.kd_loss} vs ${kd / n}`);
    assert.ok(Math.abs(step.ce_loss - ce / n) < 1e-5, `ce ${step.ce_loss} vs ${ce / n}`);
    assert.ok(Math.abs(step.loss - (alpha * kd + (1 - alpha) * ce) / n) < 1e-5);
  });

  test('resume with sampled on-policy micro-batches ends bitwise where the uninterrupted run did', async () => {
    const settings = { teacher, student, data, batchSize: 3, gradAccum: 2, maxSteps: 6, lr: 5e-3, onPolicyFraction: 0.5, maxNewTokens: 6, generationTopP: 0.9 };
    const full = join(dir, 'run-op-full');
    await runDistillation(resolveConfig({ ...settings, out: full }), quiet);
    const split = join(dir, 'run-op-split');
    let steps = 0;
    await runDistillation(resolveConfig({ ...settings, out: split }), { log: () => {}, onStep: () => steps++, stopRequested: () => steps >= 3 });
    await runDistillation(resolveConfig({ ...settings, out: split, resume: split }), quiet);
    const bytes = (run: string) => readFileSync(join(run, 'student', 'model.safetensors'));
    assert.ok(bytes(full).equals(bytes(split)), 'student weights differ after resume');
    const fields = (run: string) => readJsonl(join(run, 'metrics.jsonl')).filter((r) => r.type === 'train').map((r) => [r.step, r.on_policy_fraction, r.generated_tokens, r.tokens, r.loss]);
    assert.deepEqual(fields(split), fields(full));
    const fractions = fields(full).map((f) => f[1]);
    assert.ok(fractions.some((f) => f > 0) && fractions.some((f) => f < 1), `a mix of on-policy and data micro-batches: ${fractions}`);
    // Resuming with another fraction is another run.
    await assert.rejects(runDistillation(resolveConfig({ ...settings, onPolicyFraction: 0.25, out: split, resume: split }), quiet), /on_policy_fraction: 0\.5 then, 0\.25 now/);
  });

  test('bad generation settings, a teacher cache and data without prompts are refused, naming the flag', async () => {
    const base = { teacher, student, data, out: join(dir, 'never') };
    const refused = (flags: Record<string, unknown>, pattern: RegExp) => assert.throws(() => resolveConfig({ ...base, ...flags }), (e: Error) => e instanceof ConfigError && pattern.test(e.message), JSON.stringify(flags));
    refused({ onPolicyFraction: '1.5' }, /--on-policy-fraction must be >= 0 and <= 1, got "1\.5"/);
    refused({ onPolicyFraction: '-0.1' }, /--on-policy-fraction must be >= 0 and <= 1/);
    refused({ maxNewTokens: '0' }, /--max-new-tokens must be >= 1/);
    refused({ maxNewTokens: '2.5' }, /--max-new-tokens must be an integer/);
    refused({ generationTemperature: '-1' }, /--generation-temperature must be >= 0/);
    refused({ generationTopP: '0' }, /--generation-top-p must be > 0 and <= 1/);
    refused({ generationTopP: '1.01' }, /--generation-top-p must be > 0 and <= 1/);
    refused({ teacherCache: join(dir, 'cache'), onPolicyFraction: '0.5' }, /--teacher-cache cannot be used with --on-policy-fraction 0\.5: .*completions are new text/);
    refused({ teacherCache: join(dir, 'cache'), seqKd: true }, /--teacher-cache cannot be used with --seq-kd/);
    // Data with no prompts (every token a target) is refused before anything is loaded, leaving no folder.
    const noPrompt = join(dir, 'no-prompt');
    await assert.rejects(runDistillation(resolveConfig({ teacher, student, data: unprompted, out: noPrompt, onPolicyFraction: 0.5 }), quiet), /--on-policy-fraction needs prompts to continue, but every token of --data .*unprompted\.jsonl is a target/);
    assert.ok(!existsSync(noPrompt), 'a refused run leaves no folder');
    // From the command line: one line, exit 2 (a usage error), no run folder.
    const out = join(dir, 'cli-refused');
    const run = spawnSync(process.execPath, ['bin/distillery.mjs', 'distill', '--teacher', teacher, '--student', student, '--data', data, '--out', out, '--on-policy-fraction', '2'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr.trim(), /^distillery: error: --on-policy-fraction must be >= 0 and <= 1, got "2"$/);
    assert.ok(!existsSync(out));
  });
});
