// The teacher's predictions for a micro-batch when it tokenizes differently: the teacher runs on
// its own ids (batch-plan.ts), its final hidden states are kept only at the rows the spans read,
// and each chunk of the student's target rows gets the teacher's logits for its spans alone, so
// neither vocabulary ever has a [tokens × vocabulary] tensor larger than one chunk.
import { keep, tensor, tidy } from '../../tensor/index.js';
import type { TeacherSignal } from '../teacher-rows.js';
import type { TeacherSource } from '../teacher.js';
import type { CrossBatchPlan, CrossChunkPlan, CrossTokenizerPair, SpanSidePlan } from './batch-plan.js';
import type { CrossRows, SpanSide } from './loss.js';
import type { VocabularyMap } from './vocabulary-map.js';

/** A run's two tokenizers, how spans are scored, and the ids both vocabularies share. */
export interface CrossTokenizerSetup extends CrossTokenizerPair {
  vocabulary: VocabularyMap;
}

const vocabularyTensors = new WeakMap<VocabularyMap, Map<string, CrossRows['vocabulary']>>();

/** The shared ids as index tensors on `device`, made once per run and device. */
function vocabularyOn(map: VocabularyMap, device: string): CrossRows['vocabulary'] {
  let byDevice = vocabularyTensors.get(map);
  if (!byDevice) vocabularyTensors.set(map, (byDevice = new Map()));
  let tensors = byDevice.get(device);
  if (!tensors) {
    tensors = {
      studentIds: keep(tensor(map.studentIds, { dtype: 'int64', device })),
      teacherIds: keep(tensor(map.teacherIds, { dtype: 'int64', device })),
    };
    byDevice.set(device, tensors);
  }
  return tensors;
}

/** Frees the shared ids' tensors of a finished run (they live as long as the run, on every device it used). */
export function releaseVocabularyTensors(map: VocabularyMap): void {
  for (const { studentIds, teacherIds } of vocabularyTensors.get(map)?.values() ?? []) {
    studentIds.dispose();
    teacherIds.dispose();
  }
  vocabularyTensors.delete(map);
}

const indices = (values: number[], device: string) => tensor(values, { dtype: 'int64', device });

function spanSide(plan: SpanSidePlan, device: string): SpanSide {
  return { lastRows: indices(plan.lastRows, device), prefixRows: indices(plan.prefixRows, device), prefixTokens: indices(plan.prefixTokens, device), prefixSpans: indices(plan.prefixSpans, device) };
}

/** The signal for one micro-batch: the teacher's forward pass now, its head per chunk later. */
export function crossSignal(teacher: TeacherSource, plan: CrossBatchPlan, setup: CrossTokenizerSetup, device: string): TeacherSignal {
  const hidden = tidy(() => teacher.hiddenRows(plan.teacherIds, plan.teacherMask, tensor(plan.teacherIndex, { dtype: 'int64', device })));
  const byStart = new Map<number, CrossChunkPlan>(plan.chunks.map((c) => [c.studentStart, c]));
  return {
    chunks: plan.chunks.map((c) => ({ start: c.studentStart, count: c.studentCount })),
    alignment: plan.counts,
    rowsAt: (start, count) => {
      if (count === 0) return { kind: 'none' };
      const chunk = byStart.get(start);
      if (!chunk || chunk.studentCount !== count) throw new Error(`cross-tokenizer: rows [${start}, ${start + count}) are not one of the plan's chunks`);
      const rows: CrossRows = {
        method: setup.method,
        teacherLogits: teacher.headLogits(hidden.narrow(0, chunk.teacherStart, chunk.teacherCount), device),
        exact: chunk.exact.studentRows.length > 0 ? { studentRows: indices(chunk.exact.studentRows, device), teacherRows: indices(chunk.exact.teacherRows, device) } : null,
        spans: chunk.spanCount > 0 ? { count: chunk.spanCount, student: spanSide(chunk.student, device), teacher: spanSide(chunk.teacher, device) } : null,
        vocabulary: vocabularyOn(setup.vocabulary, device),
      };
      return { kind: 'cross', rows };
    },
    dispose: () => hidden.dispose(),
  };
}
