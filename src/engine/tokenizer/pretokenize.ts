// Pre-tokenisation of byte-level BPE vocabularies: the text is cut into words before BPE runs on
// each, with the regexes llama.cpp's llm_tokenizer_bpe picks from `tokenizer.ggml.pre`.
// llama.cpp does not run those regexes with a general engine where it matters: the GPT-2 and
// Llama-3/Qwen2 patterns have hand-written splitters in unicode.cpp (unicode_regex_split_custom_*),
// and the others run through std::regex on a "collapsed" text where each non-ASCII code point is
// replaced by one byte naming its category. Both are reproduced here, quirks included, because the
// target is llama.cpp's output, not the original Python regex's.

import { FLAG_LETTER, FLAG_MARK, FLAG_NUMBER, FLAG_PUNCT, FLAG_SYMBOL, FLAG_WHITESPACE, cpFlags } from "./unicode.ts";

export type SplitExpr =
  | { readonly kind: "gpt2" } // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
  | { readonly kind: "llama3"; readonly maxDigits: number } // llama3 (\p{N}{1,3}) and qwen2 (\p{N})
  | { readonly kind: "regex"; readonly source: string }; // anything else, through the collapsed text

export interface PreTokenizerSpec {
  readonly name: string;
  readonly exprs: readonly SplitExpr[];
  readonly ignoreMerges: boolean;
  readonly addBos: boolean;
  readonly cleanSpaces: boolean;
  /** chatglm-bpe: llama.cpp clears the default BOS id. */
  readonly noBos?: boolean;
}

const GPT2: SplitExpr = { kind: "gpt2" };
const LLAMA3: SplitExpr = { kind: "llama3", maxDigits: 3 };
const QWEN2: SplitExpr = { kind: "llama3", maxDigits: 1 };
const rx = (source: string): SplitExpr => ({ kind: "regex", source });

/** The pre-tokenizer llama.cpp uses for a `tokenizer.ggml.pre` value (llama-vocab.cpp, load + llm_tokenizer_bpe). */
export function preTokenizerFor(pre: string): PreTokenizerSpec {
  const spec = (exprs: SplitExpr[], o: Partial<PreTokenizerSpec> = {}): PreTokenizerSpec => ({
    name: pre,
    exprs,
    ignoreMerges: false,
    addBos: false,
    cleanSpaces: true,
    ...o,
  });
  switch (pre) {
    case "default":
      return spec([rx("[\\p{P}\\$\\+<=>\\^~\\|]+"), GPT2, rx("\\p{N}+"), rx("[0-9][0-9][0-9]")]);
    case "llama3":
    case "llama-v3":
    case "llama-bpe":
    case "falcon3":
      return spec([LLAMA3], { ignoreMerges: true, addBos: true });
    case "dbrx":
    case "smaug-bpe":
      return spec([LLAMA3]); // same regex as llama3, but merges are not ignored
    case "chatglm-bpe":
      return spec([LLAMA3], { noBos: true });
    case "qwen2":
      return spec([QWEN2], { cleanSpaces: false });
    case "stablelm2":
    case "megrez":
      return spec([QWEN2]);
    case "falcon":
      return spec([rx("[\\p{P}\\$\\+<=>\\^~\\|`]+"), GPT2, rx("[0-9][0-9][0-9]")]);
    case "gpt-2":
    case "phi-2":
    case "jina-es":
    case "jina-de":
    case "gigachat":
    case "jina-v1-en":
    case "jina-v2-es":
    case "jina-v2-de":
    case "jina-v2-code":
    case "roberta-bpe":
    case "mpt":
    case "olmo":
    case "jais":
      return spec([GPT2]);
    case "starcoder":
    case "refact":
    case "codeshell":
    case "exaone":
    case "minerva-7b":
      return spec([rx("\\p{N}"), GPT2]);
    case "command-r":
    case "smollm":
      return spec([rx("\\p{N}"), GPT2], { cleanSpaces: false });
    default:
      throw new Error(`tokenizer.ggml.pre "${pre}" is not supported (supported: default, llama-bpe, smaug-bpe, qwen2, gpt-2, smollm, starcoder, falcon and their aliases)`);
  }
}

/**
 * Splits `text` into words the way llama.cpp's unicode_regex_split does (without the byte
 * encoding, which the BPE step applies). Words are returned as substrings of `text`.
 */
export function splitWords(text: string, exprs: readonly SplitExpr[]): string[] {
  // code points, and the UTF-16 index where each starts (for slicing the words out of `text`)
  const cps: number[] = [];
  const at: number[] = [];
  for (let i = 0; i < text.length; ) {
    const cp = text.codePointAt(i)!;
    cps.push(cp);
    at.push(i);
    i += cp > 0xffff ? 2 : 1;
  }
  at.push(text.length);
  let offsets = cps.length > 0 ? [cps.length] : [];
  let collapsed: string | undefined;
  for (const e of exprs) {
    if (e.kind === "gpt2") offsets = splitGpt2(cps, offsets);
    else if (e.kind === "llama3") offsets = splitLlama3(cps, offsets, e.maxDigits);
    else {
      const conv = convertRegex(e.source);
      if (conv.collapsed) collapsed ??= collapse(cps);
      offsets = splitRegex(conv.collapsed ? collapsed! : wideText(cps), conv.re, offsets);
    }
  }
  const words: string[] = [];
  let start = 0;
  for (const len of offsets) {
    words.push(text.slice(at[start], at[start + len]));
    start += len;
  }
  return words;
}

const LETTER = FLAG_LETTER;
const NUMBER = FLAG_NUMBER;
const WS = FLAG_WHITESPACE;
const OUT = -1; // llama.cpp's OUT_OF_RANGE code point

// The splitters below transcribe unicode_regex_split_custom_gpt2 / _llama3 / _qwen2 (unicode.cpp):
// positions are code point indices; outside the current segment a code point is OUT and its flags 0.

function splitGpt2(cps: readonly number[], offsets: readonly number[]): number[] {
  const out: number[] = [];
  let start = 0;
  for (const offset of offsets) {
    const ini = start;
    const end = start + offset;
    start = end;
    const cpt = (p: number) => (p >= ini && p < end ? cps[p]! : OUT);
    const flags = (p: number) => (p >= ini && p < end ? cpFlags(cps[p]!) : 0);
    let prevEnd = ini;
    const add = (e: number) => {
      const len = e - prevEnd;
      if (len > 0) out.push(len);
      prevEnd = e;
      return len;
    };
    for (let pos = ini; pos < end; ) {
      const c = cpt(pos);
      const f = flags(pos);
      // 's|'t|'re|'ve|'m|'ll|'d (case-sensitive)
      if (c === 0x27 && pos + 1 < end) {
        const n1 = cpt(pos + 1);
        if (n1 === 0x73 || n1 === 0x74 || n1 === 0x6d || n1 === 0x64) {
          pos += add(pos + 2);
          continue;
        }
        if (pos + 2 < end) {
          const n2 = cpt(pos + 2);
          if ((n1 === 0x72 && n2 === 0x65) || (n1 === 0x76 && n2 === 0x65) || (n1 === 0x6c && n2 === 0x6c)) {
            pos += add(pos + 3);
            continue;
          }
        }
      }
      let f2 = c === 0x20 ? flags(pos + 1) : f;
      // <space>?\p{L}+
      if (f2 & LETTER) {
        if (c === 0x20) pos++;
        while (f2 & LETTER) f2 = flags(++pos);
        add(pos);
        continue;
      }
      // <space>?\p{N}+
      if (f2 & NUMBER) {
        if (c === 0x20) pos++;
        while (f2 & NUMBER) f2 = flags(++pos);
        add(pos);
        continue;
      }
      // <space>?[^\s\p{L}\p{N}]+
      if (!(f2 & (WS | LETTER | NUMBER)) && f2) {
        if (c === 0x20) pos++;
        while (!(f2 & (WS | LETTER | NUMBER)) && f2) f2 = flags(++pos);
        add(pos);
        continue;
      }
      let nws = 0;
      while (flags(pos + nws) & WS) nws++;
      // \s+(?!\S)
      if (nws > 1 && cpt(pos + nws) !== OUT) {
        pos += nws - 1;
        add(pos);
        continue;
      }
      // \s+
      if (nws > 0) {
        pos += nws;
        add(pos);
        continue;
      }
      add(++pos); // no match
    }
  }
  return out;
}

/** ASCII-only case folding is enough here: only the letters of the contractions are compared. */
function lowerAscii(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c + 32 : c;
}

// Over 80 lines on purpose: a branch-for-branch port of llama.cpp's
// unicode_regex_split_custom_llama3 (one scan, each regex alternative in the order the pattern
// tries it), kept in one piece so the two can be compared side by side when llama.cpp changes.
function splitLlama3(cps: readonly number[], offsets: readonly number[], maxDigits: number): number[] {
  const out: number[] = [];
  let start = 0;
  for (const offset of offsets) {
    const ini = start;
    const end = start + offset;
    start = end;
    const cpt = (p: number) => (p >= ini && p < end ? cps[p]! : OUT);
    const flags = (p: number) => (p >= ini && p < end ? cpFlags(cps[p]!) : 0);
    let prevEnd = ini;
    const add = (e: number) => {
      const len = e - prevEnd;
      if (len > 0) out.push(len);
      prevEnd = e;
      return len;
    };
    for (let pos = ini; pos < end; ) {
      const c = cpt(pos);
      const f = flags(pos);
      // (?i:'s|'t|'re|'ve|'m|'ll|'d)
      if (c === 0x27 && pos + 1 < end) {
        const n1 = lowerAscii(cpt(pos + 1));
        if (n1 === 0x73 || n1 === 0x74 || n1 === 0x6d || n1 === 0x64) {
          pos += add(pos + 2);
          continue;
        }
        if (pos + 2 < end) {
          const n2 = lowerAscii(cpt(pos + 2));
          if ((n1 === 0x72 && n2 === 0x65) || (n1 === 0x76 && n2 === 0x65) || (n1 === 0x6c && n2 === 0x6c)) {
            pos += add(pos + 3);
            continue;
          }
        }
      }
      // [^\r\n\p{L}\p{N}]?\p{L}+
      if (!(c === 0x0d || c === 0x0a || f & NUMBER)) {
        if (f & LETTER || flags(pos + 1) & LETTER) {
          pos++;
          while (flags(pos) & LETTER) pos++;
          add(pos);
          continue;
        }
      }
      // \p{N}{1,maxDigits}
      if (f & NUMBER) {
        let i0 = pos;
        while (flags(pos) & NUMBER) {
          if (++pos - i0 >= maxDigits) {
            add(pos);
            i0 = pos;
          }
        }
        add(pos);
        continue;
      }
      // <space>?[^\s\p{L}\p{N}]+[\r\n]*  (note: the entry test uses the first code point's flags)
      let f2 = c === 0x20 ? flags(pos + 1) : f;
      if (!(f2 & (WS | LETTER | NUMBER)) && f) {
        if (c === 0x20) pos++;
        while (!(f2 & (WS | LETTER | NUMBER)) && f2) f2 = flags(++pos);
        let c2 = cpt(pos);
        while (c2 === 0x0d || c2 === 0x0a) c2 = cpt(++pos);
        add(pos);
        continue;
      }
      let nws = 0;
      let lastRN = 0;
      while (flags(pos + nws) & WS) {
        const c2 = cpt(pos + nws);
        if (c2 === 0x0d || c2 === 0x0a) lastRN = pos + nws + 1;
        nws++;
      }
      // \s*[\r\n]+
      if (lastRN > 0) {
        pos = lastRN;
        add(pos);
        continue;
      }
      // \s+(?!\S)
      if (nws > 1 && cpt(pos + nws) !== OUT) {
        pos += nws - 1;
        add(pos);
        continue;
      }
      // \s+
      if (nws > 0) {
        pos += nws;
        add(pos);
        continue;
      }
      add(++pos); // no match
    }
  }
  return out;
}

// --- general regexes (unicode_regex_split's std::regex fallback) ---

// \p{..} classes become the category byte plus the ASCII members llama.cpp lists (k_ucat_map).
// Note llama.cpp's ASCII lists: '~' is in neither \p{P} nor \p{S}.
const UCAT: Record<string, string> = {
  "\\p{N}": "\\xD1\\x30-\\x39",
  "\\p{L}": "\\xD2\\x41-\\x5A\\x61-\\x7A",
  "\\p{Lu}": "\\xD2\\x41-\\x5A\\x61-\\x7A",
  "\\p{Ll}": "\\xD2\\x41-\\x5A\\x61-\\x7A",
  "\\p{Lt}": "\\xD2\\x41-\\x5A\\x61-\\x7A",
  "\\p{Lm}": "\\xD2\\x41-\\x5A\\x61-\\x7A",
  "\\p{Lo}": "\\xD2\\x41-\\x5A\\x61-\\x7A",
  "\\p{P}": "\\xD3\\x21-\\x23\\x25-\\x2A\\x2C-\\x2F\\x3A-\\x3B\\x3F-\\x40\\x5B-\\x5D\\x5F\\x7B\\x7D",
  "\\p{M}": "\\xD4",
  "\\p{S}": "\\xD5\\x24\\x2B\\x3C-\\x3E\\x5E\\x60\\x7C",
};

const regexCache = new Map<string, { re: RegExp; collapsed: boolean }>();

function convertRegex(source: string): { re: RegExp; collapsed: boolean } {
  let hit = regexCache.get(source);
  if (hit) return hit;
  const collapsed = Object.keys(UCAT).some((k) => source.includes(k));
  let out = source;
  if (collapsed) {
    out = "";
    let inside = false;
    for (let i = 0; i < source.length; i++) {
      const ch = source[i]!;
      if (ch === "[" && (i === 0 || source[i - 1] !== "\\")) {
        out += "[";
        inside = true;
        continue;
      }
      if (inside && ch === "]" && source[i - 1] !== "\\") {
        out += "]";
        inside = false;
        continue;
      }
      if (ch === "\\" && source[i + 1] === "p" && source[i + 2] === "{") {
        const close = source.indexOf("}", i + 3);
        const cls = close > 0 ? UCAT[source.slice(i, close + 1)] : undefined;
        if (cls !== undefined) {
          out += inside ? cls : `[${cls}]`;
          i = close;
          continue;
        }
      }
      out += ch;
    }
  }
  hit = { re: new RegExp(out, "g"), collapsed };
  regexCache.set(source, hit);
  return hit;
}

const CAT_BYTE: Record<number, number> = { [FLAG_NUMBER]: 0xd1, [FLAG_LETTER]: 0xd2, [FLAG_PUNCT]: 0xd3, [FLAG_MARK]: 0xd4, [FLAG_SYMBOL]: 0xd5 };

/** One character per code point: ASCII as is, whitespace 0x0B, others their category byte (0xD0 = none). */
function collapse(cps: readonly number[]): string {
  let s = "";
  for (const cp of cps) {
    if (cp < 128) {
      s += String.fromCharCode(cp);
      continue;
    }
    const f = cpFlags(cp);
    s += String.fromCharCode(f & WS ? 0x0b : (CAT_BYTE[f & ~WS] ?? 0xd0));
  }
  return s;
}

/** The std::wregex path (regexes without \p{..}): code points, non-ASCII whitespace as 0x0B; one
 * UTF-16 unit per code point (astral code points become U+FFFF: the supported regexes are ASCII-only). */
function wideText(cps: readonly number[]): string {
  let s = "";
  for (const cp of cps) s += String.fromCharCode(cp > 0x7f && cpFlags(cp) & WS ? 0x0b : cp > 0xffff ? 0xffff : cp);
  return s;
}

function splitRegex(text: string, re: RegExp, offsets: readonly number[]): number[] {
  const out: number[] = [];
  let start = 0;
  for (const offset of offsets) {
    // the regex sees the segment alone (its ends are the text's ends, as for std::regex_iterator)
    const seg = text.slice(start, start + offset);
    re.lastIndex = 0;
    let last = 0;
    for (let m = re.exec(seg); m; m = re.exec(seg)) {
      if (m[0].length === 0) {
        re.lastIndex++;
        continue;
      }
      if (m.index > last) out.push(m.index - last);
      out.push(m[0].length);
      last = m.index + m[0].length;
    }
    if (last < offset) out.push(offset - last);
    start += offset;
  }
  return out;
}
