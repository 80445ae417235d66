// Activation formats, quantised as ggml's CPU backend does on x86 before a quantised dot product
// (ggml/src/ggml-cpu/arch/x86/quants.c), so our engine reproduces llama.cpp's logits.
//
// Q8_0 / Q8_1 (AVX/AVX2/AVX-512 builds, `quantize_row_q8_0` / `quantize_row_q8_1`):
//   d = amax/127 (stored as fp16), but the multiplier is id = 127/amax — not 1/d as in the
//   reference — and `_mm256_round_ps(·, _MM_ROUND_NEAREST)` rounds half to EVEN, whereas
//   `quantize_row_q8_0_ref` uses roundf (half away from zero). We implement the x86 form because
//   that is what llama.cpp (node-llama-cpp's x64 build, our conformance reference) runs; the
//   reference form is in legacy.ts (`quantizeQ8_0Ref`) and is what llama-quantize writes for
//   Q8_0 weights. Q8_1's s = fp16(d · Σq) with the float (unrounded) d.
// Q8_K: x86 has no SIMD version; `quantize_row_q8_K` calls `quantize_row_q8_K_ref`:
//   iscale = −127/max with max the signed value of largest magnitude (first on ties), q =
//   min(127, nearest_int(iscale·x)) (half to even), d = 1/iscale (float32, so negative when max
//   is positive), bsums[j] = Σ q over elements 16j..16j+15.

import { f as fImport, nearestInt as nearestIntImport } from "./common.ts";
import { f32ToF16 } from "./half.ts";
import { absMax, type RowQuantizer } from "./legacy.ts";

// Hot loops use local bindings: under tsx's CommonJS transform every call of an imported name is
// a property getter call, which made the quantisers ~5x slower (measured on the K-quants).
const f = fImport;
const nearestInt = nearestIntImport;

/** Round half to even, as `_mm256_round_ps(v, _MM_ROUND_NEAREST)` (exact for float32 v). */
const roundEven = nearestInt;

export const quantizeQ8_0X86: RowQuantizer = (x, nb, _y, v) => {
  for (let i = 0; i < nb; i++) {
    const xo = 32 * i, o = 34 * i;
    const amax = absMax(x, xo, 32);
    const d = f(amax / 127);
    const id = amax !== 0 ? f(127 / amax) : 0;
    v.setUint16(o, f32ToF16(d), true);
    for (let j = 0; j < 32; j++) v.setInt8(o + 2 + j, roundEven(f(x[xo + j] * id)));
  }
};

export const quantizeQ8_1X86: RowQuantizer = (x, nb, _y, v) => {
  for (let i = 0; i < nb; i++) {
    const xo = 32 * i, o = 36 * i;
    const amax = absMax(x, xo, 32);
    const d = f(amax / 127);
    const id = amax !== 0 ? f(127 / amax) : 0;
    v.setUint16(o, f32ToF16(d), true);
    let sum = 0;
    for (let j = 0; j < 32; j++) {
      const q = roundEven(f(x[xo + j] * id));
      v.setInt8(o + 4 + j, q);
      sum += q;
    }
    v.setUint16(o + 2, f32ToF16(f(d * sum)), true);
  }
};

export const quantizeQ8_K: RowQuantizer = (x, nb, _y, v) => {
  for (let i = 0; i < nb; i++) {
    const xo = 256 * i, o = 292 * i;
    let max = 0, amax = 0;
    for (let j = 0; j < 256; j++) {
      const ax = Math.abs(x[xo + j]);
      if (ax > amax) { amax = ax; max = x[xo + j]; }
    }
    if (!amax) {
      // ggml leaves bsums unwritten here; zero is what they would sum to.
      for (let b = 0; b < 292; b++) v.setUint8(o + b, 0);
      continue;
    }
    const iscale = f(-127 / max);
    for (let j = 0; j < 256; j++) v.setInt8(o + 4 + j, Math.min(127, nearestInt(f(iscale * x[xo + j]))));
    for (let j = 0; j < 16; j++) {
      let sum = 0;
      for (let ii = 0; ii < 16; ii++) sum += v.getInt8(o + 4 + 16 * j + ii);
      v.setInt16(o + 260 + 2 * j, sum, true);
    }
    v.setFloat32(o, f(1 / iscale), true);
  }
};
