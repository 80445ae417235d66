// The vocabulary of a GGUF file as llama.cpp's llama_vocab::impl::load reads it: tokens, scores,
// token types, merges, special token ids, the add-BOS/EOS flags, and the text heuristics llama.cpp
// applies on top (EOT / FIM / end-of-generation tokens found by their text, and marked as control).
// Everything the encoders and the decoder need comes from here; nothing is guessed elsewhere.

import type { GgufFile } from "../gguf/file.ts";
import { preTokenizerFor, type PreTokenizerSpec } from "./pretokenize.ts";

/** tokenizer.ggml.token_type values (llama_token_type). */
export const TokenType = {
  Undefined: 0,
  Normal: 1,
  Unknown: 2,
  Control: 3,
  UserDefined: 4,
  Unused: 5,
  Byte: 6,
} as const;

export type VocabKind = "spm" | "bpe";

/** Token ids of the GGUF keys llama.cpp reads (tokenizer.ggml.<name>_token_id); -1 = none. */
const SPECIAL_KEYS = {
  bos: "bos_token_id",
  eos: "eos_token_id",
  eot: "eot_token_id",
  eom: "eom_token_id",
  unk: "unknown_token_id",
  sep: "seperator_token_id", // sic: llama.cpp's key is spelled this way
  pad: "padding_token_id",
  mask: "mask_token_id",
  fimPre: "fim_pre_token_id",
  fimSuf: "fim_suf_token_id",
  fimMid: "fim_mid_token_id",
  fimPad: "fim_pad_token_id",
  fimRep: "fim_rep_token_id",
  fimSep: "fim_sep_token_id",
} as const;
// deprecated spellings llama.cpp still accepts (read after the current ones, as llama.cpp does)
const DEPRECATED_KEYS: readonly [keyof typeof SPECIAL_KEYS, string][] = [
  ["fimPre", "prefix_token_id"],
  ["fimSuf", "suffix_token_id"],
  ["fimMid", "middle_token_id"],
];

export type SpecialIds = { -readonly [K in keyof typeof SPECIAL_KEYS]: number };

// Texts llama.cpp (the version node-llama-cpp 3.21 bundles) recognises when a key is missing
// (llama-vocab.cpp, "auto-detect special tokens by text"). llama.cpp walks an unordered_map, so with
// several candidates its pick is hash order; we take the first in list order (for Llama-3:
// <|eot_id|>, for Qwen: <|im_end|>, which is what llama.cpp reports for both).
const EOT_TEXTS = [
  "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<end_of_utterance>",
];
const EOM_TEXTS = ["<|eom_id|>"];
const FIM_TEXTS: Partial<Record<keyof SpecialIds, string[]>> = {
  fimPre: ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<PRE>", "<|code_prefix|>", "<|prefix|>"],
  fimSuf: ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<SUF>", "<|code_suffix|>", "<|suffix|>"],
  fimMid: ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<MID>", "<|code_middle|>", "<|middle|>"],
  fimPad: ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"],
  fimRep: ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"],
  fimSep: ["<|file_sep|>"],
};
// Every token with one of these texts ends generation and becomes a control token. Note "</s>":
// a plain-text token in Qwen's vocabulary, which llama.cpp therefore treats as special.
const EOG_TEXTS = [
  "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>",
  "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
];
// gpt-oss: llama.cpp always renders these as text (user-defined)
const ALWAYS_USER_DEFINED = ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"];

export class Vocab {
  readonly kind: VocabKind;
  readonly model: string;
  /** tokenizer.ggml.pre as written (undefined when absent). */
  readonly pre: string | undefined;
  readonly preTokenizer: PreTokenizerSpec;
  readonly tokens: readonly string[];
  readonly tokenToId: Map<string, number>;
  /** SPM scores (0 when the file has none). */
  readonly scores: Float64Array;
  /** Token types after llama.cpp's text heuristics (EOT/FIM/EOG texts become Control). */
  readonly types: Uint8Array;
  /** BPE merge ranks, keyed by the merge text "left right". */
  readonly mergeRanks: Map<string, number>;
  readonly special: SpecialIds;
  readonly eog: ReadonlySet<number>;
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly addSpacePrefix: boolean;
  readonly ignoreMerges: boolean;
  /** llama.cpp's clean_spaces (clean_up_tokenization_spaces) applied by detokenize. */
  readonly cleanSpaces: boolean;
  /** Control, user-defined and unknown tokens, longest text first: llama.cpp's cache_special_tokens. */
  readonly specialTokens: readonly number[];

  // Over 80 lines on purpose: the same steps, in the same order, as llama.cpp's
  // llama_vocab::impl::load (model type, pre-tokenizer flags, special ids, then the per-token
  // attributes), so a difference can be found by reading the two side by side.
  constructor(file: GgufFile) {
    const where = file.path;
    this.model = file.getString("tokenizer.ggml.model");
    this.pre = file.optString("tokenizer.ggml.pre");
    const special: SpecialIds = {
      bos: -1, eos: -1, eot: -1, eom: -1, unk: -1, sep: -1, pad: -1, mask: -1,
      fimPre: -1, fimSuf: -1, fimMid: -1, fimPad: -1, fimRep: -1, fimSep: -1,
    };
    let addBos = false;
    let addEos = false;
    let addSpacePrefix = false;
    let cleanSpaces = false;
    let ignoreMerges = false;
    if (this.model === "llama") {
      this.kind = "spm";
      Object.assign(special, { bos: 1, eos: 2, unk: 0 });
      addBos = true;
      addSpacePrefix = true;
      this.preTokenizer = preTokenizerFor("default"); // unused by SPM
    } else if (this.model === "gpt2") {
      this.kind = "bpe";
      Object.assign(special, { bos: 11, eos: 11 }); // llama.cpp's defaults for gpt2 vocabularies
      cleanSpaces = true;
      this.preTokenizer = preTokenizerFor(this.pre ?? "default");
      if (this.preTokenizer.cleanSpaces === false) cleanSpaces = false;
      ignoreMerges = this.preTokenizer.ignoreMerges;
      addBos = this.preTokenizer.addBos;
      if (this.preTokenizer.noBos) special.bos = -1;
    } else {
      throw new Error(`${where}: tokenizer model "${this.model}" is not supported (supported: "llama" = SentencePiece, "gpt2" = byte-level BPE)`);
    }

    const tokens = [...file.getStringArray("tokenizer.ggml.tokens")];
    const n = tokens.length;
    const scores = file.optNumberArray("tokenizer.ggml.scores");
    const types = file.optNumberArray("tokenizer.ggml.token_type");
    this.scores = new Float64Array(n);
    this.types = new Uint8Array(n).fill(TokenType.Normal);
    this.tokenToId = new Map();
    for (let i = 0; i < n; i++) {
      if (tokens[i] === "") tokens[i] = `[EMPTY_${i}]`; // as llama.cpp does
      this.tokenToId.set(tokens[i]!, i); // a duplicate text maps to its last id, as in llama.cpp
      if (scores) this.scores[i] = scores[i] ?? 0;
      if (types) {
        const t = types[i] ?? 0;
        this.types[i] = t >= 1 && t <= 6 ? t : TokenType.Undefined;
      }
    }
    this.tokens = tokens;

    this.mergeRanks = new Map();
    if (this.kind === "bpe") {
      const merges = file.optStringArray("tokenizer.ggml.merges");
      if (!merges) throw new Error(`${where}: gpt2 tokenizer without tokenizer.ggml.merges`);
      for (let i = 0; i < merges.length; i++) {
        const m = merges[i]!;
        // llama.cpp splits at the first space after the first character; a merge without one
        // becomes the pair ("", "") which can never match
        if (m.indexOf(" ", 1) < 0) continue;
        if (!this.mergeRanks.has(m)) this.mergeRanks.set(m, i); // emplace keeps the first rank
      }
    }

    for (const [name, key] of Object.entries(SPECIAL_KEYS) as [keyof SpecialIds, string][]) {
      readId(file, `tokenizer.ggml.${key}`, n, (id) => (special[name] = id));
    }
    for (const [name, key] of DEPRECATED_KEYS) readId(file, `tokenizer.ggml.${key}`, n, (id) => (special[name] = id));
    addBos = file.optBoolean("tokenizer.ggml.add_bos_token") ?? addBos;
    addEos = file.optBoolean("tokenizer.ggml.add_eos_token") ?? addEos;
    addSpacePrefix = file.optBoolean("tokenizer.ggml.add_space_prefix") ?? addSpacePrefix;

    // text heuristics (llama.cpp: "auto-detect special tokens by text"); found tokens become control
    const markControl = (id: number) => {
      this.types[id] = TokenType.Control;
    };
    const findFirst = (texts: readonly string[]) => {
      for (const t of texts) {
        const id = this.tokenToId.get(t);
        if (id !== undefined) return id;
      }
      return -1;
    };
    const detect = (name: keyof SpecialIds, texts: readonly string[]) => {
      if (special[name] !== -1) return;
      const id = findFirst(texts);
      if (id >= 0) {
        special[name] = id;
        markControl(id);
      }
    };
    detect("eot", EOT_TEXTS);
    detect("eom", EOM_TEXTS);
    for (const [name, texts] of Object.entries(FIM_TEXTS) as [keyof SpecialIds, string[]][]) detect(name, texts);

    const eog = new Set<number>();
    for (const id of [special.fimPad, special.fimRep, special.fimSep]) if (id >= 0) eog.add(id);
    for (const t of EOG_TEXTS) {
      const id = this.tokenToId.get(t);
      if (id !== undefined) {
        eog.add(id);
        markControl(id);
      }
    }
    for (const t of ALWAYS_USER_DEFINED) {
      const id = this.tokenToId.get(t);
      if (id !== undefined) this.types[id] = TokenType.UserDefined;
    }
    for (const id of [special.eos, special.eot, special.eom]) if (id >= 0) eog.add(id);
    const eogWith = (text: string) => [...eog].find((id) => tokens[id] === text);
    // o200k_harmony / solar-open: "<|end|>" is not the end there
    const end = eogWith("<|end|>");
    const hasCall = eogWith("<|call|>") !== undefined || eogWith("<|calls|>") !== undefined;
    const hasReturn = eogWith("<|return|>") !== undefined;
    const hasFlush = eogWith("<|flush|>") !== undefined;
    if (end !== undefined && hasCall && (hasReturn || hasFlush)) {
      eog.delete(end);
      this.types[end] = TokenType.UserDefined;
    }
    // gemma4 / paddleocr: "</s>" is text when "<|tool_response>" exists
    const s = eogWith("</s>");
    if (s !== undefined && eogWith("<|tool_response>") !== undefined) {
      eog.delete(s);
      this.types[s] = TokenType.Normal;
    }
    this.eog = eog;

    const sp: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = this.types[i];
      if (t === TokenType.Control || t === TokenType.UserDefined || t === TokenType.Unknown) sp.push(i);
    }
    // llama.cpp sorts by text length (bytes), longest first; ties (unordered in std::sort) by id
    const byteLen = (s: string) => Buffer.byteLength(s, "utf8");
    const lens = new Map(sp.map((id) => [id, byteLen(tokens[id]!)]));
    sp.sort((a, b) => lens.get(b)! - lens.get(a)! || a - b);
    this.specialTokens = sp;

    this.special = special;
    this.addBos = addBos;
    this.addEos = addEos;
    this.addSpacePrefix = addSpacePrefix;
    this.cleanSpaces = cleanSpaces;
    this.ignoreMerges = ignoreMerges;
  }

  get size(): number {
    return this.tokens.length;
  }
}

function readId(file: GgufFile, key: string, n: number, set: (id: number) => void): void {
  const v = file.optNumber(key);
  if (v === undefined) return;
  // llama.cpp reads a u32 and ignores ids beyond the vocabulary (keeping the default)
  if (Number.isInteger(v) && v >= 0 && v < n) set(v);
}
