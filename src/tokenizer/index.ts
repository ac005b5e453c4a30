export {
  TextTokenizer,
  StreamingDecoder,
  TokenizerError,
  TOKENIZER_FILE,
  TOKENIZER_CONFIG_FILE,
  CHAT_TEMPLATE_FILE,
  type TokenizerConfig,
  type NamedChatTemplate,
  type SpecialTokenValue,
} from './tokenizer.js';
export { applyChatTemplate, type ChatMessage, type ChatTemplateOptions } from './chat.js';
export { trainByteLevelBpe, BYTE_LEVEL_PATTERN, type TrainBpeOptions, type TrainedBpe } from './train-bpe.js';
export { BYTE_SYMBOLS } from './byte-symbols.js';
export { TokenBytes } from './token-bytes.js';
export { writeTokenizerFolder, type WriteTokenizerOptions } from './train-bpe-folder.js';
