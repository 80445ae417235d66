// Reference dot product of a quantised weight row with a float activation vector, computed the
// way llama.cpp's CPU backend defines it: the activations are first quantised to the weight
// type's `vec_dot_type` (ggml-cpu's type traits), then the two are multiplied. Kernel tests
// compare the WASM SIMD dot products against this; the sum here is float64, so a kernel
// accumulating in float32 should agree to a few float32 ulps of the magnitudes summed.

import { dequantizeRow } from "./dequantize.ts";
import { quantizeRow } from "./quantize.ts";
import { GgmlType, TYPE_INFO, typeName } from "../../../src/engine/quant/types.ts";
import { f16ToF32 } from "./half.ts";

const VEC_DOT_TYPE = new Map<GgmlType, GgmlType>([
  [GgmlType.F32, GgmlType.F32],
  [GgmlType.F16, GgmlType.F16],
  [GgmlType.BF16, GgmlType.BF16],
  [GgmlType.Q4_0, GgmlType.Q8_0],
  [GgmlType.Q5_0, GgmlType.Q8_0],
  [GgmlType.Q8_0, GgmlType.Q8_0],
  [GgmlType.Q4_1, GgmlType.Q8_1],
  [GgmlType.Q5_1, GgmlType.Q8_1],
  [GgmlType.Q4_K, GgmlType.Q8_K],
  [GgmlType.Q5_K, GgmlType.Q8_K],
  [GgmlType.Q6_K, GgmlType.Q8_K],
]);

/** ggml's `vec_dot_type` of a weight type: the format activations are quantised to for it. */
export function activationType(weightType: GgmlType): GgmlType {
  const t = VEC_DOT_TYPE.get(weightType);
  if (t === undefined) throw new Error(`activationType: no dot product for weight type ${typeName(weightType)}`);
  return t;
}

/**
 * Σ w·a in float64 over dequantised values, where `act` holds an activation row already in
 * `activationType(weightType)` (the same bytes a kernel under test is given).
 * Q4_1/Q5_1 follow ggml: their min term is m·s with the activation block's stored s = f16(d·Σq),
 * not m·Σa over the dequantised activations (the two differ by about 1e-4 of Σ|w·a|).
 */
export function referenceDotQuantized(weightType: GgmlType, wRow: Uint8Array, act: Uint8Array, n: number): number {
  const w = dequantizeRow(weightType, wRow, n);
  const a = dequantizeRow(activationType(weightType), act, n);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += w[i] * a[i];
  if (weightType === GgmlType.Q4_1 || weightType === GgmlType.Q5_1) {
    const wBlock = TYPE_INFO.get(weightType)!.typeSize;
    const wv = new DataView(wRow.buffer, wRow.byteOffset, wRow.byteLength);
    const av = new DataView(act.buffer, act.byteOffset, act.byteLength);
    for (let b = 0; b < n / 32; b++) {
      const m = f16ToF32(wv.getUint16(b * wBlock + 2, true));
      const s = f16ToF32(av.getUint16(b * 36 + 2, true));
      let blockSum = 0;
      for (let j = 0; j < 32; j++) blockSum += a[32 * b + j];
      sum += m * (s - blockSum);
    }
  }
  return sum;
}

/** Quantise `x` as llama.cpp does for `weightType`, then `referenceDotQuantized`. */
export function referenceDot(weightType: GgmlType, wRow: Uint8Array, x: Float32Array): number {
  const act = quantizeRow(activationType(weightType), x);
  return referenceDotQuantized(weightType, wRow, act, x.length);
}
