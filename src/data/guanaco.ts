// The guanaco format: one text of "### Human: ...### Assistant: ..." turns, as in
// timdettmers/openassistant-guanaco. The reply is everything after an "### Assistant:" marker up to
// the next marker; the marker itself is prompt (at inference the prompt ends with it).
import { GUANACO_ASSISTANT, GUANACO_HUMAN } from './formats.js';
import type { Segment } from './segments.js';

const MARKERS = new RegExp(`(${GUANACO_HUMAN}|${GUANACO_ASSISTANT})`);

export function guanacoSegments(text: string): Segment[] {
  // split with a capture group keeps the markers: [before, marker, body, marker, body, ...]
  const parts = text.split(MARKERS);
  const segments: Segment[] = [{ text: parts[0] ?? '', role: 'prompt' }];
  for (let i = 1; i < parts.length; i += 2) {
    const marker = parts[i]!;
    const body = parts[i + 1] ?? '';
    segments.push({ text: marker, role: 'prompt' });
    segments.push({ text: body, role: marker === GUANACO_ASSISTANT ? 'response' : 'prompt' });
  }
  return segments;
}
