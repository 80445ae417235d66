// Shared helpers of the reference quantisers: float32 arithmetic and row checks.
//
// ggml computes in C `float`. A float32 `a op b` for + - * / and sqrt equals the float64 result
// rounded once to float32 (float64 has more than 2·24+2 bits), so wrapping every operation in
// `f()` reproduces ggml bit for bit, provided ggml itself was compiled without FMA contraction
// (true for llama.cpp's ggml-base, which is built for baseline x86-64).

import { TYPE_INFO, typeName, type GgmlType } from "../../../src/engine/quant/types.ts";

/** Round to float32, as storing into a C `float` does. */
export const f = Math.fround;

/** Float32 value of ggml's GROUP_MAX_EPS (1e-15f). */
export const GROUP_MAX_EPS = Math.fround(1e-15);

/**
 * ggml's `nearest_int`: adds 1.5·2^23 in float32 and reads the mantissa, i.e. round half to even
 * (valid for |v| ≤ 4194303, which ggml asserts). Done directly here: float64 sums could double-round.
 */
export function nearestInt(v: number): number {
  const fl = Math.floor(v);
  const diff = v - fl; // exact for float32 inputs
  if (diff > 0.5) return fl + 1;
  if (diff < 0.5) return fl;
  return fl % 2 === 0 ? fl : fl + 1;
}

/** C's `roundf`: half away from zero (exact for float32 inputs of moderate size). */
export function roundHalfAway(v: number): number {
  const r = Math.floor(Math.abs(v) + 0.5);
  return v < 0 ? -r : r;
}

/** Blocks in a row of `n` elements of `type`; throws a clear error when `n` does not fit. */
export function blocksOf(type: GgmlType, n: number): number {
  const info = TYPE_INFO.get(type);
  if (!info) throw new Error(`unknown tensor type ${type}`);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${info.name}: row length ${n} is not a non-negative integer`);
  if (n % info.blockSize !== 0) {
    throw new Error(`${info.name}: a row of ${n} elements is not a whole number of blocks of ${info.blockSize}`);
  }
  return n / info.blockSize;
}

/** Throws unless `src` holds at least the bytes of a row of `n` elements of `type`. */
export function checkSource(type: GgmlType, src: Uint8Array, n: number): number {
  const nb = blocksOf(type, n);
  const need = nb * TYPE_INFO.get(type)!.typeSize;
  if (src.byteLength < need) {
    throw new Error(`${typeName(type)}: a row of ${n} elements needs ${need} bytes, got ${src.byteLength}`);
  }
  return nb;
}

/** A little-endian DataView over exactly the bytes of `src` (honours its byteOffset). */
export function viewOf(src: Uint8Array): DataView {
  return new DataView(src.buffer, src.byteOffset, src.byteLength);
}

/** ggml's `get_scale_min_k4`: 6-bit scale and min of sub-block `j` (0..7) from the 12 packed bytes at `q`. */
export function getScaleMinK4(j: number, src: Uint8Array, q: number): [number, number] {
  if (j < 4) return [src[q + j] & 63, src[q + j + 4] & 63];
  const sc = (src[q + j + 4] & 0xf) | ((src[q + j - 4] >> 6) << 4);
  const m = (src[q + j + 4] >> 4) | ((src[q + j] >> 6) << 4);
  return [sc, m];
}
