// Runtime facts: the BLAS check, thread settings, devices.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as T from '../src/tensor/index.js';

const line = (path: string) => `7f1c2a000000-7f1c2a100000 r-xp 00000000 fe:01 1234   ${path}`;

describe('BLAS check', () => {
  test('the reference BLAS behind Debian libblas.so.3 is flagged slow', () => {
    const info = T.classifyBlas([line('/usr/lib/x86_64-linux-gnu/libtorch_cpu.so.1.13'), line('/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0')].join('\n'));
    assert.deepEqual(info, { library: '/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0', slow: true });
  });

  test('OpenBLAS and MKL are fast; nothing mapped is not flagged', () => {
    assert.equal(T.classifyBlas(line('/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3')).slow, false);
    assert.equal(T.classifyBlas(line('/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblasp-r0.3.21.so')).slow, false);
    assert.equal(T.classifyBlas(line('/opt/torch/lib/libmkl_intel_lp64.so.2')).slow, false);
    assert.deepEqual(T.classifyBlas(line('/usr/lib/libc.so.6')), { library: null, slow: false });
  });

  test('the warning names the fix', () => {
    assert.match(T.SLOW_BLAS_FIX, /apt-get install -y libopenblas0-pthread/);
  });
});

describe('threads and devices', () => {
  test('intra-op threads can be set and read back', () => {
    const before = T.numThreads();
    T.setNumThreads(1);
    assert.equal(T.numThreads(), 1);
    T.setNumThreads(before);
    assert.equal(T.numThreads(), before);
    assert.throws(() => T.setNumThreads(0), /positive integer/);
  });

  test('CUDA availability is reported consistently; CPU always works', () => {
    assert.equal(typeof T.cudaAvailable(), 'boolean');
    assert.equal(T.cudaDeviceCount() > 0, T.cudaAvailable());
    assert.equal(T.zeros([1], { device: 'cpu' }).device, 'cpu');
    assert.match(T.torchVersion(), /^\d+\.\d+/);
  });
});

describe('the native boundary', () => {
  test('garbage arguments become JS exceptions, never a crash', async () => {
    const { native } = await import('../src/native/index.js');
    const add = native.resolveOp('aten::add', 'Tensor')!;
    const junk: [string, () => unknown][] = [
      ['shape of a plain object', () => native.shape({} as never)],
      ['shape of a number', () => native.shape(3 as never)],
      ['dispose of a string', () => native.dispose('x' as never)],
      ['callOp with an unknown id', () => native.callOp(1e6, [])],
      ['callOp with args not an array', () => native.callOp(add.id, 'x' as never)],
      ['callOp with too many args', () => native.callOp(add.id, [1, 2, 3, 4, 5])],
      ['callOp with a missing required arg', () => native.callOp(add.id, [])],
      ['fromBuffer with a wrong byte count', () => native.fromBuffer(new Float32Array(3), 6, [2, 2])],
      ['fromBuffer with a bad device', () => native.fromBuffer(new Float32Array(1), 6, [1], 'warp:9')],
      ['fromBuffer with a non-buffer', () => native.fromBuffer([1, 2] as never, 6, [2])],
      ['setGrad with a wrong-shaped gradient', () => native.setGrad(T.zeros([2]).native, T.zeros([3]).native)],
      ['backward of a non-scalar without a gradient', () => native.backward(T.zeros([2]).requiresGrad_().mul(2).native)],
      ['adamwStep on a non-optimizer', () => native.adamwStep({} as never)],
      ['generator state from garbage bytes', () => native.setRngState(T.zeros([3], { dtype: 'uint8' }).native)],
    ];
    for (const [label, call] of junk) assert.throws(call, Error, label);
  });
});
