// The offline teacher cache: what the teacher predicted at every target position of a dataset,
// kept compactly — the top-k token ids and their log-probabilities, plus the log of the remaining
// (tail) probability mass — so later epochs train without loading or running the teacher.
//
// Layout of CACHE/:
//   manifest.json          written last: fingerprint, shards with byte sizes and sha256, totals
//   shard-00000.bin ...    blocks of consecutive examples (example-block.ts): per example its n target
//                          rows' tail log-masses and spreads (float16 each), their top-k log-probabilities
//                          (one byte each, log-prob-code.ts) and their top-k ids (sorted, gap-coded,
//                          sorted-ids.ts). About 4 + k + 1.5·k bytes per target token at V = 151,936.
// A cache without a manifest, or whose shard sizes disagree with it, is incomplete and never read.
// Version 1 (ids in 3 bytes, log-probabilities as float16: 5k + 4 bytes per token) is no longer read.

export const CACHE_VERSION = 2;
export const MANIFEST = 'manifest.json';

export interface CacheFingerprint {
  /** sha256 of the tokenized training data (input ids and labels of every example, in order). */
  data: string;
  /** sha256 of the tokenizer's vocabulary. */
  tokenizer: string;
  format: string;
  template: string | null;
  maxLength: number;
  responseOnly: boolean;
}

export interface ShardEntry {
  file: string;
  firstExample: number;
  examples: number;
  bytes: number;
  sha256: string;
}

export interface CacheManifest {
  version: number;
  topK: number;
  fingerprint: CacheFingerprint;
  teacher: string;
  teacherVocab: number;
  shards: ShardEntry[];
  examples: number;
  tokens: number;
  bytesPerToken: number;
}

export function shardName(index: number): string {
  return `shard-${String(index).padStart(5, '0')}.bin`;
}
