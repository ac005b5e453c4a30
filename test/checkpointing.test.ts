// Activation checkpointing: the recomputed backward gives the gradients of the recorded graph (float
// rounding at most), in float32 and bfloat16, with and without padding, for both loss paths and with
// attention dropout; and it holds far less memory during a step.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { microBatchBackward, readStepScalars } from '../src/distill/micro-batch.js';
import { OnlineTeacher } from '../src/distill/teacher.js';
import { parseModelConfig } from '../src/models/decoder/config.js';
import { randomCausalLM } from '../src/models/decoder/init.js';
import type { CausalLM } from '../src/models/decoder/model.js';
import { normal_ } from '../src/nn/index.js';
import * as T from '../src/tensor/index.js';

const config = (dtype: 'float32' | 'bfloat16', overrides: Record<string, unknown> = {}) =>
  parseModelConfig({
    model_type: 'qwen3', vocab_size: 50, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 3, num_attention_heads: 4,
    num_key_value_heads: 2, head_dim: 8, tie_word_embeddings: true, torch_dtype: dtype, ...overrides,
  });

function randomModel(seed: number, dtype: 'float32' | 'bfloat16', overrides: Record<string, unknown> = {}): CausalLM {
  const gen = new T.Generator(seed);
  const model = randomCausalLM(config('float32', overrides), { generator: gen });
  for (const [n, p] of model.namedParameters()) if (!/norm/.test(n)) normal_(p, 0, 0.3, gen);
  if (dtype === 'float32') return model;
  const cast = randomCausalLM(config(dtype, overrides), { generator: gen, dtype });
  T.noGrad(() => cast.parameters().forEach((p, i) => p.copy_(model.parameters()[i]!)));
  model.dispose();
  return cast;
}

const unpadded = {
  inputIds: [[3, 9, 27, 4, 33, 12, 7, 41], [8, 1, 19, 22, 5, 30, 2, 17]],
  attentionMask: [[1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1]],
  labels: [[3, -100, 27, 4, 33, 12, 7, 41], [8, 1, 19, 22, 5, 30, 2, 17]],
  targetTokens: 13,
};
const padded = {
  inputIds: [[3, 9, 27, 4, 33, 12, 7, 41], [8, 1, 19, 22, 5, 0, 0, 0]],
  attentionMask: [[1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0, 0]],
  labels: [[3, -100, 27, 4, 33, 12, 7, 41], [8, 1, 19, 22, 5, -100, -100, -100]],
  targetTokens: 10,
};

function gradients(student: CausalLM, teacher: CausalLM, batch: typeof padded, impl: 'chunked' | 'naive', checkpointing: boolean) {
  student.zeroGrad();
  T.manualSeed(7); // the same dropout masks for both runs, if any
  const setup = { student, teacher: new OnlineTeacher(teacher), loss: { alpha: 0.6, temperature: 2, divergence: { kind: 'forward-kl' as const } }, impl, chunkSize: 4, device: 'cpu', checkpointing };
  const sums = readStepScalars(microBatchBackward(batch, 14, setup), null).sums;
  return { sums, grads: [...student.namedParameters()].map(([name, p]) => [name, T.tidy(() => (p.grad ? p.grad.float().toArray() : null))] as const) };
}

function assertSameGradients(plain: ReturnType<typeof gradients>, checkpointed: ReturnType<typeof gradients>, tolerance: number): void {
  assert.ok(Math.abs(plain.sums.kdSum - checkpointed.sums.kdSum) <= 1e-6 * Math.abs(plain.sums.kdSum));
  assert.ok(Math.abs(plain.sums.ceSum - checkpointed.sums.ceSum) <= 1e-6 * Math.abs(plain.sums.ceSum));
  plain.grads.forEach(([name, expected], i) => {
    const actual = checkpointed.grads[i]![1];
    assert.ok(expected && actual, `${name} has a gradient in both runs`);
    const scale = Math.max(...expected.map(Math.abs));
    const worst = Math.max(...expected.map((e, j) => Math.abs(e - actual[j]!)));
    assert.ok(scale > 0, `${name}: a gradient that is not zero`);
    assert.ok(worst <= tolerance * scale, `${name}: max |Δgrad| ${worst} vs scale ${scale}`);
  });
}

describe('activation checkpointing gives the same gradients', () => {
  for (const dtype of ['float32', 'bfloat16'] as const) {
    for (const [padding, batch] of [['padding', padded], ['no padding', unpadded]] as const) {
      for (const impl of ['chunked', 'naive'] as const) {
        test(`${dtype}, ${padding}, ${impl} loss`, () => {
          const student = randomModel(11, dtype);
          const teacher = randomModel(12, 'float32');
          const plain = gradients(student, teacher, batch, impl, false);
          const checkpointed = gradients(student, teacher, batch, impl, true);
          // Same ops on the same inputs: equal to float rounding (measured: bitwise equal).
          assertSameGradients(plain, checkpointed, dtype === 'float32' ? 1e-6 : 1e-2);
          student.dispose();
          teacher.dispose();
        });
      }
    }
  }

  test('with attention dropout, the recomputation draws the same masks', () => {
    const student = randomModel(13, 'float32', { attention_dropout: 0.3 });
    const teacher = randomModel(14, 'float32');
    student.train();
    const plain = gradients(student, teacher, padded, 'chunked', false);
    const checkpointed = gradients(student, teacher, padded, 'chunked', true);
    assertSameGradients(plain, checkpointed, 1e-6);
    // And dropout really acts: another seed gives other gradients.
    student.zeroGrad();
    T.manualSeed(8);
    microBatchBackward(padded, 14, { student, teacher: new OnlineTeacher(teacher), loss: { alpha: 0.6, temperature: 2, divergence: { kind: 'forward-kl' } }, impl: 'chunked', chunkSize: 4, device: 'cpu', checkpointing: true });
    const other = T.tidy(() => student.model.layers.items[0]!.mlp.up_proj.weight.grad!.toArray());
    const first = plain.grads.find(([name]) => name === 'model.layers.0.mlp.up_proj.weight')![1]!;
    assert.ok(other.some((g, i) => Math.abs(g - first[i]!) > 1e-6));
    student.dispose();
    teacher.dispose();
  });

  test('no tensor is left behind by a checkpointed step, also when the loss has no targets', () => {
    const student = randomModel(15, 'float32');
    const teacher = randomModel(16, 'float32');
    const setup = { student, teacher: new OnlineTeacher(teacher), loss: { alpha: 0.6, temperature: 2, divergence: { kind: 'forward-kl' as const } }, impl: 'chunked' as const, chunkSize: 4, device: 'cpu', checkpointing: true };
    microBatchBackward(padded, 14, setup);
    student.zeroGrad();
    const before = T.memoryStats().liveTensors;
    microBatchBackward(padded, 14, setup).dispose();
    student.zeroGrad();
    microBatchBackward({ ...padded, labels: padded.labels.map((row) => row.map(() => -100)), targetTokens: 0 }, 0, setup).dispose();
    student.zeroGrad();
    assert.equal(T.memoryStats().liveTensors, before);
    student.dispose();
    teacher.dispose();
  });
});

describe('activation checkpointing saves memory', () => {
  test('a step of a 12-layer student holds under half the memory', () => {
    // Large enough that every activation is a block the allocator counts (>= 1 MiB); with 12 layers the
    // activations outweigh the gradients and the loss chunks (64 rows) that both runs hold.
    const overrides = { vocab_size: 512, hidden_size: 512, intermediate_size: 1536, num_hidden_layers: 12, num_attention_heads: 8, num_key_value_heads: 4, head_dim: 64 };
    const student = randomCausalLM(config('float32', overrides));
    const ids = Array.from({ length: 2 }, (_, r) => Array.from({ length: 512 }, (_, i) => (i * 13 + r) % 512));
    // One row padded, as in training batches.
    const attentionMask = ids.map((row, r) => row.map((_, i) => (r === 1 && i >= 500 ? 0 : 1)));
    const labels = ids.map((row, r) => row.map((id, i) => (attentionMask[r]![i] ? id : -100)));
    const batch = { inputIds: ids, attentionMask, labels, targetTokens: 1010 };
    const peak = (checkpointing: boolean) => {
      student.zeroGrad();
      const setup = { student, teacher: null, loss: { alpha: 0, temperature: 1, divergence: { kind: 'forward-kl' as const } }, impl: 'chunked' as const, chunkSize: 64, device: 'cpu', checkpointing };
      const base = T.cpuAllocatorStats().liveBytes;
      T.resetCpuPeak();
      microBatchBackward(batch, 1010, setup);
      return T.cpuAllocatorStats().peakBytes - base;
    };
    // Both steps create the same float32 gradients; what checkpointing saves is the rest.
    const gradients = student.parameters().reduce((n, p) => n + 4 * p.numel, 0);
    const plain = peak(false) - gradients;
    const checkpointed = peak(true) - gradients;
    assert.ok(checkpointed < 0.5 * plain, `checkpointed step peak beyond gradients ${(checkpointed / 2 ** 20).toFixed(0)} MB vs ${(plain / 2 ** 20).toFixed(0)} MB`);
    student.dispose();
  });
});
