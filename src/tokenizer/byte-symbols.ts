// GPT-2's byte-to-unicode alphabet: byte-level BPE vocabularies (GPT-2, Llama 3, Qwen) spell every
// byte as one printable character, so token strings never hold raw control bytes or spaces.

/**
 * GPT-2's bytes_to_unicode, in its order: printable Latin-1 bytes stand for themselves, the other 68
 * bytes take U+0100 onwards. The order is also the id order of the 256 byte tokens (as in GPT-2).
 */
export const BYTE_SYMBOLS: readonly { byte: number; symbol: string }[] = (() => {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const symbols: { byte: number; symbol: string }[] = [];
  for (let b = 0; b < 256; b++) if (printable(b)) symbols.push({ byte: b, symbol: String.fromCharCode(b) });
  let next = 256;
  for (let b = 0; b < 256; b++) if (!printable(b)) symbols.push({ byte: b, symbol: String.fromCharCode(next++) });
  return symbols;
})();

/** The byte a symbol's UTF-16 code unit stands for, indexed by code unit; -1 where it is no symbol. */
export const BYTE_OF_SYMBOL: Int16Array = (() => {
  const table = new Int16Array(256 + 68).fill(-1);
  for (const { byte, symbol } of BYTE_SYMBOLS) table[symbol.charCodeAt(0)] = byte;
  return table;
})();
