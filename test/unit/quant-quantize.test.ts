// Quantisers: bytes identical to ggml's C reference (golden digests), round-trip error bounds,
// block validity, and the rounding rules that distinguish ggml's code paths.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { dequantizeRow } from "../reference/quant/dequantize.ts";
import { f16ToF32 } from "../reference/quant/half.ts";
import { quantizeRow, quantizeTensor, quantizeWeightRow } from "../reference/quant/quantize.ts";
import { GgmlType, rowBytes, typeName } from "../../src/engine/quant/types.ts";
import { gaussianArray, weightLikeArray } from "../helpers/random.ts";

const T = GgmlType;

// SHA-256 of the bytes ggml's own C code produces for `goldenInput()`: quantize_row_*_ref from
// ggml-quants.c, and for Q8_0/Q8_1 "x86" the AVX2 quantize_row_q8_0/q8_1 of
// ggml-cpu/arch/x86/quants.c, compiled with gcc -O2 -mavx2 -mf16c -ffp-contract=off
// (F16 via F16C _cvtss_sh, BF16 via ggml_compute_fp32_to_bf16). On this input the AVX and
// reference Q8_0/Q8_1 agree; the tie tests below separate them.
const GOLDEN: [string, (x: Float32Array) => Uint8Array, string][] = [
  ["Q4_0", (x) => quantizeWeightRow(T.Q4_0, x), "c943bafb9bdef1e611955e12d84932f1db24667f8a3523f1820213be367233ee"],
  ["Q4_1", (x) => quantizeWeightRow(T.Q4_1, x), "e65e82674ad87d1ca849a764dd1741bc98837a936861641788797e4c84bc2636"],
  ["Q5_0", (x) => quantizeWeightRow(T.Q5_0, x), "474425ee4c82f7c86a16f04c67d74ec58782c36c434c4bd70cd8042eb216ae3e"],
  ["Q5_1", (x) => quantizeWeightRow(T.Q5_1, x), "eaa5ce9e1ea2d90a006be50850cc3fcb6085664ccfe1a79cf1c3dfe93ee7f01f"],
  ["Q8_0 ref", (x) => quantizeWeightRow(T.Q8_0, x), "6c342f2705aaa6824424d7b9bd7a71d1c2fcc25cba70bb496b8e7d4f3ab199cf"],
  ["Q8_1 ref", (x) => quantizeWeightRow(T.Q8_1, x), "8c53dfa3b89fe510e1c5daa9753e1aff9673b8d6124d7ee481c8477ea343ae50"],
  ["Q8_0 x86", (x) => quantizeRow(T.Q8_0, x), "6c342f2705aaa6824424d7b9bd7a71d1c2fcc25cba70bb496b8e7d4f3ab199cf"],
  ["Q8_1 x86", (x) => quantizeRow(T.Q8_1, x), "8c53dfa3b89fe510e1c5daa9753e1aff9673b8d6124d7ee481c8477ea343ae50"],
  ["Q4_K", (x) => quantizeWeightRow(T.Q4_K, x), "5f693e6af411a9c86a7509db54d1a0553a0b823e071c00292cb85f17db1350c2"],
  ["Q5_K", (x) => quantizeWeightRow(T.Q5_K, x), "5ab497695c4c1847a264d494bea9f63195af4ab30384c68dd16c030b6e13e661"],
  ["Q6_K", (x) => quantizeWeightRow(T.Q6_K, x), "45e7f516f5b061b32a8e3a7b0caeaa80bcfaa76436e5eabe8306129b9659ee3b"],
  ["Q8_K", (x) => quantizeRow(T.Q8_K, x), "d72b2301c0857f59c833f2171a34859ca9127d4885663f7580981abef49a7280"],
  ["F16", (x) => quantizeRow(T.F16, x), "a3ccce79bc1022febba3e31bcfc355ccf7c9e6f3dd57f7d4cd9351484afb9b1b"],
  ["BF16", (x) => quantizeRow(T.BF16, x), "3f9583aeb2cc387a58de3836beacc00ffae9ca3501d80285374ddc84797c644e"],
];

function goldenInput(): Float32Array {
  const n = 4096;
  const x = new Float32Array(n);
  x.set(weightLikeArray(2024, n / 2), 0); // zero/constant/tied/positive/outlier blocks
  x.set(gaussianArray(7, n / 2), n / 2);
  return x;
}

test("quantised bytes equal ggml's C reference (golden SHA-256)", () => {
  const x = goldenInput();
  for (const [name, fn, digest] of GOLDEN) {
    assert.equal(createHash("sha256").update(fn(x)).digest("hex"), digest, name);
  }
});

// Bounds on σ = 1 and σ = 0.02 gaussian rows, as a fraction of the block's largest |x|
// (32-element blocks, 256 for K-quants), and on the row's relative RMS error. Where a bound has a
// closed form it is that plus fp16 rounding of the scales; for K-quants it is the measured worst
// case (Q4_K 0.071, Q5_K 0.040, Q6_K 0.016) with ~20 % margin.
const BOUNDS: [GgmlType, number, number][] = [
  // type, max |err| / block amax, relative RMSE
  [T.F32, 0, 0],
  [T.F16, 2 ** -11, 3e-4], // half ulp
  [T.BF16, 2 ** -8, 2.5e-3],
  [T.Q4_0, 0.126, 0.1], // d = amax/8; the +amax end clamps q=16 → 15: error d
  [T.Q4_1, 0.0685, 0.095], // d/2 with d = (max−min)/15 ≤ 2·amax/15
  [T.Q5_0, 0.0635, 0.05], // d = amax/16, clamp as Q4_0
  [T.Q5_1, 0.0335, 0.045], // (max−min)/62
  [T.Q8_0, 0.0045, 0.007], // amax/254 + 127·d·2^-11 (fp16 d)
  [T.Q8_1, 0.0045, 0.007],
  [T.Q4_K, 0.085, 0.085],
  [T.Q5_K, 0.048, 0.043],
  [T.Q6_K, 0.02, 0.021],
  [T.Q8_K, 1 / 254 + 1e-6, 0.0095], // d is float32: exactly d/2 = amax/254
];

test("round trip stays within per-type bounds (lengths 256, 768, 4096)", (t) => {
  for (const [type, maxRel, rmseBound] of BOUNDS) {
    let worstMax = 0, worstRmse = 0;
    for (const n of [256, 768, 4096]) {
      for (const scale of [1, 0.02]) {
        for (let seed = 1; seed <= 3; seed++) {
          const x = gaussianArray(seed * 1000 + n, n, scale);
          const bytes = quantizeRow(type, x);
          assert.equal(bytes.length, rowBytes(type, n));
          const y = dequantizeRow(type, bytes, n);
          const bs = type === T.Q4_K || type === T.Q5_K || type === T.Q6_K || type === T.Q8_K ? 256 : 32;
          let se = 0, sx = 0;
          for (let b = 0; b < n; b += bs) {
            let amax = 0, maxErr = 0;
            for (let i = b; i < b + bs; i++) {
              amax = Math.max(amax, Math.abs(x[i]));
              const e = Math.abs(y[i] - x[i]);
              if (type === T.F16 || type === T.BF16) {
                // relative to the element itself
                // (+ half the smallest fp16 subnormal for tiny values)
                assert.ok(e <= Math.abs(x[i]) * maxRel + 2 ** -25, `${typeName(type)} element ${i}: ${x[i]} → ${y[i]}`);
              }
              maxErr = Math.max(maxErr, e);
              se += e * e;
              sx += x[i] * x[i];
            }
            worstMax = Math.max(worstMax, maxErr / amax);
          }
          worstRmse = Math.max(worstRmse, Math.sqrt(se / sx));
        }
      }
    }
    t.diagnostic(`${typeName(type)}: worst max|err|/amax ${worstMax.toExponential(3)} (bound ${maxRel.toExponential(3)}), ` +
      `worst rel RMSE ${worstRmse.toExponential(3)} (bound ${rmseBound})`);
    if (type !== T.F16 && type !== T.BF16) assert.ok(worstMax <= maxRel, `${typeName(type)} max error ${worstMax}`);
    assert.ok(worstRmse <= rmseBound, `${typeName(type)} RMSE ${worstRmse}`);
  }
});

/** Offsets of the fp16 scale fields of each block format. */
const HALF_FIELDS: [GgmlType, number, number[]][] = [
  [T.Q4_0, 18, [0]], [T.Q4_1, 20, [0, 2]], [T.Q5_0, 22, [0]], [T.Q5_1, 24, [0, 2]],
  [T.Q8_0, 34, [0]], [T.Q8_1, 36, [0, 2]], [T.Q4_K, 144, [0, 2]], [T.Q5_K, 176, [0, 2]], [T.Q6_K, 210, [208]],
];

test("quantised blocks are valid: byte length, finite fp16 scales, scale ranges", () => {
  const x = weightLikeArray(99, 256 * 24);
  for (const [type, size, fields] of HALF_FIELDS) {
    for (const q of [quantizeRow(type, x), quantizeWeightRow(type, x)]) {
      assert.equal(q.length, rowBytes(type, x.length));
      const v = new DataView(q.buffer);
      for (let o = 0; o < q.length; o += size) {
        for (const fo of fields) assert.ok(Number.isFinite(f16ToF32(v.getUint16(o + fo, true))), `${typeName(type)} block ${o / size}`);
      }
      if (type === T.Q4_K || type === T.Q5_K) {
        for (let o = 0; o < q.length; o += size) {
          assert.ok(f16ToF32(v.getUint16(o, true)) >= 0 && f16ToF32(v.getUint16(o + 2, true)) >= 0, "d, dmin ≥ 0");
        }
      }
    }
  }
  const k = quantizeRow(T.Q8_K, x);
  const kv = new DataView(k.buffer);
  for (let o = 0; o < k.length; o += 292) assert.ok(Number.isFinite(kv.getFloat32(o, true)));
});

test("Q8_K: bsums are the sums of 16 quants; d = 1/iscale with iscale = −127/max", () => {
  const x = gaussianArray(5, 256 * 4);
  x[3] = 9; // positive largest magnitude in block 0 → d negative, q[3] = −127
  x[256 + 7] = -9; // negative in block 1 → d positive, q = +127
  x.fill(0, 512, 768); // block 2 all zero
  const q = quantizeRow(T.Q8_K, x);
  const v = new DataView(q.buffer);
  for (let o = 0; o < q.length; o += 292) {
    for (let j = 0; j < 16; j++) {
      let s = 0;
      for (let i = 0; i < 16; i++) s += v.getInt8(o + 4 + 16 * j + i);
      assert.equal(v.getInt16(o + 260 + 2 * j, true), s);
    }
  }
  assert.equal(v.getFloat32(0, true), Math.fround(1 / Math.fround(-127 / 9)));
  assert.ok(v.getFloat32(0, true) < 0);
  assert.equal(v.getInt8(4 + 3), -127);
  assert.ok(v.getFloat32(292, true) > 0);
  assert.equal(v.getInt8(292 + 4 + 7), -127);
  assert.deepEqual([...q.subarray(584, 876)], new Array(292).fill(0));
});

test("Q8_K rounds half to even (nearest_int)", () => {
  const x = new Float32Array(256);
  x[0] = -127; // iscale = 1
  x.set([0.5, 1.5, 2.5, -0.5, -1.5, -2.5], 1);
  const v = new DataView(quantizeRow(T.Q8_K, x).buffer);
  assert.equal(v.getFloat32(0, true), 1);
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((i) => v.getInt8(4 + i)), [0, 2, 2, 0, -2, -2]);
});

test("Q8_0/Q8_1: x86 activation path rounds ties to even, the reference (llama-quantize) away from zero", () => {
  const x = new Float32Array(32);
  x[0] = 127; // d = 1, id = 1 in both paths
  x.set([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.25], 1);
  const act = new DataView(quantizeRow(T.Q8_0, x).buffer);
  const ref = new DataView(quantizeWeightRow(T.Q8_0, x).buffer);
  const read = (v: DataView, base: number): number[] => [1, 2, 3, 4, 5, 6, 7].map((i) => v.getInt8(base + i));
  assert.deepEqual(read(act, 2), [0, 2, 2, 0, -2, -2, 3]);
  assert.deepEqual(read(ref, 2), [1, 2, 3, -1, -2, -3, 3]);
  const act1 = new DataView(quantizeRow(T.Q8_1, x).buffer);
  const ref1 = new DataView(quantizeWeightRow(T.Q8_1, x).buffer);
  assert.deepEqual(read(act1, 4), [0, 2, 2, 0, -2, -2, 3]);
  assert.deepEqual(read(ref1, 4), [1, 2, 3, -1, -2, -3, 3]);
  // s = fp16(d·Σq): 127 + 3 with ties to even, 127 + 3 − 0 with ties away (symmetric ties cancel)
  assert.equal(f16ToF32(act1.getUint16(2, true)), 130);
  assert.equal(f16ToF32(ref1.getUint16(2, true)), 130);
});

test("Q8_0: the x86 path multiplies by 127/amax, the reference by 1/(amax/127)", () => {
  // The two multipliers can differ by an ulp; then an element whose product lands exactly on a
  // tie (51.5: both rounding rules give 52) in one path and just below it in the other quantises
  // differently. Build such a block and check each path follows its own formula.
  const f = Math.fround;
  const even = (v: number): number => (Math.abs(v % 1) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v));
  const away = (v: number): number => Math.sign(v) * Math.round(Math.abs(v));
  let built: Float32Array | undefined;
  for (let k = 0; k < 100000 && !built; k++) {
    const amax = f(1 + k * 2 ** -20);
    const idX86 = f(127 / amax), idRef = f(1 / f(amax / 127));
    if (idX86 === idRef) continue;
    for (const id of [idX86, idRef]) {
      const x0 = f(51.5 / id);
      for (let u = -3; u <= 3 && !built; u++) {
        const x = f(x0 * (1 + u * 2 ** -24));
        if (x > amax) continue;
        if (even(f(x * idX86)) !== away(f(x * idRef))) {
          built = new Float32Array(32);
          built[0] = amax;
          built[1] = x;
        }
      }
    }
  }
  assert.ok(built, "no block found where the two Q8_0 paths round differently");
  const amax = built[0], x = built[1];
  const qa = new DataView(quantizeRow(T.Q8_0, built).buffer).getInt8(3);
  const qr = new DataView(quantizeWeightRow(T.Q8_0, built).buffer).getInt8(3);
  assert.equal(qa, even(f(x * f(127 / amax))));
  assert.equal(qr, away(f(x * f(1 / f(amax / 127)))));
  assert.notEqual(qa, qr);
});

test("all-zero and constant rows quantise to exact values", () => {
  for (const type of [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q8_1, T.Q4_K, T.Q5_K, T.Q6_K, T.Q8_K]) {
    const zero = dequantizeRow(type, quantizeRow(type, new Float32Array(512)), 512);
    assert.ok(zero.every((v) => v === 0), `${typeName(type)} zeros`);
  }
  const ones = new Float32Array(256).fill(0.75);
  for (const type of [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q4_K, T.Q5_K, T.Q6_K, T.Q8_K]) {
    const y = dequantizeRow(type, quantizeRow(type, ones), 256);
    assert.ok(y.every((v) => Math.abs(v - 0.75) <= 0.75 * 2 ** -10), `${typeName(type)} constant: ${y[0]}`);
  }
});

test("quantizeTensor quantises row by row (llama-quantize's bytes)", () => {
  const rows = 3, len = 512;
  const data = weightLikeArray(3, rows * len);
  for (const type of [T.Q4_K, T.Q6_K, T.Q8_0, T.F16]) {
    const all = quantizeTensor(type, data, len);
    const size = rowBytes(type, len);
    assert.equal(all.length, rows * size);
    for (let r = 0; r < rows; r++) {
      assert.deepEqual(all.subarray(r * size, (r + 1) * size), quantizeWeightRow(type, data.subarray(r * len, (r + 1) * len)));
    }
  }
  assert.throws(() => quantizeTensor(T.Q4_K, data, 500), /not whole rows of 500/);
  assert.throws(() => quantizeTensor(T.Q4_K, new Float32Array(300), 100), /Q4_K.*not a whole number of blocks of 256/);
});

test("quantizeRow: clear errors for unsupported types and lengths", () => {
  assert.throws(() => quantizeRow(T.Q2_K, new Float32Array(256)), /Q2_K/);
  assert.throws(() => quantizeRow(T.IQ4_NL, new Float32Array(32)), /IQ4_NL/);
  assert.throws(() => quantizeRow(T.Q8_0, new Float32Array(33)), /Q8_0: a row of 33 elements is not a whole number of blocks of 32/);
});

test("quantizeRow reads a subarray with a byteOffset", () => {
  const big = gaussianArray(4, 1000);
  const x = big.subarray(3, 3 + 256);
  for (const type of [T.F32, T.F16, T.BF16, T.Q4_K, T.Q8_0]) {
    assert.deepEqual(quantizeRow(type, x), quantizeRow(type, Float32Array.from(x)), typeName(type));
  }
});
