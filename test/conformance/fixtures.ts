// Tiny GGUF models of every supported architecture and weight type, for the conformance tests
// (our engine vs llama.cpp on the same file). Each file is what llama.cpp's converter plus
// llama-quantize would write for that architecture — the same metadata keys, tensor names and
// shapes (llama-model.cpp `load_tensors`), a real tokenizer — only small:
//
//   arch     layers  n_embd  heads/kv  head_dim  n_ff  vocab  extras
//   llama    2       256     4/2       64        512   370    SPM vocab (byte fallback), output.weight
//   qwen2    2       256     4/2       64        512   327    gpt2 BPE (pre "qwen2"), q/k/v biases
//   qwen3    2       256     4/2       128       512   327    key/value_length 128 (q is 512 wide ≠ n_embd), q/k norms
//   smollm3  4       256     4/2       64        512   324    gpt2 BPE (pre "smaug-bpe"), tied output, layer 3 NoPE
//
// (qwen2 must keep n_head·head_dim = n_embd: llama.cpp creates its attn_q as {n_embd, n_embd}.)
//
// Every row length is a multiple of 256 so every K-quant applies. 1-D tensors (norms, biases)
// stay F32 as llama-quantize leaves them; 2-D weights take the requested type, or llama.cpp's
// Q4_K_M mix (see `tensorType`). Float weights depend only on (arch, seed, tensor name), so the
// F32 and quantised files of one arch and seed hold the same model.
//
// Files are cached under os.tmpdir()/hearth-conformance-fixtures/<hash of the generator's source
// files>/, written atomically; bytes are deterministic (seeded PRNG, no clocks, fixed order).

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { arr, bool, buildGguf, f32, str, u32, type GgufTensorInput } from "../reference/gguf-writer.ts";
import { GgufValueType, type GgufTypedValue } from "../../src/engine/gguf/types.ts";
import { quantizeTensor } from "../reference/quant/quantize.ts";
import { GgmlType } from "../../src/engine/quant/types.ts";
import { gaussianArray } from "../helpers/random.ts";
import { BYTE_LEVEL_ORDER, BYTE_TO_CHAR } from "../../src/engine/tokenizer/unicode.ts";

export type FixtureArch = "llama" | "smollm3" | "qwen2" | "qwen3";
export type FixtureWeights = "F32" | "F16" | "BF16" | "Q8_0" | "Q4_0" | "Q4_K" | "Q5_K" | "Q6_K" | "Q4_K_M";

export const FIXTURE_ARCHS: readonly FixtureArch[] = ["llama", "smollm3", "qwen2", "qwen3"];
export const FIXTURE_WEIGHTS: readonly FixtureWeights[] = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_K", "Q5_K", "Q6_K", "Q4_K_M"];

export interface FixtureOptions {
  readonly arch: FixtureArch;
  readonly weights: FixtureWeights;
  /** Seed of the float weights (default 1). */
  readonly seed?: number;
}

export interface FixtureHparams {
  readonly nLayer: number;
  readonly nEmbd: number;
  readonly nHead: number;
  readonly nHeadKv: number;
  /** Per-head size of K and Q (and V): `attention.key_length` when written, else n_embd / n_head. */
  readonly headDim: number;
  readonly nFf: number;
  readonly nVocab: number;
  readonly contextLength: number;
  readonly ropeFreqBase: number;
  readonly rmsEps: number;
  /** Whether output.weight is absent (logits from token_embd). */
  readonly tiedOutput: boolean;
  /** Layers without RoPE in llama.cpp (smollm3: (i + 1) % 4 == 0; not a GGUF key). */
  readonly noRopeLayers: readonly number[];
}

export interface FixtureVocab {
  readonly model: "llama" | "gpt2";
  readonly pre: string;
  readonly tokens: readonly string[];
  readonly bosId: number;
  readonly eosId: number;
  readonly addBos: boolean;
  /** Ids of control tokens by text (`<s>`, `<|im_end|>`, …). */
  readonly special: Readonly<Record<string, number>>;
  /** A few texts that exercise the vocabulary (merges, byte fallback, specials). */
  readonly sampleTexts: readonly string[];
}

export interface FixtureTensorInfo {
  readonly name: string;
  readonly type: GgmlType;
  readonly dims: readonly number[];
}

export interface ModelFixtureInfo {
  readonly arch: FixtureArch;
  readonly weights: FixtureWeights;
  readonly seed: number;
  readonly hparams: FixtureHparams;
  readonly vocab: FixtureVocab;
  readonly tensors: readonly FixtureTensorInfo[];
  /** A short prompt of token ids (BOS first when the model adds one) with a clear top-1 next token. */
  readonly promptIds: readonly number[];
}

export interface ModelFixture extends ModelFixtureInfo {
  readonly path: string;
  /** sha256 (hex) of the file's bytes. */
  readonly sha256: string;
}

// ---------------------------------------------------------------------------------------------
// Shapes per architecture

interface ArchSpec {
  readonly nLayer: number;
  readonly headDim: number;
  /** Written as attention.key_length / value_length (qwen3 only: head_dim ≠ n_embd / n_head). */
  readonly explicitHeadDim: boolean;
  readonly ropeFreqBase: number;
  readonly rmsEps: number;
  readonly tied: boolean;
  readonly qkvBias: boolean;
  readonly qkNorm: boolean;
  readonly tokenizer: "spm" | "bpe";
  readonly pre: string;
}

const N_EMBD = 256;
const N_HEAD = 4;
const N_HEAD_KV = 2;
const N_FF = 512;
const CONTEXT_LENGTH = 2048;

const ARCH: Record<FixtureArch, ArchSpec> = {
  llama: { nLayer: 2, headDim: 64, explicitHeadDim: false, ropeFreqBase: 10000, rmsEps: 1e-5, tied: false, qkvBias: false, qkNorm: false, tokenizer: "spm", pre: "default" },
  qwen2: { nLayer: 2, headDim: 64, explicitHeadDim: false, ropeFreqBase: 1000000, rmsEps: 1e-6, tied: false, qkvBias: true, qkNorm: false, tokenizer: "bpe", pre: "qwen2" },
  qwen3: { nLayer: 2, headDim: 128, explicitHeadDim: true, ropeFreqBase: 1000000, rmsEps: 1e-6, tied: false, qkvBias: false, qkNorm: true, tokenizer: "bpe", pre: "qwen2" },
  // 4 layers so that layer 3 is a NoPE layer (llama.cpp: n_no_rope_layer_step = 4).
  smollm3: { nLayer: 4, headDim: 64, explicitHeadDim: false, ropeFreqBase: 5000000, rmsEps: 1e-6, tied: true, qkvBias: false, qkNorm: false, tokenizer: "bpe", pre: "smaug-bpe" },
};

/** llama.cpp's `LLAMA_FTYPE_*` per weight choice (general.file_type). */
const FILE_TYPE: Record<FixtureWeights, number> = {
  F32: 0, F16: 1, Q4_0: 2, Q8_0: 7, Q4_K: 14 /* Q4_K_S */, Q4_K_M: 15, Q5_K: 16 /* Q5_K_S */, Q6_K: 18, BF16: 32,
};

const PLAIN_TYPE: Record<Exclude<FixtureWeights, "Q4_K_M">, GgmlType> = {
  F32: GgmlType.F32, F16: GgmlType.F16, BF16: GgmlType.BF16, Q8_0: GgmlType.Q8_0, Q4_0: GgmlType.Q4_0,
  Q4_K: GgmlType.Q4_K, Q5_K: GgmlType.Q5_K, Q6_K: GgmlType.Q6_K,
};

/** llama.cpp's `use_more_bits` (llama-quant.cpp): the layers Q4_K_M gives Q6_K attn_v / ffn_down. */
function useMoreBits(i: number, n: number): boolean {
  const e = Math.floor(n / 8);
  return i < e || i >= Math.floor((7 * n) / 8) || (i - e) % 3 === 2;
}

/**
 * The type of a 2-D weight. "Q4_K_M" follows llama-quantize's mix: output (or the tied
 * token_embd) Q6_K, attn_v and ffn_down Q6_K on `use_more_bits` layers, the rest Q4_K; plus, as
 * real small models get when rows are not multiples of 256, blk.0.attn_k in Q5_0 (Q4_K's
 * fallback) and blk.0.attn_v in Q8_0 (Q6_K's fallback).
 */
function tensorType(weights: FixtureWeights, name: string, spec: ArchSpec): GgmlType {
  if (weights !== "Q4_K_M") return PLAIN_TYPE[weights];
  if (name === "output.weight" || (spec.tied && name === "token_embd.weight")) return GgmlType.Q6_K;
  if (name === "blk.0.attn_k.weight") return GgmlType.Q5_0;
  if (name === "blk.0.attn_v.weight") return GgmlType.Q8_0;
  const m = /^blk\.(\d+)\.(attn_v|ffn_down)\.weight$/.exec(name);
  if (m && useMoreBits(Number(m[1]), spec.nLayer)) return GgmlType.Q6_K;
  return GgmlType.Q4_K;
}

// ---------------------------------------------------------------------------------------------
// Tokenizers: a deterministic BPE "training" on a small fixed corpus gives merges (gpt2 vocab)
// and word pieces with scores (SPM vocab), so both tokenizers do real multi-step merging.

const CORPUS = [
  "the quick brown fox jumps over the lazy dog. the dog sleeps in the sun and the fox runs on.",
  "function add(a, b) { return a + b; } const value = add(1, 2); if (value > 2) { console.log(value); }",
  "def main(): for i in range(10): print(i) return None",
  "import os from the string of the file, then return the result to the caller.",
  "Hello World! This is a test of the tokenizer: it is in the file and on the line.",
  "let x = 0; while (x < 10) { x += 1; } export default function test() { return x; }",
];
const N_MERGES = 64;

/** Splits the corpus into words (leading space kept) and maps each to its initial symbols. */
function corpusWords(toSymbols: (word: string) => string[]): Map<string, { symbols: string[]; count: number }> {
  const words = new Map<string, { symbols: string[]; count: number }>();
  for (const line of CORPUS) {
    for (const w of line.match(/ ?[A-Za-z]+| ?[0-9]| ?[^\sA-Za-z0-9]+/g) ?? []) {
      const e = words.get(w);
      if (e) e.count++;
      else words.set(w, { symbols: toSymbols(w), count: 1 });
    }
  }
  return words;
}

/** Greedy BPE training: most frequent adjacent pair, ties broken by the pair's text. */
function trainMerges(words: Map<string, { symbols: string[]; count: number }>, n: number): [string, string][] {
  const merges: [string, string][] = [];
  const seqs = [...words.values()].map((w) => ({ s: w.symbols.slice(), c: w.count }));
  for (let m = 0; m < n; m++) {
    const counts = new Map<string, number>();
    for (const { s, c } of seqs) {
      for (let i = 0; i + 1 < s.length; i++) {
        const k = s[i] + "\u0000" + s[i + 1];
        counts.set(k, (counts.get(k) ?? 0) + c);
      }
    }
    let best: string | undefined;
    let bestCount = 0;
    for (const [k, c] of counts) {
      if (c > bestCount || (c === bestCount && best !== undefined && k < best)) {
        best = k;
        bestCount = c;
      }
    }
    if (best === undefined || bestCount < 2) break;
    const [a, b] = best.split("\u0000") as [string, string];
    merges.push([a, b]);
    for (const seq of seqs) {
      const out: string[] = [];
      for (let i = 0; i < seq.s.length; i++) {
        if (i + 1 < seq.s.length && seq.s[i] === a && seq.s[i + 1] === b) {
          out.push(a + b);
          i++;
        } else out.push(seq.s[i]);
      }
      seq.s = out;
    }
  }
  return merges;
}

// llama.cpp token types (llama_token_type / gguf tokenizer.ggml.token_type).
const TT_NORMAL = 1;
const TT_UNKNOWN = 2;
const TT_CONTROL = 3;
const TT_BYTE = 6;

const SAMPLE_TEXTS = [
  "the quick brown fox",
  "function add(a, b) { return a + b; }",
  "Hello World!\n\tdef main():  print('héllo 🙂')",
];

interface BuiltVocab {
  vocab: FixtureVocab;
  metadata: [string, GgufTypedValue][];
}

function spmVocab(): BuiltVocab {
  const tokens: string[] = ["<unk>", "<s>", "</s>"];
  const scores: number[] = [0, 0, 0];
  const types: number[] = [TT_UNKNOWN, TT_CONTROL, TT_CONTROL];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    scores.push(0);
    types.push(TT_BYTE);
  }
  const words = corpusWords((w) => [...w.replace(/ /g, "\u2581")]);
  const chars = [...new Set([...words.values()].flatMap((e) => e.symbols))].sort();
  const seen = new Set(tokens);
  chars.forEach((c, i) => {
    seen.add(c);
    tokens.push(c);
    scores.push(-1000 - i);
    types.push(TT_NORMAL);
  });
  trainMerges(words, N_MERGES).forEach(([a, b], i) => {
    const piece = a + b;
    if (seen.has(piece)) return;
    seen.add(piece);
    tokens.push(piece);
    scores.push(-i);
    types.push(TT_NORMAL);
  });
  const vocab: FixtureVocab = {
    model: "llama", pre: "default", tokens, bosId: 1, eosId: 2, addBos: true,
    special: { "<unk>": 0, "<s>": 1, "</s>": 2 }, sampleTexts: SAMPLE_TEXTS,
  };
  return {
    vocab,
    metadata: [
      ["tokenizer.ggml.model", str("llama")],
      ["tokenizer.ggml.pre", str("default")],
      ["tokenizer.ggml.tokens", arr(GgufValueType.STRING, tokens)],
      ["tokenizer.ggml.scores", arr(GgufValueType.FLOAT32, scores)],
      ["tokenizer.ggml.token_type", arr(GgufValueType.INT32, types)],
      ["tokenizer.ggml.bos_token_id", u32(1)],
      ["tokenizer.ggml.eos_token_id", u32(2)],
      ["tokenizer.ggml.unknown_token_id", u32(0)],
      ["tokenizer.ggml.add_bos_token", bool(true)],
      ["tokenizer.ggml.add_eos_token", bool(false)],
    ],
  };
}

const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

function bpeVocab(arch: FixtureArch, pre: string): BuiltVocab {
  const tokens: string[] = BYTE_LEVEL_ORDER.map((b) => BYTE_TO_CHAR[b]);
  const types: number[] = tokens.map(() => TT_NORMAL);
  const encoder = new TextEncoder();
  const words = corpusWords((w) => [...encoder.encode(w)].map((b) => BYTE_TO_CHAR[b]));
  const merges = trainMerges(words, N_MERGES);
  const seen = new Set(tokens);
  for (const [a, b] of merges) {
    if (seen.has(a + b)) continue;
    seen.add(a + b);
    tokens.push(a + b);
    types.push(TT_NORMAL);
  }
  const specials =
    arch === "smollm3"
      ? ["<|begin_of_text|>", "<|end_of_text|>", "<|im_start|>", "<|im_end|>"]
      : ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>"];
  const special: Record<string, number> = {};
  for (const s of specials) {
    special[s] = tokens.length;
    tokens.push(s);
    types.push(TT_CONTROL);
  }
  // As the converters write them: Qwen's bos is <|endoftext|> (never added), eos <|im_end|>
  // (instruct models); SmolLM3's bos <|begin_of_text|> (not added), eos <|im_end|>.
  const bosId = arch === "smollm3" ? special["<|begin_of_text|>"] : special["<|endoftext|>"];
  const eosId = special["<|im_end|>"];
  const padId = arch === "smollm3" ? special["<|end_of_text|>"] : special["<|endoftext|>"];
  const vocab: FixtureVocab = { model: "gpt2", pre, tokens, bosId, eosId, addBos: false, special, sampleTexts: SAMPLE_TEXTS };
  return {
    vocab,
    metadata: [
      ["tokenizer.ggml.model", str("gpt2")],
      ["tokenizer.ggml.pre", str(pre)],
      ["tokenizer.ggml.tokens", arr(GgufValueType.STRING, tokens)],
      ["tokenizer.ggml.token_type", arr(GgufValueType.INT32, types)],
      ["tokenizer.ggml.merges", arr(GgufValueType.STRING, merges.map(([a, b]) => `${a} ${b}`))],
      ["tokenizer.ggml.bos_token_id", u32(bosId)],
      ["tokenizer.ggml.eos_token_id", u32(eosId)],
      ["tokenizer.ggml.padding_token_id", u32(padId)],
      ["tokenizer.ggml.add_bos_token", bool(false)],
      ["tokenizer.chat_template", str(CHATML_TEMPLATE)],
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Weights

/** FNV-1a of a string: a per-tensor seed independent of the order tensors are made in. */
function hashSeed(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

interface TensorPlan {
  readonly name: string;
  readonly dims: readonly number[];
  /** Values: mean + std·N(0,1). */
  readonly std: number;
  readonly mean: number;
}

function tensorPlans(spec: ArchSpec, nVocab: number): TensorPlan[] {
  const qDim = N_HEAD * spec.headDim;
  const kvDim = N_HEAD_KV * spec.headDim;
  // Projections: std 1/sqrt(row length) keeps activations O(1); embeddings (which are also the
  // output matrix when tied) 0.2, so logits have a std of ~3 and clear top-2 gaps.
  const proj = (name: string, rowLen: number, rows: number, gain = 1): TensorPlan => ({ name, dims: [rowLen, rows], std: gain / Math.sqrt(rowLen), mean: 0 });
  const norm = (name: string, n: number): TensorPlan => ({ name, dims: [n], std: 0.1, mean: 1 });
  const plans: TensorPlan[] = [{ name: "token_embd.weight", dims: [N_EMBD, nVocab], std: 0.2, mean: 0 }, norm("output_norm.weight", N_EMBD)];
  if (!spec.tied) plans.push({ name: "output.weight", dims: [N_EMBD, nVocab], std: 0.2, mean: 0 });
  for (let i = 0; i < spec.nLayer; i++) {
    const p = `blk.${i}.`;
    plans.push(norm(p + "attn_norm.weight", N_EMBD));
    plans.push(proj(p + "attn_q.weight", N_EMBD, qDim, 1.5));
    plans.push(proj(p + "attn_k.weight", N_EMBD, kvDim, 1.5));
    plans.push(proj(p + "attn_v.weight", N_EMBD, kvDim));
    if (spec.qkvBias) {
      plans.push({ name: p + "attn_q.bias", dims: [qDim], std: 0.2, mean: 0 });
      plans.push({ name: p + "attn_k.bias", dims: [kvDim], std: 0.2, mean: 0 });
      plans.push({ name: p + "attn_v.bias", dims: [kvDim], std: 0.2, mean: 0 });
    }
    if (spec.qkNorm) {
      plans.push(norm(p + "attn_q_norm.weight", spec.headDim));
      plans.push(norm(p + "attn_k_norm.weight", spec.headDim));
    }
    plans.push(proj(p + "attn_output.weight", qDim, N_EMBD));
    plans.push(norm(p + "ffn_norm.weight", N_EMBD));
    plans.push(proj(p + "ffn_gate.weight", N_EMBD, N_FF));
    plans.push(proj(p + "ffn_up.weight", N_EMBD, N_FF));
    plans.push(proj(p + "ffn_down.weight", N_FF, N_EMBD));
  }
  return plans;
}

function floatWeights(arch: FixtureArch, seed: number, plan: TensorPlan): Float32Array {
  const n = plan.dims.reduce((a, b) => a * b, 1);
  const x = gaussianArray(hashSeed(`${arch}/${seed}/${plan.name}`), n, plan.std);
  if (plan.mean !== 0) for (let i = 0; i < n; i++) x[i] = x[i] + plan.mean;
  return x;
}

// ---------------------------------------------------------------------------------------------
// Building and caching

export interface BuildOptions {
  /**
   * Reuse quantised tensors made earlier in this process for the same float data and type (keyed
   * by the sha256 of the float bytes). Default true: the K-quant reference quantisers are slow in
   * TypeScript, and "Q4_K_M" shares its tensors with the Q4_K and Q6_K fixtures. Pass false for a
   * from-scratch build.
   */
  readonly reuseQuantised?: boolean;
}

const quantMemo = new Map<string, Uint8Array>();

function encodeTensor(type: GgmlType, data: Float32Array, rowLength: number, reuse: boolean): Uint8Array {
  if (type === GgmlType.F32) return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  if (!reuse) return quantizeTensor(type, data, rowLength);
  const key = `${type}/${rowLength}/` + createHash("sha256").update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)).digest("hex");
  let q = quantMemo.get(key);
  if (!q) {
    q = quantizeTensor(type, data, rowLength);
    quantMemo.set(key, q);
  }
  return q;
}

/** Everything about a fixture except its file, without building it (cheap). */
export function describeModelFixture(opts: FixtureOptions): ModelFixtureInfo {
  return plan(opts).info;
}

function plan(opts: FixtureOptions): { info: ModelFixtureInfo; metadata: [string, GgufTypedValue][]; plans: TensorPlan[]; spec: ArchSpec } {
  const { arch, weights } = opts;
  const seed = opts.seed ?? 1;
  const spec = ARCH[arch];
  if (!spec) throw new Error(`unknown fixture architecture "${String(arch)}"`);
  if (!(weights in FILE_TYPE)) throw new Error(`unknown fixture weights "${String(weights)}"`);
  const { vocab, metadata: tokMeta } = spec.tokenizer === "spm" ? spmVocab() : bpeVocab(arch, spec.pre);
  const nVocab = vocab.tokens.length;
  const hparams: FixtureHparams = {
    nLayer: spec.nLayer, nEmbd: N_EMBD, nHead: N_HEAD, nHeadKv: N_HEAD_KV, headDim: spec.headDim, nFf: N_FF, nVocab,
    contextLength: CONTEXT_LENGTH, ropeFreqBase: spec.ropeFreqBase, rmsEps: spec.rmsEps, tiedOutput: spec.tied,
    noRopeLayers: arch === "smollm3" ? [...Array(spec.nLayer).keys()].filter((i) => (i + 1) % 4 === 0) : [],
  };
  const quantised = weights !== "F32" && weights !== "F16" && weights !== "BF16";
  const a = arch;
  const metadata: [string, GgufTypedValue][] = [
    ["general.architecture", str(arch)],
    ["general.type", str("model")],
    ["general.name", str(`hearth-fixture-${arch}-${weights}-s${seed}`)],
    [`${a}.block_count`, u32(spec.nLayer)],
    [`${a}.context_length`, u32(CONTEXT_LENGTH)],
    [`${a}.embedding_length`, u32(N_EMBD)],
    [`${a}.feed_forward_length`, u32(N_FF)],
    [`${a}.attention.head_count`, u32(N_HEAD)],
    [`${a}.attention.head_count_kv`, u32(N_HEAD_KV)],
    [`${a}.rope.freq_base`, f32(spec.ropeFreqBase)],
    [`${a}.attention.layer_norm_rms_epsilon`, f32(spec.rmsEps)],
  ];
  if (spec.explicitHeadDim) {
    metadata.push([`${a}.attention.key_length`, u32(spec.headDim)], [`${a}.attention.value_length`, u32(spec.headDim)]);
  }
  metadata.push(["general.file_type", u32(FILE_TYPE[weights])]);
  if (arch === "llama") {
    metadata.push([`${a}.vocab_size`, u32(nVocab)], [`${a}.rope.dimension_count`, u32(spec.headDim)]);
  }
  if (quantised) metadata.push(["general.quantization_version", u32(2)]);
  metadata.push(...tokMeta);

  const plans = tensorPlans(spec, nVocab);
  const tensors: FixtureTensorInfo[] = plans.map((p) => ({
    name: p.name,
    dims: p.dims,
    type: p.dims.length === 1 ? GgmlType.F32 : tensorType(weights, p.name, spec),
  }));
  const promptIds = defaultPrompt(vocab);
  return { info: { arch, weights, seed, hparams, vocab, tensors, promptIds }, metadata, plans, spec };
}

/** A short prompt of token ids: BOS when the model adds one, then the first four merged word tokens. */
function defaultPrompt(vocab: FixtureVocab): number[] {
  const space = vocab.model === "llama" ? "\u2581" : "\u0120";
  const words = vocab.tokens
    .map((t, id) => ({ t, id }))
    .filter(({ t, id }) => t.length > 2 && t.startsWith(space) && !Object.values(vocab.special).includes(id))
    .slice(0, 4)
    .map(({ id }) => id);
  return vocab.addBos ? [vocab.bosId, ...words] : words;
}

/** Builds a fixture's GGUF bytes in memory (deterministic). */
export function buildModelFixture(opts: FixtureOptions, build: BuildOptions = {}): ModelFixtureInfo & { bytes: Uint8Array; sha256: string } {
  const { info, metadata, plans } = plan(opts);
  const reuse = build.reuseQuantised ?? true;
  const tensors: GgufTensorInput[] = plans.map((p, i) => {
    const type = info.tensors[i].type;
    const data = floatWeights(info.arch, info.seed, p);
    return { name: p.name, type, dims: p.dims, data: encodeTensor(type, data, p.dims[0], reuse) };
  });
  const bytes = buildGguf({ metadata, tensors });
  return { ...info, bytes, sha256: sha256Hex(bytes) };
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

let sourceHashMemo: string | undefined;

/**
 * Hash of the sources that determine fixture bytes (this file, the GGUF writer, the quantisers,
 * the PRNG): the cache directory's name, so a change to any of them makes new files.
 */
export function generatorSourceHash(): string {
  if (sourceHashMemo) return sourceHashMemo;
  const root = join(__dirname, "..", "..");
  const files = [
    join(__dirname, "fixtures.ts"),
    join(root, "test", "helpers", "random.ts"),
    join(root, "src", "engine", "tokenizer", "unicode.ts"),
    ...["src/engine/gguf", "src/engine/quant"].flatMap((d) =>
      readdirSync(join(root, d)).filter((f) => f.endsWith(".ts")).sort().map((f) => join(root, d, f)),
    ),
  ];
  const h = createHash("sha256");
  for (const f of files) h.update(f.slice(root.length)).update("\0").update(readFileSync(f)).update("\0");
  sourceHashMemo = h.digest("hex").slice(0, 16);
  return sourceHashMemo;
}

let pruned = false;

/**
 * Directory holding cached fixture files for the current generator sources. Directories of other
 * source versions untouched for a day are removed (about 80 MB each).
 */
export function fixtureCacheDir(): string {
  const root = join(tmpdir(), "hearth-conformance-fixtures");
  const dir = join(root, generatorSourceHash());
  if (!pruned) {
    pruned = true;
    for (const d of existsSync(root) ? readdirSync(root) : []) {
      const p = join(root, d);
      try {
        if (p !== dir && Date.now() - statSync(p).mtimeMs > 24 * 3600e3) rmSync(p, { recursive: true, force: true });
      } catch {
        // another process pruned it first
      }
    }
  }
  return dir;
}

const madeMemo = new Map<string, ModelFixture>();

/**
 * Returns a fixture file (built and written on first use, then cached on disk across processes
 * and in memory within one). The sha256 is of the file's bytes.
 */
export function makeModelFixture(opts: FixtureOptions, build: BuildOptions = {}): ModelFixture {
  const seed = opts.seed ?? 1;
  const key = `${opts.arch}-${opts.weights}-s${seed}`;
  const hit = madeMemo.get(key);
  if (hit) return hit;
  const dir = fixtureCacheDir();
  const path = join(dir, `${key}.gguf`);
  let fixture: ModelFixture;
  if (existsSync(path)) {
    fixture = { ...describeModelFixture(opts), path, sha256: sha256Hex(readFileSync(path)) };
  } else {
    const { bytes, ...rest } = buildModelFixture(opts, build);
    mkdirSync(dir, { recursive: true });
    const tmp = `${path}.${process.pid}.${Math.floor(Math.random() * 1e9)}.tmp`;
    writeFileSync(tmp, bytes);
    renameSync(tmp, path); // atomic: concurrent test processes never see a partial file
    fixture = { ...rest, path };
  }
  madeMemo.set(key, fixture);
  return fixture;
}

// ---------------------------------------------------------------------------------------------
// Preparing many fixtures at once, in worker threads

export interface PreparedFixture {
  readonly fixture: ModelFixture;
  /**
   * sha256 of a second in-memory build. When the file came from the disk cache (an earlier
   * process) that build is from scratch; when it was just made, the second build regenerates
   * weights, metadata and layout but takes quantised tensors of identical float input from the
   * in-process memo (the quantisers are pure functions).
   */
  readonly rebuiltSha256: string;
}

/** Rough cost of building a fixture (K-quant reference quantisation dominates). */
function buildCost(opts: FixtureOptions): number {
  const perValue: Record<FixtureWeights, number> = { F32: 0.01, F16: 0.02, BF16: 0.02, Q8_0: 0.04, Q4_0: 0.04, Q4_K: 4, Q5_K: 3.3, Q6_K: 2.4, Q4_K_M: 0.5 };
  const values = describeModelFixture(opts).tensors.reduce((a, t) => a + t.dims.reduce((x, y) => x * y, 1), 0);
  return values * perValue[opts.weights];
}

/**
 * Makes (or finds in the disk cache) every fixture in `list` and rebuilds each one in memory to
 * check that its bytes are deterministic, spread over `workers` worker threads (default: the
 * machine's parallelism, at most 4). Fixtures of one architecture go to one worker, so "Q4_K_M"
 * reuses the quantised tensors of "Q4_K" and "Q6_K" there.
 */
export async function prepareModelFixtures(list: readonly FixtureOptions[], opts: { workers?: number } = {}): Promise<PreparedFixture[]> {
  generatorSourceHash(); // fail early, in this thread, if a source file is missing
  const nWorkers = Math.max(1, Math.min(opts.workers ?? Math.min(4, availableParallelism()), list.length));
  const groups = new Map<string, { jobs: number[]; cost: number }>();
  list.forEach((o, i) => {
    const g = groups.get(o.arch) ?? { jobs: [], cost: 0 };
    g.jobs.push(i);
    g.cost += buildCost(o);
    groups.set(o.arch, g);
  });
  const bins = Array.from({ length: nWorkers }, () => ({ jobs: [] as number[], cost: 0 }));
  for (const g of [...groups.values()].sort((a, b) => b.cost - a.cost)) {
    const bin = bins.reduce((a, b) => (b.cost < a.cost ? b : a));
    bin.jobs.push(...g.jobs);
    bin.cost += g.cost;
  }
  const results: PreparedFixture[] = new Array<PreparedFixture>(list.length);
  const tsxApi = require.resolve("tsx/cjs/api");
  const self = join(__dirname, "fixtures.ts");
  await Promise.all(
    bins.filter((b) => b.jobs.length > 0).map(
      (bin) =>
        new Promise<void>((resolve, reject) => {
          const code = `require(${JSON.stringify(tsxApi)}).register();
const { parentPort, workerData } = require("node:worker_threads");
parentPort.postMessage(require(${JSON.stringify(self)}).runFixtureJobs(workerData));`;
          const w = new Worker(code, { eval: true, workerData: bin.jobs.map((i) => list[i]) });
          w.once("message", (out: PreparedFixture[]) => {
            out.forEach((r, k) => (results[bin.jobs[k]] = r));
            resolve();
          });
          w.once("error", reject);
          w.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`fixture worker exited with code ${code}`))));
        }),
    ),
  );
  return results;
}

/** A worker's part of prepareModelFixtures (exported for the worker's eval code). */
export function runFixtureJobs(jobs: readonly FixtureOptions[]): PreparedFixture[] {
  return jobs.map((o) => {
    const fixture = makeModelFixture(o);
    return { fixture, rebuiltSha256: buildModelFixture(o).sha256 };
  });
}
