// The chat format: {messages: [{role, content}, ...]} rendered with the tokenizer's own chat template,
// so training text matches what the model sees at inference. Assistant spans are found by rendering
// prefixes of the conversation: the text before assistant turn k is the prompt with the generation
// header (prompt_k), the text through it is the conversation up to k (text_k); when the full text
// starts with both, the turn is [len(prompt_k), len(text_k)), its closing tokens (e.g. <|im_end|>) included.
import { applyChatTemplate, type ChatMessage, type TextTokenizer } from '../tokenizer/index.js';
import { DataError } from './errors.js';
import { describeValue } from './fields.js';
import type { DataRecord } from './read-json.js';
import type { Segment } from './segments.js';

export const NOTE_CONTENT_SEARCH = 'chat: some assistant turns located by their content (the template renders earlier turns differently)';
export const NOTE_AFTER_LAST_USER = 'chat: template breaks the prefix property; counted every token after the last user message';
export const DROP_NO_TURNS = 'dropped: chat template output does not contain the conversation prefixes, assistant turns not found';

export function chatMessages(record: DataRecord, index: number): ChatMessage[] {
  const messages = record.messages;
  if (!Array.isArray(messages)) throw new DataError(`record ${index}: field 'messages' must be a list of {role, content} objects for the chat format, got ${describeValue(messages)}`);
  if (messages.length === 0) throw new DataError(`record ${index}: field 'messages' is empty`);
  messages.forEach((message: unknown, i) => {
    if (message === null || typeof message !== 'object' || Array.isArray(message)) {
      throw new DataError(`record ${index}: messages[${i}] must be an object with 'role' and 'content', got ${describeValue(message)}`);
    }
    const m = message as Record<string, unknown>;
    if (typeof m.role !== 'string') throw new DataError(`record ${index}: messages[${i}].role must be a string, got ${describeValue(m.role)}`);
    if (typeof m.content !== 'string') throw new DataError(`record ${index}: messages[${i}].content must be a string, got ${describeValue(m.content)}`);
  });
  return messages as ChatMessage[];
}

function commonPrefixLength(a: string, b: string, from: number): number {
  let i = from;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

export interface ChatSegments {
  segments: Segment[];
  /** NOTE_* when a fallback was used; DROP_NO_TURNS when the turns could not be located at all. */
  notes: string[];
}

export function chatSegments(messages: readonly ChatMessage[], tokenizer: TextTokenizer, enableThinking: boolean): ChatSegments {
  const render = (upTo: number, addGenerationPrompt: boolean) => applyChatTemplate(tokenizer, messages.slice(0, upTo), { addGenerationPrompt, enableThinking });
  // Prefixes are conversations the template may refuse (e.g. none at all, or one not starting with a
  // user turn); a prefix that does not render simply cannot anchor a span.
  const prefix = (upTo: number, addGenerationPrompt: boolean): string | null => {
    if (upTo === 0 && !addGenerationPrompt) return '';
    try {
      return render(upTo, addGenerationPrompt);
    } catch {
      return null;
    }
  };
  const full = render(messages.length, false);
  const eos = tokenizer.specialTokensMap.eos_token;
  const spans: [number, number][] = [];
  const notes: string[] = [];
  let missed = false;
  messages.forEach((message, k) => {
    if (message.role !== 'assistant') return;
    const prompt = prefix(k, true);
    const text = prefix(k + 1, false);
    if (prompt !== null && text !== null && full.startsWith(prompt) && full.startsWith(text) && text.length > prompt.length) {
      spans.push([prompt.length, text.length]);
      return;
    }
    // Templates such as Qwen3's render a turn differently once a later user message follows (its
    // empty <think> block disappears), so text_k is no prefix of the full text. The turn's content is
    // still there: find it after the part of the generation header that the full text shares.
    const before = prefix(k, false);
    if (message.content !== '' && prompt !== null && before !== null && full.startsWith(before) && prompt.startsWith(before)) {
      const from = commonPrefixLength(full, prompt, before.length);
      const at = full.indexOf(message.content, from);
      if (at >= 0) {
        let end = at + message.content.length;
        if (typeof eos === 'string' && full.startsWith(eos, end)) end += eos.length;
        spans.push([at, end]);
        if (!notes.includes(NOTE_CONTENT_SEARCH)) notes.push(NOTE_CONTENT_SEARCH);
        return;
      }
    }
    missed = true;
  });
  if (missed) {
    // Last resort: everything after the last user message is the target.
    const lastUser = messages.map((m) => m.role).lastIndexOf('user');
    const candidates = lastUser < 0 ? [''] : [prefix(lastUser + 1, true), prefix(lastUser + 1, false)];
    const start = candidates.find((c): c is string => c !== null && full.startsWith(c));
    if (start === undefined) return { segments: [{ text: full, role: 'prompt' }], notes: [DROP_NO_TURNS] };
    const kept = spans.filter(([, end]) => end <= start.length);
    spans.length = 0;
    spans.push(...kept, [start.length, full.length]);
    notes.push(NOTE_AFTER_LAST_USER);
  }
  spans.sort((a, b) => a[0] - b[0]);
  const segments: Segment[] = [];
  let position = 0;
  for (const [start, end] of spans) {
    if (start < position) continue; // overlapping spans cannot come from a sane template; keep the first
    segments.push({ text: full.slice(position, start), role: 'prompt' }, { text: full.slice(start, end), role: 'response' });
    position = end;
  }
  segments.push({ text: full.slice(position), role: 'prompt' });
  return { segments, notes };
}
