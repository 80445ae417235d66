// The relaxed-SIMD build (dist/kernels-relaxed.wasm) against the SIMD128 build: identical bytes
// from every product (every weight format, one token and batches of 4-token groups, 1 and 2
// threads) and from attention (whose fused multiply-adds in the relaxed build must round as the
// SIMD128 build's multiplies and adds), before and after V8 tiers the code up. Node 20 validates relaxed SIMD only behind
// --experimental-wasm-relaxed-simd; node's test runner runs each file in its own process, so the
// flag is set here, at run time, for this file only. Where the host still refuses the build (an
// engine without relaxed SIMD), the comparison is skipped with that reason.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { setFlagsFromString } from "node:v8";
import { Kernels, defaultWasmPath, type KernelVariant } from "../../src/engine/wasm/kernels.ts";
import { GgmlType, typeName } from "../../src/engine/quant/types.ts";
import { runAttention } from "../helpers/attention.ts";
import { f32ToF16 } from "../reference/quant/half.ts";
import { quantizeTensor } from "../reference/quant/quantize.ts";
import { gaussianArray } from "../helpers/random.ts";

setFlagsFromString("--experimental-wasm-relaxed-simd");

const TYPES = [
  GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1,
  GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
];

let skip: string | false = false;
try {
  defaultWasmPath("relaxed");
} catch (err) {
  skip = `relaxed SIMD unavailable on this host: ${(err as Error).message}`;
}

const pools = new Map<string, Kernels>();
after(async () => {
  for (const k of pools.values()) await k.close();
});
async function pool(variant: KernelVariant, threads: number): Promise<Kernels> {
  const key = `${variant}/${threads}`;
  if (!pools.has(key)) pools.set(key, await Kernels.create({ threads, variant }));
  return pools.get(key)!;
}

function matmul(k: Kernels, type: GgmlType, w: Uint8Array, rows: number, cols: number, x: Float32Array, ntok: number): Float32Array {
  const mark = k.mark();
  try {
    const wp = k.put(w);
    const xp = k.put(x);
    const y = k.alloc(rows * ntok * 4);
    const scratch = k.alloc(k.exports.matmul_scratch_bytes(type, cols, ntok));
    k.exports.matmul(type, wp, rows, cols, xp, ntok, y, scratch);
    return Float32Array.from(k.f32(y, rows * ntok));
  } finally {
    k.reset(mark);
  }
}

test("auto picks the relaxed build when the host validates it", { skip }, () => {
  assert.match(defaultWasmPath("auto"), /kernels-relaxed\.wasm$/);
  assert.match(defaultWasmPath("simd128"), /kernels\.wasm$/);
});

for (const type of TYPES) {
  test(`${typeName(type)}: relaxed and SIMD128 builds give identical products`, { skip }, async () => {
    const cols = 512;
    const rows = 67;
    const w = quantizeTensor(type, gaussianArray(400 + type, rows * cols, 0.5), cols);
    for (const ntok of [1, 9]) {
      const x = gaussianArray(500 + type + ntok, ntok * cols);
      const want = matmul(await pool("simd128", 1), type, w, rows, cols, x, ntok);
      for (const threads of [1, 2]) {
        const k = await pool("relaxed", threads);
        // Many calls: the first run in V8's baseline compiler, later ones in the optimised tier.
        for (let rep = 0; rep < 30; rep++) {
          const got = matmul(k, type, w, rows, cols, x, ntok);
          if (rep === 0 || rep === 29) assert.deepEqual(got, want, `${typeName(type)} ntok ${ntok}, ${threads} threads, call ${rep}`);
        }
      }
    }
  });
}

test("attention: relaxed and SIMD128 builds give identical bytes", { skip }, async () => {
  // [tokens, query heads, KV heads, head_dim, first_pos]: prompts and decoding, head_dim with and
  // without a tail past the last 4, an odd query head left after the pairs.
  for (const [nTokens, nHead, nHeadKV, headDim, firstPos] of [[40, 14, 2, 64, 0], [1, 7, 1, 128, 90], [5, 6, 2, 10, 3]]) {
    const ctx = firstPos + nTokens;
    const q = gaussianArray(600 + headDim, nTokens * nHead * headDim, 2.5);
    const kc = Uint16Array.from(gaussianArray(700 + headDim, ctx * nHeadKV * headDim, 1), f32ToF16);
    const vc = Uint16Array.from(gaussianArray(800 + headDim, ctx * nHeadKV * headDim, 1), f32ToF16);
    const shape = { nTokens, nHead, nHeadKv: nHeadKV, headDim, kvStride: nHeadKV * headDim, firstPos, scale: 1 / Math.sqrt(headDim) };
    const want = runAttention(await pool("simd128", 1), shape, q, kc, vc, true);
    for (const threads of [1, 2]) {
      const k = await pool("relaxed", threads);
      for (let rep = 0; rep < 30; rep++) {
        const got = runAttention(k, shape, q, kc, vc, true);
        if (rep === 0 || rep === 29) assert.deepEqual(new Uint8Array(got.buffer), new Uint8Array(want.buffer), `attention ${nTokens}×${nHead}/${nHeadKV}×${headDim} at ${firstPos}, ${threads} threads, call ${rep}`);
      }
    }
  }
});
