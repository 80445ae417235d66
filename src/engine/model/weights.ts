// The model's tensors, copied from the GGUF file straight into the kernels' memory (no
// conversion, no dequantisation), with the memory the model needs computed before anything is
// allocated.
import { open } from "node:fs/promises";
import type { GgufFile, GgufTensorInfo } from "../gguf/reader.ts";
import { GgufError } from "../gguf/errors.ts";
import { assertSupported, GgmlType, typeName } from "../quant/types.ts";
import { MAX_MEMORY_BYTES } from "../wasm/arena.ts";
import type { Kernels } from "../wasm/kernels.ts";
import type { HParams } from "./hparams.ts";

const READERS = 4;
const CHUNK = 16 * 2 ** 20;

/** A tensor in kernel memory: `rows` rows of `cols` elements of `type`, at `ptr`. */
export interface Tensor {
  readonly name: string;
  readonly type: GgmlType;
  readonly ptr: number;
  readonly cols: number;
  readonly rows: number;
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

/** Bytes of kernel memory the weights take (each tensor 64-byte aligned). */
export function weightBytes(file: GgufFile, hp: HParams): number {
  const { names } = plan(file, hp);
  return names.reduce((sum, n) => sum + Math.ceil(file.requireTensor(n).byteSize / 64) * 64, 0);
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

/**
 * Copies every tensor the model uses from the file into kernel memory. The copy runs as
 * READERS concurrent reads of CHUNK bytes (libuv's thread pool): most of a copy into fresh wasm
 * memory is the kernel's first-touch page faults, which then proceed on several cores (measured
 * on the 0.5B bench file: 210-260 ms as one synchronous read loop, 120-165 ms this way).
 */
export async function loadWeights(file: GgufFile, hp: HParams, k: Kernels, onProgress?: (fraction: number) => void): Promise<ModelWeights> {
  const { names, check } = plan(file, hp);
  for (const n of names) check(file.requireTensor(n));
  const total = names.reduce((s, n) => s + file.requireTensor(n).byteSize, 0);
  const loaded = new Map<string, Tensor>();
  // Everything is allocated before any read: views made now stay valid (no growth meanwhile).
  const chunks: { name: string; dst: Uint8Array; position: number }[] = [];
  for (const name of names) {
    const info = file.requireTensor(name);
    const ptr = k.alloc(info.byteSize, 64);
    loaded.set(name, { name, type: info.type, ptr, cols: info.dims[0], rows: info.dims[1] ?? 1 });
    for (let at = 0; at < info.byteSize; at += CHUNK) {
      chunks.push({ name, dst: k.bytes(ptr + at, Math.min(CHUNK, info.byteSize - at)), position: info.offset + at });
    }
  }
  const fh = await open(file.path, "r");
  let next = 0;
  let done = 0;
  // After one reader fails (a read error, or a cancel thrown by onProgress) the others stop at
  // their next chunk: the error is reported then, not after the rest of the file was read.
  let failed = false;
  const reader = async (): Promise<void> => {
    try {
      while (!failed && next < chunks.length) {
        const { name, dst, position } = chunks[next++];
        for (let got = 0; got < dst.length; ) {
          const { bytesRead } = await fh.read(dst, got, dst.length - got, position + got);
          if (bytesRead === 0) throw new GgufError(file.path, `the file ends inside tensor "${name}"`);
          got += bytesRead;
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
  }
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
