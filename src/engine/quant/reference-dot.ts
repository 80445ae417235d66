// Reference dot product of a quantised weight row with a float activation vector, computed the
// way llama.cpp's CPU backend defines it: the activations are first quantised to the weight
// type's `vec_dot_type` (ggml-cpu's type traits), then the two are multiplied. Kernel tests
// compare the WASM SIMD dot products against this; the sum here is float64, so a kernel
// accumulating in float32 should agree to a few float32 ulps of the magnitudes summed.

import { dequantizeRow } from "./dequantize.ts";
import { quantizeRow } from "./quantize.ts";
import { GgmlType, typeName } from "./types.ts";

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
 */
export function referenceDotQuantized(weightType: GgmlType, wRow: Uint8Array, act: Uint8Array, n: number): number {
  const w = dequantizeRow(weightType, wRow, n);
  const a = dequantizeRow(activationType(weightType), act, n);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += w[i] * a[i];
  return sum;
}

/** Quantise `x` as llama.cpp does for `weightType`, then `referenceDotQuantized`. */
export function referenceDot(weightType: GgmlType, wRow: Uint8Array, x: Float32Array): number {
  const act = quantizeRow(activationType(weightType), x);
  return referenceDotQuantized(weightType, wRow, act, x.length);
}
