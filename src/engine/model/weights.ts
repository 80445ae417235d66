// The model's tensors, copied from the GGUF file straight into the kernels' memory (no
// dequantisation), with the memory the model needs computed before anything is allocated. By
// default (REPACK_DEFAULT) the matrices of the formats with a repacked product are repacked on the
// way (kernels/repack.c: rows interleaved for 128-bit SIMD), chunk by chunk in place, so there is
// never a second copy of the weights.
import { open } from "node:fs/promises";
import type { GgufFile, GgufTensorInfo } from "../gguf/reader.ts";
import { GgufError } from "../gguf/errors.ts";
import { assertSupported, GgmlType, typeName } from "../quant/types.ts";
import { MAX_MEMORY_BYTES } from "../wasm/arena.ts";
import type { Kernels } from "../wasm/kernels.ts";
import type { HParams } from "./hparams.ts";

const READERS = 4;
const CHUNK = 16 * 2 ** 20;
/** Added to a weight type in matmul calls when the matrix is repacked (kernels/repack.h). */
export const REPACKED = 0x100;
/**
 * On: the repacked products (kernels/repack.c) compute llama.cpp's own arithmetic for these formats
 * (exact integers per row and super-block, then one float step), faster than the file layout's
 * products. Measured (2048×2048 Q4_K, 1 thread, best of alternating runs on the shared machine):
 * prompt batch 32.7 vs 24.1 GMAC/s relaxed, 17.6 vs 12.8 SIMD128; one token 12.7 vs 9.5 GB/s (in
 * cache), 5.0 vs 4.5 GB/s from memory (11008×2048, npm run bench:kernels). Cost: 11% more memory for
 * the Q4_K matrices and 55% for the Q5_0 ones (a byte per quant: see kernels/repack.c), and the
 * repack while the file is read (in place, 11008×2048 at 2 threads: Q4_K 3.7 GB/s, its groups in
 * order on one thread, as Q5_0's now; Q6_K 4.1-5.0: bench:kernels).
 * The 3B shape's weights load in 1.08-1.31 s against 0.82-0.91 s in the file's layout, both with
 * the 2 cores busy throughout (1.8-1.9 cores: 1.5-1.7 s of it the kernel's page faults and copies,
 * the repack 0.35-0.45 s of user time), the 0.5B shape's in 0.24-0.30 s against 0.19-0.20 s (the
 * whole load: npm run bench's "load, ms").
 */
export const REPACK_DEFAULT = true;

/** A tensor in kernel memory: `rows` rows of `cols` elements of `type`, at `ptr`. */
export interface Tensor {
  readonly name: string;
  readonly type: GgmlType;
  readonly ptr: number;
  readonly cols: number;
  readonly rows: number;
  /** In kernels/repack.c's layout (matmul with `type | REPACKED`), not the file's. */
  readonly repacked: boolean;
}

export interface LayerWeights {
  readonly attnNorm: Tensor;
  readonly wq: Tensor;
  readonly wk: Tensor;
  readonly wv: Tensor;
  readonly wo: Tensor;
  readonly bq?: Tensor;
  readonly bk?: Tensor;
  readonly bv?: Tensor;
  readonly qNorm?: Tensor;
  readonly kNorm?: Tensor;
  readonly ffnNorm: Tensor;
  readonly gate: Tensor;
  readonly up: Tensor;
  readonly down: Tensor;
}

export interface ModelWeights {
  readonly tokenEmbd: Tensor;
  readonly outputNorm: Tensor;
  /** `output.weight`, or the token embedding when the model ties them. */
  readonly output: Tensor;
  readonly layers: readonly LayerWeights[];
}

/** The tensors a model of these hyper-parameters uses, with the shape each must have. */
function plan(file: GgufFile, hp: HParams): { names: string[]; check: (t: GgufTensorInfo) => void } {
  const expected = new Map<string, number[]>();
  const qDim = hp.nHead * hp.headDimK;
  const kDim = hp.nHeadKV * hp.headDimK;
  const vDim = hp.nHeadKV * hp.headDimV;
  expected.set("token_embd.weight", [hp.nEmbd, hp.nVocab]);
  expected.set("output_norm.weight", [hp.nEmbd]);
  if (file.tensor("output.weight")) expected.set("output.weight", [hp.nEmbd, hp.nVocab]);
  for (let i = 0; i < hp.nLayer; i++) {
    const p = `blk.${i}.`;
    expected.set(`${p}attn_norm.weight`, [hp.nEmbd]);
    expected.set(`${p}attn_q.weight`, [hp.nEmbd, qDim]);
    expected.set(`${p}attn_k.weight`, [hp.nEmbd, kDim]);
    expected.set(`${p}attn_v.weight`, [hp.nEmbd, vDim]);
    expected.set(`${p}attn_output.weight`, [hp.nHead * hp.headDimV, hp.nEmbd]);
    if (hp.qkvBias || file.tensor(`${p}attn_q.bias`)) {
      expected.set(`${p}attn_q.bias`, [qDim]);
      expected.set(`${p}attn_k.bias`, [kDim]);
      expected.set(`${p}attn_v.bias`, [vDim]);
    }
    if (hp.qkNorm) {
      expected.set(`${p}attn_q_norm.weight`, [hp.headDimK]);
      expected.set(`${p}attn_k_norm.weight`, [hp.headDimK]);
    }
    expected.set(`${p}ffn_norm.weight`, [hp.nEmbd]);
    expected.set(`${p}ffn_gate.weight`, [hp.nEmbd, hp.nFF]);
    expected.set(`${p}ffn_up.weight`, [hp.nEmbd, hp.nFF]);
    expected.set(`${p}ffn_down.weight`, [hp.nFF, hp.nEmbd]);
  }
  return {
    names: [...expected.keys()],
    check(t) {
      const want = expected.get(t.name)!;
      const got = t.dims.length === 1 ? [t.dims[0]] : [t.dims[0], t.dims[1]];
      const extra = t.dims.slice(want.length).some((d) => d !== 1);
      if (extra || want.some((d, i) => got[i] !== d)) {
        throw new GgufError(file.path, `tensor "${t.name}" has shape [${t.dims.join(", ")}], expected [${want.join(", ")}]`);
      }
      if (want.length === 1 && t.type !== GgmlType.F32) {
        throw new GgufError(file.path, `tensor "${t.name}" is ${typeName(t.type)}, expected F32 (norm weights and biases)`);
      }
      assertSupported(t.type, `${file.path}: tensor "${t.name}"`);
    },
  };
}

/**
 * Formats whose rows the kernels can look up in the repacked layout (kernels/repack.c's
 * repacked_rows_readable, checked at load): a token embedding the output is tied to is repacked
 * for the output's product when it has one of them. Q6_K: the tied output of Q4_K_M files (the 3B
 * shape's output read 12.6 GB/s in the file's layout per generated token, 215 MB of its 1.8 GB).
 */
const ROWS_READABLE_REPACKED: ReadonlySet<GgmlType> = new Set([GgmlType.Q6_K]);

/**
 * The matrices that are repacked: those only ever multiplied, and a token embedding tied to the
 * output whose rows the kernels can look up repacked, of a format with a repacked product.
 */
function repackedNames(file: GgufFile, hp: HParams): Set<string> {
  const names = new Set<string>();
  if (file.tensor("output.weight")) names.add("output.weight");
  else if (ROWS_READABLE_REPACKED.has(file.requireTensor("token_embd.weight").type)) names.add("token_embd.weight");
  for (let i = 0; i < hp.nLayer; i++) {
    for (const m of ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]) names.add(`blk.${i}.${m}.weight`);
  }
  return names;
}

/**
 * Bytes of a matrix in kernels/repack.c's layout, or -1 when it keeps the file's (the kernels'
 * repacked_bytes, which the loader checks against this, without an instance for the memory plan).
 */
function repackedSize(t: GgufTensorInfo): number {
  const rows = t.dims[1] ?? 1;
  if (rows % 4 !== 0) return -1;
  if (t.type === GgmlType.Q4_K) return (rows / 4) * (t.dims[0] / 256) * 640;
  if (t.type === GgmlType.Q5_0) return (rows / 4) * (t.dims[0] / 32) * 136;
  if (t.type === GgmlType.Q6_K) return (rows / 4) * (t.dims[0] / 256) * 840;
  return -1;
}

/** Bytes of kernel memory the weights take (each tensor 64-byte aligned). */
export function weightBytes(file: GgufFile, hp: HParams, repack = REPACK_DEFAULT): number {
  const { names } = plan(file, hp);
  const packed = repack ? repackedNames(file, hp) : new Set<string>();
  return names.reduce((sum, n) => {
    const t = file.requireTensor(n);
    const rb = packed.has(n) ? repackedSize(t) : -1;
    return sum + Math.ceil((rb >= 0 ? rb : t.byteSize) / 64) * 64;
  }, 0);
}

/** Refuses, before anything is allocated, a model that cannot fit the engine's memory. */
export function checkFits(file: GgufFile, needed: number): void {
  if (needed > MAX_MEMORY_BYTES) {
    const gib = (b: number): string => `${(b / 2 ** 30).toFixed(2)} GiB`;
    throw new GgufError(
      file.path,
      `the model needs ${gib(needed)} of engine memory (weights, KV cache and scratch), more than the ${gib(MAX_MEMORY_BYTES)} a wasm32 engine can address; choose a smaller model or quantisation, or a smaller context`,
    );
  }
}

/** One read of the load into kernel memory at dst. */
interface Chunk {
  name: string;
  position: number;
  length: number;
  dst: number;
  /** Repacked in place after the read (dst is then the end of the rows' place in the repacked matrix). */
  repack?: { type: GgmlType; ptr: number; row0: number; rows: number; cols: number };
}

/**
 * Copies every tensor the model uses from the file into kernel memory. The copy runs as
 * READERS concurrent reads of CHUNK bytes (libuv's thread pool): most of a copy into fresh wasm
 * memory is the kernel's first-touch page faults, which then proceed on several cores (measured
 * on the 0.5B bench file: 210-260 ms as one synchronous read loop, 120-165 ms this way).
 */
export async function loadWeights(
  file: GgufFile,
  hp: HParams,
  k: Kernels,
  onProgress?: (fraction: number) => void,
  repack = REPACK_DEFAULT,
): Promise<ModelWeights> {
  const { names, check } = plan(file, hp);
  for (const n of names) check(file.requireTensor(n));
  const total = names.reduce((s, n) => s + file.requireTensor(n).byteSize, 0);
  const packable = repack ? repackedNames(file, hp) : new Set<string>();
  // Everything (the staging buffers last) is allocated before any read: no growth meanwhile.
  const { loaded, chunks } = allocateTensors(file, names, packable, k);
  await readChunks(file, k, chunks, total, onProgress);
  return modelWeights(loaded, hp);
}

/** Kernel memory for every tensor, and the chunks of the file that fill it. */
function allocateTensors(file: GgufFile, names: readonly string[], packable: ReadonlySet<string>, k: Kernels): { loaded: Map<string, Tensor>; chunks: Chunk[] } {
  const loaded = new Map<string, Tensor>();
  const chunks: Chunk[] = [];
  for (const name of names) {
    const info = file.requireTensor(name);
    const cols = info.dims[0];
    const rows = info.dims[1] ?? 1;
    const packedBytes = packable.has(name) ? repackedSize(info) : -1;
    const repacked = packedBytes >= 0;
    if (repacked && (k.exports.repacked_bytes(info.type, rows, cols) as number) !== packedBytes) {
      throw new Error(`kernels and loader disagree on the repacked size of ${name}`);
    }
    if (repacked && name === "token_embd.weight" && !k.exports.repacked_rows_readable(info.type)) {
      throw new Error(`kernels and loader disagree on looking up rows of a repacked ${GgmlType[info.type]} matrix`);
    }
    const ptr = k.alloc(repacked ? packedBytes : info.byteSize, 64);
    loaded.set(name, { name, type: info.type, ptr, cols, rows, repacked });
    if (repacked) {
      // Whole groups of 4 rows per chunk, read into the end of their own place in the repacked
      // matrix (which is at least as large) and repacked there (kernels/repack.c's repack_rows).
      const rowBytes = info.byteSize / rows;
      const groupBytes = packedBytes / (rows / 4);
      const step = Math.max(4, Math.floor(CHUNK / rowBytes / 4) * 4);
      for (let r = 0; r < rows; r += step) {
        const n = Math.min(step, rows - r);
        const end = ptr + ((r + n) / 4) * groupBytes;
        chunks.push({ name, position: info.offset + r * rowBytes, length: n * rowBytes, dst: end - n * rowBytes, repack: { type: info.type, ptr, row0: r, rows: n, cols } });
      }
    } else {
      for (let at = 0; at < info.byteSize; at += CHUNK) {
        const length = Math.min(CHUNK, info.byteSize - at);
        chunks.push({ name, position: info.offset + at, length, dst: ptr + at });
      }
    }
  }
  return { loaded, chunks };
}

/** Reads the chunks with READERS concurrent readers; a repacked chunk is repacked right after its read. */
async function readChunks(file: GgufFile, k: Kernels, chunks: readonly Chunk[], total: number, onProgress?: (fraction: number) => void): Promise<void> {
  const mark = k.mark();
  const tmpBytes = Math.max(0, ...chunks.map((c) => (c.repack ? (k.exports.repack_scratch_bytes(c.repack.type, c.repack.cols) as number) : 0)));
  const tmp = tmpBytes ? k.alloc(tmpBytes, 64) : 0;
  const fh = await open(file.path, "r");
  let next = 0;
  let done = 0;
  // After one reader fails (a read error, or a cancel thrown by onProgress) the others stop at
  // their next chunk: the error is reported then, not after the rest of the file was read.
  let failed = false;
  const reader = async (): Promise<void> => {
    try {
      while (!failed && next < chunks.length) {
        const c = chunks[next++];
        const dst = k.bytes(c.dst, c.length);
        for (let got = 0; got < dst.length; ) {
          const { bytesRead } = await fh.read(dst, got, dst.length - got, c.position + got);
          if (bytesRead === 0) throw new GgufError(file.path, `the file ends inside tensor "${c.name}"`);
          got += bytesRead;
        }
        if (c.repack) {
          const p = c.repack;
          k.exports.repack_rows(p.type, c.dst, p.row0, p.rows, p.cols, p.ptr, tmp);
        }
        done += dst.length;
        onProgress?.(done / total);
      }
    } catch (err) {
      failed = true;
      throw err;
    }
  };
  try {
    await Promise.all(Array.from({ length: READERS }, reader));
  } finally {
    await fh.close();
    k.reset(mark);
  }
}

function modelWeights(loaded: ReadonlyMap<string, Tensor>, hp: HParams): ModelWeights {
  const t = (n: string): Tensor => loaded.get(n)!;
  const opt = (n: string): Tensor | undefined => loaded.get(n);
  return {
    tokenEmbd: t("token_embd.weight"),
    outputNorm: t("output_norm.weight"),
    output: opt("output.weight") ?? t("token_embd.weight"),
    layers: Array.from({ length: hp.nLayer }, (_, i) => {
      const p = `blk.${i}.`;
      return {
        attnNorm: t(`${p}attn_norm.weight`),
        wq: t(`${p}attn_q.weight`),
        wk: t(`${p}attn_k.weight`),
        wv: t(`${p}attn_v.weight`),
        wo: t(`${p}attn_output.weight`),
        bq: opt(`${p}attn_q.bias`),
        bk: opt(`${p}attn_k.bias`),
        bv: opt(`${p}attn_v.bias`),
        qNorm: opt(`${p}attn_q_norm.weight`),
        kNorm: opt(`${p}attn_k_norm.weight`),
        ffnNorm: t(`${p}ffn_norm.weight`),
        gate: t(`${p}ffn_gate.weight`),
        up: t(`${p}ffn_up.weight`),
        down: t(`${p}ffn_down.weight`),
      };
    }),
  };
}
