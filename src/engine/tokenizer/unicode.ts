// Unicode helpers shared by the tokenizers, mirroring llama.cpp's unicode.cpp:
//  - code point flags (letter / number / whitespace / category) as llama.cpp's pre-tokenizers see them;
//  - the GPT-2 byte <-> character table of byte-level BPE;
//  - UTF-8 byte helpers.
// llama.cpp builds its flag table from the Unicode Character Database; here the same categories come
// from V8's \p{...} property escapes (ICU), so the two agree except for code points assigned in a
// newer Unicode version than one of them knows.

export const FLAG_NUMBER = 0x01; // \p{N}
export const FLAG_LETTER = 0x02; // \p{L}
export const FLAG_PUNCT = 0x04; // \p{P}
export const FLAG_MARK = 0x08; // \p{M}
export const FLAG_SYMBOL = 0x10; // \p{S}
export const FLAG_OTHER = 0x20; // separators, controls, unassigned: a defined code point of no category above
export const FLAG_WHITESPACE = 0x40; // llama.cpp's unicode_set_whitespace = the White_Space property

const RE_N = /^\p{N}$/u;
const RE_L = /^\p{L}$/u;
const RE_P = /^\p{P}$/u;
const RE_M = /^\p{M}$/u;
const RE_S = /^\p{S}$/u;
const RE_WS = /^\p{White_Space}$/u;

function computeFlags(cp: number): number {
  const s = String.fromCodePoint(cp);
  let f = 0;
  if (RE_N.test(s)) f = FLAG_NUMBER;
  else if (RE_L.test(s)) f = FLAG_LETTER;
  else if (RE_P.test(s)) f = FLAG_PUNCT;
  else if (RE_M.test(s)) f = FLAG_MARK;
  else if (RE_S.test(s)) f = FLAG_SYMBOL;
  else f = FLAG_OTHER;
  if (RE_WS.test(s)) f |= FLAG_WHITESPACE;
  return f;
}

// ASCII is precomputed; other code points are classified on first sight and remembered
// (a 1.1M-entry table would cost ~200 ms to fill; text uses few distinct code points).
const ASCII_FLAGS = new Uint8Array(128);
for (let c = 0; c < 128; c++) ASCII_FLAGS[c] = computeFlags(c);
const flagCache = new Map<number, number>();

/** Flags of a code point (never 0: 0 stands for "outside the text" in the splitters). */
export function cpFlags(cp: number): number {
  if (cp < 128) return ASCII_FLAGS[cp]!;
  let f = flagCache.get(cp);
  if (f === undefined) {
    f = computeFlags(cp);
    flagCache.set(cp, f);
  }
  return f;
}

// --- GPT-2 byte-level alphabet (unicode_byte_to_utf8_map): printable bytes map to themselves,
// the others to U+0100.. in byte order, so every byte is one visible character.
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const out: string[] = new Array<string>(256);
  const direct = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let n = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCharCode(direct(b) ? b : 256 + n++);
  return out;
})();

/**
 * Byte values in GPT-2's bytes_to_unicode order: the directly printable bytes first, then the
 * rest. A byte-level vocabulary's first 256 tokens are BYTE_TO_CHAR of these, in this order.
 */
export const BYTE_LEVEL_ORDER: readonly number[] = (() => {
  const direct = BYTE_TO_CHAR.map((ch, b) => (ch.charCodeAt(0) === b ? b : -1)).filter((b) => b >= 0);
  const rest = BYTE_TO_CHAR.map((_, b) => b).filter((b) => !direct.includes(b));
  return [...direct, ...rest];
})();

/** Character code of the byte-level alphabet -> byte value (-1 when not in the alphabet). */
export const CHAR_TO_BYTE: Int16Array = (() => {
  const t = new Int16Array(512).fill(-1);
  BYTE_TO_CHAR.forEach((ch, b) => (t[ch.charCodeAt(0)] = b));
  return t;
})();

const encoder = new TextEncoder();
export function utf8Bytes(s: string): Uint8Array {
  return encoder.encode(s);
}

/** A string's UTF-8 bytes written in the byte-level alphabet (unicode_byte_encoding_process). */
export function byteEncode(s: string): string {
  // ASCII letters/digits/punctuation map to themselves: skip the work for the common case
  let plain = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) {
      plain = false;
      break;
    }
  }
  if (plain) return s;
  let out = "";
  for (const b of encoder.encode(s)) out += BYTE_TO_CHAR[b]!;
  return out;
}

/** Length of a UTF-8 sequence from its first byte (unicode_len_utf8: continuation bytes count as 1). */
export function utf8SeqLen(first: number): number {
  if (first < 0xc0) return 1;
  if (first < 0xe0) return 2;
  if (first < 0xf0) return 3;
  return 4;
}
