// Byte-level BPE training, GPT-2 style: words from the ByteLevel pre-tokenizer's regex, spelled in
// GPT-2's byte-to-unicode alphabet, merged pair by pair (most frequent first). The output loads in
// @huggingface/tokenizers and Python tokenizers because it uses exactly their pre-tokenization.
import { BYTE_SYMBOLS } from './byte-symbols.js';

/**
 * The ByteLevel pre-tokenizer's split (use_regex: true), copied from @huggingface/tokenizers'
 * ByteLevel.ts (the Rust crate uses the same pattern). Training must split words exactly as encoding
 * will, or merges would be learned across boundaries the tokenizer never crosses.
 */
export const BYTE_LEVEL_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

export interface TrainBpeOptions {
  /** Total ids including the 256 byte tokens and the special tokens. */
  vocabSize: number;
  /** Pairs seen fewer times than this are never merged (training may then stop below vocabSize). */
  minFrequency?: number;
  /** Added after the learned tokens, with the last ids (GPT-2 puts <|endoftext|> last too). */
  specialTokens?: string[];
}

export interface TrainedBpe {
  /** Token → id: byte tokens (0-255), learned tokens in merge order, then the special tokens. */
  vocab: Map<string, number>;
  /** Merge rules, highest priority first. */
  merges: [string, string][];
}

// A pair of token ids packed into one number so pair maps are keyed by primitives.
const PAIR_BASE = 2 ** 21;
const pairKey = (left: number, right: number) => left * PAIR_BASE + right;

function validate(texts: string[], options: TrainBpeOptions, specials: string[], minFrequency: number): void {
  if (!Array.isArray(texts) || texts.some((t) => typeof t !== 'string')) throw new TypeError('trainByteLevelBpe: texts must be an array of strings');
  const minimum = BYTE_SYMBOLS.length + specials.length;
  if (!Number.isInteger(options.vocabSize) || options.vocabSize < minimum || options.vocabSize > PAIR_BASE) {
    throw new RangeError(`trainByteLevelBpe: vocabSize must be an integer from ${minimum} (256 bytes + ${specials.length} special tokens) to ${PAIR_BASE}, got ${options.vocabSize}`);
  }
  if (!Number.isInteger(minFrequency) || minFrequency < 1) throw new RangeError(`trainByteLevelBpe: minFrequency must be an integer >= 1, got ${minFrequency}`);
  const bytes = new Set(BYTE_SYMBOLS.map((s) => s.symbol));
  specials.forEach((token, i) => {
    if (typeof token !== 'string' || token.length === 0) throw new TypeError(`trainByteLevelBpe: specialTokens[${i}] must be a non-empty string`);
    if (bytes.has(token)) throw new RangeError(`trainByteLevelBpe: specialTokens[${i}] '${token}' is already a byte token`);
    if (specials.indexOf(token) !== i) throw new RangeError(`trainByteLevelBpe: specialTokens[${i}] '${token}' is listed twice`);
  });
}

/** Pre-token → occurrences. Special tokens are cut out first: the tokenizer never BPE-encodes them. */
function countWords(texts: string[], specials: string[]): Map<string, number> {
  const escaped = specials.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const specialSplit = escaped.length > 0 ? new RegExp(escaped.join('|'), 'u') : null;
  const counts = new Map<string, number>();
  for (const text of texts) {
    for (const segment of specialSplit ? text.split(specialSplit) : [text]) {
      for (const word of segment.match(BYTE_LEVEL_PATTERN) ?? []) counts.set(word, (counts.get(word) ?? 0) + 1);
    }
  }
  return counts;
}

/**
 * Max-heap of (pair, count) with lazy deletion: an entry may hold a stale count. Ties go to the
 * lexicographically smaller (left, right) token strings, so training is deterministic.
 */
class PairHeap {
  private readonly keys: number[] = [];
  private readonly counts: number[] = [];
  constructor(private readonly tokens: string[]) {}

  get size(): number {
    return this.keys.length;
  }

  push(key: number, count: number): void {
    this.keys.push(key);
    this.counts.push(count);
    let i = this.keys.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): { key: number; count: number } {
    const top = { key: this.keys[0]!, count: this.counts[0]! };
    const lastKey = this.keys.pop()!;
    const lastCount = this.counts.pop()!;
    if (this.keys.length > 0) {
      this.keys[0] = lastKey;
      this.counts[0] = lastCount;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < this.keys.length && this.before(l, best)) best = l;
        if (r < this.keys.length && this.before(r, best)) best = r;
        if (best === i) break;
        this.swap(i, best);
        i = best;
      }
    }
    return top;
  }

  private before(i: number, j: number): boolean {
    const ci = this.counts[i]!;
    const cj = this.counts[j]!;
    if (ci !== cj) return ci > cj;
    const ki = this.keys[i]!;
    const kj = this.keys[j]!;
    const li = this.tokens[Math.floor(ki / PAIR_BASE)]!;
    const lj = this.tokens[Math.floor(kj / PAIR_BASE)]!;
    if (li !== lj) return li < lj;
    return this.tokens[ki % PAIR_BASE]! < this.tokens[kj % PAIR_BASE]!;
  }

  private swap(i: number, j: number): void {
    [this.keys[i], this.keys[j]] = [this.keys[j]!, this.keys[i]!];
    [this.counts[i], this.counts[j]] = [this.counts[j]!, this.counts[i]!];
  }
}

/**
 * Learns a byte-level BPE vocabulary from `texts`. Pair counts are updated incrementally: a merge
 * only revisits the words that contain its pair, so ~2,000 merges over a 1 MB corpus take about a second.
 */
export function trainByteLevelBpe(texts: string[], options: TrainBpeOptions): TrainedBpe {
  const specials = options.specialTokens ?? ['<|endoftext|>'];
  const minFrequency = options.minFrequency ?? 2;
  validate(texts, options, specials, minFrequency);

  const tokens = BYTE_SYMBOLS.map((s) => s.symbol);
  const ids = new Map(tokens.map((t, i) => [t, i]));
  const idOfByte = new Array<number>(256);
  BYTE_SYMBOLS.forEach((s, i) => (idOfByte[s.byte] = i));

  // Distinct words as token-id arrays (mutated in place by merges), each weighted by its count.
  const encoder = new TextEncoder();
  const words: number[][] = [];
  const weights: number[] = [];
  for (const [word, count] of countWords(texts, specials)) {
    words.push(Array.from(encoder.encode(word), (b) => idOfByte[b]!));
    weights.push(count);
  }

  const pairCounts = new Map<number, number>();
  // Words that contain (or once contained) each pair; stale members are harmless, a merge skips them.
  const pairWords = new Map<number, Set<number>>();
  const addPair = (key: number, delta: number, word: number) => {
    const count = (pairCounts.get(key) ?? 0) + delta;
    if (count === 0) pairCounts.delete(key);
    else pairCounts.set(key, count);
    if (delta > 0) {
      let set = pairWords.get(key);
      if (set === undefined) pairWords.set(key, (set = new Set()));
      set.add(word);
    }
  };
  words.forEach((word, w) => {
    for (let i = 0; i + 1 < word.length; i++) addPair(pairKey(word[i]!, word[i + 1]!), weights[w]!, w);
  });

  const heap = new PairHeap(tokens);
  for (const [key, count] of pairCounts) heap.push(key, count);

  const merges: [string, string][] = [];
  const learnedLimit = options.vocabSize - specials.length;
  while (tokens.length < learnedLimit && heap.size > 0) {
    const { key, count } = heap.pop();
    const current = pairCounts.get(key) ?? 0;
    if (current !== count) {
      // Stale entry: counts of old pairs only fall, so re-queue with the true count and look again.
      if (current > 0) heap.push(key, current);
      continue;
    }
    if (count < minFrequency) break;

    const left = Math.floor(key / PAIR_BASE);
    const right = key % PAIR_BASE;
    const text = tokens[left]! + tokens[right]!;
    // Two merges can spell the same string ('a'+'bc', 'ab'+'c'); like Hugging Face's trainer, reuse its id.
    let merged = ids.get(text);
    if (merged === undefined) {
      merged = tokens.length;
      tokens.push(text);
      ids.set(text, merged);
    }
    merges.push([tokens[left]!, tokens[right]!]);

    const grown = new Set<number>();
    const bump = (l: number, r: number, delta: number, w: number) => {
      const k = pairKey(l, r);
      addPair(k, delta, w);
      if (delta > 0) grown.add(k);
    };
    for (const w of pairWords.get(key) ?? []) {
      const word = words[w]!;
      const weight = weights[w]!;
      // Left-to-right, non-overlapping, as encoding applies a merge; neighbours are read from the
      // already-rewritten prefix so 'a b a b' → 'ab ab' counts (ab, ab) and not (ab, a).
      let out = 0;
      for (let i = 0; i < word.length; ) {
        if (word[i] === left && i + 1 < word.length && word[i + 1] === right) {
          addPair(key, -weight, w);
          if (out > 0) {
            bump(word[out - 1]!, left, -weight, w);
            bump(word[out - 1]!, merged, weight, w);
          }
          if (i + 2 < word.length) {
            bump(right, word[i + 2]!, -weight, w);
            bump(merged, word[i + 2]!, weight, w);
          }
          word[out++] = merged;
          i += 2;
        } else {
          word[out++] = word[i++]!;
        }
      }
      word.length = out;
    }
    pairWords.delete(key);
    pairCounts.delete(key);
    // Pairs whose count rose need an entry with the new count; the heap's older entries then read as stale.
    for (const k of grown) {
      const c = pairCounts.get(k);
      if (c !== undefined && c > 0) heap.push(k, c);
    }
  }

  const vocab = new Map(tokens.map((t, i) => [t, i]));
  specials.forEach((t, i) => vocab.set(t, tokens.length + i));
  return { vocab, merges };
}
