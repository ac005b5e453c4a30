// Teacher and student must speak the same tokenizer, or matching their distributions token by
// token means nothing. Their embedding matrices may still be padded to different sizes (Qwen3:
// 151,936 rows for 151,669 real tokens; other checkpoints pad to 152,064): then only the shared
// real vocabulary is compared.
import type { TextTokenizer } from '../tokenizer/index.js';

export interface VocabularyCheck {
  /** Logit columns compared between teacher and student (undefined: all, the sizes are equal). */
  sharedVocab?: number;
  note: string;
}

export function checkVocabularies(
  teacher: { folder: string; vocabSize: number; tokenizer: TextTokenizer | null },
  student: { folder: string; vocabSize: number; tokenizer: TextTokenizer | null },
): VocabularyCheck {
  if (teacher.tokenizer && student.tokenizer) {
    const a = teacher.tokenizer.vocabulary();
    const b = student.tokenizer.vocabulary();
    const differing: string[] = [];
    for (const [token, id] of a) if (b.get(token) !== id) differing.push(`${JSON.stringify(token)}: teacher ${id}, student ${b.get(token) ?? 'absent'}`);
    for (const [token, id] of b) if (!a.has(token)) differing.push(`${JSON.stringify(token)}: teacher absent, student ${id}`);
    if (differing.length > 0) {
      throw new Error(
        `teacher (${teacher.folder}) and student (${student.folder}) use different tokenizers: ${differing.length} tokens differ, e.g. ${differing.slice(0, 3).join('; ')}. ` +
          'Distillation compares next-token distributions id by id, so both models must share one tokenizer.',
      );
    }
    const real = student.tokenizer.vocabSize;
    for (const side of [teacher, student]) {
      if (side.vocabSize < real) throw new Error(`${side.folder}: vocab_size ${side.vocabSize} is smaller than its tokenizer's ${real} tokens`);
    }
    if (teacher.vocabSize === student.vocabSize) return { note: `vocabulary: ${real} tokens, both models ${student.vocabSize} logits` };
    return { sharedVocab: real, note: `vocabulary: teacher ${teacher.vocabSize} vs student ${student.vocabSize} logits (padded embeddings); comparing the ${real} real tokens` };
  }
  if (teacher.vocabSize !== student.vocabSize) {
    throw new Error(
      `teacher vocab_size ${teacher.vocabSize} ≠ student vocab_size ${student.vocabSize}, and without tokenizer files in both folders ` +
        'Distillery cannot tell which ids they share; add tokenizer.json/tokenizer_config.json to both folders',
    );
  }
  return { note: `vocabulary: ${student.vocabSize} logits (no tokenizer files to compare; sizes match)` };
}
