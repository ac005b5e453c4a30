// Teacher versus student on the same held-out tokens: each model's perplexity, how often the
// student's top-1 token is the teacher's, and KL(teacher ‖ student) at temperature 1, all as
// token-weighted means over the scored positions.
import { padBatch } from '../data/pad-batch.js';
import type { CausalLM } from '../models/decoder/model.js';
import { crossEntropy, noGrad, type Tensor, tidy } from '../tensor/index.js';
import { rowsAt, rowsPerLogitsChunk, targetIndexOf } from './targets.js';
import { batchInput } from '../models/decoder/batch-input.js';

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
}

/** Final hidden states at the scored positions [K, H] and the K targets, on the student's device. */
function scoredRows(model: CausalLM, batch: ScoredBatch, index: Tensor): Tensor {
  const input = batchInput(batch.inputIds, batch.attentionMask, model.device);
  return rowsAt(model.hiddenStates(input.ids, input.options), index.to({ device: model.device }));
}

/** Token-summed scores of some batches; sums of disjoint batch sets add (data-parallel evaluation). */
export interface ComparisonSums {
  tokens: number;
  studentNll: number;
  teacherNll: number;
  agree: number;
  kl: number;
}

export function compareModels(student: CausalLM, teacher: CausalLM | null, batches: ScoredBatch[], options: CompareOptions = {}): Comparison {
  return comparisonFromSums(comparisonSums(student, teacher, batches, options), teacher !== null);
}

/**
 * The LM heads run on the scored rows only, a chunk of rows at a time (rowsPerLogitsChunk), so
 * evaluation needs no [B, T, V] logits: with Qwen3's vocabulary those would be gigabytes.
 */
export function comparisonSums(student: CausalLM, teacher: CausalLM | null, batches: ScoredBatch[], options: CompareOptions = {}): ComparisonSums {
  const sums: ComparisonSums = { tokens: 0, studentNll: 0, teacherNll: 0, agree: 0, kl: 0 };
  const rowsPerChunk = rowsPerLogitsChunk(Math.max(student.config.vocabSize, teacher?.config.vocabSize ?? 0));
  noGrad(() => {
    for (const batch of batches) {
      tidy(() => {
        const { index, targets } = targetIndexOf(batch.labels, student.device);
        if (targets.numel === 0) return;
        sums.tokens += targets.numel;
        const studentRows = scoredRows(student, batch, index);
        const teacherRows = teacher ? scoredRows(teacher, batch, index) : null;
        for (let start = 0; start < targets.numel; start += rowsPerChunk) {
          const count = Math.min(rowsPerChunk, targets.numel - start);
          tidy(() => {
            const y = targets.narrow(0, start, count);
            const s = student.logitsFrom(studentRows.narrow(0, start, count)).float();
            sums.studentNll += crossEntropy(s, y, { reduction: 'sum' }).item();
            if (!teacher || !teacherRows) return;
            const t = teacher.logitsFrom(teacherRows.narrow(0, start, count)).to({ device: student.device }).float();
            sums.teacherNll += crossEntropy(t, y, { reduction: 'sum' }).item();
            const shared = options.sharedVocab ?? Math.min(s.size(-1), t.size(-1));
            const logS = s.slice(-1, 0, shared).logSoftmax(-1);
            const logT = t.slice(-1, 0, shared).logSoftmax(-1);
            sums.agree += logS.argmax(-1).eq(logT.argmax(-1)).sum().item();
            sums.kl += logT.exp().mul(logT.sub(logS)).sum().item();
          });
        }
      });
    }
  });
  return sums;
}

/** Token-weighted means from sums. */
export function comparisonFromSums(sums: ComparisonSums, withTeacher: boolean): Comparison {
  const { tokens } = sums;
  if (tokens === 0) throw new RangeError('no scored tokens in the evaluation data');
  const score = (nll: number): ModelScore => ({ nll: nll / tokens, perplexity: Math.exp(nll / tokens) });
  return {
    tokens,
    student: score(sums.studentNll),
    teacher: withTeacher ? score(sums.teacherNll) : null,
    top1Agreement: withTeacher ? sums.agree / tokens : null,
    klTeacherStudent: withTeacher ? sums.kl / tokens : null,
  };
}

/** Right-padded batches of token sequences in which every next token is scored. */
export function scoreEveryToken(sequences: number[][], batchSize: number): ScoredBatch[] {
  const out: ScoredBatch[] = [];
  for (let i = 0; i < sequences.length; i += batchSize) {
    out.push(padBatch(sequences.slice(i, i + batchSize).map((s) => ({ inputIds: s, labels: s })), 0));
  }
  return out;
}

/** (ppl_before − ppl_after) / (ppl_before − ppl_teacher): 1 means the student reached the teacher. */
export function gapClosed(before: number, after: number, teacher: number): number | null {
  // Only a teacher better than the student leaves a gap to close (random models often are not).
  const gap = before - teacher;
  return gap <= 1e-12 * Math.max(1, before) ? null : (before - after) / gap;
}
