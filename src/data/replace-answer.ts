// A record with its answer replaced by a generated one, in the record's own format (what
// `distillery generate-data` writes): the prompt is kept as it was — everything before the first
// target token — and the answer becomes the completion. Fields the format does not read are kept.
import { chatMessages } from './chat.js';
import { DataError } from './errors.js';
import { requireString } from './fields.js';
import type { DataFormat } from './formats.js';
import { guanacoSegments } from './guanaco.js';
import { type InstructionTemplate } from './instruction.js';
import type { DataRecord } from './read-json.js';
import { IGNORE_INDEX } from './segments.js';

export interface GeneratedAnswer {
  /** The completion as text (no eos), for the text formats. */
  text: string;
  /** The completion's token ids (eos included when generated), for the tokens format. */
  ids: number[];
  /** The prompt's token ids (the tokens format keeps them). */
  promptIds: number[];
}

/** The formats whose records have a prompt and an answer to replace. */
export function checkAnswerFormat(format: DataFormat): void {
  if (format === 'text') throw new DataError("the text format has no prompt and answer to tell apart (every token is a target); use guanaco, instruction, chat or tokens records");
}

export function withGeneratedAnswer(record: DataRecord, index: number, format: DataFormat, answer: GeneratedAnswer, template: InstructionTemplate | null): DataRecord {
  checkAnswerFormat(format);
  switch (format) {
    case 'guanaco': {
      // The conversation up to and including the first "### Assistant:" marker, then the completion.
      const segments = guanacoSegments(requireString(record, 'text', index, 'guanaco'));
      const firstAnswer = segments.findIndex((s) => s.role === 'response');
      const prompt = segments.slice(0, firstAnswer < 0 ? segments.length : firstAnswer).map((s) => s.text).join('');
      return { ...record, text: `${prompt}${answer.text}` };
    }
    case 'instruction': {
      const field = record.response !== undefined && record.response !== null ? 'response' : 'output';
      return { ...record, [field]: withoutTemplateEnding(answer.text, template) };
    }
    case 'chat': {
      const messages = chatMessages(record, index);
      const firstAnswer = messages.findIndex((m) => m.role === 'assistant');
      const prompt = firstAnswer < 0 ? messages : messages.slice(0, firstAnswer);
      return { ...record, messages: [...prompt, { role: 'assistant', content: answer.text }] };
    }
    case 'tokens': {
      const inputIds = [...answer.promptIds, ...answer.ids];
      const out: DataRecord = { ...record, input_ids: inputIds };
      if (record.labels !== undefined && record.labels !== null) out.labels = [...answer.promptIds.map(() => IGNORE_INDEX), ...answer.ids];
      if (record.loss_mask !== undefined && record.loss_mask !== null) out.loss_mask = [...answer.promptIds.map(() => 0), ...answer.ids.map(() => 1)];
      return out;
    }
    default:
      throw new Error(`unreachable: format ${format}`);
  }
}

/**
 * A template may put text after {response} (a stop marker): it is part of the targets, so the model
 * generates it, and the template adds it again when the record is read; the answer field drops it.
 */
function withoutTemplateEnding(text: string, template: InstructionTemplate | null): string {
  const pieces = template?.pieces ?? [];
  const at = pieces.findIndex((p) => 'field' in p && p.field === 'response');
  const ending = pieces.slice(at + 1).map((p) => ('literal' in p ? p.literal : '')).join('');
  return ending !== '' && text.endsWith(ending) ? text.slice(0, -ending.length) : text;
}
