// What a top-k teacher leaves out (src/distill/teacher-service/truncation.ts): the mean tail mass and
// the bound m·ln(V − k) of KL(p ‖ p̂), where p̂ is what the student is taught (the top-k exact, the tail
// spread evenly). Checked by hand, and the bound against the KL computed in doubles: never exceeded,
// and reached when the whole tail sits on one token.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TruncationTotals, truncationLine } from '../src/distill/teacher-service/truncation.js';
import { assertClose, seededValues } from './helpers.js';

/** KL(p ‖ p̂) in doubles for a distribution p whose top-k is kept and tail spread over the rest. */
function truncationKl(p: number[], k: number): { kl: number; tail: number } {
  const sorted = [...p].sort((a, b) => b - a);
  const tail = sorted.slice(k).reduce((a, b) => a + b, 0);
  const n = p.length - k;
  const kl = sorted.slice(k).reduce((a, pi) => a + (pi > 0 ? pi * Math.log(pi / (tail / n)) : 0), 0);
  return { kl, tail };
}

describe('truncation figures', () => {
  test('by hand: tails 0.2 and 0.05 over 100 tokens: mean mass 0.125, bound 0.125·ln 100; a warning past 0.1', () => {
    const totals = new TruncationTotals();
    const first = totals.add([Math.log(0.2), Math.log(0.05)], 100);
    assertClose([first.teacher_tail_mass, first.teacher_truncation_kl_bound], [0.125, 0.125 * Math.log(100)], 1e-3);
    totals.add([Math.log(0.01)], 100);
    assertClose([totals.figures().teacher_tail_mass], [(0.2 + 0.05 + 0.01) / 3], 1e-3);
    assert.match(truncationLine(20, first), /^warning: teacher top-20: 87\.5 % of the teacher's probability .* a larger --teacher-top-k/);
    assert.doesNotMatch(truncationLine(20, totals.add([Math.log(0.01)], 100)), /warning/);
    // k = V: no tail, nothing lost.
    assert.deepEqual(new TruncationTotals().add([Math.log(1e-30)], 0), { teacher_tail_mass: 0, teacher_truncation_kl_bound: 0 });
  });

  test('the bound holds for random teachers and is reached when the tail is one token', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const logits = seededValues(50, seed, 4);
      const z = logits.reduce((a, v) => a + Math.exp(v), 0);
      const p = logits.map((v) => Math.exp(v) / z);
      const { kl, tail } = truncationKl(p, 10);
      const bound = new TruncationTotals().add([Math.log(tail)], 40).teacher_truncation_kl_bound;
      assert.ok(kl <= bound * (1 + 1e-3), `seed ${seed}: KL ${kl} > bound ${bound}`);
    }
    // top-2 of [0.5, 0.3] and the whole tail 0.2 on one of the other 8 tokens: KL = 0.2·ln 8 exactly.
    const { kl } = truncationKl([0.5, 0.3, 0.2, 0, 0, 0, 0, 0, 0, 0], 2);
    assertClose([kl], [0.2 * Math.log(8)], 1e-12);
    assertClose([new TruncationTotals().add([Math.log(0.2)], 8).teacher_truncation_kl_bound], [0.2 * Math.log(8)], 1e-3);
  });
});
