// Deterministic release: scopes free what they should and keep what they return, and a long
// training loop runs in flat native memory.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AdamW, Linear, Module, clipGradNorm } from '../src/nn/index.js';
import * as T from '../src/tensor/index.js';

describe('tidy scopes', () => {
  test('intermediates are released; returned tensors (in arrays and objects) survive', () => {
    const before = T.memoryStats().liveTensors;
    const result = T.tidy(() => {
      const a = T.ones([100]);
      const b = a.mul(2);
      b.add(1);
      return { sum: b.sum(), parts: [a.slice(0, 0, 10)] };
    });
    assert.equal(T.memoryStats().liveTensors, before + 2);
    assert.equal(result.sum.item(), 200);
    assert.equal(result.parts[0]!.numel, 10);
    result.sum.dispose();
    result.parts[0]!.dispose();
    assert.equal(T.memoryStats().liveTensors, before);
  });

  test('nested scopes hand results outward; an exception releases everything', () => {
    const before = T.memoryStats().liveTensors;
    const outer = T.tidy(() => {
      const inner = T.tidy(() => T.ones([3]).mul(3));
      T.ones([5]);
      return inner.add(1);
    });
    assert.deepEqual(outer.toArray(), [4, 4, 4]);
    outer.dispose();
    assert.throws(() =>
      T.tidy(() => {
        T.ones([1000]);
        throw new Error('boom');
      }),
    /boom/);
    assert.equal(T.memoryStats().liveTensors, before);
  });

  test('keep() survives the scope; `using` disposes at block end; bytes are counted once per storage', () => {
    const before = T.memoryStats();
    const kept = T.tidy(() => T.keep(T.zeros([256])));
    assert.equal(kept.isDisposed, false);
    const view = kept.view(16, 16);
    assert.equal(T.memoryStats().liveBytes - before.liveBytes, 256 * 4); // the view shares storage
    view.dispose();
    kept.dispose();
    {
      using scratch = T.zeros([64]);
      assert.equal(scratch.numel, 64);
    }
    assert.deepEqual(T.memoryStats(), before);
  });

  test('async functions are refused with an explanation', () => {
    assert.throws(() => T.tidy(async () => 1), /cannot span an await/);
  });
});

class TinyMlp extends Module {
  readonly a = this.registerModule('a', new Linear(8, 32));
  readonly b = this.registerModule('b', new Linear(32, 4));
  forward(x: T.Tensor): T.Tensor {
    return this.b.forward(this.a.forward(x).silu());
  }
}

describe('training memory', () => {
  test('a 1,000-step training loop ends with the live tensors and bytes it had after step 1', () => {
    T.manualSeed(1);
    const model = new TinyMlp();
    const opt = new AdamW(model.parameters(), { lr: 1e-2 });
    const x = T.randn([64, 8]);
    const y = T.randint(0, 4, [64]);
    let afterFirst = { liveTensors: -1, liveBytes: -1 };
    let firstLoss = 0;
    let lastLoss = 0;
    for (let step = 1; step <= 1000; step++) {
      lastLoss = T.tidy(() => {
        opt.zeroGrad();
        const loss = T.crossEntropy(model.forward(x), y);
        loss.backward();
        clipGradNorm(model.parameters(), 1).dispose();
        opt.step();
        return loss.item();
      });
      if (step === 1) {
        afterFirst = T.memoryStats();
        firstLoss = lastLoss;
      }
    }
    assert.deepEqual(T.memoryStats(), afterFirst);
    assert.ok(lastLoss < firstLoss / 4, `the loop trained: ${firstLoss} -> ${lastLoss}`);
    model.dispose();
    x.dispose();
    y.dispose();
  });
});

describe('CPU block allocator', () => {
  // A step's phases free buffers of one size and ask for another: the LM-head chunks' logits, then
  // the layers' gradients, then something larger than either. Once warm, every request must be
  // served from memory the process already mapped (a fresh page costs a fault on first touch).
  test('phases of differently sized buffers reuse each other\'s memory: once warm, a step maps nothing fresh', () => {
    const MiB = 2 ** 18; // float32 elements per MiB
    const phase = (count: number, mib: number) => T.tidy(() => {
      const held = Array.from({ length: count }, () => T.zeros([mib * MiB]));
      return held.reduce((sum, t) => sum + t.numel, 0);
    });
    const step = () => phase(3, 40) + phase(10, 12) + phase(1, 100) + phase(6, 7);
    step(); // warm-up: maps what the step needs
    const [mappedBefore, faultsBefore] = [T.cpuAllocatorStats().mappedBytes, process.resourceUsage().minorPageFault];
    for (let i = 0; i < 3; i++) step();
    const fresh = T.cpuAllocatorStats().mappedBytes - mappedBefore;
    const faults = (process.resourceUsage().minorPageFault - faultsBefore) / 3;
    assert.equal(fresh, 0, `${fresh / 2 ** 20} MiB mapped fresh after warm-up`);
    // Each step writes 392 MiB (100,352 pages of 4 KiB): fresh pages would show as faults by the
    // thousand; what remains is the JavaScript runtime's own.
    assert.ok(faults < 2000, `${faults} minor faults per step`);
    // Nothing stays in use, and what is kept mapped is bounded by the step's own peak use.
    const stats = T.cpuAllocatorStats();
    assert.ok(stats.cachedBytes <= 2 * 120 * 2 ** 20 + 256 * 2 ** 20, `${stats.cachedBytes / 2 ** 20} MiB kept`);
  });
});

describe('tensors a program forgets to dispose', () => {
  // The finalizer is the safety net: a loop that leaks must still be collected, its handles'
  // finalizers freeing the memory. (V8 now hears of tensor memory in coarse steps, so that a training
  // step's transient gigabytes do not set off a full collection every 64 MB; leaked handles are
  // still found, here by the young-generation collections their wrappers cause.)
  test('a loop that never disposes its 8 MB tensors stays bounded: 2.4 GB made, far less ever live', async () => {
    const base = T.cpuAllocatorStats().liveBytes;
    let most = 0;
    for (let i = 0; i < 300; i++) {
      T.zeros([2 * 2 ** 20]); // 8 MB, dropped without dispose()
      most = Math.max(most, T.cpuAllocatorStats().liveBytes - base);
      if (i % 10 === 9) await new Promise((resolve) => setImmediate(resolve)); // a training loop's awaits
    }
    assert.ok(most < 1.2 * 2 ** 30, `${Math.round(most / 2 ** 20)} MiB live at most`);
  });
});
