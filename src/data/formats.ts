// Prompt formats and how a dataset's format is recognised from its fields.
import { DataError } from './errors.js';
import type { DataRecord } from './read-json.js';

/**
 * - guanaco:     {text: "### Human: ...### Assistant: ..."} (timdettmers/openassistant-guanaco)
 * - instruction: {instruction, input?, response | output} (Alpaca, Dolly)
 * - chat:        {messages: [{role, content}, ...]} rendered with the tokenizer's chat template
 * - text:        {text} plain language modelling
 * - tokens:      {input_ids, labels? | loss_mask?} already tokenized
 */
export type DataFormat = 'guanaco' | 'instruction' | 'chat' | 'text' | 'tokens';

export const DATA_FORMATS: readonly DataFormat[] = ['guanaco', 'instruction', 'chat', 'text', 'tokens'];

export const GUANACO_HUMAN = '### Human:';
export const GUANACO_ASSISTANT = '### Assistant:';

export const ACCEPTED_FIELDS =
  "'input_ids' (tokens), 'messages' list of {role, content} (chat), 'instruction' with 'response' or 'output' and optional 'input' (instruction), " +
  `'text' with ${GUANACO_HUMAN}/${GUANACO_ASSISTANT} turns (guanaco), 'text' (text)`;

// Enough records to see past an odd first one without scanning a million-row dataset.
const SAMPLE = 100;

export function isGuanacoText(text: string): boolean {
  return text.includes(GUANACO_HUMAN) && text.includes(GUANACO_ASSISTANT);
}

/** The format of `records`, from the fields of the first record, with a reason to print. */
export function detectFormat(records: readonly DataRecord[], source: string): { format: DataFormat; reason: string } {
  const first = records[0];
  if (first === undefined) throw new DataError(`${source}: the dataset has no records, so its format cannot be detected`);
  const has = (field: string) => Object.hasOwn(first, field) && first[field] !== null && first[field] !== undefined;
  if (has('input_ids')) return { format: 'tokens', reason: "field 'input_ids'" };
  if (Array.isArray(first.messages)) return { format: 'chat', reason: "field 'messages' (a list of turns)" };
  if (has('instruction') && (has('response') || has('output'))) {
    const response = has('response') ? 'response' : 'output';
    return { format: 'instruction', reason: `fields 'instruction' and '${response}'${has('input') ? " (with 'input')" : ''}` };
  }
  if (typeof first.text === 'string') {
    const sample = records.slice(0, SAMPLE);
    const turns = sample.filter((r) => typeof r.text === 'string' && isGuanacoText(r.text)).length;
    // A majority, not all: one stray record should not turn a chat dataset into plain text or back.
    if (turns * 2 > sample.length) {
      return { format: 'guanaco', reason: `field 'text' with ${GUANACO_HUMAN}/${GUANACO_ASSISTANT} turns (${turns} of the first ${sample.length} records)` };
    }
    return { format: 'text', reason: `field 'text' without ${GUANACO_HUMAN}/${GUANACO_ASSISTANT} turns` };
  }
  const fields = Object.keys(first);
  throw new DataError(
    `${source}: cannot tell the data format from the fields of record 0 (${fields.length > 0 ? fields.map((f) => `'${f}'`).join(', ') : 'none'}); ` +
      `accepted: ${ACCEPTED_FIELDS}`,
  );
}
