// Byte-level BPE as llama.cpp's llm_tokenizer_bpe_session: pre-tokenise, write each word's UTF-8
// bytes in the GPT-2 byte alphabet, then merge adjacent symbols lowest merge rank first (leftmost on
// ties). With ignore_merges (llama-bpe), a word that is itself a token is emitted whole without
// merging; a merge result missing from the vocabulary falls back to single-character tokens.
// HF `tokenizers` would give the same merges, but not llama.cpp's pre-tokeniser quirks or its
// fallbacks, and only through an async API: this is the synchronous transcription.

import { Heap } from "./heap.ts";
import { splitWords } from "./pretokenize.ts";
import { byteEncode } from "./unicode.ts";
import type { Vocab } from "./vocab.ts";

interface Bigram {
  left: number;
  right: number;
  text: string;
  rank: number;
}

const bigramBefore = (a: Bigram, b: Bigram) => a.rank < b.rank || (a.rank === b.rank && a.left < b.left);

/** Words seen recently and their ids: the merge loop is deterministic, so caching is exact. */
const CACHE_LIMIT = 50_000;

export class BpeEncoder {
  private cache = new Map<string, readonly number[]>();

  constructor(private readonly vocab: Vocab) {}

  /** Appends the tokens of a raw-text fragment (no special tokens inside) to `out`. */
  encode(text: string, out: number[]): void {
    for (const word of splitWords(text, this.vocab.preTokenizer.exprs)) {
      const encoded = byteEncode(word);
      let ids = this.cache.get(encoded);
      if (!ids) {
        ids = this.encodeWord(encoded);
        if (this.cache.size >= CACHE_LIMIT) this.cache = new Map();
        this.cache.set(encoded, ids);
      }
      for (const id of ids) out.push(id);
    }
  }

  /** One byte-encoded word (every character is one symbol of the byte alphabet). */
  private encodeWord(word: string): number[] {
    const { tokenToId, mergeRanks, ignoreMerges } = this.vocab;
    if (ignoreMerges) {
      const id = tokenToId.get(word);
      if (id !== undefined) return [id];
    }
    const n = word.length;
    if (n === 1) {
      const id = tokenToId.get(word);
      return id !== undefined ? [id] : this.fallback(word);
    }
    // symbols as [start, len) in `word`, linked by prev/next; len 0 = merged away
    const start = new Int32Array(n);
    const len = new Int32Array(n);
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      start[i] = i;
      len[i] = 1;
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    const sym = (i: number) => word.substr(start[i]!, len[i]!);
    const queue = new Heap<Bigram>(bigramBefore);
    const addBigram = (l: number, r: number) => {
      if (l < 0 || r < 0) return;
      const a = sym(l);
      const b = sym(r);
      const rank = mergeRanks.get(a + " " + b);
      if (rank === undefined) return;
      queue.push({ left: l, right: r, text: a + b, rank });
    };
    for (let i = 1; i < n; i++) addBigram(i - 1, i);
    for (let bg = queue.pop(); bg; bg = queue.pop()) {
      const l = bg.left;
      const r = bg.right;
      if (len[l] === 0 || len[r] === 0) continue;
      if (sym(l) + sym(r) !== bg.text) continue; // outdated
      len[l] = len[l]! + len[r]!;
      len[r] = 0;
      next[l] = next[r]!;
      if (next[r]! >= 0) prev[next[r]!] = l;
      addBigram(prev[l]!, l);
      addBigram(l, next[l]!);
    }
    const ids: number[] = [];
    for (let i = 0; i !== -1; i = next[i]!) {
      const s = sym(i);
      const id = tokenToId.get(s);
      if (id !== undefined) ids.push(id);
      else ids.push(...this.fallback(s));
    }
    return ids;
  }

  /**
   * llama.cpp looks up each byte of the symbol's UTF-8 text as a one-byte token and drops the
   * bytes that are not tokens: only ASCII characters of the byte alphabet can match.
   */
  private fallback(s: string): number[] {
    const ids: number[] = [];
    for (const ch of s) {
      if (ch.charCodeAt(0) >= 0x80) continue;
      const id = this.vocab.tokenToId.get(ch);
      if (id !== undefined) ids.push(id);
    }
    return ids;
  }
}
