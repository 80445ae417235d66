// Special-token partition (llama.cpp's tokenizer_st_partition): before any tokenisation the text is
// cut at occurrences of special tokens, longest token text first. Control and unknown tokens are
// only recognised when parsing specials is asked for; user-defined tokens always are (as in HF
// tokenizers' added tokens). The pieces between them are tokenised as plain text.

import { TokenType, type Vocab } from "./vocab.ts";

/** A raw-text fragment, or a token id found in the text. */
export type Fragment = string | number;

export function partitionSpecial(text: string, vocab: Vocab, parseSpecial: boolean): Fragment[] {
  let frags: Fragment[] = text.length > 0 ? [text] : [];
  for (const id of vocab.specialTokens) {
    const type = vocab.types[id];
    if (!parseSpecial && (type === TokenType.Control || type === TokenType.Unknown)) continue;
    const tokText = vocab.tokens[id]!;
    // cheap test first: most special tokens occur nowhere
    if (!frags.some((f) => typeof f === "string" && f.includes(tokText))) continue;
    const next: Fragment[] = [];
    for (const f of frags) {
      if (typeof f !== "string") {
        next.push(f);
        continue;
      }
      let from = 0;
      for (let at = f.indexOf(tokText); at >= 0; at = f.indexOf(tokText, from)) {
        if (at > from) next.push(f.slice(from, at));
        next.push(id);
        from = at + tokText.length;
      }
      if (from < f.length) next.push(f.slice(from));
    }
    frags = next;
  }
  return frags;
}
