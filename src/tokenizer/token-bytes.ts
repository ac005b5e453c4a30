// The exact bytes each token id contributes to decoded text. Cross-tokenizer distillation aligns two
// tokenizations of one text by byte offsets, and matches vocabularies by the bytes tokens stand for,
// so both need per-token bytes, not decoded strings: a byte-level token may hold half a character.
import { BYTE_OF_SYMBOL } from './byte-symbols.js';
import { TOKENIZER_FILE, type TextTokenizer, TokenizerError } from './tokenizer.js';

/** How token strings spell bytes; the two kinds of decoder whose per-token bytes do not depend on neighbours. */
type Spelling =
  | { kind: 'byte-level' }
  /** SentencePiece-style: `space` marks a space (▁), "<0xHH>" tokens are one byte when byteFallback. */
  | { kind: 'sentencepiece'; space: string; byteFallback: boolean };

const EMPTY = new Uint8Array(0);
const utf8 = new TextEncoder();
const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;

// Decoders that join or trim token strings without changing their bytes. Strip removes the dummy
// prefix space of a whole decode (Llama 2, Mistral); per token it is still a space, a difference
// at the text's start that the alignment's common-suffix rule absorbs.
const JOINING_DECODERS = new Set(['Fuse', 'Strip']);

function decoderType(decoder: Readonly<Record<string, unknown>>): string {
  return typeof decoder.type === 'string' ? decoder.type : '(no type)';
}

/** The spelling a tokenizer.json decoder implies, or null when it is not one cross-tokenizer distillation supports. */
function spellingOf(decoder: Readonly<Record<string, unknown>>, modelByteFallback: boolean): Spelling | null {
  const steps = decoderType(decoder) === 'Sequence' && Array.isArray(decoder.decoders) ? (decoder.decoders as Record<string, unknown>[]) : [decoder];
  const types = steps.map(decoderType);
  if (types.length === 1 && types[0] === 'ByteLevel') return { kind: 'byte-level' };
  let space: string | null = null;
  for (const step of steps) {
    const type = decoderType(step);
    if (type === 'Metaspace' && space === null) {
      space = typeof step.replacement === 'string' ? step.replacement : '▁';
    } else if (type === 'Replace' && space === null && step.content === ' ') {
      const pattern = step.pattern as { String?: unknown } | undefined;
      if (typeof pattern?.String !== 'string' || pattern.String.length === 0) return null;
      space = pattern.String;
    } else if (type !== 'ByteFallback' && !JOINING_DECODERS.has(type)) {
      return null;
    }
  }
  if (space === null) return null;
  return { kind: 'sentencepiece', space, byteFallback: modelByteFallback || types.includes('ByteFallback') };
}

function describeDecoder(decoder: Readonly<Record<string, unknown>> | null): string {
  if (decoder === null) return 'no decoder';
  const type = decoderType(decoder);
  if (type !== 'Sequence' || !Array.isArray(decoder.decoders)) return `decoder ${type}`;
  return `decoder Sequence[${(decoder.decoders as Record<string, unknown>[]).map(decoderType).join(', ')}]`;
}

export class TokenBytes {
  private static readonly tables = new WeakMap<TextTokenizer, TokenBytes>();
  private readonly spelling: Spelling;
  /** Added tokens' contents by id: byte-level decoders pass them through as text. */
  private readonly addedContent: Map<number, string>;
  private readonly memo: (Uint8Array | undefined)[] = [];
  private readonly slab = new ByteSlab();

  private constructor(private readonly tokenizer: TextTokenizer) {
    const spelling = tokenizer.decoderConfig === null ? null : spellingOf(tokenizer.decoderConfig, tokenizer.byteFallback);
    if (spelling === null) {
      throw new TokenizerError(
        `${tokenizer.configPath(TOKENIZER_FILE)}: ${describeDecoder(tokenizer.decoderConfig)} is not supported for cross-tokenizer distillation, ` +
          `which needs the bytes each token stands for: it supports byte-level decoders (ByteLevel: GPT-2, Llama 3, Qwen) and ` +
          `SentencePiece-style ones (Metaspace, or Replace ▁→' ' with optional ByteFallback, Fuse, Strip: Gemma, Llama 2, Mistral)`,
      );
    }
    this.spelling = spelling;
    this.addedContent = new Map([...tokenizer.addedTokens()].map(([id, token]) => [id, token.content]));
  }

  /** The table of `tokenizer` (one per tokenizer; bytes are worked out as ids are asked for). */
  static of(tokenizer: TextTokenizer): TokenBytes {
    let table = TokenBytes.tables.get(tokenizer);
    if (!table) {
      table = new TokenBytes(tokenizer);
      TokenBytes.tables.set(tokenizer, table);
    }
    return table;
  }

  /** True for a SentencePiece byte-fallback token "<0xHH>": what the tokenizer spells a byte with when no token covers it. */
  isByteFallback(id: number): boolean {
    return this.spelling.kind === 'sentencepiece' && this.spelling.byteFallback && BYTE_TOKEN.test(this.tokenizer.idToToken(id) ?? '');
  }

  /** The UTF-8 bytes token `id` contributes to decoded text; empty for ids with no token (a model's padded rows). Do not modify. */
  bytesOf(id: number): Uint8Array {
    let bytes = this.memo[id];
    if (bytes === undefined) {
      bytes = this.compute(id);
      this.memo[id] = bytes;
    }
    return bytes;
  }

  /** The bytes of a run of ids, concatenated. */
  bytesOfIds(ids: readonly number[]): Uint8Array {
    return concatBytes(ids.map((id) => this.bytesOf(id)));
  }

  private compute(id: number): Uint8Array {
    const token = Number.isSafeInteger(id) && id >= 0 ? this.tokenizer.idToToken(id) : null;
    if (token === null || token === undefined || token.length === 0) return EMPTY;
    if (this.spelling.kind === 'byte-level') {
      // Added tokens (<|im_end|>) are matched in raw text and decoded as written, not through the alphabet.
      const added = this.addedContent.get(id);
      return added !== undefined ? this.slab.utf8(added) : this.byteLevelBytes(token);
    }
    // A SentencePiece decoder treats added tokens like any other: Gemma's added "▁▁" is two spaces.
    if (this.spelling.byteFallback && token.length === 6) {
      const byte = BYTE_TOKEN.exec(token);
      if (byte) return this.slab.bytes([parseInt(byte[1]!, 16)]);
    }
    return this.slab.utf8(token.replaceAll(this.spelling.space, ' '));
  }

  /** A byte-level token string mapped back through GPT-2's alphabet; a string outside it is taken as UTF-8, as the decoder does. */
  private byteLevelBytes(token: string): Uint8Array {
    const bytes: number[] = [];
    for (let i = 0; i < token.length; i++) {
      const byte = BYTE_OF_SYMBOL[token.charCodeAt(i)] ?? -1;
      if (byte < 0) return this.slab.utf8(token);
      bytes.push(byte);
    }
    return this.slab.bytes(bytes);
  }
}

/**
 * Views into shared 64 KiB blocks: a whole vocabulary's bytes (up to 262k tokens) as that many
 * typed arrays would cost an ArrayBuffer each, several times the bytes themselves.
 */
class ByteSlab {
  private static readonly BLOCK = 1 << 16;
  private block = new Uint8Array(ByteSlab.BLOCK);
  private used = 0;

  bytes(values: readonly number[]): Uint8Array {
    const out = this.room(values.length);
    out.set(values);
    return this.keep(values.length);
  }

  utf8(text: string): Uint8Array {
    // A UTF-16 code unit is at most 3 UTF-8 bytes.
    const { written } = utf8.encodeInto(text, this.room(3 * text.length));
    return this.keep(written);
  }

  private room(length: number): Uint8Array {
    if (this.used + length > this.block.length) {
      this.block = new Uint8Array(Math.max(ByteSlab.BLOCK, length));
      this.used = 0;
    }
    return this.block.subarray(this.used, this.used + length);
  }

  private keep(length: number): Uint8Array {
    const out = this.block.subarray(this.used, this.used + length);
    this.used += length;
    return out;
  }
}

/** Byte arrays joined into one. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
