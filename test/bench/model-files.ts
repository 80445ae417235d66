// Benchmark model files: real shapes (SmolLM3-3B, Qwen2.5-Coder-0.5B), random but valid quantised
// blocks in llama.cpp's Q4_K_M type mix, a gpt2-style vocabulary of the right size (byte tokens,
// filler tokens, the model's special tokens at their real ids) so that llama.cpp loads the file.
// Written streaming (a 3B file is ~1.9 GB), cached under os.tmpdir()/hearth-bench by a name that
// includes a version of this generator.
import { closeSync, existsSync, mkdirSync, openSync, renameSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ByteSink } from "../reference/gguf-writer.ts";
import { GgufValueType } from "../../src/engine/gguf/types.ts";
import { GgmlType, rowBytes } from "../../src/engine/quant/types.ts";
import { f32ToF16 } from "../reference/quant/half.ts";
import { BYTE_LEVEL_ORDER, BYTE_TO_CHAR } from "../../src/engine/tokenizer/unicode.ts";

const GENERATOR_VERSION = 2;

export interface BenchShape {
  name: string;
  arch: "smollm3" | "qwen2";
  nLayer: number;
  nEmbd: number;
  nFF: number;
  nHead: number;
  nHeadKV: number;
  headDim: number;
  nVocab: number;
  qkvBias: boolean;
  ropeFreqBase: number;
  pre: string;
  /** Special tokens at their ids in the real vocabulary. */
  specials: Record<string, number>;
  eos: string;
  bos: string;
}

export const SHAPES: Record<string, BenchShape> = {
  "smollm3-3b": {
    name: "SmolLM3-3B shape", arch: "smollm3", nLayer: 36, nEmbd: 2048, nFF: 11008, nHead: 16, nHeadKV: 4, headDim: 128,
    nVocab: 128256, qkvBias: false, ropeFreqBase: 5000000, pre: "smaug-bpe",
    specials: { "<|begin_of_text|>": 128000, "<|end_of_text|>": 128001, "<|im_start|>": 128011, "<|im_end|>": 128012 },
    bos: "<|begin_of_text|>", eos: "<|im_end|>",
  },
  "qwen2.5-coder-0.5b": {
    name: "Qwen2.5-Coder-0.5B shape", arch: "qwen2", nLayer: 24, nEmbd: 896, nFF: 4864, nHead: 14, nHeadKV: 2, headDim: 64,
    nVocab: 151936, qkvBias: true, ropeFreqBase: 1000000, pre: "qwen2",
    // Qwen2.5-Coder's real specials, FIM ones included, so completion benchmarks use FIM prompts.
    specials: {
      "<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645,
      "<|fim_prefix|>": 151659, "<|fim_middle|>": 151660, "<|fim_suffix|>": 151661, "<|fim_pad|>": 151662,
      "<|repo_name|>": 151663, "<|file_sep|>": 151664,
    },
    bos: "<|endoftext|>", eos: "<|im_end|>",
  },
};

/** llama.cpp's use_more_bits (llama-quant.cpp): layers whose attn_v / ffn_down Q4_K_M makes Q6_K. */
function useMoreBits(i: number, n: number): boolean {
  const e = Math.floor(n / 8);
  return i < e || i >= Math.floor((7 * n) / 8) || (i - e) % 3 === 2;
}

/** llama-quantize's Q4_K_M choice for a 2-D weight, with its fallbacks for rows not a multiple of 256. */
function q4kmType(name: string, rowLen: number, nLayer: number): GgmlType {
  let t = GgmlType.Q4_K;
  if (name === "token_embd.weight" || name === "output.weight") t = GgmlType.Q6_K; // tied: the embedding is the output
  const m = /^blk\.(\d+)\.(attn_v|ffn_down)\.weight$/.exec(name);
  if (m && useMoreBits(Number(m[1]), nLayer)) t = GgmlType.Q6_K;
  if (rowLen % 256 !== 0) t = t === GgmlType.Q6_K ? GgmlType.Q8_0 : GgmlType.Q5_0;
  return t;
}

interface TensorSpec {
  name: string;
  dims: number[];
  type: GgmlType;
}

export function tensorSpecs(s: BenchShape): TensorSpec[] {
  const qDim = s.nHead * s.headDim;
  const kvDim = s.nHeadKV * s.headDim;
  const out: TensorSpec[] = [];
  const w = (name: string, rowLen: number, rows: number): void => {
    out.push({ name, dims: [rowLen, rows], type: q4kmType(name, rowLen, s.nLayer) });
  };
  const v = (name: string, n: number): void => {
    out.push({ name, dims: [n], type: GgmlType.F32 });
  };
  w("token_embd.weight", s.nEmbd, s.nVocab);
  v("output_norm.weight", s.nEmbd);
  for (let i = 0; i < s.nLayer; i++) {
    const p = `blk.${i}.`;
    v(p + "attn_norm.weight", s.nEmbd);
    w(p + "attn_q.weight", s.nEmbd, qDim);
    w(p + "attn_k.weight", s.nEmbd, kvDim);
    w(p + "attn_v.weight", s.nEmbd, kvDim);
    if (s.qkvBias) {
      v(p + "attn_q.bias", qDim);
      v(p + "attn_k.bias", kvDim);
      v(p + "attn_v.bias", kvDim);
    }
    w(p + "attn_output.weight", qDim, s.nEmbd);
    v(p + "ffn_norm.weight", s.nEmbd);
    w(p + "ffn_gate.weight", s.nEmbd, s.nFF);
    w(p + "ffn_up.weight", s.nEmbd, s.nFF);
    w(p + "ffn_down.weight", s.nFF, s.nEmbd);
  }
  return out;
}

/** Bytes of weights a token's forward pass reads (every matrix once; the embedding row is negligible). */
export function weightBytesPerToken(s: BenchShape): number {
  return tensorSpecs(s)
    .filter((t) => t.dims.length === 2)
    .reduce((sum, t) => sum + rowBytes(t.type, t.dims[0]) * t.dims[1], 0);
}

// ---------------------------------------------------------------------------------------------
// GGUF header (metadata and tensor infos), written with the repository's ByteSink.

type Meta = [string, GgufValueType, unknown];

function writeMeta(w: ByteSink, [key, type, value]: Meta): void {
  w.str(key);
  w.u32(type);
  writeValue(w, type, value);
}

function writeValue(w: ByteSink, type: GgufValueType, value: unknown): void {
  switch (type) {
    case GgufValueType.UINT32: return w.u32(value as number);
    case GgufValueType.INT32: return w.i32(value as number);
    case GgufValueType.FLOAT32: return w.f32(value as number);
    case GgufValueType.BOOL: return w.u8(value ? 1 : 0);
    case GgufValueType.STRING: return w.str(value as string);
    default: throw new Error(`bench writer: unsupported metadata type ${type}`);
  }
}

function writeArray(w: ByteSink, key: string, elementType: GgufValueType, values: readonly unknown[]): void {
  w.str(key);
  w.u32(GgufValueType.ARRAY);
  w.u32(elementType);
  w.u64(values.length);
  for (const v of values) writeValue(w, elementType, v);
}

function header(s: BenchShape, tensors: TensorSpec[]): { bytes: Uint8Array; offsets: number[] } {
  const a = s.arch;
  const meta: Meta[] = [
    ["general.architecture", GgufValueType.STRING, a],
    ["general.type", GgufValueType.STRING, "model"],
    ["general.name", GgufValueType.STRING, `hearth-bench ${s.name} random Q4_K_M`],
    [`${a}.block_count`, GgufValueType.UINT32, s.nLayer],
    [`${a}.context_length`, GgufValueType.UINT32, 32768],
    [`${a}.embedding_length`, GgufValueType.UINT32, s.nEmbd],
    [`${a}.feed_forward_length`, GgufValueType.UINT32, s.nFF],
    [`${a}.attention.head_count`, GgufValueType.UINT32, s.nHead],
    [`${a}.attention.head_count_kv`, GgufValueType.UINT32, s.nHeadKV],
    [`${a}.rope.freq_base`, GgufValueType.FLOAT32, s.ropeFreqBase],
    [`${a}.attention.layer_norm_rms_epsilon`, GgufValueType.FLOAT32, 1e-6],
    ["general.file_type", GgufValueType.UINT32, 15],
    ["general.quantization_version", GgufValueType.UINT32, 2],
    ["tokenizer.ggml.model", GgufValueType.STRING, "gpt2"],
    ["tokenizer.ggml.pre", GgufValueType.STRING, s.pre],
  ];
  const tokens = BYTE_LEVEL_ORDER.map((b) => BYTE_TO_CHAR[b]);
  const specialIds = new Map(Object.entries(s.specials).map(([t, id]) => [id, t]));
  for (let id = tokens.length; id < s.nVocab; id++) tokens.push(specialIds.get(id) ?? `tok${id}`);
  const types = tokens.map((_, id) => (specialIds.has(id) ? 3 : 1));
  const merges = ["t o", "to k"];
  const tail: Meta[] = [
    ["tokenizer.ggml.bos_token_id", GgufValueType.UINT32, s.specials[s.bos]],
    ["tokenizer.ggml.eos_token_id", GgufValueType.UINT32, s.specials[s.eos]],
    ["tokenizer.ggml.add_bos_token", GgufValueType.BOOL, false],
  ];
  const w = new ByteSink();
  w.u32(0x46554747); // "GGUF"
  w.u32(3);
  w.u64(tensors.length);
  w.u64(meta.length + 3 + tail.length);
  for (const m of meta) writeMeta(w, m);
  writeArray(w, "tokenizer.ggml.tokens", GgufValueType.STRING, tokens);
  writeArray(w, "tokenizer.ggml.token_type", GgufValueType.INT32, types);
  writeArray(w, "tokenizer.ggml.merges", GgufValueType.STRING, merges);
  for (const m of tail) writeMeta(w, m);
  const offsets: number[] = [];
  let rel = 0;
  for (const t of tensors) {
    w.str(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(t.type);
    w.u64(rel);
    offsets.push(rel);
    rel = Math.ceil((rel + tensorSize(t)) / 32) * 32;
  }
  w.padTo(32);
  return { bytes: w.finish(), offsets };
}

function tensorSize(t: TensorSpec): number {
  return rowBytes(t.type, t.dims[0]) * (t.dims[1] ?? 1);
}

// ---------------------------------------------------------------------------------------------
// Tensor data: random bytes, with the f16 scales set so that weights have a std of roughly
// 1/sqrt(row length) (activations stay finite through 36 layers).

let rngState = 0x9e3779b9;
function fillRandom(buf: Uint8Array): void {
  const u = new Uint32Array(buf.buffer, buf.byteOffset, buf.byteLength >> 2);
  let s = rngState;
  for (let i = 0; i < u.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    u[i] = s;
  }
  rngState = s >>> 0 || 1;
}

function fillBlocks(buf: Uint8Array, t: TensorSpec): void {
  if (t.type === GgmlType.F32) {
    const f = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength >> 2);
    const isBias = t.name.endsWith(".bias");
    for (let i = 0; i < f.length; i++) f[i] = isBias ? 0.02 * Math.sin(i) : 1 + 0.05 * Math.sin(i);
    return;
  }
  fillQuantized(buf, t.type, t.dims[0]);
}

/**
 * Random but valid blocks of `type` (whole rows of `rowLength` elements), weights of std roughly
 * 1/sqrt(rowLength). The f16 scales come out as llama.cpp's quantisers give them for such weights:
 * Q6_K's d below the half's smallest normal (as for gaussian weights of std 0.01-0.04), the
 * others normal except Q4_K's for rows of more than ~4700 elements.
 */
export function fillQuantized(buf: Uint8Array, type: GgmlType, rowLength: number): void {
  fillRandom(buf);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const std = 1 / Math.sqrt(rowLength);
  const set = (block: number, at: number, d: number): void => {
    const h = f32ToF16(d);
    for (let b = 0; b < buf.length; b += block) v.setUint16(b + at, h, true);
  };
  switch (type) {
    case GgmlType.Q4_K:
      set(144, 0, std / 240);
      set(144, 2, std / 240);
      break;
    case GgmlType.Q6_K:
      set(210, 208, std / 1000);
      break;
    case GgmlType.Q5_0:
      set(22, 0, std / 9);
      break;
    case GgmlType.Q8_0:
      set(34, 0, std / 73);
      break;
    default:
      throw new Error(`bench writer: no block filler for type ${type}`);
  }
}

export function benchCacheDir(): string {
  return join(tmpdir(), "hearth-bench");
}

/** Path of the bench file of `shapeKey`, written if it is not cached yet. */
export function benchModelFile(shapeKey: string, log: (s: string) => void = () => {}): string {
  const s = SHAPES[shapeKey];
  if (!s) throw new Error(`unknown bench shape ${shapeKey}`);
  const dir = benchCacheDir();
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${shapeKey}-Q4_K_M-random-v${GENERATOR_VERSION}.gguf`);
  if (existsSync(path)) return path;
  const tensors = tensorSpecs(s);
  const { bytes, offsets } = header(s, tensors);
  const t0 = performance.now();
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, bytes);
    let pos = bytes.length;
    const CHUNK = 64 * 2 ** 20;
    tensors.forEach((t, i) => {
      const target = bytes.length + offsets[i];
      if (target > pos) writeSync(fd, new Uint8Array(target - pos));
      pos = target;
      const size = tensorSize(t);
      const rowB = rowBytes(t.type, t.dims[0]);
      const rowsPerChunk = Math.max(1, Math.floor(CHUNK / rowB));
      for (let r = 0; r < (t.dims[1] ?? 1); r += rowsPerChunk) {
        const rows = Math.min(rowsPerChunk, (t.dims[1] ?? 1) - r);
        const buf = new Uint8Array(Math.ceil((rows * rowB) / 4) * 4).subarray(0, rows * rowB);
        fillBlocks(buf, t);
        writeSync(fd, buf);
        pos += buf.length;
      }
      void size;
    });
    const end = Math.ceil(pos / 32) * 32;
    if (end > pos) writeSync(fd, new Uint8Array(end - pos));
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  log(`wrote ${path} (${(statSync(path).size / 2 ** 20).toFixed(0)} MiB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return path;
}
