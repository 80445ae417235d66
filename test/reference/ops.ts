// Reference implementations of the float kernels of kernels/ops*.c, in plain TypeScript. The RoPE
// (cos, sin) table builder lives with the model code (src/engine/model/rope.ts) and is re-exported.
//
// Where ggml's float rounding decides the result (RMSNorm's separate scale and weight products,
// RoPE's products, the f16 roundings in attention) the reference rounds the same way with
// Math.fround so the kernels can be checked tightly; elsewhere (exp, softmax, SwiGLU) it computes
// in float64 and the tests allow a few float ulps.
import { roundToF16, f16ToF32 } from "./quant/half.ts";
export { ropeCosSin, type RopeTableOptions } from "../../src/engine/model/rope.ts";

const fr = Math.fround;

/** y = x / sqrt(mean(x²) + eps) * w over rows of n, with ggml's roundings (see ops.c). */
export function rmsNormRef(x: Float32Array, w: Float32Array | null, n: number, eps: number): Float32Array {
  const y = new Float32Array(x.length);
  for (let r = 0; r < x.length / n; r++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += fr(x[r * n + i] * x[r * n + i]);
    const mean = fr(sum / n);
    const s = fr(1 / fr(Math.sqrt(fr(mean + fr(eps)))));
    for (let i = 0; i < n; i++) {
      const v = fr(x[r * n + i] * s);
      y[r * n + i] = w ? fr(v * w[i]) : v;
    }
  }
  return y;
}

/**
 * RoPE in place on nTokens rows (row t at t*rowStride) of nHeads heads, token t using the table
 * cs.subarray(t*nDims), with ggml's float roundings (no FMA).
 */
export function ropeRef(
  x: Float32Array,
  nTokens: number,
  rowStride: number,
  nHeads: number,
  headDim: number,
  nDims: number,
  cs: Float32Array,
  neox: boolean,
): void {
  const half = nDims / 2;
  for (let t = 0; t < nTokens; t++) {
    for (let h = 0; h < nHeads; h++) {
      const base = t * rowStride + h * headDim;
      for (let i = 0; i < half; i++) {
        const c = cs[t * nDims + 2 * i];
        const s = cs[t * nDims + 2 * i + 1];
        const a = neox ? base + i : base + 2 * i;
        const b = neox ? base + i + half : base + 2 * i + 1;
        const x0 = x[a];
        const x1 = x[b];
        x[a] = fr(fr(x0 * c) - fr(x1 * s));
        x[b] = fr(fr(x0 * s) + fr(x1 * c));
      }
    }
  }
}

/** Softmax in float64: exp(x - max) / Σ. */
export function softmaxRef(x: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) max = Math.max(max, x[i]);
  const y = new Float64Array(x.length);
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += y[i] = Math.exp(x[i] - max);
  for (let i = 0; i < x.length; i++) y[i] /= sum;
  return y;
}

/**
 * silu(gate) * up = gate / (1 + exp(-gate)) * up in float64, except that exp(-gate) is rounded to
 * float first: for gate < -88.7 it overflows to inf in ggml (and the kernel), giving -0, where
 * float64 would give a tiny nonzero value.
 */
export function siluMulRef(gate: ArrayLike<number>, up: ArrayLike<number>): Float64Array {
  const y = new Float64Array(gate.length);
  for (let i = 0; i < gate.length; i++) y[i] = (gate[i] / (1 + fr(Math.exp(-gate[i])))) * up[i];
  return y;
}

export interface AttentionShape {
  nTokens: number;
  nHead: number;
  nHeadKv: number;
  headDim: number;
  /** Elements per cache position (≥ nHeadKv * headDim). */
  kvStride: number;
  firstPos: number;
  scale: number;
}

/**
 * Causal GQA attention over f16 caches (k, v as f16 bits), like the attention kernel and
 * llama.cpp's non-flash path: q rounded to f16, scores q·k * scale and softmax in float64, the
 * probabilities rounded to float then to f16, Σ p·v in float64.
 * Also returns, per output element, Σ_j p_j |v_j| (the magnitude the output's error scales with).
 */
export function attentionRef(
  q: Float32Array,
  k: Uint16Array,
  v: Uint16Array,
  s: AttentionShape,
): { out: Float64Array; mag: Float64Array } {
  const { nTokens, nHead, nHeadKv, headDim: hd, kvStride, firstPos } = s;
  const out = new Float64Array(nTokens * nHead * hd);
  const mag = new Float64Array(out.length);
  const group = nHead / nHeadKv;
  const kf = Float64Array.from(k, f16ToF32);
  const vf = Float64Array.from(v, f16ToF32);
  for (let t = 0; t < nTokens; t++) {
    const nKv = firstPos + t + 1;
    for (let h = 0; h < nHead; h++) {
      const hk = Math.floor(h / group);
      const qo = (t * nHead + h) * hd;
      const qh = Array.from(q.subarray(qo, qo + hd), roundToF16);
      const scores = new Float64Array(nKv);
      for (let j = 0; j < nKv; j++) {
        let dot = 0;
        for (let d = 0; d < hd; d++) dot += qh[d] * kf[j * kvStride + hk * hd + d];
        scores[j] = dot * s.scale;
      }
      const p = softmaxRef(scores).map((x) => roundToF16(fr(x)));
      for (let d = 0; d < hd; d++) {
        let acc = 0;
        let m = 0;
        for (let j = 0; j < nKv; j++) {
          const vv = vf[j * kvStride + hk * hd + d];
          acc += p[j] * vv;
          m += p[j] * Math.abs(vv);
        }
        out[qo + d] = acc;
        mag[qo + d] = m;
      }
    }
  }
  return { out, mag };
}
