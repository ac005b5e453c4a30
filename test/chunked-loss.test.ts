// The chunked, head-fused loss gives the same loss and the same gradients for every student
// parameter as the naive path over full logits, for every divergence (fp32, ≤ 1e-5 relative).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { chunkedLossBackward } from '../src/distill/chunked-loss.js';
import { microBatchBackward, readStepScalars } from '../src/distill/micro-batch.js';
import { cachedSignal, logitsSignal } from '../src/distill/teacher-signal.js';
import { OnlineTeacher } from '../src/distill/teacher.js';
import type { Divergence } from '../src/distill/divergences.js';
import { cachedRowLossSums, combineLoss, rowLossSums } from '../src/distill/loss.js';
import type { CachedRows } from '../src/distill/teacher-cache/reader.js';
import { rowsAt, targetIndex } from '../src/eval/targets.js';
import { parseModelConfig } from '../src/models/decoder/config.js';
import { randomCausalLM } from '../src/models/decoder/init.js';
import { normal_ } from '../src/nn/index.js';
import * as T from '../src/tensor/index.js';

const config = (vocab: number) =>
  parseModelConfig({
    model_type: 'qwen3', vocab_size: vocab, hidden_size: 24, intermediate_size: 48, num_hidden_layers: 2,
    num_attention_heads: 2, num_key_value_heads: 1, head_dim: 12, tie_word_embeddings: true, torch_dtype: 'float32',
  });
const g = new T.Generator(5);
const student = randomCausalLM(config(50), { generator: g });
const teacher = randomCausalLM(config(50), { generator: g });
for (const m of [student, teacher]) for (const [n, p] of m.namedParameters()) if (!/norm/.test(n)) normal_(p, 0, 0.3, g);
const ids = T.tensor([[3, 9, 27, 4, 33, 12, 7, 41], [8, 1, 19, 22, 5, 0, 0, 0]], { dtype: 'int64' });
const mask = T.tensor([[1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0, 0]], { dtype: 'int64' });
const labels = T.tensor([[3, -100, 27, 4, 33, 12, 7, 41], [8, 1, 19, 22, 5, -100, -100, -100]], { dtype: 'int64' });

/** The teacher's rows as an offline cache would hold them: top-5 log-probabilities and the tail. */
function cachedTeacherRows(): CachedRows {
  return T.tidy(() => {
    const { index } = targetIndex(labels);
    const logp = T.noGrad(() => T.linear(rowsAt(teacher.hiddenStates(ids, { attentionMask: mask }), index), teacher.lmHeadWeight).logSoftmax(-1));
    const { values, indices } = logp.topk(5);
    const tail = T.aten('aten::expm1', values.logsumexp(-1)).neg().log();
    return { ids: indices, logProbs: values, tailLogMass: tail, tailTokens: 45 };
  });
}

function gradients(impl: 'naive' | 'chunked', divergence: Divergence, cached?: CachedRows): { loss: number; grads: number[][] } {
  student.zeroGrad();
  const settings = { alpha: 0.6, temperature: 2, divergence };
  const loss = T.tidy(() => {
    const { index, targets } = targetIndex(labels);
    const hidden = student.hiddenStates(ids, { attentionMask: mask });
    const teacherHidden = T.noGrad(() => rowsAt(teacher.hiddenStates(ids, { attentionMask: mask }), index));
    const total = targets.numel + 5; // as if other micro-batches of the step held 5 more targets
    if (impl === 'chunked') {
      const r = readStepScalars(chunkedLossBackward({
        hiddenRows: rowsAt(hidden, index), headWeight: student.lmHeadWeight,
        teacher: cached ? cachedSignal(cached) : logitsSignal((s, c) => T.noGrad(() => T.linear(teacherHidden.narrow(0, s, c), teacher.lmHeadWeight))),
        targets, settings, totalTargets: total, chunkSize: 3,
      }), null).sums;
      return (0.6 * r.kdSum + 0.4 * r.ceSum) / total;
    }
    const studentRows = T.linear(rowsAt(hidden, index), student.lmHeadWeight);
    const sums = cached ? cachedRowLossSums(studentRows, cached, targets, settings) : rowLossSums(studentRows, T.linear(teacherHidden, teacher.lmHeadWeight), targets, settings);
    const l = combineLoss(sums, 0.6, total);
    l.backward();
    return l.item();
  });
  return { loss, grads: student.parameters().map((p) => T.tidy(() => p.grad!.toArray())) };
}

describe('chunked loss = naive loss', () => {
  const divergences: Divergence[] = [{ kind: 'forward-kl' }, { kind: 'reverse-kl' }, { kind: 'jsd', beta: 0.5 }, { kind: 'skew-kl', lambda: 0.1 }, { kind: 'tvd' }];
  for (const d of divergences) {
    test(`${d.kind}: same loss, same gradient for every parameter`, () => {
      const naive = gradients('naive', d);
      const chunked = gradients('chunked', d);
      assert.ok(Math.abs(naive.loss - chunked.loss) <= 1e-5 * Math.abs(naive.loss), `loss ${naive.loss} vs ${chunked.loss}`);
      naive.grads.forEach((expected, i) => {
        const scale = Math.max(...expected.map(Math.abs));
        const worst = Math.max(...expected.map((e, j) => Math.abs(e - chunked.grads[i]![j]!)));
        assert.ok(scale > 0, `parameter ${i} has a gradient`);
        assert.ok(worst <= 1e-5 * scale, `parameter ${i}: max |Δgrad| ${worst} vs scale ${scale}`);
      });
    });
  }

  test('from an offline teacher cache (top-5 + tail): same loss, same gradients', () => {
    const cached = cachedTeacherRows();
    const naive = gradients('naive', { kind: 'forward-kl' }, cached);
    const chunked = gradients('chunked', { kind: 'forward-kl' }, cached);
    assert.ok(Math.abs(naive.loss - chunked.loss) <= 1e-5 * Math.abs(naive.loss), `loss ${naive.loss} vs ${chunked.loss}`);
    naive.grads.forEach((expected, i) => {
      const scale = Math.max(...expected.map(Math.abs));
      const worst = Math.max(...expected.map((e, j) => Math.abs(e - chunked.grads[i]![j]!)));
      assert.ok(worst <= 1e-5 * scale, `parameter ${i}: max |Δgrad| ${worst} vs scale ${scale}`);
    });
  });
});

describe('a whole micro-batch step, chunked = naive', () => {
  // The chunked step also does the embedding's backward by hand (index_add_ into the gradient).
  const batch = {
    inputIds: [[3, 9, 27, 4, 33, 12, 7, 41], [8, 1, 19, 22, 5, 0, 0, 0]],
    attentionMask: [[1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0, 0]],
    labels: [[3, -100, 27, 4, 33, 12, 7, 41], [8, 1, 19, 22, 5, -100, -100, -100]],
    targetTokens: 10,
  };
  for (const tied of [true, false]) {
    test(`${tied ? 'tied' : 'untied'} embeddings: same sums, same gradient for every parameter`, () => {
      const gen = new T.Generator(11);
      const model = randomCausalLM(parseModelConfig({ model_type: 'qwen3', vocab_size: 50, hidden_size: 24, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 12, tie_word_embeddings: tied, torch_dtype: 'float32' }), { generator: gen });
      for (const [n, p] of model.namedParameters()) if (!/norm/.test(n)) normal_(p, 0, 0.3, gen);
      const run = (impl: 'naive' | 'chunked') => {
        model.zeroGrad();
        const setup = { student: model, teacher: new OnlineTeacher(teacher), loss: { alpha: 0.6, temperature: 2, divergence: { kind: 'forward-kl' as const } }, impl, chunkSize: 3, device: 'cpu' };
        const sums = readStepScalars(microBatchBackward(batch, 13, setup), null).sums;
        return { sums, grads: model.parameters().map((p) => T.tidy(() => p.grad!.toArray())) };
      };
      const naive = run('naive');
      const chunked = run('chunked');
      assert.ok(Math.abs(naive.sums.kdSum - chunked.sums.kdSum) <= 1e-5 * naive.sums.kdSum);
      assert.ok(Math.abs(naive.sums.ceSum - chunked.sums.ceSum) <= 1e-5 * naive.sums.ceSum);
      naive.grads.forEach((expected, i) => {
        const scale = Math.max(...expected.map(Math.abs));
        const worst = Math.max(...expected.map((e, j) => Math.abs(e - chunked.grads[i]![j]!)));
        assert.ok(scale > 0, `parameter ${i} has a gradient`);
        assert.ok(worst <= 1e-5 * scale, `parameter ${i}: max |Δgrad| ${worst} vs scale ${scale}`);
      });
      model.dispose();
    });
  }
});
