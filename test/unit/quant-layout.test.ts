// Hand-built blocks with known bytes → known values, one per format, so that any mistake in a
// byte layout (nibble order, high-bit packing, scale packing, interleaving) fails here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { dequantizeRow } from "../reference/quant/dequantize.ts";
import { GgmlType } from "../../src/engine/quant/types.ts";

/** A block builder: little-endian writes into a fresh buffer. */
function block(size: number): { b: Uint8Array; v: DataView } {
  const b = new Uint8Array(size);
  return { b, v: new DataView(b.buffer) };
}

const H_ONE = 0x3c00, H_HALF = 0x3800, H_QUARTER = 0x3400, H_MINUS_TWO = 0xc000;

test("Q4_0: low nibbles are elements 0..15, high nibbles 16..31, value (q-8)·d", () => {
  const { b, v } = block(18);
  v.setUint16(0, H_HALF, true);
  for (let j = 0; j < 16; j++) b[2 + j] = j | ((15 - j) << 4);
  const y = dequantizeRow(GgmlType.Q4_0, b, 32);
  for (let j = 0; j < 16; j++) {
    assert.equal(y[j], (j - 8) * 0.5);
    assert.equal(y[16 + j], (7 - j) * 0.5);
  }
  assert.equal(y[0], -4);
  assert.equal(y[31], -4);
});

test("Q4_1: value q·d + m", () => {
  const { b, v } = block(20);
  v.setUint16(0, H_ONE, true);
  v.setUint16(2, H_MINUS_TWO, true);
  for (let j = 0; j < 16; j++) b[4 + j] = j | ((15 - j) << 4);
  const y = dequantizeRow(GgmlType.Q4_1, b, 32);
  for (let j = 0; j < 16; j++) {
    assert.equal(y[j], j - 2);
    assert.equal(y[16 + j], 15 - j - 2);
  }
});

test("Q5_0: qh bit j is the 5th bit of element j (little-endian u32)", () => {
  const { b, v } = block(22);
  v.setUint16(0, H_ONE, true);
  // bits 0, 9, 16, 31 → elements 0, 9, 16, 31
  b.set([0x01, 0x02, 0x01, 0x80], 2);
  b[6 + 0] = 0x03; // element 0: low 3, element 16: high 0
  b[6 + 9] = 0x5a; // element 9: low 0xa, element 25: high 5
  b[6 + 15] = 0xa0; // element 15: 0, element 31: 0xa
  const y = dequantizeRow(GgmlType.Q5_0, b, 32);
  assert.equal(y[0], (3 | 16) - 16);
  assert.equal(y[9], (0xa | 16) - 16);
  assert.equal(y[16], (0 | 16) - 16);
  assert.equal(y[25], 5 - 16); // no high bit for element 25
  assert.equal(y[15], -16);
  assert.equal(y[31], (0xa | 16) - 16);
  assert.equal(y[1], -16);
});

test("Q5_1: qh after d and m, value q·d + m", () => {
  const { b, v } = block(24);
  v.setUint16(0, H_HALF, true);
  v.setUint16(2, H_ONE, true);
  v.setUint32(4, 0x00010002, true); // elements 1 and 16
  b[8 + 1] = 0x0f;
  b[8 + 0] = 0xf0;
  const y = dequantizeRow(GgmlType.Q5_1, b, 32);
  assert.equal(y[1], 31 * 0.5 + 1);
  assert.equal(y[16], (15 | 16) * 0.5 + 1);
  assert.equal(y[0], 1);
  assert.equal(y[17], 1);
});

test("Q8_0 and Q8_1: signed bytes times d (Q8_1's s does not enter the values)", () => {
  const a = block(34);
  a.v.setUint16(0, H_HALF, true);
  const c = block(36);
  c.v.setUint16(0, H_HALF, true);
  c.v.setUint16(2, 0x7bff, true); // s: ignored by dequantisation
  for (let j = 0; j < 32; j++) {
    a.v.setInt8(2 + j, j * 8 - 128);
    c.v.setInt8(4 + j, 127 - j * 8);
  }
  const y0 = dequantizeRow(GgmlType.Q8_0, a.b, 32);
  const y1 = dequantizeRow(GgmlType.Q8_1, c.b, 32);
  for (let j = 0; j < 32; j++) {
    assert.equal(y0[j], (j * 8 - 128) * 0.5);
    assert.equal(y1[j], (127 - j * 8) * 0.5);
  }
});

// The 12 scale bytes of Q4_K/Q5_K, with the (scale, min) pairs get_scale_min_k4 must read from them,
// worked out by hand: sub-blocks 0..3 use the low 6 bits of bytes 0..3 / 4..7; sub-blocks 4..7
// take their low 4 bits from the nibbles of bytes 8..11 and their top 2 bits from bits 6..7 of
// bytes 0..3 (scales) and 4..7 (mins).
const K_SCALES = [0x41, 0x82, 0xc3, 0x04, 0x45, 0x86, 0x07, 0xc8, 0x21, 0x43, 0x65, 0x87];
const K_SC = [1, 2, 3, 4, 17, 35, 53, 7];
const K_MIN = [5, 6, 7, 8, 18, 36, 6, 56];

test("Q4_K: scale/min packing of all 8 sub-blocks, nibble layout, d·sc·q − dmin·m", () => {
  const { b, v } = block(144);
  v.setUint16(0, H_ONE, true); // d
  v.setUint16(2, H_HALF, true); // dmin
  b.set(K_SCALES, 4);
  for (let k = 0; k < 128; k++) b[16 + k] = (k % 16) | (((k + 5) % 16) << 4);
  const y = dequantizeRow(GgmlType.Q4_K, b, 256);
  for (let e = 0; e < 256; e++) {
    // element e: 64-element chunk c = e/64; first 32 use the low nibbles of qs[32c..], next 32 the high
    const c = e >> 6, hi = (e >> 5) & 1, l = e & 31;
    const byte = b[16 + 32 * c + l];
    const q = hi ? byte >> 4 : byte & 0xf;
    const sub = e >> 5;
    assert.equal(y[e], K_SC[sub] * q - 0.5 * K_MIN[sub], `element ${e}`);
  }
  // spot checks by hand: e=0: q=0, sub 0 → −2.5; e=32: q=5, sub 1 → 2·5 − 3 = 7;
  // e=255: byte qs[127] = 15 | (4 << 4), high nibble q=4, sub 7 → 7·4 − 28 = 0
  assert.equal(y[0], -2.5);
  assert.equal(y[32], 7);
  assert.equal(y[255], 0);
});

test("Q5_K: qh bit 2c (low half) / 2c+1 (high half) of qh[l] adds 16", () => {
  const { b, v } = block(176);
  v.setUint16(0, H_ONE, true);
  v.setUint16(2, H_HALF, true);
  b.set(K_SCALES, 4);
  b[16 + 3] = 0b00000100; // chunk 1, low half, l=3 → element 64 + 3
  b[16 + 31] = 0b10000000; // chunk 3, high half, l=31 → element 255
  b[16 + 0] = 0b00000011; // chunk 0: elements 0 and 32
  for (let k = 0; k < 128; k++) b[48 + k] = 0x21; // low nibble 1, high nibble 2
  const y = dequantizeRow(GgmlType.Q5_K, b, 256);
  for (let e = 0; e < 256; e++) {
    const hi = (e >> 5) & 1;
    const high = e === 67 || e === 255 || e === 0 || e === 32 ? 16 : 0;
    const q = (hi ? 2 : 1) + high;
    const sub = e >> 5;
    assert.equal(y[e], K_SC[sub] * q - 0.5 * K_MIN[sub], `element ${e}`);
  }
  // by hand: element 67 is in sub-block 2 (sc 3, min 7), q = 1 + 16; element 255: sub-block 7
  // (sc 7, min 56), q = 2 + 16
  assert.equal(y[67], 3 * 17 - 3.5);
  assert.equal(y[255], 7 * 18 - 28);
});

test("Q6_K: ql/qh interleaving, int8 scales per 16 elements, d last", () => {
  const { b, v } = block(210);
  const target = (e: number): number => (e * 7 + 3) % 64; // the 6-bit q wanted at element e
  for (let n = 0; n < 2; n++) {
    for (let l = 0; l < 32; l++) {
      const [q1, q2, q3, q4] = [0, 32, 64, 96].map((k) => target(128 * n + k + l));
      b[64 * n + l] = (q1 & 0xf) | ((q3 & 0xf) << 4);
      b[64 * n + l + 32] = (q2 & 0xf) | ((q4 & 0xf) << 4);
      b[128 + 32 * n + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
    }
  }
  const scales = [-3, 5, 7, -128, 127, 1, 0, 2, -1, 9, 11, 13, -7, 4, 6, 8];
  scales.forEach((s, i) => v.setInt8(192 + i, s));
  v.setUint16(208, H_QUARTER, true);
  const y = dequantizeRow(GgmlType.Q6_K, b, 256);
  for (let e = 0; e < 256; e++) {
    assert.equal(y[e], 0.25 * scales[e >> 4] * (target(e) - 32), `element ${e}`);
  }
  // by hand: element 0 → q 3, scale −3 → 0.25·−3·(3−32) = 21.75;
  // element 100 → q (703 % 64) = 63, scale[6] = 0 → 0; element 255 → q (1788 % 64) = 60, scale 8 → 56
  assert.equal(y[0], 21.75);
  assert.equal(y[100], 0);
  assert.equal(y[255], 56);
});

test("Q8_K: f32 d, then 256 int8, then 16 int16 bsums", () => {
  const { v, b } = block(292);
  v.setFloat32(0, -0.125, true);
  for (let j = 0; j < 256; j++) v.setInt8(4 + j, (j % 255) - 127);
  v.setInt16(260, 12345, true); // bsums do not enter the values
  const y = dequantizeRow(GgmlType.Q8_K, b, 256);
  for (let j = 0; j < 256; j++) assert.equal(y[j], -0.125 * ((j % 255) - 127));
});

test("F32, F16, BF16 rows", () => {
  const f = new Float32Array([1.5, -2, 3.25]);
  assert.deepEqual([...dequantizeRow(GgmlType.F32, new Uint8Array(f.buffer), 3)], [1.5, -2, 3.25]);
  const h = new Uint8Array([0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00]);
  assert.deepEqual([...dequantizeRow(GgmlType.F16, h, 3)], [1, -2, 2 ** -24]);
  const bf = new Uint8Array([0x80, 0x3f, 0x00, 0xc0, 0x49, 0x40]);
  assert.deepEqual([...dequantizeRow(GgmlType.BF16, bf, 3)], [1, -2, 3.140625]);
});

test("dequantizeRow honours byteOffset and reads several blocks", () => {
  const one = block(18);
  one.v.setUint16(0, H_ONE, true);
  for (let j = 0; j < 16; j++) one.b[2 + j] = 0x9a; // low 10 → 2, high 9 → 1
  const big = new Uint8Array(5 + 2 * 18 + 7).fill(0xee);
  big.set(one.b, 5);
  big.set(one.b, 5 + 18);
  big[5 + 18] = 0x00; // second block: d = 2 (0x4000)
  big[5 + 19] = 0x40;
  const y = dequantizeRow(GgmlType.Q4_0, big.subarray(5), 64);
  assert.equal(y[0], 2);
  assert.equal(y[16], 1);
  assert.equal(y[32], 4);
  assert.equal(y[63], 2);
});

test("dequantizeRow: clear errors", () => {
  assert.throws(() => dequantizeRow(GgmlType.Q2_K, new Uint8Array(84), 256), /Q2_K/);
  assert.throws(() => dequantizeRow(GgmlType.Q4_K, new Uint8Array(144), 100), /not a whole number of blocks of 256/);
  assert.throws(() => dequantizeRow(GgmlType.Q8_0, new Uint8Array(33), 32), /needs 34 bytes, got 33/);
});
