// Quantise float rows into ggml's block formats.
//
// Two entry points, because ggml quantises Q8_0/Q8_1 differently in its two roles:
// - `quantizeRow`: what llama.cpp's CPU backend does at run time on x86 (its `from_float`):
//   activations (Q8_0/Q8_1 by the AVX path, Q8_K, F16 by F16C, BF16) and, for the weight types,
//   the reference quantisers. Use it for activations and for kernel tests.
// - `quantizeWeightRow` / `quantizeTensor`: what llama-quantize writes into a GGUF file
//   (`quantize_row_*_ref` for every type, including Q8_0). Use them for fixtures.
// The two differ only for Q8_0 and Q8_1 (see activation.ts).

import { blocksOf, viewOf } from "./common.ts";
import { f32BitsToBf16, f32BitsToF16 } from "./half.ts";
import { quantizeQ8_0X86, quantizeQ8_1X86, quantizeQ8_K } from "./activation.ts";
import { quantizeQ4_K, quantizeQ5_K, quantizeQ6_K } from "./kquants.ts";
import {
  quantizeQ4_0, quantizeQ4_1, quantizeQ5_0, quantizeQ5_1, quantizeQ8_0Ref, quantizeQ8_1Ref, type RowQuantizer,
} from "./legacy.ts";
import { GgmlType, TYPE_INFO, typeName } from "../../../src/engine/quant/types.ts";

// F32/F16/BF16 read the raw float32 bits so NaN payloads convert exactly as in C.
const copyF32: RowQuantizer = (x, n, y) => y.set(new Uint8Array(x.buffer, x.byteOffset, 4 * n));
const toF16: RowQuantizer = (x, n, _y, v) => {
  const bits = new Uint32Array(x.buffer.slice(x.byteOffset, x.byteOffset + 4 * n));
  for (let i = 0; i < n; i++) v.setUint16(2 * i, f32BitsToF16(bits[i]), true);
};
const toBf16: RowQuantizer = (x, n, _y, v) => {
  const bits = new Uint32Array(x.buffer.slice(x.byteOffset, x.byteOffset + 4 * n));
  for (let i = 0; i < n; i++) v.setUint16(2 * i, f32BitsToBf16(bits[i]), true);
};

const weightQuantizers = new Map<GgmlType, RowQuantizer>([
  [GgmlType.F32, copyF32],
  [GgmlType.F16, toF16],
  [GgmlType.BF16, toBf16],
  [GgmlType.Q4_0, quantizeQ4_0],
  [GgmlType.Q4_1, quantizeQ4_1],
  [GgmlType.Q5_0, quantizeQ5_0],
  [GgmlType.Q5_1, quantizeQ5_1],
  [GgmlType.Q8_0, quantizeQ8_0Ref],
  [GgmlType.Q8_1, quantizeQ8_1Ref],
  [GgmlType.Q4_K, quantizeQ4_K],
  [GgmlType.Q5_K, quantizeQ5_K],
  [GgmlType.Q6_K, quantizeQ6_K],
  [GgmlType.Q8_K, quantizeQ8_K],
]);

const runtimeQuantizers = new Map<GgmlType, RowQuantizer>([
  ...weightQuantizers,
  [GgmlType.Q8_0, quantizeQ8_0X86],
  [GgmlType.Q8_1, quantizeQ8_1X86],
]);

/** Types `quantizeRow` / `quantizeWeightRow` handle. */
export const QUANTIZABLE_TYPES: ReadonlySet<GgmlType> = new Set(weightQuantizers.keys());

function run(table: ReadonlyMap<GgmlType, RowQuantizer>, what: string, type: GgmlType, x: Float32Array): Uint8Array {
  const fn = table.get(type);
  if (!fn) throw new Error(`${what}: no reference quantisation to tensor type ${typeName(type)}`);
  const nb = blocksOf(type, x.length);
  const y = new Uint8Array(nb * TYPE_INFO.get(type)!.typeSize);
  fn(x, nb, y, viewOf(y));
  return y;
}

/**
 * Quantise one row as llama.cpp's x86 CPU backend does at run time (activations: Q8_0 and Q8_1
 * by the AVX path — id = 127/amax, round half to even —, Q8_K by its reference; weight types by
 * their reference quantiser). `x.length` must be a whole number of blocks.
 */
export function quantizeRow(type: GgmlType, x: Float32Array): Uint8Array {
  return run(runtimeQuantizers, "quantizeRow", type, x);
}

/** Quantise one row as llama-quantize does (`quantize_row_*_ref`, no importance matrix). */
export function quantizeWeightRow(type: GgmlType, x: Float32Array): Uint8Array {
  return run(weightQuantizers, "quantizeWeightRow", type, x);
}

/**
 * Quantise a row-major matrix of `data.length / rowLength` rows of `rowLength` elements, row by
 * row as llama-quantize does, and return the concatenated rows (the tensor's bytes in a GGUF).
 */
export function quantizeTensor(type: GgmlType, data: Float32Array, rowLength: number): Uint8Array {
  if (!Number.isInteger(rowLength) || rowLength <= 0 || data.length % rowLength !== 0) {
    throw new Error(`quantizeTensor: ${data.length} values are not whole rows of ${rowLength}`);
  }
  const rows = data.length / rowLength;
  const rowSize = blocksOf(type, rowLength) * (TYPE_INFO.get(type)?.typeSize ?? 0);
  const out = new Uint8Array(rows * rowSize);
  for (let r = 0; r < rows; r++) {
    out.set(quantizeWeightRow(type, data.subarray(r * rowLength, (r + 1) * rowLength)), r * rowSize);
  }
  return out;
}
