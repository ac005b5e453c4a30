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
  /** What lets a run distill across tokenizers (the flag or API option), named when they differ. */
  crossTokenizerOption?: string,
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
          `Distillation compares next-token distributions id by id, so both models must share one tokenizer${crossTokenizerOption ? `, unless ${crossTokenizerOption} aligns the two tokenizations` : ''}.`,
      );
    }
    const tokenizer = student.tokenizer;
    const real = tokenizer.vocabSize;
    // A multimodal family's tokenizer may hold special placeholder tokens past a text model's rows
    // (gemma-3-1b: 262,144 rows, <image_soft_token> is id 262,144); text never encodes to them.
    // Any ordinary token past a model's rows is a mismatch.
    for (const side of [teacher, student]) {
      const ordinary = tokenizer.ordinaryIdsFrom(side.vocabSize);
      if (ordinary.length > 0) {
        throw new Error(`${side.folder}: vocab_size ${side.vocabSize} is smaller than its tokenizer's ${real} tokens (${JSON.stringify(tokenizer.idToToken(ordinary[0]!))} is id ${ordinary[0]})`);
      }
    }
    const compared = Math.min(real, teacher.vocabSize, student.vocabSize);
    const placeholders = real - compared;
    const past = placeholders > 0 ? `; the ${placeholders} special token(s) from id ${compared} on have no row in a model and are not compared` : '';
    if (teacher.vocabSize === student.vocabSize && placeholders === 0) return { note: `vocabulary: ${real} tokens, both models ${student.vocabSize} logits` };
    if (teacher.vocabSize === student.vocabSize && compared === teacher.vocabSize) return { note: `vocabulary: ${compared} tokens compared, both models ${student.vocabSize} logits${past}` };
    return { sharedVocab: compared, note: `vocabulary: teacher ${teacher.vocabSize} vs student ${student.vocabSize} logits (padded embeddings); comparing the ${compared} real tokens${past}` };
  }
  if (teacher.vocabSize !== student.vocabSize) {
    throw new Error(
      `teacher vocab_size ${teacher.vocabSize} ≠ student vocab_size ${student.vocabSize}, and without tokenizer files in both folders ` +
        'Distillery cannot tell which ids they share; add tokenizer.json/tokenizer_config.json to both folders',
    );
  }
  return { note: `vocabulary: ${student.vocabSize} logits (no tokenizer files to compare; sizes match)` };
}
