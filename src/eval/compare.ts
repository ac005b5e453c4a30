// Teacher versus student on the same held-out tokens: each model's perplexity, how often the
// student's top-1 token is the teacher's, and KL(teacher ‖ student) at temperature 1, all as
// token-weighted means over the scored positions.
import type { Qwen3ForCausalLM } from '../models/qwen3/model.js';
import { crossEntropy, noGrad, type Tensor, tensor, tidy } from '../tensor/index.js';
import { rowsAt, targetRows } from './targets.js';
import { batchInput } from '../models/qwen3/batch-input.js';

export interface ScoredBatch {
  inputIds: number[][];
  attentionMask: number[][];
  labels: number[][];
}

export interface ModelScore {
  nll: number;
  perplexity: number;
}

export interface Comparison {
  tokens: number;
  student: ModelScore;
  teacher: ModelScore | null;
  /** Fraction of scored positions where argmax student = argmax teacher. */
  top1Agreement: number | null;
  /** Mean KL(p_teacher ‖ p_student) per scored token, in nats. */
  klTeacherStudent: number | null;
}

export interface CompareOptions {
  /** Compare only the first `sharedVocab` logits of the two models. */
  sharedVocab?: number;
  /** Logits of the teacher for a batch (default: run `teacher` itself). */
  teacherLogits?: (batch: ScoredBatch) => Tensor;
}

function logitsOf(model: Qwen3ForCausalLM, batch: ScoredBatch): Tensor {
  const input = batchInput(batch.inputIds, batch.attentionMask, model.device);
  return model.forward(input.ids, input.options);
}

export function compareModels(student: Qwen3ForCausalLM, teacher: Qwen3ForCausalLM | null, batches: ScoredBatch[], options: CompareOptions = {}): Comparison {
  let tokens = 0;
  let studentNll = 0;
  let teacherNll = 0;
  let agree = 0;
  let kl = 0;
  const withTeacher = teacher !== null || options.teacherLogits !== undefined;
  noGrad(() => {
    for (const batch of batches) {
      tidy(() => {
        const labels = tensor(batch.labels, { dtype: 'int64', device: student.device });
        const { rows, targets, index } = targetRows(logitsOf(student, batch), labels);
        const s = rows.float();
        if (targets.numel === 0) return;
        tokens += targets.numel;
        studentNll += crossEntropy(s, targets, { reduction: 'sum' }).item();
        if (!withTeacher) return;
        const teacherLogits = options.teacherLogits ? options.teacherLogits(batch) : logitsOf(teacher!, batch);
        const t = rowsAt(teacherLogits.to({ device: student.device }), index).float();
        teacherNll += crossEntropy(t, targets, { reduction: 'sum' }).item();
        const shared = options.sharedVocab ?? Math.min(s.size(-1), t.size(-1));
        const logS = s.slice(-1, 0, shared).logSoftmax(-1);
        const logT = t.slice(-1, 0, shared).logSoftmax(-1);
        agree += logS.argmax(-1).eq(logT.argmax(-1)).sum().item();
        kl += logT.exp().mul(logT.sub(logS)).sum().item();
      });
    }
  });
  if (tokens === 0) throw new RangeError('no scored tokens in the evaluation data');
  const score = (nll: number): ModelScore => ({ nll: nll / tokens, perplexity: Math.exp(nll / tokens) });
  return {
    tokens,
    student: score(studentNll),
    teacher: withTeacher ? score(teacherNll) : null,
    top1Agreement: withTeacher ? agree / tokens : null,
    klTeacherStudent: withTeacher ? kl / tokens : null,
  };
}

/** Right-padded batches of token sequences in which every next token is scored. */
export function scoreEveryToken(sequences: number[][], batchSize: number): ScoredBatch[] {
  const out: ScoredBatch[] = [];
  for (let i = 0; i < sequences.length; i += batchSize) {
    const group = sequences.slice(i, i + batchSize);
    const width = Math.max(...group.map((s) => s.length));
    const pad = (s: number[], v: number) => [...s, ...new Array(width - s.length).fill(v)];
    out.push({ inputIds: group.map((s) => pad(s, 0)), attentionMask: group.map((s) => pad(s.map(() => 1), 0)), labels: group.map((s) => pad(s, -100)) });
  }
  return out;
}

/** (ppl_before − ppl_after) / (ppl_before − ppl_teacher): 1 means the student reached the teacher. */
export function gapClosed(before: number, after: number, teacher: number): number | null {
  const gap = before - teacher;
  return Math.abs(gap) < 1e-12 ? null : (before - after) / gap;
}
