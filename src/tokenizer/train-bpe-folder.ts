// Writes a trained byte-level BPE as a Hugging Face tokenizer folder: tokenizer.json in the layout
// Python tokenizers saves (the same fields as Qwen3's file), and a tokenizer_config.json that
// transformers' AutoTokenizer loads as a PreTrainedTokenizerFast.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeTextAtomic } from '../io/atomic.js';
import { TOKENIZER_CONFIG_FILE, TOKENIZER_FILE } from './tokenizer.js';
import { BYTE_SYMBOLS } from './byte-symbols.js';
import type { TrainedBpe } from './train-bpe.js';

export interface WriteTokenizerOptions {
  /** transformers' model_max_length; omitted from the config when not given (transformers then means "no limit"). */
  modelMaxLength?: number;
  /** The end-of-text token, also used for padding; must be one of the trained special tokens. */
  eosToken?: string;
  chatTemplate?: string;
}

const VOCAB_PLACEHOLDER = '\u0000vocab\u0000';

/**
 * The vocab object in id order, as Python tokenizers saves it. Built by hand because a JS object
 * would list integer-like keys ('0'..'9', '12') first whatever order they were added in.
 */
function vocabJson(vocab: Map<string, number>, indent: string): string {
  const entries = [...vocab].sort((a, b) => a[1] - b[1]).map(([token, id]) => `${indent}  ${JSON.stringify(token)}: ${id}`);
  return `{\n${entries.join(',\n')}\n${indent}}`;
}

/** Tokens in the vocabulary that are neither a byte nor a merge result: the special tokens. */
function specialTokensOf(trained: TrainedBpe): { content: string; id: number }[] {
  const learned = new Set(BYTE_SYMBOLS.map((s) => s.symbol));
  for (const [left, right] of trained.merges) learned.add(left + right);
  return [...trained.vocab].filter(([token]) => !learned.has(token)).map(([content, id]) => ({ content, id })).sort((a, b) => a.id - b.id);
}

export function writeTokenizerFolder(dir: string, trained: TrainedBpe, options: WriteTokenizerOptions = {}): void {
  const eosToken = options.eosToken ?? '<|endoftext|>';
  const specials = specialTokensOf(trained);
  if (!specials.some((s) => s.content === eosToken)) {
    const names = specials.map((s) => `'${s.content}'`).join(', ') || 'none';
    throw new RangeError(`writeTokenizerFolder: eosToken '${eosToken}' is not a special token of the trained vocabulary (it has ${names})`);
  }
  const { modelMaxLength } = options;
  if (modelMaxLength !== undefined && (!Number.isSafeInteger(modelMaxLength) || modelMaxLength < 1)) {
    throw new RangeError(`writeTokenizerFolder: modelMaxLength must be a positive integer, got ${modelMaxLength}`);
  }

  const addedToken = (content: string) => ({ content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  // ByteLevel everywhere with add_prefix_space false: encoding then round-trips text byte for byte.
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true };
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map(({ content, id }) => ({ id, ...addedToken(content) })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: VOCAB_PLACEHOLDER,
      // Pair arrays, as tokenizers >= 0.20 saves them (and as Qwen3's file has them).
      // "left right" strings: readable by every tokenizers release (the pair form needs >= 0.20);
      // byte-level symbols never contain a space, so the split is unambiguous.
      merges: trained.merges.map(([left, right]) => `${left} ${right}`),
    },
  };
  const config: Record<string, unknown> = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    add_prefix_space: false,
    added_tokens_decoder: Object.fromEntries(specials.map(({ content, id }) => [String(id), addedToken(content)])),
    bos_token: null,
    eos_token: eosToken,
    pad_token: eosToken,
    unk_token: null,
    // The default (true) would rewrite " ." to "." on decode and break exact round trips.
    clean_up_tokenization_spaces: false,
  };
  if (modelMaxLength !== undefined) config.model_max_length = modelMaxLength;
  if (options.chatTemplate !== undefined) config.chat_template = options.chatTemplate;

  mkdirSync(dir, { recursive: true });
  const json = JSON.stringify(tokenizerJson, null, 2).replace(JSON.stringify(VOCAB_PLACEHOLDER), () => vocabJson(trained.vocab, '    '));
  writeTextAtomic(join(dir, TOKENIZER_FILE), json + '\n');
  writeTextAtomic(join(dir, TOKENIZER_CONFIG_FILE), JSON.stringify(config, null, 2) + '\n');
}
