// A Hugging Face tokenizer folder (tokenizer.json + tokenizer_config.json) behind a small typed API.
// The BPE itself is @huggingface/tokenizers; this file adds file loading with errors that name the
// file, special-token ids resolved from tokenizer_config.json, and a print-safe streaming decoder.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';

/** A tokenizer folder or file that cannot be used; the message names the file (and field) at fault. */
export class TokenizerError extends Error {
  override name = 'TokenizerError';
}

/** A special token in tokenizer_config.json: a plain string, or a serialized AddedToken object. */
export type SpecialTokenValue = string | { content: string } | null | undefined;

/** One entry of a multi-template `chat_template` list (e.g. "default" and "tool_use"). */
export interface NamedChatTemplate {
  name: string;
  template: string;
}

/** The fields of tokenizer_config.json this project reads; everything else passes through untouched. */
export interface TokenizerConfig {
  chat_template?: string | NamedChatTemplate[] | null;
  bos_token?: SpecialTokenValue;
  eos_token?: SpecialTokenValue;
  pad_token?: SpecialTokenValue;
  unk_token?: SpecialTokenValue;
  additional_special_tokens?: SpecialTokenValue[];
  [key: string]: unknown;
}

export const TOKENIZER_FILE = 'tokenizer.json';
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';
// transformers >= 4.47 saves the chat template beside the config; when present it wins, as there.
export const CHAT_TEMPLATE_FILE = 'chat_template.jinja';

// The keys transformers exposes as `special_tokens_map` (and passes to chat templates).
const SPECIAL_TOKEN_KEYS = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'] as const;

function readJsonObject(path: string): Record<string, unknown> {
  if (!existsSync(path)) throw new TokenizerError(`${path} not found (a tokenizer folder needs ${TOKENIZER_FILE} and ${TOKENIZER_CONFIG_FILE})`);
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new TokenizerError(`${path} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TokenizerError(`${path} must hold a JSON object, got ${Array.isArray(value) ? 'an array' : String(value)}`);
  }
  return value as Record<string, unknown>;
}

function tokenContent(value: SpecialTokenValue): string | null {
  if (value === null || value === undefined) return null;
  return typeof value === 'string' ? value : value.content;
}

export class TextTokenizer {
  /** The folder the tokenizer came from, when it came from one; error messages name files in it. */
  readonly source: string | null;
  readonly config: Readonly<TokenizerConfig>;
  /** The raw chat template(s): from chat_template.jinja, else tokenizer_config.json; null when none. */
  readonly chatTemplate: string | NamedChatTemplate[] | null;
  /** Number of ids including added tokens (max id + 1); a model's embedding may be padded past this. */
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly padTokenId: number | null;
  /** Ids of added tokens marked special plus bos/eos/pad/unk: what skipSpecialTokens removes. */
  readonly specialTokenIds: ReadonlySet<number>;
  /** transformers' `special_tokens_map`: token strings by key, only those that are set. */
  readonly specialTokensMap: Readonly<Record<string, string | string[]>>;
  /** tokenizer.json's `decoder` as written (null when absent): how token strings become text bytes. */
  readonly decoderConfig: Readonly<Record<string, unknown>> | null;
  /** tokenizer.json's `model.byte_fallback`: bytes no token covers are spelled as tokens "<0xHH>". */
  readonly byteFallback: boolean;
  private readonly inner: Tokenizer;

  constructor(tokenizerJson: object, config: TokenizerConfig, options: { source?: string; chatTemplate?: string } = {}) {
    this.source = options.source ?? null;
    this.config = config;
    try {
      this.inner = new Tokenizer(tokenizerJson, config);
    } catch (error) {
      throw new TokenizerError(`${this.configPath(TOKENIZER_FILE)} is not a usable tokenizer: ${(error as Error).message}`);
    }
    this.chatTemplate = options.chatTemplate ?? config.chat_template ?? null;
    const { decoder, model } = tokenizerJson as { decoder?: unknown; model?: { byte_fallback?: unknown } };
    this.decoderConfig = typeof decoder === 'object' && decoder !== null ? (decoder as Record<string, unknown>) : null;
    this.byteFallback = model?.byte_fallback === true;

    let maxId = -1;
    for (const id of this.inner.get_vocab(true).values()) if (id > maxId) maxId = id;
    this.vocabSize = maxId + 1;

    const map: Record<string, string | string[]> = {};
    for (const key of SPECIAL_TOKEN_KEYS) {
      const content = tokenContent(config[key] as SpecialTokenValue);
      if (content !== null) map[key] = content;
    }
    const additional = (config.additional_special_tokens ?? []).map(tokenContent).filter((t): t is string => t !== null);
    if (additional.length > 0) map.additional_special_tokens = additional;
    this.specialTokensMap = map;

    this.bosTokenId = this.resolveConfigToken('bos_token');
    this.eosTokenId = this.resolveConfigToken('eos_token');
    this.padTokenId = this.resolveConfigToken('pad_token');
    const special = new Set<number>();
    for (const [id, token] of this.inner.get_added_tokens_decoder()) if (token.special) special.add(id);
    for (const id of [this.bosTokenId, this.eosTokenId, this.padTokenId, this.resolveConfigToken('unk_token')]) {
      if (id !== null) special.add(id);
    }
    this.specialTokenIds = special;
  }

  /** True when `dir` holds both files `fromFolder` needs. */
  static hasTokenizer(dir: string): boolean {
    return existsSync(join(dir, TOKENIZER_FILE)) && existsSync(join(dir, TOKENIZER_CONFIG_FILE));
  }

  /** Loads a Hugging Face model folder's tokenizer (tokenizer.json, tokenizer_config.json, optional chat_template.jinja). */
  static fromFolder(dir: string): TextTokenizer {
    const tokenizerJson = readJsonObject(join(dir, TOKENIZER_FILE));
    const config = readJsonObject(join(dir, TOKENIZER_CONFIG_FILE)) as TokenizerConfig;
    const templatePath = join(dir, CHAT_TEMPLATE_FILE);
    const chatTemplate = existsSync(templatePath) ? readFileSync(templatePath, 'utf8') : undefined;
    return new TextTokenizer(tokenizerJson, config, { source: dir, chatTemplate });
  }

  /** Token ids of `text`. Special-token strings in the text (e.g. `<|im_start|>`) become their single ids. */
  encode(text: string, { addSpecialTokens = false }: { addSpecialTokens?: boolean } = {}): number[] {
    return this.inner.encode(text, { add_special_tokens: addSpecialTokens }).ids;
  }

  /** Text of `ids`. Ids outside the vocabulary (a padded embedding's extra rows) decode to nothing, as in transformers. */
  decode(ids: readonly number[], { skipSpecialTokens = false }: { skipSpecialTokens?: boolean } = {}): string {
    for (const id of ids) {
      // The library silently drops everything after a negative or fractional id; fail loudly instead.
      if (!Number.isSafeInteger(id) || id < 0) throw new RangeError(`token id must be a non-negative integer, got ${id}`);
    }
    // The library refuses an empty list; transformers decodes it to '' (an answer that is only eos).
    if (ids.length === 0) return '';
    return this.inner.decode(ids as number[], { skip_special_tokens: skipSpecialTokens });
  }

  tokenToId(token: string): number | null {
    return this.inner.token_to_id(token) ?? null;
  }

  idToToken(id: number): string | null {
    return this.inner.id_to_token(id) ?? null;
  }

  /**
   * Ids from `rows` on that text can encode to (every id but special added tokens): what a model
   * with `rows` embedding rows could not take. Multimodal tokenizers keep special placeholders past
   * their text model's rows (gemma-3-1b: <image_soft_token> is id 262,144 of 262,144 rows).
   */
  ordinaryIdsFrom(rows: number): number[] {
    return Array.from({ length: Math.max(0, this.vocabSize - rows) }, (_, i) => rows + i).filter((id) => !this.specialTokenIds.has(id));
  }

  /** Token string → id for the whole vocabulary including added tokens (a fresh map the caller may keep). */
  vocabulary(): Map<string, number> {
    return new Map(this.inner.get_vocab(true));
  }

  /** tokenizer.json's `added_tokens` by id (special or not); text that contains one's content encodes to its id. */
  addedTokens(): Map<number, { content: string; special: boolean }> {
    const added = new Map<number, { content: string; special: boolean }>();
    for (const [id, token] of this.inner.get_added_tokens_decoder()) added.set(id, { content: token.content, special: token.special });
    return added;
  }

  /** The path of one of the tokenizer's files (just the name when it came from no folder), for error messages. */
  configPath(file: string): string {
    return this.source === null ? file : join(this.source, file);
  }

  private resolveConfigToken(key: string): number | null {
    const content = tokenContent(this.config[key] as SpecialTokenValue);
    if (content === null) return null;
    const id = this.inner.token_to_id(content);
    if (id === undefined) {
      throw new TokenizerError(`${this.configPath(TOKENIZER_CONFIG_FILE)}: ${key} '${content}' is not a token of ${TOKENIZER_FILE}`);
    }
    return id;
  }
}

const REPLACEMENT_CHARACTER = '\uFFFD';

/**
 * Turns generated ids into printable text deltas. Byte-level BPE splits a character across tokens,
 * so a prefix can decode to a trailing U+FFFD that a later token completes; like transformers'
 * TextStreamer we re-decode the pending ids and hold back output while it ends in U+FFFD.
 */
export class StreamingDecoder {
  private pending: number[] = [];
  private printedLength = 0;

  constructor(
    private readonly tokenizer: TextTokenizer,
    private readonly options: { skipSpecialTokens?: boolean } = {},
  ) {}

  /** Adds one id; returns the newly printable text (possibly empty). */
  push(id: number): string {
    this.pending.push(id);
    const text = this.tokenizer.decode(this.pending, this.options);
    if (text.endsWith(REPLACEMENT_CHARACTER)) return '';
    const delta = text.slice(this.printedLength);
    // Restart after a newline, as TextStreamer does, so each push re-decodes one line, not the whole output.
    if (text.endsWith('\n')) {
      this.pending = [];
      this.printedLength = 0;
    } else {
      this.printedLength = text.length;
    }
    return delta;
  }

  /** Emits whatever is held back (an incomplete character prints as U+FFFD) and resets. */
  flush(): string {
    const text = this.pending.length > 0 ? this.tokenizer.decode(this.pending, this.options) : '';
    const delta = text.slice(this.printedLength);
    this.pending = [];
    this.printedLength = 0;
    return delta;
  }
}
