// Where a micro-batch's teacher predictions come from, for any range of its target rows: the online
// teacher (its hidden rows kept, its LM head applied to the rows asked for), the offline cache's
// top-k rows, or nothing (plain language-model training, α = 0). The loss asks for rows
// [start, start + count) and chooses its own kernel for them (loss.ts), so neither the chunked nor
// the naive loss branches on where the predictions came from.
import type { PaddedBatch } from '../data/pad-batch.js';
import type { Tensor } from '../tensor/index.js';
import type { CachedRows } from './teacher-cache/reader.js';
import type { TeacherSignal, TopKRowsSource } from './teacher-rows.js';

export type { TeacherRows, TeacherSignal, TopKRowsSource } from './teacher-rows.js';
import { planCrossBatch } from './cross-tokenizer/batch-plan.js';
import { crossSignal, type CrossTokenizerSetup } from './cross-tokenizer/signal.js';
import type { TeacherSource } from './teacher.js';

/** Teacher logits computed on demand for each range of rows (the online teacher, or a test's). */
export function logitsSignal(logitsOf: (start: number, count: number) => Tensor, dispose: () => void = () => {}): TeacherSignal {
  return { rowsAt: (start, count) => ({ kind: 'logits', logits: logitsOf(start, count) }), dispose };
}

/** The offline cache's rows for this micro-batch's targets. */
export function cachedSignal(rows: CachedRows): TeacherSignal {
  return {
    rowsAt: (start, count) => ({
      kind: 'top-k',
      rows: { ids: rows.ids.narrow(0, start, count), logProbs: rows.logProbs.narrow(0, start, count), tailLogMass: rows.tailLogMass.narrow(0, start, count), tailTokens: rows.tailTokens },
    }),
    dispose: () => {
      for (const t of [rows.ids, rows.logProbs, rows.tailLogMass]) t.dispose();
    },
  };
}

/** No teacher: the KD sum is 0 (cross-entropy only). */
export const NO_TEACHER: TeacherSignal = { rowsAt: () => ({ kind: 'none' }), dispose: () => {} };

/**
 * The signal for one micro-batch: the cache's rows when there is a cache (looked up by the examples'
 * source indices), else the online teacher run now (before the student: its working set is gone
 * before the student's activations exist), else none.
 */
export function teacherSignalFor(
  source: { teacher: TeacherSource | null; cache?: TopKRowsSource | null; crossTokenizer?: CrossTokenizerSetup | null },
  batch: PaddedBatch,
  index: Tensor,
  sourceIndices: readonly number[],
  device: string,
  chunkRows: number,
): TeacherSignal {
  if (source.cache) return cachedSignal(source.cache.rows(sourceIndices, device));
  const teacher = source.teacher;
  if (!teacher) return NO_TEACHER;
  if (source.crossTokenizer) {
    // Each example's real tokens (the batch is right-padded): the teacher re-encodes their text.
    const examples = batch.inputIds.map((ids, b) => {
      const length = batch.attentionMask[b]!.reduce((n, m) => n + m, 0);
      return { inputIds: ids.slice(0, length), labels: batch.labels[b]!.slice(0, length) };
    });
    return crossSignal(teacher, planCrossBatch(examples, source.crossTokenizer, chunkRows), source.crossTokenizer, device);
  }
  return onlineSignal(teacher, batch, index, device);
}

/** A local teacher's signal: its hidden rows now, its LM head on the rows the loss asks for. */
export function onlineSignal(teacher: TeacherSource, batch: PaddedBatch, index: Tensor, device: string): TeacherSignal {
  const hidden = teacher.hiddenRows(batch.inputIds, batch.attentionMask, index);
  return logitsSignal((start, count) => teacher.headLogits(hidden.narrow(0, start, count), device), () => hidden.dispose());
}
