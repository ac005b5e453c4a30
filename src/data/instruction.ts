// The instruction format: {instruction, input?, response | output} rendered through a template with
// {instruction} and {response} placeholders (and optionally {input}). The prompt is everything up to
// where {response} starts; the response and whatever the template puts after it are the target,
// so a template ending in a stop marker teaches the model to emit it.
import { DataError } from './errors.js';
import { optionalString, requireString } from './fields.js';
import type { DataRecord } from './read-json.js';
import type { Segment } from './segments.js';

export const DEFAULT_INSTRUCTION_TEMPLATE = 'Instruction: {instruction}\nResponse: {response}';

type Piece = { literal: string } | { field: 'instruction' | 'input' | 'response' };

export interface InstructionTemplate {
  source: string;
  pieces: Piece[];
  hasInput: boolean;
}

export function parseInstructionTemplate(source: string = DEFAULT_INSTRUCTION_TEMPLATE): InstructionTemplate {
  const pieces: Piece[] = source
    .split(/(\{instruction\}|\{input\}|\{response\})/)
    .map((part) => (/^\{(instruction|input|response)\}$/.test(part) ? { field: part.slice(1, -1) as 'instruction' | 'input' | 'response' } : { literal: part }));
  const positions = (field: string) => pieces.flatMap((p, i) => ('field' in p && p.field === field ? [i] : []));
  const [instruction, response, input] = [positions('instruction'), positions('response'), positions('input')];
  const valid =
    instruction.length === 1 && response.length === 1 && input.length <= 1 && response[0]! > instruction[0]! && (input.length === 0 || response[0]! > input[0]!);
  if (!valid) {
    throw new DataError(
      `instruction template ${JSON.stringify(source)} must contain {instruction} and {response} once each, with {response} after ` +
        `{instruction} (and after {input}, which is optional); e.g. ${JSON.stringify(DEFAULT_INSTRUCTION_TEMPLATE)}`,
    );
  }
  return { source, pieces, hasInput: input.length === 1 };
}

export function instructionSegments(record: DataRecord, index: number, template: InstructionTemplate): Segment[] {
  let instruction = requireString(record, 'instruction', index, 'instruction');
  const responseField = record.response !== undefined && record.response !== null ? 'response' : 'output';
  const response = requireString(record, responseField, index, 'instruction');
  const input = optionalString(record, 'input', index, 'instruction');
  // Without an {input} slot the context goes under the instruction, as Alpaca-style data expects.
  if (!template.hasInput && input !== '') instruction = `${instruction}\n${input}`;
  const values = { instruction, input, response };
  let role: Segment['role'] = 'prompt';
  return template.pieces.map((piece) => {
    if ('literal' in piece) return { text: piece.literal, role };
    if (piece.field === 'response') role = 'response';
    return { text: values[piece.field], role };
  });
}
