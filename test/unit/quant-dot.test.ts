// Reference dot products: activation types as ggml's vec_dot_type, and the value of the dot.
import { test } from "node:test";
import assert from "node:assert/strict";
import { dequantizeRow } from "../reference/quant/dequantize.ts";
import { quantizeRow } from "../reference/quant/quantize.ts";
import { activationType, referenceDot, referenceDotQuantized } from "../reference/quant/reference-dot.ts";
import { GgmlType, typeName } from "../../src/engine/quant/types.ts";
import { gaussianArray } from "../helpers/random.ts";

const T = GgmlType;

test("activationType is ggml's vec_dot_type", () => {
  const expected: [GgmlType, GgmlType][] = [
    [T.F32, T.F32], [T.F16, T.F16], [T.BF16, T.BF16],
    [T.Q4_0, T.Q8_0], [T.Q5_0, T.Q8_0], [T.Q8_0, T.Q8_0], [T.Q4_1, T.Q8_1], [T.Q5_1, T.Q8_1],
    [T.Q4_K, T.Q8_K], [T.Q5_K, T.Q8_K], [T.Q6_K, T.Q8_K],
  ];
  for (const [w, a] of expected) assert.equal(activationType(w), a, typeName(w));
  assert.throws(() => activationType(T.Q2_K), /Q2_K/);
});

test("referenceDot = Σ dequant(w)·dequant(quantised x) (plus ggml's Q8_1 sum term), close to the float dot", (t) => {
  const n = 1024;
  for (const w of [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q4_K, T.Q5_K, T.Q6_K]) {
    const wf = gaussianArray(100 + w, n);
    const x = gaussianArray(200 + w, n);
    const wq = quantizeRow(w, wf);
    const dot = referenceDot(w, wq, x);
    // the same from its parts
    const wd = dequantizeRow(w, wq, n);
    const act = quantizeRow(activationType(w), x);
    const xd = dequantizeRow(activationType(w), act, n);
    let expect = 0, exact = 0;
    for (let i = 0; i < n; i++) {
      expect += wd[i] * xd[i];
      exact += wf[i] * x[i];
    }
    if (w === T.Q4_1 || w === T.Q5_1) {
      // ggml's min term uses the activation blocks' stored s = f16(d·Σq): within f16 rounding.
      assert.ok(Math.abs(dot - expect) < 1e-3 * Math.sqrt(n), `${typeName(w)}: ${dot} vs ${expect}`);
      assert.notEqual(dot, expect);
    } else {
      assert.equal(dot, expect);
    }
    assert.equal(referenceDotQuantized(w, wq, act, n), dot);
    // Quantisation error of the dot, relative to √n (the size of a dot of unit gaussians)
    const rel = Math.abs(dot - exact) / Math.sqrt(n);
    t.diagnostic(`${typeName(w)}: |ref − float| / √n = ${rel.toExponential(3)}`);
    assert.ok(rel < 0.25, `${typeName(w)}: ${dot} vs ${exact}`);
  }
});

test("referenceDot checks lengths", () => {
  assert.throws(() => referenceDot(T.Q4_K, new Uint8Array(144), new Float32Array(128)), /not a whole number/);
  assert.throws(() => referenceDot(T.Q4_K, new Uint8Array(100), new Float32Array(256)), /needs 144 bytes/);
});
