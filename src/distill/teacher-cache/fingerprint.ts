// What a cache must agree with before `distill --teacher-cache` may use it: the exact tokenized
// examples (so tokenizer, data, format, template, masking and max length all match) and settings.
import { createHash } from 'node:crypto';
import type { EncodedExample } from '../../data/index.js';
import type { TextTokenizer } from '../../tokenizer/index.js';
import type { CacheFingerprint } from './format.js';

export function dataDigest(examples: readonly EncodedExample[]): string {
  const hash = createHash('sha256');
  for (const e of examples) {
    hash.update(Int32Array.from(e.inputIds));
    hash.update(Int32Array.from(e.labels));
    hash.update('|');
  }
  return hash.digest('hex');
}

export function tokenizerDigest(tokenizer: TextTokenizer | null): string {
  if (!tokenizer) return 'none';
  const entries = [...tokenizer.vocabulary()].sort((a, b) => a[1] - b[1]);
  return createHash('sha256').update(JSON.stringify(entries)).digest('hex');
}

/** Names every field that differs; empty when the cache fits. */
export function fingerprintDifferences(cached: CacheFingerprint, current: CacheFingerprint): string[] {
  const labels: Record<keyof CacheFingerprint, string> = {
    data: 'tokenized data', tokenizer: 'tokenizer', format: 'format', template: 'template', maxLength: 'max length', responseOnly: 'response-only masking',
  };
  return (Object.keys(labels) as (keyof CacheFingerprint)[])
    .filter((k) => JSON.stringify(cached[k]) !== JSON.stringify(current[k]))
    .map((k) => `${labels[k]} (cache: ${String(cached[k]).slice(0, 16)}, now: ${String(current[k]).slice(0, 16)})`);
}
