// Weights repacked at load (kernels/repack.c): the product from the repacked layout gives every
// token the same bytes whatever the number of tokens in the call (whole tiles, a remainder, a
// single token as in generation), the build (relaxed or SIMD128) and the thread count, and agrees
// with the file layout's product to float rounding (its float order is llama.cpp's repacked one,
// not dot_q4_K's); formats and shapes without a repacked product are left in the file's layout;
// the loader repacks a model's Q4_K matrices (on by default: see REPACK_DEFAULT in weights.ts).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { setFlagsFromString } from "node:v8";
import { Kernels, type KernelVariant } from "../../src/engine/wasm/kernels.ts";
import { GgmlType, rowBytes } from "../../src/engine/quant/types.ts";
import { quantizeTensor } from "../reference/quant/quantize.ts";
import { loadWeights, REPACKED } from "../../src/engine/model/weights.ts";
import { readGguf } from "../../src/engine/gguf/reader.ts";
import { readHParams } from "../../src/engine/model/hparams.ts";
import { makeModelFixture, prepareModelFixtures } from "../conformance/fixtures.ts";
import { gaussianArray } from "../helpers/random.ts";

// Node 20 validates the relaxed-SIMD build only behind this flag.
setFlagsFromString("--experimental-wasm-relaxed-simd");

const kernels = new Map<string, Kernels>();
after(async () => {
  for (const k of kernels.values()) await k.close();
});
async function instance(variant: KernelVariant, threads: number): Promise<Kernels> {
  const key = `${variant}/${threads}`;
  if (!kernels.has(key)) kernels.set(key, await Kernels.create({ variant, threads }));
  return kernels.get(key)!;
}

/** y of W·x with W in the file's layout, and with W repacked by repack_rows in two calls. */
function products(k: Kernels, type: GgmlType, rows: number, cols: number, ntok: number, seed: number, patch?: (w: Uint8Array) => void): [Float32Array, Float32Array] {
  const mark = k.mark();
  try {
    const e = k.exports;
    const q = quantizeTensor(type, gaussianArray(seed, rows * cols, 0.5), cols);
    patch?.(q);
    const w = k.put(q);
    const packedBytes = e.repacked_bytes(type, rows, cols);
    const packed = k.alloc(packedBytes);
    const tmp = k.alloc(e.repack_scratch_bytes(type, cols));
    // In two calls, as the loader makes them (chunks of whole groups of 4 rows): the first from a
    // buffer of its own, the second in place, from the end of its rows' place in the result (where
    // the loader reads them), which the repack overwrites as it goes.
    const half = Math.floor(rows / 8) * 4;
    const rb = rowBytes(type, cols);
    e.repack_rows(type, w, 0, half, cols, packed, tmp);
    const inPlace = packed + packedBytes - (rows - half) * rb;
    k.bytes(inPlace, (rows - half) * rb).set(k.bytes(w + half * rb, (rows - half) * rb));
    e.repack_rows(type, inPlace, half, rows - half, cols, packed, tmp);
    const x = k.put(gaussianArray(seed + 1, ntok * cols));
    const y1 = k.alloc(rows * ntok * 4);
    const y2 = k.alloc(rows * ntok * 4);
    const scratch = k.alloc(e.matmul_scratch_bytes(type, cols, ntok));
    e.matmul(type, w, rows, cols, x, ntok, y1, scratch);
    e.matmul(type | REPACKED, packed, rows, cols, x, ntok, y2, scratch);
    return [Float32Array.from(k.f32(y1, rows * ntok)), Float32Array.from(k.f32(y2, rows * ntok))];
  } finally {
    k.reset(mark);
  }
}

// Every tail of a tile (2 to 7 tokens after whole tiles of 6, 8 or 16 tokens) and one token alone.
const TOKENS = [1, 2, 3, 4, 5, 6, 7, 9, 10, 13, 15, 17, 20, 24, 33];

/** Largest |a − b| relative to the largest |a|. */
function relDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i]));
    d = Math.max(d, Math.abs(a[i] - b[i]));
  }
  return d / m;
}

// The loader uses the dot-add only where its probe's products give the i16 dot's bytes in every
// round (kernels.ts, dotAddPays), so the probe must compute real products, and the two ways must
// agree once V8 has optimised them. (Before that they need not: Node 20's baseline code gives
// other sums by the dot-add, in both tiles, for ~100 calls; Node 24's agrees from the first call.
// The probe starts on that code, so under Node 20 it refuses the dot-add on bytes as well as time.)
test("dot-add probe: real products, the same bytes by the dot-add as by the i16 dot in optimised code", async () => {
  const k = await instance("relaxed", 1);
  const e = k.exports;
  const mark = k.mark();
  try {
    const scratch = k.alloc(e.dot_add_probe_bytes());
    e.dot_add_probe_fill(scratch);
    const n = e.dot_add_probe_out_bytes();
    const outputs = (mode: number, reps: number): Float32Array => {
      k.bytes(scratch, n).fill(0xff);
      e.dot_add_probe(scratch, reps, mode);
      return Float32Array.from(k.f32(scratch, n / 4));
    };
    for (const mode of [0, 1]) outputs(mode, 2000); // optimised by now (the load's probe ran them too)
    const [i16, dotAdd] = [outputs(0, 1), outputs(1, 1)];
    assert.ok(i16.every((v) => Number.isFinite(v) && v !== 0), `outputs ${i16.slice(0, 8).join(", ")}`);
    assert.deepEqual(new Uint8Array(dotAdd.buffer), new Uint8Array(i16.buffer));
  } finally {
    k.reset(mark);
  }
});

for (const type of [GgmlType.Q4_K, GgmlType.Q5_0, GgmlType.Q6_K]) {
  test(`${GgmlType[type]} repacked: the same bytes per token for any token count, build and thread count; the file layout's values to rounding`, async () => {
    const rows = 72;
    const cols = type === GgmlType.Q5_0 ? 896 : 512;
    // Every token count's products, each token's row compared with the single-token product of
    // the same activation row (the seed fixes the activations: token t of every call is the same).
    let reference: Float32Array | undefined;
    // The relaxed build both ways to its integer sums (set_dot_add: the dot-add, or the i16 dot
    // and an add), whichever its load chose for this host.
    for (const [variant, dotAdd] of [["simd128", 0], ["relaxed", 0], ["relaxed", 1]] as [KernelVariant, number][]) {
      for (const threads of [1, 2]) {
        const k = await instance(variant, threads);
        assert.equal(k.exports.set_dot_add(dotAdd), dotAdd, `${variant} set_dot_add(${dotAdd})`);
        const label = `${variant}${dotAdd ? " dot-add" : ""} ${threads} threads`;
        for (const ntok of TOKENS) {
          const [plain, packed] = products(k, type, rows, cols, ntok, 100);
          assert.ok(plain.some((v) => v !== 0));
          assert.ok(relDiff(plain, packed) < 1e-5, `${label} ${ntok} tokens: ${relDiff(plain, packed)}`);
          if (!reference) [, reference] = products(k, type, rows, cols, 33, 100);
          const want = reference.subarray(0, ntok * rows);
          assert.deepEqual(new Uint8Array(packed.buffer), new Uint8Array(want.buffer, want.byteOffset, want.byteLength), `${label} ${ntok} tokens`);
        }
        k.exports.set_dot_add(k.dotAdd ? 1 : 0);
      }
    }
  });
}

// The one-token products (gemv_*_r4) convert the f16 scales their own way (8 halves at once):
// subnormal, largest, signed-zero, infinite and NaN scales give the tile product's bytes too.
for (const type of [GgmlType.Q4_K, GgmlType.Q6_K]) {
  test(`${GgmlType[type]} repacked: one token gives the tile's bytes for any f16 scale (subnormal, ±0, largest, Inf, NaN)`, async () => {
    const rows = 16;
    const cols = 512;
    const special = [0x0001, 0x03ff, 0x8001, 0x8000, 0x0000, 0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x7e00, 0x3c00, 0xbc00];
    const patch = (q: Uint8Array): void => {
      const v = new DataView(q.buffer, q.byteOffset, q.byteLength);
      const bytes = type === GgmlType.Q4_K ? 144 : 210;
      for (let b = 0, i = 0; b < q.length; b += bytes, i++) {
        if (type === GgmlType.Q4_K) {
          v.setUint16(b, special[i % special.length], true);
          v.setUint16(b + 2, special[(i * 5 + 3) % special.length], true);
        } else {
          v.setUint16(b + 208, special[i % special.length], true);
        }
      }
    };
    for (const variant of ["simd128", "relaxed"] as KernelVariant[]) {
      const k = await instance(variant, 1);
      const [, one] = products(k, type, rows, cols, 1, 7, patch);
      const [, many] = products(k, type, rows, cols, 33, 7, patch);
      assert.ok(one.some((x) => Number.isNaN(x)) && one.some((x) => Number.isFinite(x) && x !== 0), "the scales reach the outputs");
      assert.deepEqual(new Uint8Array(one.buffer), new Uint8Array(many.buffer, 0, rows * 4), variant);
    }
  });
}

// The Q4_K layout holds d and dmin as floats, converted at repack: half subnormals and zeros (common
// among real scales) must come out as the file layout's product reads them. Only such scales, so
// that every output is as small as they make it and a wrong conversion shows in the relative error.
test("Q4_K repacked: subnormal and zero f16 scales give the file layout's values to rounding", async () => {
  const rows = 16;
  const cols = 512;
  const small = [0x0001, 0x03ff, 0x0200, 0x8123, 0x0155, 0x0000, 0x8000, 0x02aa];
  const patch = (q: Uint8Array): void => {
    const v = new DataView(q.buffer, q.byteOffset, q.byteLength);
    for (let b = 0, i = 0; b < q.length; b += 144, i++) {
      v.setUint16(b, small[i % small.length], true);
      v.setUint16(b + 2, small[(i * 3 + 1) % small.length], true);
    }
  };
  for (const variant of ["simd128", "relaxed"] as KernelVariant[]) {
    const k = await instance(variant, 1);
    for (const ntok of [1, 7]) {
      const [plain, packed] = products(k, GgmlType.Q4_K, rows, cols, ntok, 11, patch);
      assert.ok(plain.some((v) => v !== 0), "the scales reach the outputs");
      assert.ok(relDiff(plain, packed) < 1e-5, `${variant} ${ntok} tokens: ${relDiff(plain, packed)}`);
    }
  }
});

test("Q6_K repacked: every row looked up (a token embedding tied to the output) gives the file layout's floats", async () => {
  for (const variant of ["simd128", "relaxed"] as KernelVariant[]) {
    const k = await instance(variant, 2);
    const e = k.exports;
    assert.equal(e.repacked_rows_readable(GgmlType.Q6_K), 1);
    assert.equal(e.repacked_rows_readable(GgmlType.Q4_K), 0);
    const mark = k.mark();
    try {
      // 67 blocks: more than the 64 a lookup rebuilds at a time
      for (const cols of [512, 67 * 256]) {
        const rows = 8;
        const w = k.put(quantizeTensor(GgmlType.Q6_K, gaussianArray(3, rows * cols, 0.5), cols));
        const packed = k.alloc(e.repacked_bytes(GgmlType.Q6_K, rows, cols));
        e.repack_rows(GgmlType.Q6_K, w, 0, rows, cols, packed, k.alloc(e.repack_scratch_bytes(GgmlType.Q6_K, cols)));
        const a = k.alloc(cols * 4);
        const b = k.alloc(cols * 4);
        for (let r = 0; r < rows; r++) {
          e.get_row(GgmlType.Q6_K, w, cols, r, a);
          e.get_row(GgmlType.Q6_K | REPACKED, packed, cols, r, b);
          assert.ok(k.f32(a, cols).some((x) => x !== 0));
          assert.deepEqual(k.bytes(b, cols * 4), k.bytes(a, cols * 4), `${variant} ${cols} columns, row ${r}`);
        }
      }
    } finally {
      k.reset(mark);
    }
  }
});

test("loaded with repack, a tied Q6_K token embedding is repacked and is the output", async () => {
  const opts = { arch: "smollm3", weights: "Q4_K_M" } as const;
  await prepareModelFixtures([opts]);
  const file = await readGguf(makeModelFixture(opts).path);
  const k = await instance("relaxed", 1);
  const mark = k.mark();
  try {
    const w = await loadWeights(file, readHParams(file), k, undefined, true);
    assert.equal(w.tokenEmbd.type, GgmlType.Q6_K);
    assert.ok(w.tokenEmbd.repacked);
    assert.equal(w.output, w.tokenEmbd);
  } finally {
    k.reset(mark);
  }
});

test("formats and shapes without a repacked product keep the file's layout", async () => {
  const e = (await instance("simd128", 1)).exports;
  assert.equal(e.repacked_bytes(GgmlType.Q4_K, 8, 512), 8 / 4 * 2 * 640);
  assert.equal(e.repacked_bytes(GgmlType.Q5_0, 8, 512), 8 / 4 * 16 * 136);
  assert.equal(e.repacked_bytes(GgmlType.Q6_K, 8, 512), 8 / 4 * 2 * 840);
  assert.equal(e.repacked_bytes(GgmlType.Q4_K, 6, 512), -1); // not whole groups of 4 rows
  for (const type of [GgmlType.F32, GgmlType.Q8_0, GgmlType.Q4_0]) assert.equal(e.repacked_bytes(type, 8, 512), -1);
});

test("loaded with repack, a Q4_K_M model's Q4_K matrices are repacked (not the embedding) and give the same products to rounding", async () => {
  const opts = { arch: "llama", weights: "Q4_K_M" } as const;
  await prepareModelFixtures([opts]);
  const file = await readGguf(makeModelFixture(opts).path);
  const hp = readHParams(file);
  const k = await instance("relaxed", 2);
  const mark = k.mark();
  try {
    const plain = await loadWeights(file, hp, k, undefined, false);
    const packed = await loadWeights(file, hp, k, undefined, true);
    assert.equal(packed.tokenEmbd.repacked, false);
    const pairs = plain.layers.flatMap((L, i) => {
      const P = packed.layers[i];
      return [[L.wq, P.wq], [L.wo, P.wo], [L.gate, P.gate], [L.up, P.up], [L.down, P.down]] as const;
    });
    const q4k = pairs.filter(([a]) => a.type === GgmlType.Q4_K);
    assert.ok(q4k.length > 0);
    const others = pairs.filter(([a]) => a.type === GgmlType.Q5_0 || a.type === GgmlType.Q6_K);
    assert.ok(others.length > 0);
    for (const [a, b] of [...q4k, ...others]) {
      assert.ok(!a.repacked && b.repacked, b.name);
      const x = k.put(gaussianArray(7, 5 * a.cols));
      const y1 = k.alloc(5 * a.rows * 4);
      const y2 = k.alloc(5 * a.rows * 4);
      const scratch = k.alloc(k.exports.matmul_scratch_bytes(a.type, a.cols, 5));
      k.exports.matmul(a.type, a.ptr, a.rows, a.cols, x, 5, y1, scratch);
      k.exports.matmul(b.type | REPACKED, b.ptr, b.rows, b.cols, x, 5, y2, scratch);
      assert.ok(relDiff(Float32Array.from(k.f32(y1, 5 * a.rows)), Float32Array.from(k.f32(y2, 5 * a.rows))) < 1e-5, b.name);
    }
  } finally {
    k.reset(mark);
  }
});
