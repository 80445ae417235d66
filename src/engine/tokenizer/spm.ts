// SentencePiece-style tokenisation as llama.cpp's llm_tokenizer_spm_session: the text (spaces already
// escaped to U+2581 by the caller) is split into code points, then adjacent symbols are merged
// highest token score first (leftmost on ties) as long as the merged text is a token; symbols that
// are not tokens come out as byte tokens <0xXX>. llama.cpp merges by token score alone (no merge
// list), which HF `tokenizers` cannot express: this is a transcription.

import { Heap } from "./heap.ts";
import { utf8Bytes } from "./unicode.ts";
import type { Vocab } from "./vocab.ts";

interface Bigram {
  left: number;
  right: number;
  score: number;
  size: number;
}

const bigramBefore = (a: Bigram, b: Bigram) => a.score > b.score || (a.score === b.score && a.left < b.left);

const HEX = "0123456789ABCDEF";

export class SpmEncoder {
  private readonly byteIds: Int32Array;

  constructor(private readonly vocab: Vocab) {
    // byte_to_token: "<0xXX>", else the byte as a one-character token, else unknown
    this.byteIds = new Int32Array(256);
    for (let b = 0; b < 256; b++) {
      const id = vocab.tokenToId.get(`<0x${HEX[b >> 4]}${HEX[b & 15]}>`) ?? (b < 0x80 ? vocab.tokenToId.get(String.fromCharCode(b)) : undefined);
      this.byteIds[b] = id ?? vocab.special.unk;
    }
  }

  /** Appends the tokens of `text` (already space-escaped) to `out`. */
  encode(text: string, out: number[]): void {
    const { tokenToId, scores } = this.vocab;
    // symbols are code points (surrogate pairs stay together), as [start, len) in UTF-16 units
    const start: number[] = [];
    const len: number[] = [];
    for (let i = 0; i < text.length; ) {
      const w = text.codePointAt(i)! > 0xffff ? 2 : 1;
      start.push(i);
      len.push(w);
      i += w;
    }
    const n = start.length;
    if (n === 0) return;
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    const queue = new Heap<Bigram>(bigramBefore);
    const tryAdd = (l: number, r: number) => {
      if (l < 0 || r < 0) return;
      const size = len[l]! + len[r]!;
      const id = tokenToId.get(text.substr(start[l]!, size));
      if (id === undefined) return;
      queue.push({ left: l, right: r, score: scores[id]!, size });
    };
    for (let i = 1; i < n; i++) tryAdd(i - 1, i);
    for (let bg = queue.pop(); bg; bg = queue.pop()) {
      const l = bg.left;
      const r = bg.right;
      if (len[l] === 0 || len[r] === 0 || len[l]! + len[r]! !== bg.size) continue;
      len[l] = len[l]! + len[r]!;
      len[r] = 0;
      next[l] = next[r]!;
      if (next[r]! >= 0) prev[next[r]!] = l;
      tryAdd(prev[l]!, l);
      tryAdd(l, next[l]!);
    }
    for (let i = 0; i !== -1; i = next[i]!) {
      const s = text.substr(start[i]!, len[i]!);
      const id = tokenToId.get(s);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      for (const b of utf8Bytes(s)) out.push(this.byteIds[b]!);
    }
  }
}
