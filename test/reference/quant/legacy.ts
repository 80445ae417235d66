// The 32-element "legacy" formats, quantised exactly as ggml's `quantize_row_*_ref`
// (ggml/src/ggml-quants.c), which is what llama-quantize writes into GGUF files.
// Every float operation is rounded to float32 (`f`) in ggml's order.

import { f as fImport, roundHalfAway as roundHalfAwayImport } from "./common.ts";
import { f32ToF16 } from "./half.ts";

// Hot loops use local bindings: under tsx's CommonJS transform every call of an imported name is
// a property getter call, which made the quantisers ~5x slower (measured on the K-quants).
const f = fImport;
const roundHalfAway = roundHalfAwayImport;

export type RowQuantizer = (x: Float32Array, nb: number, y: Uint8Array, v: DataView) => void;

/** Signed value of largest magnitude (first one wins on ties), as ggml's `amax < fabsf(v)` loop. */
function signedMax(x: Float32Array, o: number, n: number): number {
  let amax = 0, max = 0;
  for (let j = 0; j < n; j++) {
    const a = Math.abs(x[o + j]);
    if (amax < a) { amax = a; max = x[o + j]; }
  }
  return max;
}

function minMax(x: Float32Array, o: number, n: number): [number, number] {
  let min = f(3.4028234663852886e38), max = -min; // FLT_MAX
  for (let j = 0; j < n; j++) {
    const v = x[o + j];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return [min, max];
}

// d = max/−8 so the largest-magnitude value maps to q = 0 exactly; q = min(15, trunc(x·id + 8.5)).
export const quantizeQ4_0: RowQuantizer = (x, nb, y, v) => {
  for (let i = 0; i < nb; i++) {
    const xo = 32 * i, o = 18 * i;
    const d = f(signedMax(x, xo, 32) / -8);
    const id = d ? f(1 / d) : 0;
    v.setUint16(o, f32ToF16(d), true);
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(15, Math.trunc(f(f(x[xo + j] * id) + 8.5)));
      const q1 = Math.min(15, Math.trunc(f(f(x[xo + 16 + j] * id) + 8.5)));
      y[o + 2 + j] = q0 | (q1 << 4);
    }
  }
};

// d = (max − min)/15, m = min; q = min(15, trunc((x − min)·id + 0.5)).
export const quantizeQ4_1: RowQuantizer = (x, nb, y, v) => {
  for (let i = 0; i < nb; i++) {
    const xo = 32 * i, o = 20 * i;
    const [min, max] = minMax(x, xo, 32);
    const d = f(f(max - min) / 15);
    const id = d ? f(1 / d) : 0;
    v.setUint16(o, f32ToF16(d), true);
    v.setUint16(o + 2, f32ToF16(min), true);
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(15, Math.trunc(f(f(f(x[xo + j] - min) * id) + 0.5)));
      const q1 = Math.min(15, Math.trunc(f(f(f(x[xo + 16 + j] - min) * id) + 0.5)));
      y[o + 4 + j] = q0 | (q1 << 4);
    }
  }
};

// d = max/−16; q = min(31, trunc(x·id + 16.5)); bit 4 of element j goes to bit j of qh.
export const quantizeQ5_0: RowQuantizer = (x, nb, y, v) => {
  for (let i = 0; i < nb; i++) {
    const xo = 32 * i, o = 22 * i;
    const d = f(signedMax(x, xo, 32) / -16);
    const id = d ? f(1 / d) : 0;
    v.setUint16(o, f32ToF16(d), true);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(31, Math.trunc(f(f(x[xo + j] * id) + 16.5)));
      const q1 = Math.min(31, Math.trunc(f(f(x[xo + 16 + j] * id) + 16.5)));
      y[o + 6 + j] = (q0 & 0xf) | ((q1 & 0xf) << 4);
      qh |= ((q0 >> 4) << j) | ((q1 >> 4) << (j + 16));
    }
    v.setUint32(o + 2, qh >>> 0, true);
  }
};

// d = (max − min)/31, m = min; q = trunc((x − min)·id + 0.5) (ggml has no clamp here).
export const quantizeQ5_1: RowQuantizer = (x, nb, y, v) => {
  for (let i = 0; i < nb; i++) {
    const xo = 32 * i, o = 24 * i;
    const [min, max] = minMax(x, xo, 32);
    const d = f(f(max - min) / 31);
    const id = d ? f(1 / d) : 0;
    v.setUint16(o, f32ToF16(d), true);
    v.setUint16(o + 2, f32ToF16(min), true);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      const q0 = Math.trunc(f(f(f(x[xo + j] - min) * id) + 0.5)) & 0xff;
      const q1 = Math.trunc(f(f(f(x[xo + 16 + j] - min) * id) + 0.5)) & 0xff;
      y[o + 8 + j] = (q0 & 0xf) | ((q1 & 0xf) << 4);
      qh |= (((q0 & 0x10) >> 4) << j) | (((q1 & 0x10) >> 4) << (j + 16));
    }
    v.setUint32(o + 4, qh >>> 0, true);
  }
};

/** Largest |x| of a block, as ggml's `amax = MAX(amax, fabsf(v))`. */
export function absMax(x: Float32Array, o: number, n: number): number {
  let amax = 0;
  for (let j = 0; j < n; j++) amax = Math.max(amax, Math.abs(x[o + j]));
  return amax;
}

// `quantize_row_q8_0_ref` (llama-quantize's Q8_0): d = amax/127, id = 1/d, q = roundf(x·id)
// (half away from zero). The CPU backend's activation path differs: see activation.ts.
export const quantizeQ8_0Ref: RowQuantizer = (x, nb, _y, v) => {
  for (let i = 0; i < nb; i++) {
    const xo = 32 * i, o = 34 * i;
    const d = f(absMax(x, xo, 32) / 127);
    const id = d ? f(1 / d) : 0;
    v.setUint16(o, f32ToF16(d), true);
    for (let j = 0; j < 32; j++) v.setInt8(o + 2 + j, roundHalfAway(f(x[xo + j] * id)));
  }
};

// `quantize_row_q8_1_ref`: as Q8_0's reference plus s = fp16(Σq · d) with the unrounded d.
export const quantizeQ8_1Ref: RowQuantizer = (x, nb, _y, v) => {
  for (let i = 0; i < nb; i++) {
    const xo = 32 * i, o = 36 * i;
    const d = f(absMax(x, xo, 32) / 127);
    const id = d ? f(1 / d) : 0;
    v.setUint16(o, f32ToF16(d), true);
    let sum = 0;
    for (let j = 0; j < 32; j++) {
      const q = roundHalfAway(f(x[xo + j] * id));
      v.setInt8(o + 4 + j, q);
      sum += q;
    }
    v.setUint16(o + 2, f32ToF16(f(sum * d)), true);
  }
};
