// Reference dequantisation of one row, bit-exact with ggml's `dequantize_row_*` (float32 math,
// same operation order), so the WASM kernels can be compared with it exactly where they keep
// ggml's order, and within rounding where they do not.

import { f, checkSource, getScaleMinK4, viewOf } from "./common.ts";
import { f16ToF32, bf16ToF32 } from "./half.ts";
import { GgmlType, typeName } from "../../../src/engine/quant/types.ts";

type Dequant = (s: Uint8Array, v: DataView, nb: number, y: Float32Array) => void;

const dequantizers = new Map<GgmlType, Dequant>([
  [GgmlType.F32, (_s, v, nb, y) => { for (let i = 0; i < nb; i++) y[i] = v.getFloat32(4 * i, true); }],
  [GgmlType.F16, (_s, v, nb, y) => { for (let i = 0; i < nb; i++) y[i] = f16ToF32(v.getUint16(2 * i, true)); }],
  [GgmlType.BF16, (_s, v, nb, y) => { for (let i = 0; i < nb; i++) y[i] = bf16ToF32(v.getUint16(2 * i, true)); }],
  [GgmlType.Q4_0, dequantQ4_0],
  [GgmlType.Q4_1, dequantQ4_1],
  [GgmlType.Q5_0, dequantQ5_0],
  [GgmlType.Q5_1, dequantQ5_1],
  [GgmlType.Q8_0, dequantQ8_0],
  [GgmlType.Q8_1, dequantQ8_1],
  [GgmlType.Q4_K, dequantQ4_K],
  [GgmlType.Q5_K, dequantQ5_K],
  [GgmlType.Q6_K, dequantQ6_K],
  [GgmlType.Q8_K, dequantQ8_K],
]);

/** Types `dequantizeRow` handles. */
export const DEQUANTIZABLE_TYPES: ReadonlySet<GgmlType> = new Set(dequantizers.keys());

/**
 * Dequantise the row of `n` elements whose bytes start at `src[0]` (any byteOffset; extra bytes
 * after the row are ignored). Throws for types without a reference or a malformed length.
 */
export function dequantizeRow(type: GgmlType, src: Uint8Array, n: number): Float32Array {
  const fn = dequantizers.get(type);
  if (!fn) throw new Error(`dequantizeRow: no reference dequantisation for tensor type ${typeName(type)}`);
  const nb = checkSource(type, src, n);
  const y = new Float32Array(n);
  fn(src, viewOf(src), nb, y);
  return y;
}

// {f16 d; u8 qs[16]}: low nibbles are elements 0..15, high nibbles 16..31; value (q - 8)·d.
function dequantQ4_0(s: Uint8Array, v: DataView, nb: number, y: Float32Array): void {
  for (let i = 0; i < nb; i++) {
    const o = 18 * i;
    const d = f16ToF32(v.getUint16(o, true));
    for (let j = 0; j < 16; j++) {
      const q = s[o + 2 + j];
      y[32 * i + j] = f(((q & 0xf) - 8) * d);
      y[32 * i + j + 16] = f(((q >> 4) - 8) * d);
    }
  }
}

// {f16 d, m; u8 qs[16]}: value q·d + m.
function dequantQ4_1(s: Uint8Array, v: DataView, nb: number, y: Float32Array): void {
  for (let i = 0; i < nb; i++) {
    const o = 20 * i;
    const d = f16ToF32(v.getUint16(o, true));
    const m = f16ToF32(v.getUint16(o + 2, true));
    for (let j = 0; j < 16; j++) {
      const q = s[o + 4 + j];
      y[32 * i + j] = f(f((q & 0xf) * d) + m);
      y[32 * i + j + 16] = f(f((q >> 4) * d) + m);
    }
  }
}

// {f16 d; u8 qh[4]; u8 qs[16]}: bit j of the little-endian u32 qh is bit 4 of element j.
function dequantQ5_0(s: Uint8Array, v: DataView, nb: number, y: Float32Array): void {
  for (let i = 0; i < nb; i++) {
    const o = 22 * i;
    const d = f16ToF32(v.getUint16(o, true));
    const qh = v.getUint32(o + 2, true);
    for (let j = 0; j < 16; j++) {
      const q = s[o + 6 + j];
      const h0 = ((qh >>> j) & 1) << 4;
      const h1 = ((qh >>> (j + 16)) & 1) << 4;
      y[32 * i + j] = f((((q & 0xf) | h0) - 16) * d);
      y[32 * i + j + 16] = f((((q >> 4) | h1) - 16) * d);
    }
  }
}

// {f16 d, m; u8 qh[4]; u8 qs[16]}: value q·d + m with 5-bit q.
function dequantQ5_1(s: Uint8Array, v: DataView, nb: number, y: Float32Array): void {
  for (let i = 0; i < nb; i++) {
    const o = 24 * i;
    const d = f16ToF32(v.getUint16(o, true));
    const m = f16ToF32(v.getUint16(o + 2, true));
    const qh = v.getUint32(o + 4, true);
    for (let j = 0; j < 16; j++) {
      const q = s[o + 8 + j];
      const h0 = ((qh >>> j) & 1) << 4;
      const h1 = ((qh >>> (j + 16)) & 1) << 4;
      y[32 * i + j] = f(f(((q & 0xf) | h0) * d) + m);
      y[32 * i + j + 16] = f(f(((q >> 4) | h1) * d) + m);
    }
  }
}

// {f16 d; i8 qs[32]}.
function dequantQ8_0(_s: Uint8Array, v: DataView, nb: number, y: Float32Array): void {
  for (let i = 0; i < nb; i++) {
    const o = 34 * i;
    const d = f16ToF32(v.getUint16(o, true));
    for (let j = 0; j < 32; j++) y[32 * i + j] = f(v.getInt8(o + 2 + j) * d);
  }
}

// {f16 d, s; i8 qs[32]}: s = d·Σqs only serves the dot product's min term; values are q·d.
function dequantQ8_1(_s: Uint8Array, v: DataView, nb: number, y: Float32Array): void {
  for (let i = 0; i < nb; i++) {
    const o = 36 * i;
    const d = f16ToF32(v.getUint16(o, true));
    for (let j = 0; j < 32; j++) y[32 * i + j] = f(v.getInt8(o + 4 + j) * d);
  }
}

// {f16 d, dmin; u8 scales[12]; u8 qs[128]}: 8 sub-blocks of 32; each 32 bytes of qs hold two
// sub-blocks (low nibbles = sub-block 2c, high = 2c+1); value d·sc·q − dmin·m.
function dequantQ4_K(s: Uint8Array, v: DataView, nb: number, y: Float32Array): void {
  for (let i = 0; i < nb; i++) {
    const o = 144 * i;
    const d = f16ToF32(v.getUint16(o, true));
    const min = f16ToF32(v.getUint16(o + 2, true));
    let yi = 256 * i;
    for (let c = 0; c < 4; c++) {
      const [sc1, m1] = getScaleMinK4(2 * c, s, o + 4);
      const [sc2, m2] = getScaleMinK4(2 * c + 1, s, o + 4);
      const d1 = f(d * sc1), mm1 = f(min * m1);
      const d2 = f(d * sc2), mm2 = f(min * m2);
      const q = o + 16 + 32 * c;
      for (let l = 0; l < 32; l++) y[yi + l] = f(f(d1 * (s[q + l] & 0xf)) - mm1);
      for (let l = 0; l < 32; l++) y[yi + 32 + l] = f(f(d2 * (s[q + l] >> 4)) - mm2);
      yi += 64;
    }
  }
}

// {f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]}: as Q4_K plus a 5th bit; for the pair of
// sub-blocks c, bit 2c of qh[l] goes with the low nibble and bit 2c+1 with the high nibble.
function dequantQ5_K(s: Uint8Array, v: DataView, nb: number, y: Float32Array): void {
  for (let i = 0; i < nb; i++) {
    const o = 176 * i;
    const d = f16ToF32(v.getUint16(o, true));
    const min = f16ToF32(v.getUint16(o + 2, true));
    const qh = o + 16;
    let yi = 256 * i;
    for (let c = 0; c < 4; c++) {
      const [sc1, m1] = getScaleMinK4(2 * c, s, o + 4);
      const [sc2, m2] = getScaleMinK4(2 * c + 1, s, o + 4);
      const d1 = f(d * sc1), mm1 = f(min * m1);
      const d2 = f(d * sc2), mm2 = f(min * m2);
      const u1 = 1 << (2 * c), u2 = 2 << (2 * c);
      const ql = o + 48 + 32 * c;
      for (let l = 0; l < 32; l++) y[yi + l] = f(f(d1 * ((s[ql + l] & 0xf) + (s[qh + l] & u1 ? 16 : 0))) - mm1);
      for (let l = 0; l < 32; l++) y[yi + 32 + l] = f(f(d2 * ((s[ql + l] >> 4) + (s[qh + l] & u2 ? 16 : 0))) - mm2);
      yi += 64;
    }
  }
}

// {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}: per half-block n of 128 elements, element
// 128n + 32k + l (k = 0..3) takes its low 4 bits from ql[64n + l + 32(k&1)] (low nibble for k<2,
// high for k≥2) and its top 2 bits from qh[32n + l] >> 2k; value d·scales[e/16]·(q − 32).
function dequantQ6_K(s: Uint8Array, v: DataView, nb: number, y: Float32Array): void {
  for (let i = 0; i < nb; i++) {
    const o = 210 * i;
    const d = f16ToF32(v.getUint16(o + 208, true));
    for (let n = 0; n < 2; n++) {
      const ql = o + 64 * n;
      const qh = o + 128 + 32 * n;
      const sc = o + 192 + 8 * n;
      const yi = 256 * i + 128 * n;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const h = s[qh + l];
        const q1 = ((s[ql + l] & 0xf) | (((h >> 0) & 3) << 4)) - 32;
        const q2 = ((s[ql + l + 32] & 0xf) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((s[ql + l] >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((s[ql + l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32;
        y[yi + l] = f(f(d * v.getInt8(sc + is)) * q1);
        y[yi + l + 32] = f(f(d * v.getInt8(sc + is + 2)) * q2);
        y[yi + l + 64] = f(f(d * v.getInt8(sc + is + 4)) * q3);
        y[yi + l + 96] = f(f(d * v.getInt8(sc + is + 6)) * q4);
      }
    }
  }
}

// {f32 d; i8 qs[256]; i16 bsums[16]}: value d·q (bsums only speed up the min terms of dots).
function dequantQ8_K(_s: Uint8Array, v: DataView, nb: number, y: Float32Array): void {
  for (let i = 0; i < nb; i++) {
    const o = 292 * i;
    const d = v.getFloat32(o, true);
    for (let j = 0; j < 256; j++) y[256 * i + j] = f(d * v.getInt8(o + 4 + j));
  }
}
