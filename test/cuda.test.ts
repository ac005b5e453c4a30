// The CUDA path, where a CUDA device exists (skipped elsewhere, saying why): the forward pass against
// the float64 reference, a whole KD micro-batch step on CUDA against the same step on the CPU,
// chunked = naive gradients on CUDA, greedy generation, the step's single loss read, and a
// one-process NCCL collective. scripts/gpu-check.sh runs this file on the lent GPU machine.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, test } from 'node:test';
import { microBatchBackward, readStepScalars } from '../src/distill/micro-batch.js';
import { OnlineTeacher } from '../src/distill/teacher.js';
import { ProcessGroup } from '../src/distributed/process-group.js';
import { parseModelConfig } from '../src/models/decoder/config.js';
import { generate } from '../src/models/decoder/generate.js';
import { randomCausalLM } from '../src/models/decoder/init.js';
import type { CausalLM } from '../src/models/decoder/model.js';
import { native } from '../src/native/index.js';
import { normal_ } from '../src/nn/index.js';
import * as T from '../src/tensor/index.js';
import { referenceLogits } from './reference/qwen3-reference.js';

const skip = T.cudaAvailable() ? false : 'no CUDA device in this build or machine';
const cfg = parseModelConfig({
  model_type: 'qwen3', vocab_size: 97, hidden_size: 48, intermediate_size: 80, num_hidden_layers: 2, num_attention_heads: 4,
  num_key_value_heads: 2, head_dim: 16, rms_norm_eps: 1e-6, rope_theta: 10000, tie_word_embeddings: true, torch_dtype: 'float32',
});

function randomModel(seed: number): CausalLM {
  const g = new T.Generator(seed);
  const model = randomCausalLM(cfg, { generator: g });
  for (const [name, p] of model.namedParameters()) if (!/norm/.test(name)) normal_(p, 0, 0.15, g);
  return model;
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

const batch = {
  inputIds: [[3, 9, 27, 4, 33, 12, 7, 41], [8, 1, 19, 22, 5, 0, 0, 0]],
  attentionMask: [[1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0, 0]],
  labels: [[3, -100, 27, 4, 33, 12, 7, 41], [8, 1, 19, 22, 5, -100, -100, -100]],
  targetTokens: 10,
};

function step(student: CausalLM, teacher: CausalLM, device: string, impl: 'chunked' | 'naive') {
  student.zeroGrad();
  const setup = { student, teacher: new OnlineTeacher(teacher), loss: { alpha: 0.6, temperature: 2, divergence: { kind: 'forward-kl' as const } }, impl, chunkSize: 4, device };
  const sums = readStepScalars(microBatchBackward(batch, 10, setup), null).sums;
  return { sums, grads: student.parameters().map((p) => T.tidy(() => p.grad!.to({ device: 'cpu' }).toArray())) };
}

describe('CUDA', { skip }, () => {
  test('forward on CUDA matches the float64 reference (max |Δlogit| ≤ 1e-4)', () => {
    const model = randomModel(1);
    const weights = new Map([...model.stateDict()].map(([name, p]) => [name, { shape: p.shape, data: Float64Array.from(p.toArray()) }]));
    const ids = [3, 17, 42, 5, 96, 0, 61, 8];
    const ref = referenceLogits({ hiddenSize: 48, numLayers: 2, heads: 4, kvHeads: 2, headDim: 16, eps: 1e-6, ropeTheta: 10000, tied: true, bias: false, windows: [null, null] }, weights, ids);
    model.to({ device: 'cuda:0' });
    const ours = T.tidy(() => model.forward(T.tensor([ids], { dtype: 'int64', device: 'cuda:0' })).to({ device: 'cpu' }).toArray());
    assert.ok(maxDiff(ref.flatMap((row) => [...row]), ours) <= 1e-4);
    model.dispose();
  });

  test('a KD micro-batch step on CUDA equals the CPU step; chunked = naive on CUDA', () => {
    const [student, teacher] = [randomModel(2), randomModel(3)];
    const cpu = step(student, teacher, 'cpu', 'chunked');
    student.to({ device: 'cuda:0' });
    teacher.to({ device: 'cuda:0' });
    const chunked = step(student, teacher, 'cuda:0', 'chunked');
    const naive = step(student, teacher, 'cuda:0', 'naive');
    for (const other of [chunked, naive]) {
      assert.ok(Math.abs(other.sums.kdSum - cpu.sums.kdSum) <= 1e-4 * cpu.sums.kdSum);
      assert.ok(Math.abs(other.sums.ceSum - cpu.sums.ceSum) <= 1e-4 * cpu.sums.ceSum);
      cpu.grads.forEach((g, i) => assert.ok(maxDiff(g, other.grads[i]!) <= 1e-4 * Math.max(1e-6, ...g.map(Math.abs)), `parameter ${i}`));
    }
    student.dispose();
    teacher.dispose();
  });

  test('greedy generation on CUDA gives the CPU ids', () => {
    const model = randomModel(4);
    const cpu = generate(model, [5, 9, 13], { maxNewTokens: 12, greedy: true }).ids;
    model.to({ device: 'cuda:0' });
    assert.deepEqual(generate(model, [5, 9, 13], { maxNewTokens: 12, greedy: true }).ids, cpu);
    model.dispose();
  });

  test('CUDA memory figures: free ≤ total, a peak at least what is allocated', () => {
    const info = T.cudaDeviceMemory('cuda:0');
    assert.ok(info, 'the addon was built with CUDA');
    assert.ok(info.freeBytes > 0 && info.freeBytes <= info.totalBytes);
    T.resetCudaPeak('cuda:0');
    const big = T.zeros([64, 1024, 1024], { device: 'cuda:0' });
    const allocated = T.cudaAllocated('cuda:0')!;
    assert.ok(allocated.allocatedBytes >= 256 * 2 ** 20 && allocated.peakAllocatedBytes >= allocated.allocatedBytes);
    big.dispose();
  });

  test('a one-process NCCL group: all-reduce and broadcast leave the tensor as it is', async () => {
    assert.equal(native.distAvailable().nccl, true, 'the addon was built with NCCL');
    const port = await new Promise<number>((done) => {
      const server = createServer().listen(0, '127.0.0.1', () => server.close(() => done((server.address() as { port: number }).port)));
    });
    const group = ProcessGroup.init({
      backend: 'nccl', device: 'cuda:0', rank: 0, worldSize: 1, localRank: 0, masterAddr: '127.0.0.1', masterPort: port, interface: null,
      agentStore: false, timeoutMs: 60_000,
    });
    const t = T.tensor([1, 2, 3], { device: 'cuda:0' });
    group.allReduce([t]);
    group.broadcast([t], 0);
    assert.deepEqual(t.to({ device: 'cpu' }).toArray(), [1, 2, 3]);
    t.dispose();
    group.close();
  });
});
