// The WASM quantised-format kernels (kernels/quants.c) against the TypeScript reference formats:
// dequantisation bit for bit, activation quantisation byte for byte (ggml's x86 behaviour), dot
// products within a stated tolerance of the float64 reference on the same quantised bytes
// (ggml's Q8_1 sum term included).
// Run `bash kernels/build.sh` first.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Kernels } from "../../src/engine/wasm/kernels.ts";
import { GgmlType, rowBytes, typeName } from "../../src/engine/quant/types.ts";
import { dequantizeRow } from "../reference/quant/dequantize.ts";
import { quantizeRow, quantizeWeightRow } from "../reference/quant/quantize.ts";
import { activationType, referenceDotQuantized } from "../reference/quant/reference-dot.ts";
import { f16ToF32, f32ToF16 } from "../reference/quant/half.ts";
import { gaussianArray, mulberry32, weightLikeArray } from "../helpers/random.ts";

const T = GgmlType;
const WEIGHT_TYPES = [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q4_K, T.Q5_K, T.Q6_K];
const ACT_TYPES = [T.F32, T.F16, T.BF16, T.Q8_0, T.Q8_1, T.Q8_K];
const K_QUANTS = new Set([T.Q4_K, T.Q5_K, T.Q6_K, T.Q8_K]);
const FLOAT_TYPES = new Set([T.F32, T.F16, T.BF16]);

/** Row lengths tested for a type: K-quants need multiples of 256; the others also take 32 and 96. */
function shapes(type: GgmlType): number[] {
  return K_QUANTS.has(type) || K_QUANTS.has(activationTypeOrSelf(type))
    ? [256, 512, 2048, 4096]
    : [32, 96, 256, 512, 2048, 4096];
}
function activationTypeOrSelf(type: GgmlType): GgmlType {
  return WEIGHT_TYPES.includes(type) ? activationType(type) : type;
}

/**
 * Tolerance of a dot product, relative to Σ|w·a| over the dequantised operands: the kernels sum
 * exact integer block products scaled in float32 (and float formats in float32 lanes), so they
 * differ from the float64 reference by float32 rounding of the accumulation only.
 */
const DOT_TOLERANCE = 1e-5;

/** Activation-like data: gaussian, a few large outliers (as in real hidden states). */
function activations(seed: number, n: number): Float32Array {
  const x = gaussianArray(seed, n);
  const rand = mulberry32(seed ^ 0x5bd1e995);
  for (let i = 0; i < n; i++) if (rand() < 0.01) x[i] *= 30;
  return x;
}

/** f16 fields (scales, mins) at these byte offsets of each block of a weight type. */
const HALF_FIELDS = new Map<GgmlType, { block: number; offsets: number[] }>([
  [T.Q4_0, { block: 18, offsets: [0] }],
  [T.Q4_1, { block: 20, offsets: [0, 2] }],
  [T.Q5_0, { block: 22, offsets: [0] }],
  [T.Q5_1, { block: 24, offsets: [0, 2] }],
  [T.Q8_0, { block: 34, offsets: [0] }],
  [T.Q4_K, { block: 144, offsets: [0, 2] }],
  [T.Q5_K, { block: 176, offsets: [0, 2] }],
  [T.Q6_K, { block: 210, offsets: [208] }],
]);

/**
 * A weight row of arbitrary bytes (every quant and scale bit pattern, e.g. Q8_0's −128, Q6_K's
 * scale −128, all 6-bit K scales) whose f16 scale fields are finite values of moderate size.
 */
function randomBlocks(type: GgmlType, n: number, seed: number): Uint8Array {
  const rand = mulberry32(seed);
  const bytes = new Uint8Array(rowBytes(type, n));
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rand() * 256);
  const fields = HALF_FIELDS.get(type)!;
  const view = new DataView(bytes.buffer);
  for (let b = 0; b < bytes.length; b += fields.block) {
    for (const o of fields.offsets) view.setUint16(b + o, f32ToF16((rand() - 0.3) * 0.02), true);
  }
  return bytes;
}

/** Weight rows of a type for the tests: quantised from weight-like floats, plus random blocks. */
function weightRows(type: GgmlType, n: number, seed: number): { name: string; bytes: Uint8Array }[] {
  const rows = [{ name: "quantised", bytes: quantizeWeightRow(type, weightLikeArray(seed, n)) }];
  if (HALF_FIELDS.has(type)) rows.push({ name: "random bytes", bytes: randomBlocks(type, n, seed + 1) });
  return rows;
}

/** Bit-exact equality of two float arrays (NaN equal to NaN), with the first difference reported. */
function assertSameFloats(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== e[i] && !(Number.isNaN(actual[i]) && Number.isNaN(expected[i]))) {
      assert.fail(`${what}: element ${i} is ${actual[i]} (0x${a[i].toString(16)}), expected ${expected[i]} (0x${e[i].toString(16)})`);
    }
  }
}

function assertSameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) assert.fail(`${what}: byte ${i} is ${actual[i]}, expected ${expected[i]}`);
  }
}


let k: Kernels;

before(async () => {
  k = await Kernels.create({ threads: 1 });
});
after(async () => {
  await k?.close();
});

/** Runs `fn` with a scratch mark that is released afterwards. */
function scratch<R>(fn: () => R): R {
  const mark = k.mark();
  try {
    return fn();
  } finally {
    k.reset(mark);
  }
}

function wasmDequantize(type: GgmlType, bytes: Uint8Array, n: number): Float32Array {
  return scratch(() => {
    const src = k.put(bytes);
    const dst = k.alloc(4 * n);
    k.exports.k_dequantize_row(type, src, dst, n);
    return k.f32(dst, n).slice();
  });
}

function wasmQuantize(type: GgmlType, x: Float32Array): Uint8Array {
  return scratch(() => {
    const src = k.put(x);
    const size = rowBytes(type, x.length);
    const dst = k.alloc(size);
    k.bytes(dst, size).fill(0xa5); // bytes the kernel forgets to write show up
    k.exports.k_quantize_row(type, src, dst, x.length);
    return k.bytes(dst, size).slice();
  });
}

function wasmDot(wtype: GgmlType, w: Uint8Array, act: Uint8Array, n: number): number {
  return scratch(() => k.exports.k_vec_dot(wtype, n, k.put(w), k.put(act)) as number);
}

describe("type table", () => {
  test("k_act_type is ggml's vec_dot_type", () => {
    for (const t of WEIGHT_TYPES) assert.equal(k.exports.k_act_type(t), activationType(t), typeName(t));
    assert.equal(k.exports.k_act_type(T.Q2_K), -1);
  });
  test("k_row_bytes matches the block geometry", () => {
    for (const t of [...WEIGHT_TYPES, T.Q8_1, T.Q8_K]) {
      for (const n of [256, 4096]) assert.equal(k.exports.k_row_bytes(t, n), rowBytes(t, n), `${typeName(t)} × ${n}`);
    }
    assert.equal(k.exports.k_row_bytes(T.IQ2_XXS, 256), -1);
  });
});

describe("dequantize_row is bit-exact with dequantizeRow", () => {
  for (const type of [...WEIGHT_TYPES, T.Q8_1, T.Q8_K]) {
    test(typeName(type), () => {
      for (const n of shapes(type)) {
        const rows = WEIGHT_TYPES.includes(type)
          ? weightRows(type, n, 1000 + n)
          : [{ name: "activation", bytes: quantizeRow(type, activations(2000 + n, n)) }];
        for (const { name, bytes } of rows) {
          assertSameFloats(wasmDequantize(type, bytes, n), dequantizeRow(type, bytes, n), `${typeName(type)} n=${n} ${name}`);
        }
      }
    });
  }

  test("F16: every one of the 65536 halves", () => {
    const halves = new Uint16Array(65536).map((_, i) => i);
    const bytes = new Uint8Array(halves.buffer);
    const expected = Float32Array.from(halves, (h) => f16ToF32(h));
    assertSameFloats(wasmDequantize(T.F16, bytes, 65536), expected, "F16 all halves");
  });
});

describe("quantize_row of activations equals the TS quantiser (ggml x86) byte for byte", () => {
  for (const type of ACT_TYPES) {
    test(typeName(type), () => {
      for (const n of shapes(type)) {
        for (const [name, x] of [
          ["gaussian", activations(3000 + n, n)],
          ["weight-like (zeros, ties, constants)", weightLikeArray(4000 + n, n)],
        ] as const) {
          assertSameBytes(wasmQuantize(type, x), quantizeRow(type, x), `${typeName(type)} n=${n} ${name}`);
        }
      }
    });
  }

  test("edge values: ties of opposite sign, zero blocks, halfway points, specials", () => {
    const n = 256;
    const x = new Float32Array(n);
    x[3] = -2.5; // Q8_K: the first of two equal magnitudes sets the sign of d
    x[40] = 2.5;
    x.fill(0, 64, 96); // an all-zero Q8_0 block
    for (let i = 96; i < 128; i++) x[i] = (i - 112) * 0.5; // many exact .5 products
    for (let i = 128; i < 256; i++) x[i] = [6.1e-5, -6.0e-8, 1e-9, 65520, -70000, 3e-8, -0][i % 7] * (1 + (i % 3));
    for (const type of ACT_TYPES) {
      assertSameBytes(wasmQuantize(type, x), quantizeRow(type, x), `${typeName(type)} edges`);
    }
    const zeros = new Float32Array(n);
    for (const type of ACT_TYPES) assertSameBytes(wasmQuantize(type, zeros), quantizeRow(type, zeros), `${typeName(type)} zeros`);
  });
});

describe("vec_dot agrees with the float64 reference on the same quantised bytes", () => {
  for (const wtype of WEIGHT_TYPES) {
    test(`${typeName(wtype)} × ${typeName(activationType(wtype))}`, (t) => {
      const atype = activationType(wtype);
      let worst = 0;
      let worstAt = "";
      for (const n of shapes(wtype)) {
        const x = activations(5000 + n, n);
        const act = wasmQuantize(atype, x);
        const a = dequantizeRow(atype, act, n);
        for (const { name, bytes } of weightRows(wtype, n, 6000 + n)) {
          const w = dequantizeRow(wtype, bytes, n);
          let scale = 0;
          for (let i = 0; i < n; i++) scale += Math.abs(w[i] * a[i]);
          const expected = referenceDotQuantized(wtype, bytes, act, n);
          const got = wasmDot(wtype, bytes, act, n);
          const err = Math.abs(got - expected) / (scale || 1);
          if (err > worst) {
            worst = err;
            worstAt = `n=${n} ${name}`;
          }
          assert.ok(
            err <= DOT_TOLERANCE,
            `${typeName(wtype)} n=${n} ${name}: got ${got}, expected ${expected} (error ${err.toExponential(2)} of Σ|w·a| = ${scale})`,
          );
        }
      }
      t.diagnostic(`worst error ${worst.toExponential(2)} of Σ|w·a| (${worstAt}); tolerance ${DOT_TOLERANCE}`);
    });
  }

  test("F16: infinities and NaNs take the exact conversion (the fast path would make them finite)", () => {
    const n = 64;
    const x = wasmQuantize(T.F16, activations(9001, n));
    for (const [name, half, at] of [["+inf", 0x7c00, 5], ["-inf", 0xfc00, 40], ["NaN", 0x7e00, 63]] as const) {
      const w = quantizeWeightRow(T.F16, activations(9002, n));
      new DataView(w.buffer).setUint16(2 * at, half, true);
      const expected = referenceDotQuantized(T.F16, w, x, n);
      const got = wasmDot(T.F16, w, x, n);
      assert.ok(Object.is(got, expected) || (Number.isNaN(got) && Number.isNaN(expected)), `${name}: ${got} vs ${expected}`);
    }
  });

  test("float formats: rows whose length is not a multiple of the SIMD width", () => {
    for (const wtype of [...FLOAT_TYPES]) {
      for (const n of [1, 7, 33, 1001]) {
        const w = quantizeWeightRow(wtype, activations(7000 + n, n));
        const act = wasmQuantize(wtype, activations(8000 + n, n));
        const expected = referenceDotQuantized(wtype, w, act, n);
        const got = wasmDot(wtype, w, act, n);
        const wf = dequantizeRow(wtype, w, n), af = dequantizeRow(wtype, act, n);
        let scale = 0;
        for (let i = 0; i < n; i++) scale += Math.abs(wf[i] * af[i]);
        assert.ok(Math.abs(got - expected) <= DOT_TOLERANCE * scale, `${typeName(wtype)} n=${n}: ${got} vs ${expected}`);
      }
    }
  });
});
