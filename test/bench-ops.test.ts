// The peak estimates of `bench ops` follow the CPU's instruction set (hand-written /proc/cpuinfo flags); bench lines print every figure.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { flopsPerCycle, vectorUnits } from '../src/cli/bench-ops.js';
import { formatBenchRecord } from '../src/cli/bench-record.js';

const cpuinfo = (flags: string) => `processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 ${flags}\n`;

describe('bench ops peak estimate', () => {
  test('FLOP per cycle per core from the vector units: AVX2, AVX-512 (+BF16), AMX', () => {
    assert.deepEqual(flopsPerCycle(vectorUnits(cpuinfo('avx avx2 fma'))).fp32, 32); // 2 pipes × 8 lanes × FMA
    assert.equal(flopsPerCycle(vectorUnits(cpuinfo('avx avx2 fma'))).bf16, 32);
    const zen4 = flopsPerCycle(vectorUnits(cpuinfo('avx avx2 fma avx512f avx512_bf16')));
    assert.deepEqual([zen4.fp32, zen4.bf16], [64, 128]);
    const sapphire = flopsPerCycle(vectorUnits(cpuinfo('avx2 fma avx512f avx512_bf16 amx_bf16 amx_tile amx_int8')));
    assert.deepEqual([sapphire.fp32, sapphire.bf16], [64, 1024]);
    assert.equal(flopsPerCycle(vectorUnits(cpuinfo('sse4_2'))).fp32, 8);
    // A flag must match whole: avx512fp16 alone is not avx512f.
    assert.equal(vectorUnits(cpuinfo('avx2 fma avx512fp16')).avx512, false);
  });
});

describe('bench output', () => {
  test('text lines spell out nested figures (per-phase times, ceilings per dtype); --json keeps the object', () => {
    const record = { mode: 'chunked', tokens_per_s: 696.2, first_loss: null, matmul_ceiling_gflops: { float32: 204.1 }, phase_ms: { teacher_forward: 48, optimizer: 40.6 } };
    assert.equal(formatBenchRecord(record), 'mode=chunked  tokens_per_s=696.2  first_loss=null  matmul_ceiling_gflops=float32:204.1  phase_ms=teacher_forward:48,optimizer:40.6');
    assert.deepEqual(JSON.parse(formatBenchRecord(record, true)), record);
  });
});
