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
