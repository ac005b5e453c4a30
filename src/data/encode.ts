// Records to token ids with loss masks: one entry point over the formats, plus what every format
// shares — the end-of-sequence token, truncation, and dropping examples with nothing to learn.
import { TextTokenizer, TokenizerError } from '../tokenizer/index.js';
import { chatMessages, chatSegments } from './chat.js';
import { DataError } from './errors.js';
import { requireString } from './fields.js';
import { DATA_FORMATS, type DataFormat } from './formats.js';
import { guanacoSegments } from './guanaco.js';
import { instructionSegments, parseInstructionTemplate, type InstructionTemplate } from './instruction.js';
import type { DataRecord } from './read-json.js';
import { IGNORE_INDEX, predictedTargets, tokenizeSegments, type EncodedExample, type Segment } from './segments.js';
import { tokensExample } from './tokens.js';

export interface EncodeOptions {
  format: DataFormat;
  /** Instruction format only: a template with {instruction} and {response} (and optionally {input}). */
  template?: string;
  /** Count only response tokens (guanaco replies, instruction responses, assistant turns, a tokens record's own mask). */
  responseOnly: boolean;
  /** Longer examples lose their right end. */
  maxLength: number;
  /** Append the tokenizer's eos to guanaco/instruction/chat examples that do not end with it, so the model learns to stop. */
  addEos: boolean;
  /** Chat format: the template's enable_thinking switch (Qwen3: false adds an empty <think> block to the prompt). */
  enableThinking?: boolean;
}

export interface EncodeResult {
  examples: EncodedExample[];
  /** The record each example was encoded from (records may be dropped). */
  recordIndices: number[];
  dropped: number;
  /** Counts by reason: keys starting 'dropped:' add up to `dropped`; the others note truncation or a chat fallback. */
  reasons: Record<string, number>;
}

export const DROP_TOO_SHORT = 'dropped: fewer than 2 tokens';
export const DROP_NO_TARGET = 'dropped: no target token after the first (nothing to predict)';
/** A guanaco reply with no text: its only target would be the appended eos (learning to say nothing). */
export const DROP_EMPTY_REPLY = 'dropped: an empty "### Assistant:" reply';
export const dropTruncatedTargets = (maxLength: number) => `dropped: every target token lies beyond maxLength ${maxLength}`;
export const noteTruncated = (maxLength: number) => `truncated to maxLength ${maxLength}`;

/** True when some position t >= 1 is a target: logits at t-1 predict it. Position 0 is never predicted. */
function hasPredictedTarget(labels: readonly number[]): boolean {
  return predictedTargets(labels) > 0;
}

function checkOptions(tokenizer: TextTokenizer | null, options: EncodeOptions): InstructionTemplate | null {
  if (!DATA_FORMATS.includes(options.format)) throw new DataError(`format '${options.format}' is unknown; expected one of ${DATA_FORMATS.join(', ')}`);
  if (!Number.isSafeInteger(options.maxLength) || options.maxLength < 2) throw new DataError(`maxLength must be an integer >= 2, got ${options.maxLength}`);
  if (options.template !== undefined && options.format !== 'instruction') {
    throw new DataError(`a template applies to the instruction format only, but the format is ${options.format}`);
  }
  if (options.format === 'tokens') return null;
  if (tokenizer === null) throw new DataError(`the ${options.format} format needs a tokenizer (the model folder's tokenizer.json); only the tokens format (input_ids) works without one`);
  if (options.addEos && options.format !== 'text' && tokenizer.eosTokenId === null) {
    throw new DataError(`${tokenizer.source ?? 'the tokenizer'} has no eos_token in tokenizer_config.json, so it cannot be appended; turn addEos off`);
  }
  return options.format === 'instruction' ? parseInstructionTemplate(options.template) : null;
}

function segmentsOf(record: DataRecord, index: number, tokenizer: TextTokenizer, options: EncodeOptions, template: InstructionTemplate | null, notes: string[]): Segment[] {
  switch (options.format) {
    case 'guanaco': {
      const segments = guanacoSegments(requireString(record, 'text', index, 'guanaco'));
      if (segments.some((s) => s.role === 'response' && s.text.trim() === '')) notes.push(DROP_EMPTY_REPLY);
      return segments;
    }
    case 'instruction':
      return instructionSegments(record, index, template!);
    case 'chat': {
      const messages = chatMessages(record, index);
      try {
        const result = chatSegments(messages, tokenizer, options.enableThinking ?? true);
        notes.push(...result.notes);
        return result.segments;
      } catch (error) {
        if (error instanceof TokenizerError || error instanceof TypeError) throw new DataError(`record ${index}: ${error.message}`);
        throw error;
      }
    }
    case 'text':
      return [{ text: requireString(record, 'text', index, 'text'), role: 'response' }];
    case 'tokens':
      throw new Error('unreachable: tokens records have no segments');
  }
}

/** Appends eos unless the text already ends with it; it is a target when the text ends in a response. */
function appendEos(example: EncodedExample, segments: readonly Segment[], tokenizer: TextTokenizer, responseOnly: boolean): void {
  const eosId = tokenizer.eosTokenId!;
  const eosText = tokenizer.specialTokensMap.eos_token;
  const text = segments.map((s) => s.text).join('');
  // Chat templates close turns with eos plus a newline ("<|im_end|>\n"): that ends with eos too.
  if (example.inputIds[example.inputIds.length - 1] === eosId || (typeof eosText === 'string' && text.trimEnd().endsWith(eosText))) return;
  const last = [...segments].reverse().find((s) => s.text !== '');
  const target = !responseOnly || last?.role === 'response';
  example.inputIds.push(eosId);
  example.labels.push(target ? eosId : IGNORE_INDEX);
}

export function encodeExamples(records: readonly DataRecord[], tokenizer: TextTokenizer | null, options: EncodeOptions): EncodeResult {
  const template = checkOptions(tokenizer, options);
  const examples: EncodedExample[] = [];
  const recordIndices: number[] = [];
  const reasons: Record<string, number> = {};
  const count = (reason: string) => (reasons[reason] = (reasons[reason] ?? 0) + 1);
  let dropped = 0;
  const drop = (reason: string) => {
    dropped++;
    count(reason);
  };
  records.forEach((record, index) => {
    let example: EncodedExample;
    if (options.format === 'tokens') {
      example = tokensExample(record, index, options.responseOnly);
    } else {
      const notes: string[] = [];
      const segments = segmentsOf(record, index, tokenizer!, options, template, notes);
      const dropping = notes.find((note) => note.startsWith('dropped:'));
      if (dropping) return drop(dropping);
      notes.forEach(count);
      example = tokenizeSegments(tokenizer!, segments, options.responseOnly);
      if (options.addEos && options.format !== 'text' && example.inputIds.length > 0) appendEos(example, segments, tokenizer!, options.responseOnly);
    }
    let hadTargets = false;
    if (example.inputIds.length > options.maxLength) {
      hadTargets = hasPredictedTarget(example.labels);
      example.inputIds.length = options.maxLength;
      example.labels.length = options.maxLength;
      count(noteTruncated(options.maxLength));
    }
    if (example.inputIds.length < 2) return drop(DROP_TOO_SHORT);
    if (!hasPredictedTarget(example.labels)) return drop(hadTargets ? dropTruncatedTargets(options.maxLength) : DROP_NO_TARGET);
    examples.push(example);
    recordIndices.push(index);
  });
  return { examples, recordIndices, dropped, reasons };
}
