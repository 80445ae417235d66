// Token ids back to text, as llama.cpp's token_to_piece / detokenize, and a streaming decoder.
// A piece is bytes, not text: byte tokens (<0xXX>) and byte-level BPE characters each stand for one
// byte, so a character may span several tokens. `detokenize` joins the bytes first and decodes once;
// the StreamingDecoder holds back an incomplete UTF-8 sequence until its last byte arrives.

import { CHAR_TO_BYTE, utf8Bytes } from "./unicode.ts";
import { TokenType, type Vocab } from "./vocab.ts";

const EMPTY = new Uint8Array(0);
const ESCAPED_SPACE = /\u2581/g;

export class PieceTable {
  /** Pieces with special tokens rendered (llama.cpp's cache_token_to_piece), built on first use. */
  private readonly pieces: (Uint8Array | undefined)[];

  constructor(private readonly vocab: Vocab) {
    this.pieces = new Array<Uint8Array | undefined>(vocab.size);
  }

  /** The bytes of one token; control and unknown tokens are empty unless `special`. */
  piece(id: number, special: boolean): Uint8Array {
    const type = this.vocab.types[id];
    if (type === undefined) throw new RangeError(`token id ${id} is outside the vocabulary (${this.vocab.size} tokens)`);
    if (!special && (type === TokenType.Control || type === TokenType.Unknown)) return EMPTY;
    let p = this.pieces[id];
    if (!p) {
      p = this.compute(id, type);
      this.pieces[id] = p;
    }
    return p;
  }

  private compute(id: number, type: number): Uint8Array {
    const text = this.vocab.tokens[id]!;
    if (type === TokenType.Control || type === TokenType.Unknown || type === TokenType.UserDefined) return utf8Bytes(text);
    if (this.vocab.kind === "spm") {
      if (type === TokenType.Normal) return utf8Bytes(text.replace(ESCAPED_SPACE, " "));
      if (type === TokenType.Byte) return Uint8Array.of(parseInt(text.slice(3, 5), 16));
      return EMPTY; // unused / undefined tokens render as nothing, like control tokens
    }
    if (type !== TokenType.Normal) return EMPTY;
    // byte-level BPE: each character of the token is one byte (llama_decode_text)
    const bytes: number[] = [];
    for (const ch of text) {
      const cp = ch.codePointAt(0)!;
      const b = cp < 512 ? CHAR_TO_BYTE[cp]! : -1;
      if (b >= 0) {
        bytes.push(b);
        continue;
      }
      // not in the byte alphabet: llama.cpp writes a marker with the character's bytes and the token text
      const hex = [...utf8Bytes(ch)].map((x) => x.toString(16).padStart(2, "0")).join("");
      bytes.push(...utf8Bytes(`[UNK_BYTE_0x${hex}${text}]`));
    }
    return Uint8Array.from(bytes);
  }
}

export interface DetokenizeOptions {
  /** Render control/unknown tokens as their text (llama.cpp's unparse_special). Default false. */
  readonly special?: boolean;
  /** Drop a leading BOS / trailing EOS the model adds (llama.cpp's remove_special). Default false. */
  readonly removeSpecial?: boolean;
}

/** llama.cpp's llama_detokenize, as a string (invalid UTF-8 becomes U+FFFD). */
export function detokenize(vocab: Vocab, pieces: PieceTable, ids: readonly number[], opts: DetokenizeOptions = {}): string {
  const special = opts.special ?? false;
  let from = 0;
  let to = ids.length;
  // SPM: the space the encoder added in front of the text is removed again
  let removeSpace = vocab.addSpacePrefix;
  if (opts.removeSpecial && vocab.addBos && to > 0 && ids[0] === vocab.special.bos) {
    removeSpace = false;
    from++;
  }
  if (opts.removeSpecial && vocab.addEos && to > from && ids[to - 1] === vocab.special.eos) to--;
  const parts: Uint8Array[] = [];
  let total = 0;
  for (let i = from; i < to; i++) {
    let p = pieces.piece(ids[i]!, special);
    if (removeSpace && p.length > 0 && p[0] === 0x20) p = p.subarray(1);
    removeSpace = false;
    parts.push(p);
    total += p.length;
  }
  let bytes: Uint8Array = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    bytes.set(p, o);
    o += p.length;
  }
  if (vocab.cleanSpaces) bytes = cleanSpaces(bytes);
  return new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
}

/** llama.cpp's three clean-up passes (clean_up_tokenization_spaces), on bytes like the original. */
function cleanSpaces(t: Uint8Array): Uint8Array {
  const SP = 0x20;
  const Q = 0x27;
  // 1: " ?", " !", " .", " ,"  ->  drop the space
  const a: number[] = [];
  for (let i = 0; i < t.length; i++) {
    const x = t[i]!;
    if (i > 0 && t[i - 1] === SP && (x === 0x3f || x === 0x21 || x === 0x2e || x === 0x2c)) a.pop();
    a.push(x);
  }
  // 2: " ' "  ->  "'" (a lone apostrophe between spaces)
  const b: number[] = [];
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    if (i > 0 && x === Q && i + 1 < a.length && a[i - 1] === SP && a[i + 1] === SP) {
      b.pop();
      b.push(x);
      i++; // skip the next space
      continue;
    }
    b.push(x);
  }
  // 3: " 's", " 'm", " 're", " 've"  ->  drop the space
  const c: number[] = [];
  for (let i = 0; i < b.length; i++) {
    const x = b[i]!;
    if (i > 0 && b[i - 1] === SP && x === Q && i + 1 < b.length) {
      const x1 = b[i + 1];
      if (x1 === 0x73 || x1 === 0x6d) c.pop();
      else if (i + 2 < b.length) {
        const x2 = b[i + 2];
        if ((x1 === 0x72 && x2 === 0x65) || (x1 === 0x76 && x2 === 0x65)) c.pop();
      }
    }
    c.push(x);
  }
  return Uint8Array.from(c);
}

/**
 * Turns a stream of token ids into text deltas that are always whole characters: bytes of an
 * unfinished UTF-8 sequence are held back until the sequence completes (or proves invalid, then it
 * becomes U+FFFD like any invalid UTF-8). `flush()` returns what is left at the end of generation.
 * No clean-up of spaces and no removal of the SPM leading space happen here: the deltas are the
 * token pieces, as llama.cpp's generation loop prints them.
 */
export class StreamingDecoder {
  // ignoreBOM: a U+FEFF the model generates is text like any other, not a byte-order mark to drop.
  private readonly decoder = new TextDecoder("utf-8", { ignoreBOM: true });

  constructor(
    private readonly pieces: PieceTable,
    private readonly special = false,
  ) {}

  /** Text completed by this token ("" while a multi-byte character is still incomplete). */
  push(id: number): string {
    return this.decoder.decode(this.pieces.piece(id, this.special), { stream: true });
  }

  /** Whatever is held back (an incomplete sequence comes out as U+FFFD); the decoder is reset. */
  flush(): string {
    return this.decoder.decode();
  }
}
