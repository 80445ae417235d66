// The float kernels of kernels/ops*.c against the TypeScript references of test/reference/ops.ts.
// Needs dist/kernels.wasm (bash kernels/build.sh). Tolerances, per op:
//   add, mul, scale, add_bias_rows, rope, store_kv_f16: bit-exact (same float roundings);
//   rms_norm: ≤ 1 ulp (the double sum's order may differ; in practice exact);
//   exp: ≤ 2 ulp against the correctly rounded exp; softmax, silu_mul: relative error ≤ 1e-6
//   (a few ulps from exp);
//   attention: the reference rounds q and the probabilities to f16 as llama.cpp does; error is
//   measured relative to Σ_j p_j |v_j| (the scale of the output's terms): max ≤ 1e-3 (a
//   probability near an f16 rounding tie may round the other way: one f16 ulp, ≤ 2^-10 of one
//   term), mean ≤ 1e-5 (without the f16 emulation the mean would be ~1e-4).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Kernels } from "../../src/engine/wasm/kernels.ts";
import { f16ToF32, f32ToF16 } from "../reference/quant/half.ts";
import { gaussianArray, mulberry32 } from "../helpers/random.ts";
import { runAttention } from "../helpers/attention.ts";
import {
  attentionRef,
  rmsNormRef,
  ropeCosSin,
  ropeRef,
  siluMulRef,
  softmaxRef,
  type AttentionShape,
} from "../reference/ops.ts";

const fr = Math.fround;

let k: Kernels;
let k2: Kernels;
before(async () => {
  k = await Kernels.create({ threads: 1 });
  k2 = await Kernels.create({ threads: 2 });
});
after(async () => {
  await k?.close();
  await k2?.close();
});

/** Distance in float32 ulps (counting representable floats between a and b). */
function ulps(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b) ? 0 : Infinity;
  if (a === b) return 0;
  const ord = (x: number): number => {
    const bits = new Uint32Array(new Float32Array([x]).buffer)[0];
    return bits & 0x80000000 ? -(bits & 0x7fffffff) : bits;
  };
  return Math.abs(ord(a) - ord(b));
}

/** Runs `fn` with a scratch mark on kernels `kk`, releasing what it allocated. */
function scoped<T>(kk: Kernels, fn: () => T): T {
  const m = kk.mark();
  try {
    return fn();
  } finally {
    kk.reset(m);
  }
}

const SIZES = [1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 64, 129, 896, 2048, 4099];

describe("elementwise", () => {
  test("add, mul, scale, add_bias_rows are exact", () => {
    for (const n of SIZES) {
      scoped(k, () => {
        const a = gaussianArray(n, n, 3);
        const b = gaussianArray(n + 1, n, 0.5);
        const pa = k.put(a);
        const pb = k.put(b);
        const py = k.alloc(n * 4);
        k.exports.add(pa, pb, py, n);
        assert.deepEqual(k.f32(py, n), a.map((x, i) => fr(x + b[i])), `add n=${n}`);
        k.exports.mul(pa, pb, py, n);
        assert.deepEqual(k.f32(py, n), a.map((x, i) => fr(x * b[i])), `mul n=${n}`);
        k.exports.scale(pa, py, n, 0.125 + 1 / 3);
        const s = fr(0.125 + 1 / 3);
        assert.deepEqual(k.f32(py, n), a.map((x) => fr(x * s)), `scale n=${n}`);
        k.exports.add(pa, pb, pa, n); // in place
        assert.deepEqual(k.f32(pa, n), a.map((x, i) => fr(x + b[i])), `add in place n=${n}`);
      });
    }
    for (const [n, rows] of [[7, 3], [64, 5], [896, 4]]) {
      scoped(k, () => {
        const x = gaussianArray(rows, n * rows);
        const b = gaussianArray(n, n);
        const px = k.put(x);
        k.exports.add_bias_rows(px, k.put(b), n, rows);
        assert.deepEqual(k.f32(px, n * rows), x.map((v, i) => fr(v + b[i % n])), `add_bias_rows ${n}x${rows}`);
      });
    }
  });
});

describe("exp", () => {
  test("exp_f32: ≤ 2 ulp of Math.exp over [-110, 95], and the edges", (t) => {
    const n = 1 << 20;
    const x = new Float32Array(n);
    const rand = mulberry32(7);
    for (let i = 0; i < n; i++) x[i] = i < n / 2 ? -110 + (205 * i) / (n / 2) : -110 + 205 * rand();
    const edges = [
      0, -0, 1, -1, 1e-30, -1e-30, 88.72283, 88.72284, 88.7229, 89, 100, 1e30, Infinity, -Infinity, NaN,
      -87.33654, -87.3366, -88, -100, -103.27893, -103.97208, -104, -105, -1e30, 0.5 * Math.LN2, -0.5 * Math.LN2,
    ];
    x.set(edges);
    scoped(k, () => {
      const px = k.put(x);
      const py = k.alloc(n * 4);
      k.exports.exp_f32(px, py, n);
      const y = k.f32(py, n);
      let worst = 0;
      let worstAt = 0;
      let worstSub = 0;
      for (let i = 0; i < n; i++) {
        const ref = fr(Math.exp(x[i]));
        const u = ulps(y[i], ref);
        if (ref !== 0 && ref < 2 ** -126) worstSub = Math.max(worstSub, u);
        else if (u > worst) [worst, worstAt] = [u, x[i]];
      }
      t.diagnostic(`exp: worst ${worst} ulp (at x = ${worstAt}); subnormal results worst ${worstSub} ulp`);
      assert.ok(worst <= 2, `exp error ${worst} ulp at ${worstAt}`);
      assert.ok(worstSub <= 2, `exp error ${worstSub} ulp (subnormal results)`);
      // The edges exactly.
      const at = (v: number): number => y[edges.findIndex((e) => Object.is(e, v))];
      for (const v of [0, -0]) assert.equal(at(v), 1);
      for (const v of [89, 100, 1e30, Infinity]) assert.equal(at(v), Infinity, `exp(${v})`);
      for (const v of [-105, -1e30, -Infinity]) assert.equal(at(v), 0, `exp(${v})`);
      assert.ok(Number.isNaN(at(NaN)));
      assert.ok(at(88.72283) < Infinity && at(-103.27893) > 0, "largest finite, a subnormal result");
    });
  });
});

describe("rms_norm", () => {
  test("rms_norm and rms_norm_rows ≤ 1 ulp of ggml's roundings", (t) => {
    let worst = 0;
    for (const n of SIZES) {
      for (const withWeight of [true, false]) {
        scoped(k, () => {
          const x = gaussianArray(100 + n, n, 2);
          const w = gaussianArray(200 + n, n, 1);
          const px = k.put(x);
          const py = k.alloc(n * 4);
          k.exports.rms_norm(px, withWeight ? k.put(w) : 0, py, n, 1e-6);
          const ref = rmsNormRef(x, withWeight ? w : null, n, 1e-6);
          const y = k.f32(py, n);
          for (let i = 0; i < n; i++) worst = Math.max(worst, ulps(y[i], ref[i]));
        });
      }
    }
    // rows: a batch of tokens, and qwen3-style per-head norm (n = head_dim)
    for (const [n, rows, eps] of [[128, 16, 1e-6], [64, 3, 1e-5], [2048, 4, 1e-5], [5, 9, 1e-6]]) {
      scoped(k, () => {
        const x = gaussianArray(rows, n * rows, 0.3);
        const w = gaussianArray(n, n);
        const px = k.put(x);
        const py = k.alloc(n * rows * 4);
        k.exports.rms_norm_rows(px, k.put(w), py, n, rows, eps);
        const ref = rmsNormRef(x, w, n, eps);
        const y = k.f32(py, n * rows);
        for (let i = 0; i < n * rows; i++) worst = Math.max(worst, ulps(y[i], ref[i]));
        k.exports.rms_norm_rows(px, k.put(w), px, n, rows, eps); // in place
        assert.deepEqual(k.f32(px, n * rows), k.f32(py, n * rows), "in place");
      });
    }
    t.diagnostic(`rms_norm: worst ${worst} ulp`);
    assert.ok(worst <= 1, `rms_norm ${worst} ulp`);
  });
});

describe("rope", () => {
  test("ropeCosSin follows the float recurrence and agrees with the exact angles", () => {
    const nDims = 64;
    const base = 10000;
    const tab = ropeCosSin([0, 1, 5, 300], nDims, base);
    for (let i = 0; i < nDims / 2; i++) {
      assert.equal(tab[2 * i], 1);
      assert.equal(tab[2 * i + 1], 0);
    }
    for (const [ti, pos] of [[1, 1], [2, 5], [3, 300]]) {
      for (let i = 0; i < nDims / 2; i++) {
        const theta = pos * base ** ((-2 * i) / nDims);
        // The iterated float theta drifts by ~i float ulps of theta.
        const tol = 1e-6 * (1 + i) * theta + 1e-7;
        assert.ok(Math.abs(tab[ti * nDims + 2 * i] - Math.cos(theta)) <= tol, `cos pos ${pos} i ${i}`);
        assert.ok(Math.abs(tab[ti * nDims + 2 * i + 1] - Math.sin(theta)) <= tol, `sin pos ${pos} i ${i}`);
      }
    }
    // freq factors divide theta; freq_scale multiplies it
    const ff = Array.from({ length: 4 }, (_, i) => 1 + i);
    const a = ropeCosSin([7], 8, 500000, { freqFactors: ff, freqScale: 0.25 });
    const ts = fr(Math.pow(500000, fr(-2 / 8)));
    let theta = 7;
    for (let i = 0; i < 4; i++) {
      assert.equal(a[2 * i], fr(Math.cos(fr(0.25 * fr(theta / ff[i])))));
      theta = fr(theta * ts);
    }
  });

  const shapes = [
    // nHeads, headDim, nDims, neox, nTokens, extra row stride
    [4, 64, 64, true, 1, 0],
    [4, 64, 64, false, 1, 0],
    [2, 128, 128, true, 3, 0],
    [3, 128, 128, false, 5, 16],
    [2, 80, 32, true, 2, 0], // partial rotation: dims 32..79 untouched
    [2, 80, 32, false, 2, 0],
    [3, 12, 6, true, 2, 3], // half = 3: SIMD tails in both modes
    [3, 12, 6, false, 2, 3],
    [1, 10, 10, true, 1, 0],
    [1, 10, 10, false, 1, 0],
  ] as const;
  test("rope and rope_rows are bit-exact", () => {
    for (const [nHeads, headDim, nDims, neox, nTokens, extra] of shapes) {
      const rowStride = nHeads * headDim + extra;
      const positions = Array.from({ length: nTokens }, (_, i) => [0, 1, 7, 1000, 32767][i % 5] + i);
      const cs = ropeCosSin(positions, nDims, neox ? 1000000 : 10000);
      const x = gaussianArray(nDims * 7 + nTokens, rowStride * nTokens, 2);
      const ref = x.slice();
      ropeRef(ref, nTokens, rowStride, nHeads, headDim, nDims, cs, neox);
      scoped(k, () => {
        const px = k.put(x);
        const pcs = k.put(cs);
        if (nTokens === 1 && extra === 0) k.exports.rope(px, nHeads, headDim, nDims, pcs, neox ? 1 : 0);
        else k.exports.rope_rows(px, nTokens, rowStride, nHeads, headDim, nDims, pcs, neox ? 1 : 0);
        const label = `rope heads ${nHeads} hd ${headDim} dims ${nDims} ${neox ? "neox" : "norm"} tokens ${nTokens}`;
        assert.deepEqual(k.f32(px, x.length), ref, label);
        // untouched: dims past n_dims, and the padding between rows
        const y = k.f32(px, x.length);
        for (let t = 0; t < nTokens; t++) {
          for (let h = 0; h < nHeads; h++) {
            for (let d = nDims; d < headDim; d++) {
              const i = t * rowStride + h * headDim + d;
              assert.equal(y[i], x[i], label);
            }
          }
          for (let i = nHeads * headDim; i < rowStride; i++) assert.equal(y[t * rowStride + i], x[t * rowStride + i]);
        }
      });
    }
  });
});

describe("softmax and silu_mul", () => {
  test("softmax: relative error ≤ 1e-6", (t) => {
    let worst = 0;
    for (const n of SIZES) {
      for (const spread of [0.5, 10, 40]) {
        scoped(k, () => {
          const x = gaussianArray(n * 3 + spread, n, spread);
          if (n > 3) x[1] = -Infinity; // a masked entry
          const px = k.put(x);
          k.exports.softmax(px, n);
          // ggml subtracts the max in float: do the same, the rest in float64
          let max = -Infinity;
          for (const v of x) max = Math.max(max, v);
          const ref = softmaxRef(x.map((v) => fr(v - max)));
          const y = k.f32(px, n);
          let sum = 0;
          for (let i = 0; i < n; i++) {
            sum += y[i];
            // Below float's normal range the kernel (like ggml) has subnormal precision only.
            if (ref[i] < 2 ** -126) assert.ok(Math.abs(y[i] - ref[i]) <= 2 ** -148, `softmax tiny ${y[i]} vs ${ref[i]}`);
            else worst = Math.max(worst, Math.abs(y[i] - ref[i]) / ref[i]);
          }
          assert.ok(Math.abs(sum - 1) < 1e-5, `softmax sums to ${sum}`);
        });
      }
    }
    t.diagnostic(`softmax: worst relative error ${worst.toExponential(2)}`);
    assert.ok(worst <= 1e-6, `softmax ${worst}`);
  });

  test("silu_mul: relative error ≤ 1e-6, overflowing exp included", (t) => {
    let worst = 0;
    for (const n of SIZES) {
      scoped(k, () => {
        const gate = gaussianArray(n * 5, n, 6);
        const up = gaussianArray(n * 5 + 1, n, 2);
        const edges = [-120, 120, -90, 90, 0, -0, -1e-30, 1e-30, -88.5, -103.5];
        for (let i = 0; i < Math.min(n, edges.length); i++) gate[(i * 7) % n] = edges[i];
        const py = k.alloc(n * 4);
        k.exports.silu_mul(k.put(gate), k.put(up), py, n);
        const ref = siluMulRef(gate, up);
        const y = k.f32(py, n);
        for (let i = 0; i < n; i++) {
          assert.ok(Number.isFinite(y[i]), `silu_mul finite at gate ${gate[i]}`);
          if (Math.abs(ref[i]) < 2 ** -126) assert.ok(Math.abs(y[i] - ref[i]) <= 2 ** -148, `silu_mul tiny ${y[i]} vs ${ref[i]}`);
          else worst = Math.max(worst, Math.abs(y[i] - ref[i]) / Math.abs(ref[i]));
        }
      });
    }
    t.diagnostic(`silu_mul: worst relative error ${worst.toExponential(2)}`);
    assert.ok(worst <= 1e-6, `silu_mul ${worst}`);
  });

  test("silu_mul of a prompt batch (split across threads): threads 1 and 2 give identical bytes", () => {
    const n = 4 * 40_000 + 3; // above the size split across threads, with a tail of 3
    const gate = gaussianArray(77, n, 6);
    const up = gaussianArray(78, n, 2);
    const out = [k, k2].map((kk) => scoped(kk, () => {
      const py = kk.alloc(n * 4);
      kk.exports.silu_mul(kk.put(gate), kk.put(up), py, n);
      return Float32Array.from(kk.f32(py, n));
    }));
    assert.deepEqual(new Uint8Array(out[1].buffer), new Uint8Array(out[0].buffer));
    const ref = siluMulRef(gate, up);
    for (const i of [0, n - 4, n - 1]) assert.ok(Math.abs(out[1][i] - ref[i]) <= 1e-6 * Math.abs(ref[i]), `element ${i}`);
  });
});

describe("f16 KV store", () => {
  test("store_kv_f16 rounds to nearest even like F16C, every half and every tie", () => {
    // Every finite half value, the midpoints between neighbours (ties: round to even) and the
    // floats one ulp either side of each midpoint, plus overflow, float subnormals, infinities.
    const values: number[] = [];
    for (let h = 0; h < 0x7c00; h++) {
      const a = f16ToF32(h);
      const b = f16ToF32(h + 1);
      const mid = (a + b) / 2; // exact in float32
      for (const v of [a, mid, nextFloat(mid, -1), nextFloat(mid, 1)]) values.push(v, -v);
    }
    values.push(65504, 65519.99, 65520, 1e6, 1e-40, -1e-40, 2 ** -25, 2 ** -26, Infinity, -Infinity);
    for (const n of [values.length, 1, 7, 9, 15]) {
      scoped(k, () => {
        const src = Float32Array.from(values.slice(0, n));
        const pd = k.alloc(n * 2);
        k.exports.store_kv_f16(k.put(src), pd, n);
        const got = k.u16(pd, n);
        for (let i = 0; i < n; i++) {
          if (got[i] !== f32ToF16(src[i])) assert.fail(`f16(${src[i]}) = ${got[i].toString(16)}, want ${f32ToF16(src[i]).toString(16)}`);
        }
      });
    }
    // NaN stays NaN
    scoped(k, () => {
      const p = k.put(new Float32Array([NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN]));
      const pd = k.alloc(18);
      k.exports.store_kv_f16(p, pd, 9);
      for (const h of k.u16(pd, 9)) assert.ok((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0, `NaN → ${h.toString(16)}`);
    });
  });

  test("store_kv_f16_heads puts each head of each token at its position in the head's plane, untouched elsewhere", () => {
    // 3 tokens of 2 heads × 12 (a tail past the 8-wide loop) at positions 4..6 of a 9-position cache.
    const [nTok, nHeads, hd, nCtx, pos0] = [3, 2, 12, 9, 4];
    scoped(k, () => {
      const src = gaussianArray(5, nTok * nHeads * hd, 3);
      const dst = k.alloc(nHeads * nCtx * hd * 2);
      k.u16(dst, nHeads * nCtx * hd).fill(0xabcd);
      k.exports.store_kv_f16_heads(k.put(src), dst + pos0 * hd * 2, nTok, nHeads, hd, nCtx * hd);
      const got = k.u16(dst, nHeads * nCtx * hd);
      for (let g = 0; g < nHeads; g++) {
        for (let j = 0; j < nCtx; j++) {
          for (let d = 0; d < hd; d++) {
            const t = j - pos0;
            const want = t >= 0 && t < nTok ? f32ToF16(src[(t * nHeads + g) * hd + d]) : 0xabcd;
            assert.equal(got[(g * nCtx + j) * hd + d], want, `head ${g} position ${j} element ${d}`);
          }
        }
      }
    });
  });
});

describe("f16 → f32", () => {
  // In order, every 8 halves in a vector are of one kind (the kinds change at multiples of 8);
  // permuted (an odd multiplier), vectors mix normal halves with zeros, subnormals, inf and NaN.
  // Rows of 64 (a KV head's row): in order, every finite half is in a row without inf or NaN (the
  // multiply alone), and the rest in rows converted again; whole, one row of every half.
  for (const [order, at] of [["in order", (i: number) => i], ["permuted", (i: number) => (i * 40503) >>> 0]] as const) {
    for (const row of [64, 65536 + 5]) test(`f16_to_f32_row is exact for every half, NaN stays NaN (${order}, rows of ${row})`, () => {
      scoped(k, () => {
        const n = 65536 + 5; // + a tail
        const src = new Uint16Array(n);
        for (let i = 0; i < n; i++) src[i] = at(i) & 0xffff;
        const pd = k.alloc(n * 4);
        const ps = k.put(src);
        for (let i = 0; i < n; i += row) k.exports.f16_to_f32_row(ps + 2 * i, pd + 4 * i, Math.min(row, n - i));
        const got = new Uint32Array(k.bytes(pd, n * 4).slice().buffer);
        const want = new Uint32Array(Float32Array.from(src, f16ToF32).buffer);
        const isNaN32 = (u: number): boolean => (u & 0x7f800000) === 0x7f800000 && (u & 0x7fffff) !== 0;
        for (let i = 0; i < n; i++) {
          if (isNaN32(want[i])) assert.ok(isNaN32(got[i]), `f16 ${src[i].toString(16)} → NaN`);
          else if (got[i] !== want[i]) assert.fail(`f16 ${src[i].toString(16)} → ${got[i].toString(16)}, want ${want[i].toString(16)}`);
        }
      });
    });
  }
});

function nextFloat(x: number, dir: 1 | -1): number {
  const f = new Float32Array([x]);
  const u = new Int32Array(f.buffer);
  u[0] += x >= 0 === dir > 0 ? 1 : -1;
  return f[0];
}

describe("attention", () => {
  const shapes: Array<Omit<AttentionShape, "scale" | "kvStride"> & { pad: number }> = [
    { nTokens: 1, nHead: 4, nHeadKv: 4, headDim: 8, firstPos: 0, pad: 0 },
    { nTokens: 1, nHead: 8, nHeadKv: 4, headDim: 64, firstPos: 37, pad: 0 },
    { nTokens: 5, nHead: 8, nHeadKv: 2, headDim: 128, firstPos: 0, pad: 0 },
    { nTokens: 7, nHead: 4, nHeadKv: 1, headDim: 64, firstPos: 13, pad: 8 },
    { nTokens: 3, nHead: 16, nHeadKv: 4, headDim: 128, firstPos: 300, pad: 0 },
    { nTokens: 1, nHead: 14, nHeadKv: 2, headDim: 64, firstPos: 1000, pad: 0 },
    { nTokens: 4, nHead: 2, nHeadKv: 1, headDim: 12, firstPos: 5, pad: 3 }, // odd head_dim tails
    { nTokens: 3, nHead: 5, nHeadKv: 1, headDim: 10, firstPos: 6, pad: 2 }, // head_dim not a multiple of 4
    { nTokens: 2, nHead: 3, nHeadKv: 3, headDim: 8, firstPos: 2, pad: 1 },
    { nTokens: 9, nHead: 4, nHeadKv: 2, headDim: 64, firstPos: 0, pad: 0 },
    // one KV head, one token: with 2 threads the group of query heads is split between them
    { nTokens: 1, nHead: 6, nHeadKv: 1, headDim: 64, firstPos: 20, pad: 0 },
    { nTokens: 1, nHead: 7, nHeadKv: 1, headDim: 128, firstPos: 3, pad: 0 },
  ];

  test("matches the reference (f16 q and p), threads 1 and 2 give identical bytes", (t) => {
    let seed = 1;
    for (const sh of shapes) {
      const s: AttentionShape = { ...sh, kvStride: sh.nHeadKv * sh.headDim + sh.pad, scale: 1 / Math.sqrt(sh.headDim) };
      const nCtx = s.firstPos + s.nTokens;
      const q = gaussianArray(seed++, s.nTokens * s.nHead * s.headDim, 2.5);
      const kc = Uint16Array.from(gaussianArray(seed++, nCtx * s.kvStride, 1), f32ToF16);
      const vc = Uint16Array.from(gaussianArray(seed++, nCtx * s.kvStride, 1), f32ToF16);
      const out1 = runAttention(k, s, q, kc, vc);
      const out2 = runAttention(k2, s, q, kc, vc);
      const byHead1 = runAttention(k, s, q, kc, vc, true);
      const byHead2 = runAttention(k2, s, q, kc, vc, true);
      const { out: ref, mag } = attentionRef(q, kc, vc, s);
      let worst = 0;
      let mean = 0;
      for (let i = 0; i < ref.length; i++) {
        const e = Math.abs(out1[i] - ref[i]) / mag[i];
        worst = Math.max(worst, e);
        mean += e / ref.length;
      }
      const label = `tokens ${s.nTokens} heads ${s.nHead}/${s.nHeadKv} hd ${s.headDim} first_pos ${s.firstPos}`;
      t.diagnostic(`attention ${label}: worst ${worst.toExponential(2)}, mean ${mean.toExponential(2)}`);
      assert.ok(worst <= 1e-3, `${label}: worst ${worst}`);
      assert.ok(mean <= 1e-5, `${label}: mean ${mean}`);
      assert.deepEqual(new Uint8Array(out2.buffer), new Uint8Array(out1.buffer), `${label}: threads 1 vs 2`);
      assert.deepEqual(new Uint8Array(byHead1.buffer), new Uint8Array(out1.buffer), `${label}: the cache by head, 1 thread`);
      assert.deepEqual(new Uint8Array(byHead2.buffer), new Uint8Array(out1.buffer), `${label}: the cache by head, 2 threads`);
    }
  });

  // A decoded token (one per call) streams its K and V rows through a few rows of scratch, a batch
  // converts them into place for all its tokens: the same sums either way. Zero and subnormal halves
  // take the conversion's common path, inf and NaN a second pass over their row.
  const sh: AttentionShape = { nTokens: 43, nHead: 4, nHeadKv: 2, headDim: 64, kvStride: 128, firstPos: 0, scale: 1 / 8 };
  const at = (pos: number, head: number, d: number): number => pos * sh.kvStride + head * sh.headDim + d;
  function caches(seed: number): { q: Float32Array; kc: Uint16Array; vc: Uint16Array } {
    const q = gaussianArray(seed, sh.nTokens * sh.nHead * sh.headDim, 2.5);
    const kc = Uint16Array.from(gaussianArray(seed + 1, sh.nTokens * sh.kvStride, 1), f32ToF16);
    const vc = Uint16Array.from(gaussianArray(seed + 2, sh.nTokens * sh.kvStride, 1), f32ToF16);
    // zeros of both signs and subnormals (the smallest, the largest, negative) in both caches
    const special = [0x0000, 0x8000, 0x0001, 0x03ff, 0x83ff, 0x8001];
    for (let i = 0; i < 60; i++) {
      kc[(i * 997) % kc.length] = special[i % special.length];
      vc[(i * 1009) % vc.length] = special[(i + 1) % special.length];
    }
    return { q, kc, vc };
  }
  /** The last token's output: decoded alone (at first_pos 42), and in the batch of all 43. */
  function lastToken(kern: Kernels, q: Float32Array, kc: Uint16Array, vc: Uint16Array): { alone: Float32Array; inBatch: Float32Array } {
    const n = sh.nHead * sh.headDim;
    const batch = runAttention(kern, sh, q, kc, vc, true);
    const alone = runAttention(kern, { ...sh, nTokens: 1, firstPos: sh.nTokens - 1 }, q.subarray((sh.nTokens - 1) * n), kc, vc, true);
    return { alone, inBatch: batch.subarray((sh.nTokens - 1) * n) };
  }

  test("a decoded token gives the bytes it gets in a batch, zero and subnormal halves exactly", () => {
    const { q, kc, vc } = caches(71);
    const ref = attentionRef(q, kc, vc, sh);
    for (const kern of [k, k2]) {
      const { alone, inBatch } = lastToken(kern, q, kc, vc);
      assert.deepEqual(new Uint8Array(alone.slice().buffer), new Uint8Array(inBatch.slice().buffer), `${kern.threads} threads`);
      const off = (sh.nTokens - 1) * sh.nHead * sh.headDim;
      for (let i = 0; i < alone.length; i++) {
        const e = Math.abs(alone[i] - ref.out[off + i]) / ref.mag[off + i];
        assert.ok(e <= 1e-3, `output ${i}: relative error ${e}`);
      }
    }
  });

  test("an inf or NaN half in the cache reaches the outputs of the heads that read it", () => {
    const { q, kc, vc } = caches(83);
    vc[at(5, 0, 3)] = 0x7c00; // +inf in KV head 0's values, dimension 3
    kc[at(7, 1, 0)] = 0x7e00; // NaN in KV head 1's keys
    for (const kern of [k, k2]) {
      for (const [how, out] of Object.entries(lastToken(kern, q, kc, vc))) {
        for (let h = 0; h < sh.nHead; h++) {
          for (let d = 0; d < sh.headDim; d++) {
            const x = out[h * sh.headDim + d];
            const where = `${how}, ${kern.threads} threads, head ${h} dim ${d}: ${x}`;
            if (h >= 2) assert.ok(Number.isNaN(x), where); // heads 2, 3 read KV head 1: NaN scores
            else if (d === 3) assert.ok(!Number.isFinite(x), where);
            else assert.ok(Number.isFinite(x), where);
          }
        }
      }
    }
  });
});
