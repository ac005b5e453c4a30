// KD with softcapped logits (Gemma 2 style final_logit_softcapping): the chunked loss caps each
// chunk's student logits, the teacher's are capped before they arrive, and the gradient goes back
// through the cap. Checked against the definition written out in plain float64 JavaScript — the
// loss value, and its gradients with respect to the hidden rows and the head weight by central
// finite differences of that definition — for the fused KD kernel's path (float32 on CPU, where
// the addon's kernel serves) and autograd's (float64).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { chunkedLossBackward } from '../src/distill/chunked-loss.js';
import { readStepScalars } from '../src/distill/micro-batch.js';
import { logitsSignal } from '../src/distill/teacher-signal.js';
import * as T from '../src/tensor/index.js';
import { seededRows } from './helpers.js';

const [K, H, V] = [5, 6, 11];
const CAP = 3;
const [ALPHA, TAU] = [0.7, 2];
/** Targets of the whole step: as if other micro-batches held 3 more. */
const TOTAL = K + 3;
// Spreads large enough that raw logits reach ±8: the cap bends them strongly.
const hidden = seededRows(K, H, 3, 3);
const weight = seededRows(V, H, 4, 1.5);
const teacherRaw = seededRows(K, V, 5, 8);
const targets = [3, 0, 10, 7, 3];

const capped = (x: number) => CAP * Math.tanh(x / CAP);
function logSoftmax(row: number[]): number[] {
  const max = Math.max(...row);
  const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
  return row.map((v) => v - lse);
}

/** α·Σ τ²·KL(p_T ‖ q_S) / N + (1 − α)·Σ CE / N over capped logits, from the definitions. */
function definition(h: number[][], w: number[][]): { loss: number; kd: number; ce: number } {
  let [kd, ce] = [0, 0];
  h.forEach((row, k) => {
    const student = w.map((wv) => capped(wv.reduce((s, x, j) => s + x * row[j]!, 0)));
    const logQ = logSoftmax(student.map((z) => z / TAU));
    const logP = logSoftmax(teacherRaw[k]!.map((z) => capped(z) / TAU));
    kd += TAU * TAU * logP.reduce((s, lp, v) => s + Math.exp(lp) * (lp - logQ[v]!), 0);
    ce -= logSoftmax(student)[targets[k]!]!;
  });
  return { loss: (ALPHA * kd + (1 - ALPHA) * ce) / TOTAL, kd, ce };
}

/** ∂loss/∂m[i][j] for every entry, by central differences of the definition. */
function finiteDifferences(which: 'hidden' | 'weight'): number[][] {
  const eps = 1e-6;
  const base = which === 'hidden' ? hidden : weight;
  return base.map((row, i) =>
    row.map((_, j) => {
      const shifted = (delta: number) => {
        const m = base.map((r) => [...r]);
        m[i]![j]! += delta;
        return which === 'hidden' ? definition(m, weight).loss : definition(hidden, m).loss;
      };
      return (shifted(eps) - shifted(-eps)) / (2 * eps);
    }),
  );
}

function chunked(dtype: 'float32' | 'float64'): { kd: number; ce: number; hiddenGrad: number[]; weightGrad: number[] } {
  return T.tidy(() => {
    const h = T.tensor(hidden, { dtype }).requiresGrad_();
    const w = T.tensor(weight, { dtype }).requiresGrad_();
    const teacher = T.tensor(teacherRaw, { dtype }).div(CAP).tanh().mul(CAP);
    const sums = chunkedLossBackward({
      hiddenRows: h.mul(1), // a non-leaf, as the decoder's output is
      headWeight: w,
      headSoftcap: CAP,
      teacher: logitsSignal((start, count) => teacher.narrow(0, start, count)),
      targets: T.tensor(targets, { dtype: 'int64' }),
      settings: { alpha: ALPHA, temperature: TAU, divergence: { kind: 'forward-kl' } },
      totalTargets: TOTAL,
      chunkSize: 2,
    });
    const { kdSum, ceSum } = readStepScalars(sums, null).sums;
    return { kd: kdSum, ce: ceSum, hiddenGrad: h.grad!.toArray(), weightGrad: w.grad!.toArray() };
  });
}

function assertGradient(actual: number[], expected: number[][], tolerance: number, what: string): void {
  const flat = expected.flat();
  const scale = Math.max(...flat.map(Math.abs));
  const worst = Math.max(...flat.map((e, i) => Math.abs(e - actual[i]!)));
  assert.ok(scale > 1e-3, `${what}: the gradient is not trivially zero`);
  assert.ok(worst <= tolerance * scale, `${what}: max |Δ| ${worst} vs scale ${scale}`);
}

describe('KD with softcapped logits', () => {
  const expected = definition(hidden, weight);
  const dHidden = finiteDifferences('hidden');
  const dWeight = finiteDifferences('weight');

  test('the cap bends the logits: without it the loss would differ', () => {
    // A guard on the fixture: if no logit came near the cap, the checks below would not test it.
    const raw = hidden.map((row) => weight.map((wv) => wv.reduce((s, x, j) => s + x * row[j]!, 0)));
    assert.ok(Math.max(...raw.flat().map(Math.abs)) > 2 * CAP, 'some student logits are well past the cap');
  });

  for (const [dtype, tolerance] of [['float32', 2e-4], ['float64', 1e-6]] as const) {
    const path = dtype === 'float32' && T.kernelsFor('cpu', 'float32').kdLoss === 'fused' ? 'the fused KD kernel' : 'autograd';
    test(`${dtype} (${path}): Σkd, Σce and both gradients equal the definition's`, () => {
      const ours = chunked(dtype);
      assert.ok(Math.abs(ours.kd - expected.kd) <= tolerance * Math.abs(expected.kd), `Σkd ${ours.kd} vs ${expected.kd}`);
      assert.ok(Math.abs(ours.ce - expected.ce) <= tolerance * Math.abs(expected.ce), `Σce ${ours.ce} vs ${expected.ce}`);
      assertGradient(ours.hiddenGrad, dHidden, tolerance, 'd loss / d hidden');
      assertGradient(ours.weightGrad, dWeight, tolerance, 'd loss / d head weight');
    });
  }
});
