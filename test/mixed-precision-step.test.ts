// The mixed-precision student's one-pass optimizer step (StudentPrecision.step: AdamW reading the
// bf16 gradients, scaled by the clipping coefficient, and writing the bf16 compute copy) against the
// step data-parallel runs still take: bf16 gradients copied into float32 master gradients,
// clipGradNorm scaling them in place, libtorch-op AdamW semantics, the masters copied back. Both
// must leave the same masters, compute copy and moments after several clipped steps. (The update
// formula itself is checked against doubles in optim.test.ts.)
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StudentPrecision } from '../src/distill/precision.js';
import { randomCausalLM } from '../src/models/decoder/init.js';
import { AdamW, clipCoefficient, clipGradNorm } from '../src/nn/index.js';
import * as T from '../src/tensor/index.js';
import { seededValues } from './helpers.js';
import { microConfig } from './tiny-run.js';

/** A float32 master and its bf16 compute copy, from one seed (the same weights each time). */
function mixedStudent(): { precision: StudentPrecision; optimizer: AdamW } {
  const master = randomCausalLM(microConfig({ vocab_size: 64, hidden_size: 48, intermediate_size: 96 }), { generator: new T.Generator(3) });
  return { precision: new StudentPrecision(master, 'bfloat16'), optimizer: new AdamW(master.parameters(), { lr: 1e-2, weightDecay: 0.1 }) };
}

/**
 * Step `step`'s gradients on the compute copy: the same bf16 values for every student given the
 * same step (a backward through each would already differ after one step, by bf16 roundings of
 * weights that differ in their last float32 bit).
 */
function setGradients(precision: StudentPrecision, step: number): void {
  precision.compute.parameters().forEach((p, i) => {
    p.grad = T.tensor(seededValues(p.numel, 1000 * step + i, 0.02), { dtype: 'bfloat16' }).reshape(...p.shape);
  });
}

const stateOf = (precision: StudentPrecision, optimizer: AdamW) => ({
  master: precision.master.parameters().map((p) => p.toArray()),
  compute: precision.compute.parameters().map((p) => p.toArray()),
  moments: [...optimizer.stateDict().tensors.values()].map((t) => t.toArray()),
});

describe('mixed-precision optimizer step', () => {
  test('one pass from the bf16 gradients = float32 master gradients clipped then stepped, over four clipped steps', () => {
    const onePass = mixedStudent();
    const viaMasters = mixedStudent();
    const maxNorm = 1; // below every step's norm (about 1.6): each step is clipped
    for (let step = 1; step <= 4; step++) {
      setGradients(onePass.precision, step);
      const norm = onePass.precision.gradientNorm();
      const scale = clipCoefficient(norm, maxNorm);
      onePass.precision.step(onePass.optimizer, scale);

      setGradients(viaMasters.precision, step);
      viaMasters.precision.gradientsToMaster();
      const reference = clipGradNorm(viaMasters.precision.master.parameters(), maxNorm);
      viaMasters.optimizer.step();
      viaMasters.optimizer.zeroGrad();
      viaMasters.precision.syncCompute();

      assert.ok(scale.item() < 1, `step ${step} is clipped`);
      assert.ok(Math.abs(norm.item() - reference.item()) <= 1e-6 * reference.item(), `step ${step}: norm ${norm.item()} vs ${reference.item()}`);
      // The compute gradients are released; the masters never got any.
      assert.ok(onePass.precision.compute.parameters().every((p) => p.grad === null));
      assert.ok(onePass.precision.master.parameters().every((p) => p.grad === null));
    }
    const [a, b] = [stateOf(onePass.precision, onePass.optimizer), stateOf(viaMasters.precision, viaMasters.optimizer)];
    for (const part of ['master', 'compute', 'moments'] as const) {
      a[part].forEach((values, i) => values.forEach((x, j) => {
        const y = b[part][i]![j]!;
        // The same arithmetic up to the norm's summation order (double here, float32 there).
        assert.ok(Math.abs(x - y) <= 1e-6 + 1e-5 * Math.abs(y), `${part} ${i}[${j}]: ${x} vs ${y}`);
      }));
    }
    // The compute copy is its masters rounded to bf16, bit for bit.
    assert.deepEqual(a.compute, a.master.map((values) => T.tensor(values).to({ dtype: 'bfloat16' }).toArray()));
  });
});
