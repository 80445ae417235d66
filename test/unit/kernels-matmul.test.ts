// Matrix products on the kernels: every output equals the reference dot product of its weight row
// with the activations quantised as ggml does, for every weight format; batched products equal
// one-column products; and the bytes of the result do not depend on the thread count (1, 2, 4).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Kernels } from "../../src/engine/wasm/kernels.ts";
import { GgmlType, typeName, rowBytes } from "../../src/engine/quant/types.ts";
import { quantizeRow, quantizeTensor } from "../reference/quant/quantize.ts";
import { activationType, referenceDotQuantized } from "../reference/quant/reference-dot.ts";
import { dequantizeRow } from "../reference/quant/dequantize.ts";
import { gaussianArray } from "../helpers/random.ts";
import { REPACKED } from "../../src/engine/model/weights.ts";

const TYPES = [
  GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1,
  GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
];
/** Error relative to Σ|w·a| of the row: the kernels and the float64 reference differ only by float rounding. */
const TOLERANCE = 1e-5;

const pools = new Map<number, Kernels>();
after(async () => {
  for (const k of pools.values()) await k.close();
});
async function pool(threads: number): Promise<Kernels> {
  if (!pools.has(threads)) pools.set(threads, await Kernels.create({ threads }));
  return pools.get(threads)!;
}

interface Case {
  type: GgmlType;
  rows: number;
  cols: number;
  ntok: number;
  w: Uint8Array;
  x: Float32Array;
}

function makeCase(type: GgmlType, rows: number, cols: number, ntok: number, seed: number): Case {
  const w = quantizeTensor(type, gaussianArray(seed, rows * cols, 0.5), cols);
  return { type, rows, cols, ntok, w, x: gaussianArray(seed + 1, ntok * cols) };
}

function runMatmul(k: Kernels, c: Case): Float32Array {
  const mark = k.mark();
  try {
    const w = k.put(c.w);
    const x = k.put(c.x);
    const y = k.alloc(c.rows * c.ntok * 4);
    const scratch = k.alloc(k.exports.matmul_scratch_bytes(c.type, c.cols, c.ntok));
    k.exports.matmul(c.type, w, c.rows, c.cols, x, c.ntok, y, scratch);
    return Float32Array.from(k.f32(y, c.rows * c.ntok));
  } finally {
    k.reset(mark);
  }
}

for (const type of TYPES) {
  test(`${typeName(type)}: matmul equals the reference dot of every row`, async (t) => {
    const k = await pool(1);
    const cols = type === GgmlType.Q4_K || type === GgmlType.Q5_K || type === GgmlType.Q6_K ? 512 : 96;
    const c = makeCase(type, 37, cols, 3, 1000 + type);
    const y = runMatmul(k, c);
    const rb = rowBytes(type, cols);
    const actType = activationType(type);
    let worst = 0;
    for (let tok = 0; tok < c.ntok; tok++) {
      const act = quantizeRow(actType, c.x.subarray(tok * cols, (tok + 1) * cols));
      const a = dequantizeRow(actType, act, cols);
      for (let r = 0; r < c.rows; r++) {
        const wRow = c.w.subarray(r * rb, (r + 1) * rb);
        const want = referenceDotQuantized(type, wRow, act, cols);
        const w = dequantizeRow(type, wRow, cols);
        const magnitude = w.reduce((s, wi, i) => s + Math.abs(wi * a[i]), 0);
        worst = Math.max(worst, Math.abs(y[tok * c.rows + r] - want) / magnitude);
      }
    }
    t.diagnostic(`worst error relative to Σ|w·a|: ${worst.toExponential(2)} (tolerance ${TOLERANCE})`);
    assert.ok(worst <= TOLERANCE, `worst error ${worst}`);
  });
}

test("a batched product equals one-column products, and results are identical with 1, 2 and 4 threads", async () => {
  // 9 tokens: two groups of the 4-token kernels (vec_dot_n) and one token alone. 302 rows: the
  // one-token products of four rows at once (Q8_0, Q6_K) meet shares that end in 1-3 rows.
  for (const type of [GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.Q5_K, GgmlType.Q8_0, GgmlType.Q5_0, GgmlType.Q4_0, GgmlType.F16]) {
    const c = makeCase(type, 302, 512, 9, 77 + type);
    const one = runMatmul(await pool(1), c);
    for (const threads of [2, 4]) {
      assert.deepEqual(runMatmul(await pool(threads), c), one, `${typeName(type)} with ${threads} threads`);
    }
    for (let tok = 0; tok < c.ntok; tok++) {
      const single = runMatmul(await pool(1), { ...c, ntok: 1, x: c.x.subarray(tok * c.cols, (tok + 1) * c.cols) });
      assert.deepEqual(single, one.subarray(tok * c.rows, (tok + 1) * c.rows), `${typeName(type)} token ${tok}`);
    }
    // One token with 2 and 4 threads: the one-token products take 4 rows a quarter of each share
    // apart (Q8_0, Q6_K), so shares of other sizes must give the same bytes.
    const last = { ...c, ntok: 1, x: c.x.subarray((c.ntok - 1) * c.cols) };
    for (const threads of [2, 4]) {
      assert.deepEqual(runMatmul(await pool(threads), last), one.subarray((c.ntok - 1) * c.rows), `${typeName(type)} one token, ${threads} threads`);
    }
  }
});

test("weight types with one activation format take the same quantised activations (the transformer quantises an input once for them)", async () => {
  // 5 tokens at 2 threads: the activation rows are quantised in shares of rows; the bytes must not
  // depend on it. The REPACKED flag does not change the format.
  const cols = 512;
  const x = gaussianArray(31, 5 * cols);
  const quantised = async (type: GgmlType, threads: number): Promise<Uint8Array> => {
    const k = await pool(threads);
    const mark = k.mark();
    try {
      const bytes = k.exports.matmul_scratch_bytes(type, cols, 5);
      const xq = k.alloc(bytes);
      k.exports.quantize_activations(type, k.put(x), cols, 5, xq);
      return Uint8Array.from(k.bytes(xq, bytes));
    } finally {
      k.reset(mark);
    }
  };
  const k = await pool(1);
  const formats = new Map(TYPES.map((t) => [t, k.exports.act_format(t)]));
  for (const a of TYPES) {
    assert.equal(k.exports.act_format(a | REPACKED), formats.get(a), `${typeName(a)} repacked`);
    const qa = await quantised(a, 1);
    assert.deepEqual(await quantised(a, 2), qa, `${typeName(a)} at 2 threads`);
    for (const b of TYPES) {
      const same = formats.get(a) === formats.get(b);
      const qb = await quantised(b, 1);
      const equal = qa.length === qb.length && qa.every((v, i) => v === qb[i]);
      assert.equal(equal, same, `${typeName(a)} and ${typeName(b)}: formats ${same ? "equal" : "differ"}, activations ${equal ? "equal" : "differ"}`);
    }
  }
  // The grouping the models rely on: the K-quants share one format; Q5_0, Q4_0 and Q8_0 each their own.
  assert.equal(formats.get(GgmlType.Q4_K), formats.get(GgmlType.Q6_K));
  assert.equal(formats.get(GgmlType.Q4_K), formats.get(GgmlType.Q5_K));
  assert.equal(new Set([GgmlType.Q5_0, GgmlType.Q4_0, GgmlType.Q8_0].map((t) => formats.get(t))).size, 3);
});

test("get_row returns one dequantised row (the embedding lookup)", async () => {
  const k = await pool(1);
  const type = GgmlType.Q6_K;
  const data = gaussianArray(5, 4 * 256);
  const w = quantizeTensor(type, data, 256);
  const mark = k.mark();
  const ptr = k.put(w);
  const y = k.alloc(256 * 4);
  k.exports.get_row(type, ptr, 256, 2, y);
  const got = Array.from(k.f32(y, 256));
  k.reset(mark);
  const want = Array.from(dequantizeRow(type, w.subarray(2 * 210, 3 * 210), 256));
  assert.deepEqual(got, want);
});
