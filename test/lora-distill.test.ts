// Distilling into LoRA adapters (--lora-rank): step 0 is the full student's (B = 0), only the
// adapters change, OUT/student is a PEFT adapter folder and --merge-lora's folder evaluates as base
// + adapter; a resumed run ends bitwise as an uninterrupted one; bf16 bases, on-policy and data
// parallel work; the memory plan counts the adapters' gradients and moments only.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SafetensorsFile } from '../src/io/safetensors/index.js';
import { distill, type DistillOptions, evaluate, type EvalRecord, type MetricsRecord, type TrainRecord } from '../src/index.js';
import * as T from '../src/tensor/index.js';
import { tinyTextModels } from './tiny-run.js';
import { presetConfig } from '../src/models/decoder/presets.js';
import { parameterCount } from '../src/models/decoder/size.js';
import { estimateMemory, type PlanInput } from '../src/distill/memory/estimate.js';
import { adapterSize, studentLoraConfig } from '../src/distill/lora-student.js';

const dir = mkdtempSync(join(tmpdir(), 'distillery-lora-distill-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const at = (name: string) => join(dir, name);
const cli = resolve('bin/distillery.mjs');

const corpus = Array.from({ length: 24 }, (_, i) => ({ instruction: `Where did ship ${i} sail?`, response: `Ship ${i} sailed ${['north', 'south', 'east'][i % 3]} at dawn.` }));
const data = at('train.jsonl');
writeFileSync(data, corpus.map((r) => `${JSON.stringify(r)}\n`).join(''));
const folders = { teacher: at('teacher'), student: at('student') };

before(() => {
  tinyTextModels(dir, corpus.flatMap((r) => [r.instruction, r.response]), { teacher: { seed: 1, sharpen: 20 }, student: { seed: 2, sharpen: 1 } }, 260);
});

const common = { teacher: folders.teacher, student: folders.student, data, batchSize: 4, maxLength: 96, lr: 5e-3, evalRatio: 0.25, temperature: 2, alpha: 0.5, maxSteps: 3 } as const;

async function run(options: Record<string, unknown>) {
  const steps: TrainRecord[] = [];
  const evals: EvalRecord[] = [];
  const lines: string[] = [];
  await distill({
    ...options, log: (l: string) => lines.push(l),
    onRecord: (r: MetricsRecord) => (r.type === 'train' ? steps.push(r) : evals.push(r)),
  } as unknown as DistillOptions);
  return { steps, evals, lines };
}

const tensorsOf = (file: string) => {
  const f = SafetensorsFile.open(file);
  const out = new Map(f.names().map((n) => [n, Array.from(f.tensor(n).to("float64").toArray() as ArrayLike<number>)]));
  f.close();
  return out;
};

describe('LoRA students', () => {
  let full: Awaited<ReturnType<typeof run>>;
  let lora: Awaited<ReturnType<typeof run>>;
  before(async () => {
    full = await run({ ...common, out: at('full') });
    lora = await run({ ...common, loraRank: 4, loraAlpha: 8, mergeLora: true, out: at('lora') });
  });

  test('step 0 is the full student: the same held-out numbers and first loss (B = 0)', () => {
    assert.equal(lora.evals[0]!.studentNll, full.evals[0]!.studentNll);
    assert.equal(lora.steps[0]!.loss, full.steps[0]!.loss);
    // Then the runs part: only the adapters move.
    assert.notEqual(lora.steps[2]!.loss, full.steps[2]!.loss);
    assert.ok(lora.lines.some((l) => /^LoRA: r 4, alpha 8 on 14 linear layers; 0\.00M trainable parameters/.test(l)), lora.lines.join('\n'));
  });

  test('activation checkpointing (frozen embeddings: the layers\' inputs carry no gradient) gives the same steps', async () => {
    const checkpointed = await run({ ...common, loraRank: 4, loraAlpha: 8, gradientCheckpointing: 'on', out: at('lora-checkpointed') });
    checkpointed.steps.forEach((s, i) => assert.ok(Math.abs(s.loss - lora.steps[i]!.loss) <= 1e-6 * lora.steps[i]!.loss, `step ${s.step}: ${s.loss} vs ${lora.steps[i]!.loss}`));
  });

  test("OUT/student is PEFT's adapter folder; --merge-lora's folder is the base plus scale·B·A and evaluates as base + adapter", async () => {
    const adapterConfig = JSON.parse(readFileSync(join(at('lora'), 'student', 'adapter_config.json'), 'utf8'));
    assert.equal(adapterConfig.peft_type, 'LORA');
    assert.equal(adapterConfig.task_type, 'CAUSAL_LM');
    assert.equal(adapterConfig.r, 4);
    assert.equal(adapterConfig.lora_alpha, 8);
    assert.equal(adapterConfig.bias, 'none');
    assert.equal(adapterConfig.base_model_name_or_path, resolve(folders.student));
    const adapter = tensorsOf(join(at('lora'), 'student', 'adapter_model.safetensors'));
    assert.equal(adapter.size, 2 * 2 * 7, 'A and B of 7 linear layers in 2 decoder layers');
    const aKey = 'base_model.model.model.layers.1.mlp.down_proj.lora_A.weight';
    const bKey = 'base_model.model.model.layers.1.mlp.down_proj.lora_B.weight';
    assert.ok(adapter.has(aKey) && adapter.has(bKey), [...adapter.keys()].join(', '));
    // The merged down_proj is W + (α/r)·B·A, computed here in doubles from the three files.
    const base = tensorsOf(join(folders.student, 'model.safetensors'));
    const merged = tensorsOf(join(at('lora'), 'student-merged', 'model.safetensors'));
    const W = base.get('model.layers.1.mlp.down_proj.weight')!;
    const A = adapter.get(aKey)!; // [4, 64]
    const B = adapter.get(bKey)!; // [32, 4]
    const M = merged.get('model.layers.1.mlp.down_proj.weight')!;
    let worst = 0;
    for (let o = 0; o < 32; o++) {
      for (let i = 0; i < 64; i++) {
        let ba = 0;
        for (let r = 0; r < 4; r++) ba += B[o * 4 + r]! * A[r * 64 + i]!;
        worst = Math.max(worst, Math.abs(M[o * 64 + i]! - (W[o * 64 + i]! + 2 * ba)));
      }
    }
    assert.ok(worst < 1e-6, `merged weight off by ${worst}`);
    assert.ok(Math.abs(B.reduce((n, x) => n + Math.abs(x), 0)) > 0, 'B trained away from 0');
    // Weights no adapter touches are the base's, bit for bit.
    assert.deepEqual(merged.get('model.embed_tokens.weight'), base.get('model.embed_tokens.weight'));
    assert.deepEqual(merged.get('model.layers.0.input_layernorm.weight'), base.get('model.layers.0.input_layernorm.weight'));
    const unmerged = await evaluate({ model: join(at('lora'), 'student'), data });
    const folded = await evaluate({ model: join(at('lora'), 'student-merged'), data });
    assert.ok(Math.abs(unmerged.nll - folded.nll) <= 1e-5 * folded.nll, `${unmerged.nll} vs ${folded.nll}`);
  });

  test('--student ADAPTER trains that adapter further, on its base: it starts where the first run ended', async () => {
    const more = await run({ ...common, student: join(at('lora'), 'student'), out: at('lora-more') });
    assert.equal(more.evals[0]!.studentNll, lora.evals.at(-1)!.studentNll);
    assert.ok(more.lines.some((l) => l.startsWith(`student: the LoRA adapter ${join(at('lora'), 'student')} (r 4, alpha 8) on `)), more.lines.join('\n'));
    const again = JSON.parse(readFileSync(join(at('lora-more'), 'student', 'adapter_config.json'), 'utf8'));
    assert.equal(again.base_model_name_or_path, resolve(folders.student), 'the base, not the adapter it started from');
    await assert.rejects(run({ ...common, student: join(at('lora'), 'student'), loraRank: 8, out: at('lora-clash') }), /loraRank cannot be used with student .*, a LoRA adapter folder/);
  });

  test("the memory plan counts the adapters' gradients and moments only: Qwen3-0.6B at r 16 has PEFT's 10,092,544", () => {
    const student = presetConfig('qwen3-0.6b');
    const lora = adapterSize(student, studentLoraConfig({ loraRank: 16, loraAlpha: null, loraDropout: 0, loraTargets: null, useRslora: false })!);
    // Per layer r·(in + out) over q, k, v, o, gate, up, down: 16·(3072 + 2048 + 2048 + 3072 + 3·4096), 28 layers.
    assert.equal(lora.parameters, 16 * (3072 + 2048 + 2048 + 3072 + 3 * 4096) * 28);
    assert.equal(lora.parameters, 10_092_544);
    const input: PlanInput = {
      student, studentDtype: 'bfloat16', teacher: null, teacherDtype: 'bfloat16', teacherElsewhere: false, sequenceLength: 512, evalSequenceLength: 512, evalBatchSize: 1,
      lossImpl: 'chunked', lossChunkRows: 64, runtimeBytes: 0, kernels: T.kernelsFor('cpu', 'bfloat16'), gradAccum: 1, batchSize: 1, lora: { ...lora, rank: 16 },
    };
    const parts = new Map(estimateMemory(input, { microBatchSize: 1, gradientCheckpointing: false }).phases['optimizer step'].map((c) => [c.name, c.bytes]));
    assert.equal(parts.get('optimizer_state'), 10_092_544 * 8);
    assert.equal(parts.get('gradients'), 10_092_544 * 4);
    assert.equal(parts.get('student_compute_copy'), 0);
    // The frozen weights once, in bf16, and the float32 adapters.
    assert.equal(parts.get('student_weights'), parameterCount(student) * 2 + 10_092_544 * 4);
  });

  test('a resumed LoRA run (adapter dropout on) ends bitwise as the uninterrupted one', async () => {
    await run({ ...common, loraRank: 4, loraDropout: 0.1, maxSteps: 4, saveEvery: 1, keepCheckpoints: 10, out: at('whole') });
    const resumed = spawnSync(process.execPath, [cli, 'distill', '--resume', join(at('whole'), 'checkpoints', 'step-00000002'), '--out', at('resumed')], { encoding: 'utf8' });
    assert.equal(resumed.status, 0, resumed.stderr);
    const a = readFileSync(join(at('whole'), 'student', 'adapter_model.safetensors'));
    const b = readFileSync(join(at('resumed'), 'student', 'adapter_model.safetensors'));
    assert.ok(a.equals(b), 'the adapters are bitwise equal');
  });

  test('a bf16 base, on-policy completions and bad settings', async () => {
    const bf16 = await run({ ...common, loraRank: 4, dtype: 'bfloat16', onPolicyFraction: 0.5, maxNewTokens: 6, out: at('bf16') });
    assert.ok(bf16.steps.every((s) => Number.isFinite(s.loss)));
    assert.ok(bf16.lines.some((l) => l.includes('(frozen, bfloat16, cpu)')), bf16.lines.join('\n'));
    await assert.rejects(run({ ...common, loraAlpha: 8, out: at('no-rank') }), /loraAlpha sets up LoRA adapters, but loraRank is 0/);
    await assert.rejects(run({ ...common, loraRank: 4, loraTargets: 'attention_proj', out: at('bad-target') }), /attention_proj/);
  });

  test('two data-parallel ranks train the adapters as one process with accumulation', () => {
    const args = ['distill', '--teacher', folders.teacher, '--student', folders.student, '--data', data, '--lora-rank', '4', '--max-steps', '2', '--max-length', '96', '--lr', '5e-3', '--eval-ratio', '0.25'];
    const one = spawnSync(process.execPath, [cli, ...args, '--batch-size', '2', '--grad-accum', '2', '--out', at('dp-one')], { encoding: 'utf8' });
    assert.equal(one.status, 0, one.stderr);
    const two = spawnSync(process.execPath, [cli, ...args, '--batch-size', '2', '--nproc-per-node', '2', '--out', at('dp-two')], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
    assert.equal(two.status, 0, two.stderr);
    const losses = (out: string) => readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.type === 'train').map((r) => r.loss as number);
    losses(at('dp-two')).forEach((l, i) => assert.ok(Math.abs(l - losses(at('dp-one'))[i]!) < 1e-5 * Math.abs(l), `step ${i + 1}: ${l}`));
  });
});
