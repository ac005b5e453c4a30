// The offline teacher cache: what the teacher predicted at every target position of a dataset,
// kept compactly — the top-k token ids and their log-probabilities, plus the log of the remaining
// (tail) probability mass — so later epochs train without loading or running the teacher.
//
// Layout of CACHE/:
//   manifest.json          written last: fingerprint, shards with byte sizes and sha256, totals
//   shard-00000.bin ...    records of consecutive examples; per example a u32 count n of target
//                          positions, then n records of: top-k ids (3 bytes each, little-endian:
//                          vocabularies up to 16.7M), top-k log-probabilities (float16 each), and
//                          the tail log-mass (float32). 5k + 4 bytes per target token.
// A cache without a manifest, or whose shard sizes disagree with it, is incomplete and never read.

export const CACHE_VERSION = 1;
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

export const recordBytes = (topK: number) => 5 * topK + 4;

export function shardName(index: number): string {
  return `shard-${String(index).padStart(5, '0')}.bin`;
}
