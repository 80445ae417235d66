// Weights repacked at load (kernels/repack.c): the product from the repacked layout has the same
// bytes as the product from the file's layout, for token counts that fill whole tiles, leave a
// remainder, or are a single token (generation), in both builds and at 1 and 2 threads; formats
// and shapes without a repacked product are left in the file's layout; the loader repacks a model's
// Q4_K matrices on request (off by default: see REPACK_DEFAULT in weights.ts).
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
function products(k: Kernels, type: GgmlType, rows: number, cols: number, ntok: number, seed: number): [Float32Array, Float32Array] {
  const mark = k.mark();
  try {
    const e = k.exports;
    const w = k.put(quantizeTensor(type, gaussianArray(seed, rows * cols, 0.5), cols));
    const packed = k.alloc(e.repacked_bytes(type, rows, cols));
    // In two calls, as the loader makes them (chunks of whole groups of 4 rows).
    const half = Math.floor(rows / 8) * 4;
    e.repack_rows(type, w, 0, half, cols, packed);
    e.repack_rows(type, w + half * rowBytes(type, cols), half, rows - half, cols, packed);
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

for (const variant of ["simd128", "relaxed"] as KernelVariant[]) {
  for (const threads of [1, 2]) {
    test(`Q4_K repacked (${variant}, ${threads} threads): the same bytes as the file's layout for 1-9 and 33 tokens`, async () => {
      const k = await instance(variant, threads);
      for (const ntok of [1, 2, 3, 4, 5, 7, 9, 33]) {
        const [plain, packed] = products(k, GgmlType.Q4_K, 72, 512, ntok, 100 + ntok);
        assert.ok(plain.some((v) => v !== 0));
        assert.deepEqual(new Uint8Array(packed.buffer), new Uint8Array(plain.buffer), `${ntok} tokens`);
      }
    });
  }
}

test("formats and shapes without a repacked product keep the file's layout", async () => {
  const e = (await instance("simd128", 1)).exports;
  assert.equal(e.repacked_bytes(GgmlType.Q4_K, 8, 512), 8 / 4 * 2 * 624);
  assert.equal(e.repacked_bytes(GgmlType.Q4_K, 6, 512), -1); // not whole groups of 4 rows
  for (const type of [GgmlType.F32, GgmlType.Q8_0, GgmlType.Q5_0, GgmlType.Q6_K]) assert.equal(e.repacked_bytes(type, 8, 512), -1);
});

test("loaded with repack, a Q4_K_M model's Q4_K matrices are repacked (not the embedding) and give the same products", async () => {
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
    for (const [a, b] of q4k) {
      assert.ok(!a.repacked && b.repacked, b.name);
      const x = k.put(gaussianArray(7, 5 * a.cols));
      const y1 = k.alloc(5 * a.rows * 4);
      const y2 = k.alloc(5 * a.rows * 4);
      const scratch = k.alloc(k.exports.matmul_scratch_bytes(a.type, a.cols, 5));
      k.exports.matmul(a.type, a.ptr, a.rows, a.cols, x, 5, y1, scratch);
      k.exports.matmul(b.type | REPACKED, b.ptr, b.rows, b.cols, x, 5, y2, scratch);
      assert.deepEqual(new Uint8Array(k.bytes(y2, 5 * a.rows * 4)), new Uint8Array(k.bytes(y1, 5 * a.rows * 4)), b.name);
    }
  } finally {
    k.reset(mark);
  }
});
