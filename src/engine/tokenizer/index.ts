// The tokenizer of a GGUF model, built from its tokenizer.ggml.* keys and equal to llama.cpp's:
//   encode(text, { addSpecial, parseSpecial })  ==  llama_tokenize(vocab, text, add_special, parse_special)
//   decode(ids, { special })                    ==  llama_detokenize(vocab, ids, remove_special=false, unparse_special)
// Supported: tokenizer.ggml.model "llama" (SentencePiece with scores and byte fallback) and "gpt2"
// (byte-level BPE with the pre-tokenizers of pretokenize.ts). Anything else is a clear error.

import type { GgufFile } from "../gguf/file.ts";
import { BpeEncoder } from "./bpe.ts";
import { PieceTable, StreamingDecoder, detokenize, type DetokenizeOptions } from "./decoder.ts";
import { partitionSpecial } from "./special.ts";
import { SpmEncoder } from "./spm.ts";
import { TokenType, Vocab } from "./vocab.ts";

export { StreamingDecoder } from "./decoder.ts";
export type { DetokenizeOptions } from "./decoder.ts";
export { TokenType, Vocab } from "./vocab.ts";
export { preTokenizerFor, splitWords } from "./pretokenize.ts";

export interface EncodeOptions {
  /** Add BOS/EOS as the model asks (tokenizer.ggml.add_bos_token / add_eos_token). Default true. */
  readonly addSpecial?: boolean;
  /** Recognise control tokens written in the text, e.g. "<|im_start|>". Default false. */
  readonly parseSpecial?: boolean;
}

// Lone surrogates cannot be UTF-8: llama.cpp receives U+FFFD for them (node's UTF-8 conversion).
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export class Tokenizer {
  readonly vocab: Vocab;
  private readonly bpe?: BpeEncoder;
  private readonly spm?: SpmEncoder;
  private readonly pieces: PieceTable;

  constructor(vocab: Vocab) {
    this.vocab = vocab;
    if (vocab.kind === "bpe") this.bpe = new BpeEncoder(vocab);
    else this.spm = new SpmEncoder(vocab);
    this.pieces = new PieceTable(vocab);
  }

  static fromGguf(file: GgufFile): Tokenizer {
    return new Tokenizer(new Vocab(file));
  }

  get vocabSize(): number {
    return this.vocab.size;
  }
  /** Token ids, or -1 when the model has none. */
  get bos(): number {
    return this.vocab.special.bos;
  }
  get eos(): number {
    return this.vocab.special.eos;
  }
  get eot(): number {
    return this.vocab.special.eot;
  }
  get pad(): number {
    return this.vocab.special.pad;
  }
  get addBos(): boolean {
    return this.vocab.addBos;
  }
  get addEos(): boolean {
    return this.vocab.addEos;
  }
  /** End of generation: EOS, EOT, EOM, FIM pad/repo/sep and the end-of-turn texts llama.cpp knows. */
  isEog(id: number): boolean {
    return this.vocab.eog.has(id);
  }
  /** The token's text as stored in the vocabulary (byte-level BPE tokens in their byte alphabet). */
  tokenText(id: number): string {
    const t = this.vocab.tokens[id];
    if (t === undefined) throw new RangeError(`token id ${id} is outside the vocabulary (${this.vocab.size} tokens)`);
    return t;
  }
  /** Id of a token by its exact text, e.g. "<|im_start|>" (undefined if none). */
  tokenId(text: string): number | undefined {
    return this.vocab.tokenToId.get(text);
  }
  isControl(id: number): boolean {
    return this.vocab.types[id] === TokenType.Control;
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const addSpecial = opts.addSpecial ?? true;
    const parseSpecial = opts.parseSpecial ?? false;
    const v = this.vocab;
    const out: number[] = [];
    const frags = partitionSpecial(text.replace(LONE_SURROGATE, "\uFFFD"), v, parseSpecial);
    if (addSpecial && v.addBos) {
      if (v.special.bos < 0) throw new Error("the model asks for a BOS token but has none");
      out.push(v.special.bos);
    }
    if (this.spm) {
      // a space goes in front of the text and of any text right after a special token
      let prevSpecial = true;
      for (const f of frags) {
        if (typeof f === "number") {
          out.push(f);
          prevSpecial = true;
          continue;
        }
        const t = (v.addSpacePrefix && prevSpecial ? " " : "") + f;
        this.spm.encode(t.replace(/ /g, "\u2581"), out);
        prevSpecial = false;
      }
    } else {
      for (const f of frags) {
        if (typeof f === "number") out.push(f);
        else this.bpe!.encode(f, out);
      }
    }
    if (addSpecial && v.addEos) {
      if (v.special.eos < 0) throw new Error("the model asks for an EOS token but has none");
      out.push(v.special.eos);
    }
    return out;
  }

  /** The whole sequence as text (llama.cpp's detokenize, with its clean-up of spaces where the model asks). */
  decode(ids: readonly number[], opts: DetokenizeOptions = {}): string {
    return detokenize(this.vocab, this.pieces, ids, opts);
  }

  /** The bytes one token stands for (control tokens: empty unless `special`). */
  tokenBytes(id: number, special = false): Uint8Array {
    return this.pieces.piece(id, special);
  }

  /** A decoder for a stream of generated ids that yields only whole characters. */
  streamingDecoder(opts: { special?: boolean } = {}): StreamingDecoder {
    return new StreamingDecoder(this.pieces, opts.special ?? false);
  }
}
