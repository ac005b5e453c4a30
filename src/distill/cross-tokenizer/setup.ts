// What a cross-tokenizer run needs before its first step: both tokenizers (text is the common
// ground, so each side must have one) and the token ids their vocabularies share.
import { paddingId } from '../../data/index.js';
import type { TextTokenizer } from '../../tokenizer/index.js';
import type { CrossTokenizerMethod } from './loss.js';
import type { CrossTokenizerSetup } from './signal.js';
import { type VocabularyMap, vocabularyMap } from './vocabulary-map.js';
import { type CrossTokenizerPair, teacherCounterpart } from './batch-plan.js';

interface Side {
  folder: string;
  vocabSize: number;
  tokenizer: TextTokenizer | null;
}

export function crossTokenizerSetup(method: CrossTokenizerMethod, teacher: Side, student: Side): CrossTokenizerSetup {
  for (const [role, side] of [['teacher', teacher], ['student', student]] as const) {
    if (!side.tokenizer) {
      throw new Error(`--cross-tokenizer needs the ${role}'s tokenizer: ${side.folder} has no tokenizer.json and tokenizer_config.json (the text both models read is made and split with them)`);
    }
  }
  const pair = { method, student: student.tokenizer!, teacher: teacher.tokenizer!, teacherPadId: paddingId(teacher.tokenizer) };
  return { ...pair, vocabulary: withSpecialCounterparts(vocabularyMap(pair.student, pair.teacher, student.vocabSize, teacher.vocabSize), pair) };
}

/**
 * The shared vocabulary plus each student special token's teacher counterpart (batch-plan.ts's
 * teacherCounterpart: end-of-sequence for end-of-sequence), where neither id is paired yet: a
 * one-token span of such a pair compares the probability of ending as well.
 */
function withSpecialCounterparts(map: VocabularyMap, pair: CrossTokenizerPair): VocabularyMap {
  const studentPaired = new Set(map.studentIds);
  const teacherPaired = new Set(map.teacherIds);
  const studentIds = [...map.studentIds];
  const teacherIds = [...map.teacherIds];
  for (const id of pair.student.specialTokenIds) {
    const counterpart = teacherCounterpart(id, pair);
    if (counterpart === null || studentPaired.has(id) || teacherPaired.has(counterpart)) continue;
    studentIds.push(id);
    teacherIds.push(counterpart);
    studentPaired.add(id);
    teacherPaired.add(counterpart);
  }
  return { studentIds, teacherIds };
}

/** The run's line about the two vocabularies. */
export function crossTokenizerNote(setup: CrossTokenizerSetup, teacher: Side, student: Side): string {
  const shared = setup.vocabulary.studentIds.length;
  return (
    `vocabulary: cross-tokenizer (${setup.method}): teacher ${teacher.vocabSize} logits, student ${student.vocabSize}; ` +
    `${shared} tokens stand for the same bytes in both${setup.method === 'gold' ? ' (one-token spans are compared over them)' : ''}`
  );
}
