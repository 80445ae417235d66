// The forward pass of a decoder-only transformer (llama, smollm3, qwen2, qwen3), in the order of
// llama.cpp's graph, on the kernels: every buffer is allocated once at construction, a call
// evaluates a batch of tokens into a KV slot and returns the logits of its last token.
import type { Kernels, KernelExports } from "../wasm/kernels.ts";
import { attention, ropeRows } from "../wasm/kernel-exports.ts";
import type { KvSlot } from "../kv-cache.ts";
import { RopeMode, type HParams } from "./hparams.ts";
import { type ModelWeights, REPACKED, type Tensor } from "./weights.ts";
import { ropeCosSin } from "./rope.ts";
import { AbortError, type Cancellation } from "../cancel.ts";

interface Buffers {
  x: number; // residual stream [batch][nEmbd]
  h: number; // normed input / projection output [batch][max(nEmbd, qDim)]
  q: number; // [batch][qDim]           q, k, v and attn share memory with gate and up (allocate)
  k: number; // [batch][kDim]
  v: number; // [batch][vDim]
  attn: number; // [batch][qDim]
  gate: number; // [batch][nFF]
  up: number; // [batch][nFF]
  rope: number; // [batch][ropeDims] cos/sin table
  quant: number; // quantised activations for the largest product
  attnScratch: number;
  logits: number; // [nVocab]
}

export class Transformer {
  private readonly buf: Buffers;
  private readonly e: KernelExports;
  private readonly qDim: number;
  private readonly kDim: number;
  private readonly vDim: number;
  private readonly kqScale: number;
  private readonly ropeTable: Float32Array;

  constructor(
    private readonly k: Kernels,
    readonly hp: HParams,
    /** The weights in kernel memory (read by tests to see the layout chosen at load). */
    readonly w: ModelWeights,
    /** Most tokens evaluated per call (prompt batches are split to this size). */
    readonly maxBatch: number,
    /** Positions the KV slots hold. */
    readonly nCtx: number,
  ) {
    this.e = k.exports;
    this.qDim = hp.nHead * hp.headDimK;
    this.kDim = hp.nHeadKV * hp.headDimK;
    this.vDim = hp.nHeadKV * hp.headDimV;
    if (hp.headDimK !== hp.headDimV) throw new Error("key and value heads of different sizes are not supported");
    this.kqScale = Math.fround(1 / Math.sqrt(hp.headDimK));
    this.ropeTable = new Float32Array(maxBatch * hp.ropeDims);
    this.buf = this.allocate();
  }

  private allocate(): Buffers {
    const { k, hp, maxBatch } = this;
    const f = (n: number): number => k.alloc(n * 4, 64);
    // q, k, v and attn live from a layer's q/k/v products to its output projection, gate and up
    // from its feed-forward products to their down projection: the two sets share one region
    // (3B shape, 512-token batches: 10.5 MB less memory touched).
    const attnSet = [this.qDim, this.kDim, this.vDim, this.qDim];
    const ffnSet = [hp.nFF, hp.nFF];
    const floats = (dims: number[]): number => dims.reduce((sum, d) => sum + align16(maxBatch * d), 0);
    const shared = f(Math.max(floats(attnSet), floats(ffnSet)));
    const [q, kk, v, attn] = carve(shared, maxBatch, attnSet);
    const [gate, up] = carve(shared, maxBatch, ffnSet);
    return {
      x: f(maxBatch * hp.nEmbd),
      h: f(maxBatch * Math.max(hp.nEmbd, this.qDim)),
      q,
      k: kk,
      v,
      attn,
      gate,
      up,
      rope: f(maxBatch * hp.ropeDims),
      quant: k.alloc(maxQuantBytes(k, this.w, maxBatch), 64),
      attnScratch: f(this.e.attention_scratch_floats(this.nCtx, hp.headDimK, hp.nHead, hp.nHeadKV)),
      logits: f(hp.nVocab),
    };
  }

  /**
   * Evaluates `tokens` at positions pos0.. into `slot` (keys and values of those positions are
   * written; the slot's token list is the caller's business) and returns the logits of the last
   * token when `logits` is set (a view into engine memory, valid until the next call).
   * `cancel` is polled before every layer; once set, an AbortError is thrown (the keys and values
   * written so far are then garbage the caller must not count as cached).
   */
  forward(slot: KvSlot, tokens: readonly number[], pos0: number, logits: boolean, cancel?: Cancellation): Float32Array | undefined {
    const n = tokens.length;
    if (n === 0 || n > this.maxBatch) throw new Error(`a batch holds 1..${this.maxBatch} tokens, not ${n}`);
    if (pos0 + n > this.nCtx) throw new Error(`positions up to ${pos0 + n} exceed the context of ${this.nCtx}`);
    const { e, hp, w, buf } = this;
    for (let t = 0; t < n; t++) {
      const id = tokens[t];
      if (!Number.isInteger(id) || id < 0 || id >= hp.nVocab) throw new Error(`token id ${id} is outside the vocabulary (0..${hp.nVocab - 1})`);
      e.get_row(kernelType(w.tokenEmbd), w.tokenEmbd.ptr, hp.nEmbd, id, buf.x + t * hp.nEmbd * 4);
    }
    const positions = Array.from({ length: n }, (_, t) => pos0 + t);
    ropeCosSin(positions, hp.ropeDims, hp.ropeFreqBase, { freqScale: hp.ropeFreqScale }, this.ropeTable);
    this.k.f32(buf.rope, n * hp.ropeDims).set(this.ropeTable.subarray(0, n * hp.ropeDims));
    for (let l = 0; l < hp.nLayer; l++) {
      if (cancel?.cancelled) throw new AbortError();
      this.layer(l, slot, n, pos0);
    }
    if (!logits) return undefined;
    const last = buf.x + (n - 1) * hp.nEmbd * 4;
    e.rms_norm(last, w.outputNorm.ptr, buf.h, hp.nEmbd, hp.rmsEps);
    this.matmul(w.output, buf.h, 1, buf.logits);
    return this.k.f32(buf.logits, hp.nVocab);
  }

  private layer(l: number, slot: KvSlot, n: number, pos0: number): void {
    const { e, hp, buf } = this;
    const L = this.w.layers[l];
    const neox = hp.ropeMode === RopeMode.NeoX;
    // Attention.
    e.rms_norm_rows(buf.x, L.attnNorm.ptr, buf.h, hp.nEmbd, n, hp.rmsEps);
    this.products(buf.h, n, [L.wq, buf.q], [L.wk, buf.k], [L.wv, buf.v]);
    if (L.bq) e.add_bias_rows(buf.q, L.bq.ptr, this.qDim, n);
    if (L.bk) e.add_bias_rows(buf.k, L.bk.ptr, this.kDim, n);
    if (L.bv) e.add_bias_rows(buf.v, L.bv.ptr, this.vDim, n);
    if (L.qNorm) e.rms_norm_rows(buf.q, L.qNorm.ptr, buf.q, hp.headDimK, n * hp.nHead, hp.rmsEps);
    if (L.kNorm) e.rms_norm_rows(buf.k, L.kNorm.ptr, buf.k, hp.headDimK, n * hp.nHeadKV, hp.rmsEps);
    if (hp.useRope[l]) {
      const rope = { nTokens: n, headDim: hp.headDimK, nDims: hp.ropeDims, cs: buf.rope, neox };
      ropeRows(e, { ...rope, x: buf.q, rowStride: this.qDim, nHeads: hp.nHead });
      ropeRows(e, { ...rope, x: buf.k, rowStride: this.kDim, nHeads: hp.nHeadKV });
    }
    // The cache keeps each KV head's positions together (kv-cache.ts).
    const hd = hp.headDimK;
    e.store_kv_f16_heads(buf.k, slot.keys[l] + pos0 * hd * 2, n, hp.nHeadKV, hd, this.nCtx * hd);
    e.store_kv_f16_heads(buf.v, slot.values[l] + pos0 * hd * 2, n, hp.nHeadKV, hd, this.nCtx * hd);
    attention(e, {
      out: buf.attn, q: buf.q, keys: slot.keys[l], values: slot.values[l], nTokens: n, nHead: hp.nHead, nHeadKV: hp.nHeadKV,
      headDim: hd, kvStride: hd, kvHeadStride: this.nCtx * hd, firstPos: pos0, scale: this.kqScale, scratch: buf.attnScratch,
    });
    this.matmul(L.wo, buf.attn, n, buf.h);
    e.add(buf.x, buf.h, buf.x, n * hp.nEmbd);
    // Feed-forward (SwiGLU).
    e.rms_norm_rows(buf.x, L.ffnNorm.ptr, buf.h, hp.nEmbd, n, hp.rmsEps);
    this.products(buf.h, n, [L.gate, buf.gate], [L.up, buf.up]);
    e.silu_mul(buf.gate, buf.up, buf.gate, n * hp.nFF);
    this.matmul(L.down, buf.gate, n, buf.h);
    e.add(buf.x, buf.h, buf.x, n * hp.nEmbd);
  }

  /** y[n][rows] = W · x[n][cols], activations quantised as llama.cpp does. */
  private matmul(W: Tensor, x: number, n: number, y: number): void {
    this.e.matmul(kernelType(W), W.ptr, W.rows, W.cols, x, n, y, this.buf.quant);
  }

  /**
   * The products of several weights with one input (q, k and v; gate and up): the input is
   * quantised once per activation format they take, not once per product (the same bytes, fewer
   * passes over the input, and fewer tasks for the thread pool to wait on).
   */
  private products(x: number, n: number, ...products: [W: Tensor, y: number][]): void {
    const byFormat = products
      .map(([W, y]) => {
        const type = kernelType(W);
        return { W, y, type, format: this.e.act_format(type) };
      })
      .sort((a, b) => a.format - b.format);
    let quantised: number | undefined;
    for (const { W, y, type, format } of byFormat) {
      if (format !== quantised) this.e.quantize_activations(type, x, W.cols, n, this.buf.quant);
      quantised = format;
      this.e.matmul_quantized(type, W.ptr, W.rows, W.cols, this.buf.quant, n, y);
    }
  }
}

/** The weight type as the kernels take it (REPACKED flag for the interleaved layout). */
function kernelType(W: Tensor): number {
  return W.repacked ? W.type | REPACKED : W.type;
}

/** Floats rounded up to a whole 64 bytes. */
function align16(floats: number): number {
  return Math.ceil(floats / 16) * 16;
}

/** Addresses of [batch][dim] float buffers one after another from `base`, each 64-byte aligned. */
function carve(base: number, batch: number, dims: number[]): number[] {
  let at = base;
  return dims.map((d) => {
    const ptr = at;
    at += align16(batch * d) * 4;
    return ptr;
  });
}

function maxQuantBytes(k: Kernels, w: ModelWeights, maxBatch: number): number {
  const all: Tensor[] = [w.output, ...w.layers.flatMap((L) => [L.wq, L.wk, L.wv, L.wo, L.gate, L.up, L.down])];
  return Math.max(...all.map((t) => k.exports.matmul_scratch_bytes(t.type, t.cols, maxBatch)));
}
