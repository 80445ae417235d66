// K-quants (256-element super-blocks) quantised exactly as ggml's `quantize_row_q{4,5,6}_K_ref`
// with `make_qkx2_quants` / `make_qx_quants` (ggml/src/ggml-quants.c): this is what llama-quantize
// writes when no importance matrix is given. Every float operation is rounded to float32 (`f`) in
// ggml's order, so the bytes come out identical.

import { f as fImport, GROUP_MAX_EPS, getScaleMinK4 as getScaleMinK4Import, nearestInt as nearestIntImport } from "./common.ts";
import { f16ToF32, f32ToF16 } from "./half.ts";
import type { RowQuantizer } from "./legacy.ts";

// Hot loops use local bindings: under tsx's CommonJS transform every call of an imported name is
// a property getter call, which made the quantisers ~5x slower (measured on the K-quants).
const f = fImport;
const getScaleMinK4 = getScaleMinK4Import;
const nearestInt = nearestIntImport;

const clamp = (v: number, lo: number, hi: number): number => (v < lo ? lo : v > hi ? hi : v);

/**
 * ggml's `make_qkx2_quants`: fit x ≈ scale·L − theMin (L in 0..nmax, theMin ≥ 0) by a grid over
 * the inverse scale, minimising the weighted squared (or absolute) error. Writes L, returns
 * [scale, theMin].
 */
export function makeQkx2Quants(
  n: number, nmax: number, x: Float32Array, xo: number, weights: Float32Array, L: Uint8Array, lo: number,
  rmin: number, rdelta: number, nstep: number, useMad: boolean,
): [number, number] {
  const Laux = new Uint8Array(n);
  let min = x[xo], max = x[xo];
  let sumW = weights[0];
  let sumX = f(sumW * x[xo]);
  for (let i = 1; i < n; i++) {
    const xi = x[xo + i];
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = weights[i];
    sumW = f(sumW + w);
    sumX = f(sumX + f(w * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, lo, lo + n);
    return [0, -min];
  }
  let iscale = f(nmax / f(max - min));
  let scale = f(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const l = clamp(nearestInt(f(iscale * f(x[xo + i] - min))), 0, nmax);
    L[lo + i] = l;
    let diff = f(f(f(scale * l) + min) - x[xo + i]);
    diff = useMad ? Math.abs(diff) : f(diff * diff);
    bestError = f(bestError + f(weights[i] * diff));
  }
  if (nstep < 1) return [scale, -min];
  for (let is = 0; is <= nstep; is++) {
    iscale = f(f(f(rmin + f(rdelta * is)) + nmax) / f(max - min));
    let sumL = 0, sumL2 = 0, sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = clamp(nearestInt(f(iscale * f(x[xo + i] - min))), 0, nmax);
      Laux[i] = l;
      const wl = f(weights[i] * l);
      sumL = f(sumL + wl);
      sumL2 = f(sumL2 + f(wl * l));
      sumXL = f(sumXL + f(wl * x[xo + i]));
    }
    const D = f(f(sumW * sumL2) - f(sumL * sumL));
    if (D > 0) {
      let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
      let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = f(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        let diff = f(f(f(thisScale * Laux[i]) + thisMin) - x[xo + i]);
        diff = useMad ? Math.abs(diff) : f(diff * diff);
        curError = f(curError + f(weights[i] * diff));
      }
      if (curError < bestError) {
        L.set(Laux, lo);
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  return [scale, -min];
}

/**
 * ggml's `make_qx_quants` for rmse_type 1 without importance weights (weights x²), the only form
 * the reference quantisers use: symmetric L in 0..2·nmax−1 (stored with +nmax), scale refined over
 * 18 nearby inverse scales. Returns the scale.
 */
export function makeQxQuants(n: number, nmax: number, x: Float32Array, xo: number, L: Uint8Array, lo: number): number {
  let max = 0, amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xo + i]);
    if (ax > amax) { amax = ax; max = x[xo + i]; }
  }
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  let iscale = f(-nmax / max);
  let sumlx = 0, suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i];
    const l = clamp(nearestInt(f(iscale * xi)), -nmax, nmax - 1);
    L[lo + i] = l + nmax;
    const w = f(xi * xi);
    sumlx = f(sumlx + f(f(w * xi) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  let scale = suml2 ? f(sumlx / suml2) : 0;
  let best = f(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = f(-f(nmax + f(f(0.1) * is)) / max);
    sumlx = suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i];
      const l = clamp(nearestInt(f(iscale * xi)), -nmax, nmax - 1);
      const w = f(xi * xi);
      sumlx = f(sumlx + f(f(w * xi) * l));
      suml2 = f(suml2 + f(f(w * l) * l));
    }
    if (suml2 > 0 && f(sumlx * sumlx) > f(best * suml2)) {
      for (let i = 0; i < n; i++) {
        L[lo + i] = nmax + clamp(nearestInt(f(iscale * x[xo + i])), -nmax, nmax - 1);
      }
      scale = f(sumlx / suml2);
      best = f(scale * sumlx);
    }
  }
  return scale;
}

/**
 * Shared first half of Q4_K/Q5_K: per 32-element sub-block a (scale, min) fit, their 6-bit
 * quantisation into the 12 packed bytes at `o + 4`, fp16 d/dmin at `o`, then requantisation of
 * the elements with the rounded scales. Returns L (0..nmax) for the 256 elements.
 */
function quantizeScaleMinBlock(
  x: Float32Array, xo: number, y: Uint8Array, v: DataView, o: number,
  nmax: number, rmin: number, nstep: number,
): Uint8Array {
  const L = new Uint8Array(256);
  const weights = new Float32Array(32);
  const scales = new Float32Array(8);
  const mins = new Float32Array(8);
  let maxScale = 0, maxMin = 0;
  for (let j = 0; j < 8; j++) {
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = f(sumX2 + f(x[xo + 32 * j + l] * x[xo + 32 * j + l]));
    const avX = f(Math.sqrt(f(sumX2 / 32)));
    for (let l = 0; l < 32; l++) weights[l] = f(avX + Math.abs(x[xo + 32 * j + l]));
    const [scale, min] = makeQkx2Quants(32, nmax, x, xo + 32 * j, weights, L, 32 * j, rmin, f(0.1), nstep, false);
    scales[j] = scale;
    mins[j] = min;
    if (scales[j] > maxScale) maxScale = scales[j];
    if (mins[j] > maxMin) maxMin = mins[j];
  }
  const invScale = maxScale > 0 ? f(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? f(63 / maxMin) : 0;
  const sc = o + 4;
  y.fill(0, sc, sc + 12);
  for (let j = 0; j < 8; j++) {
    // ggml stores nearest_int into a uint8_t, then clamps to 63.
    const ls = Math.min(63, nearestInt(f(invScale * scales[j])) & 0xff);
    const lm = Math.min(63, nearestInt(f(invMin * mins[j])) & 0xff);
    if (j < 4) {
      y[sc + j] = ls;
      y[sc + j + 4] = lm;
    } else {
      y[sc + j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
      y[sc + j - 4] |= (ls >> 4) << 6;
      y[sc + j] |= (lm >> 4) << 6;
    }
  }
  v.setUint16(o, f32ToF16(f(maxScale / 63)), true);
  v.setUint16(o + 2, f32ToF16(f(maxMin / 63)), true);
  const dAll = f16ToF32(v.getUint16(o, true));
  const mAll = f16ToF32(v.getUint16(o + 2, true));
  for (let j = 0; j < 8; j++) {
    const [s, m] = getScaleMinK4(j, y, sc);
    const d = f(dAll * s);
    if (!d) continue; // keep the fit's L, as ggml does
    const dm = f(mAll * m);
    for (let ii = 0; ii < 32; ii++) {
      L[32 * j + ii] = clamp(nearestInt(f(f(x[xo + 32 * j + ii] + dm) / d)), 0, nmax);
    }
  }
  return L;
}

export const quantizeQ4_K: RowQuantizer = (x, nb, y, v) => {
  for (let i = 0; i < nb; i++) {
    const o = 144 * i;
    const L = quantizeScaleMinBlock(x, 256 * i, y, v, o, 15, -1, 20);
    for (let c = 0; c < 4; c++) {
      for (let l = 0; l < 32; l++) y[o + 16 + 32 * c + l] = L[64 * c + l] | (L[64 * c + l + 32] << 4);
    }
  }
};

export const quantizeQ5_K: RowQuantizer = (x, nb, y, v) => {
  for (let i = 0; i < nb; i++) {
    const o = 176 * i;
    const L = quantizeScaleMinBlock(x, 256 * i, y, v, o, 31, -0.5, 15);
    const qh = o + 16;
    y.fill(0, qh, qh + 32);
    for (let c = 0; c < 4; c++) {
      const m1 = 1 << (2 * c), m2 = 2 << (2 * c);
      for (let j = 0; j < 32; j++) {
        let l1 = L[64 * c + j];
        if (l1 > 15) { l1 -= 16; y[qh + j] |= m1; }
        let l2 = L[64 * c + j + 32];
        if (l2 > 15) { l2 -= 16; y[qh + j] |= m2; }
        y[o + 48 + 32 * c + j] = l1 | (l2 << 4);
      }
    }
  }
};

export const quantizeQ6_K: RowQuantizer = (x, nb, y, v) => {
  const L = new Uint8Array(256);
  const scales = new Float32Array(16);
  for (let i = 0; i < nb; i++) {
    const xo = 256 * i, o = 210 * i;
    let maxScale = 0, maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const scale = makeQxQuants(16, 32, x, xo + 16 * ib, L, 16 * ib);
      scales[ib] = scale;
      const abs = Math.abs(scales[ib]);
      if (abs > maxAbsScale) { maxAbsScale = abs; maxScale = scales[ib]; }
    }
    if (maxAbsScale < GROUP_MAX_EPS) {
      y.fill(0, o, o + 210); // all-zero block, d = +0
      continue;
    }
    const iscale = f(-128 / maxScale);
    v.setUint16(o + 208, f32ToF16(f(1 / iscale)), true);
    for (let ib = 0; ib < 16; ib++) v.setInt8(o + 192 + ib, Math.min(127, nearestInt(f(iscale * scales[ib]))));
    const dAll = f16ToF32(v.getUint16(o + 208, true));
    for (let j = 0; j < 16; j++) {
      const d = f(dAll * v.getInt8(o + 192 + j));
      if (!d) continue;
      for (let ii = 0; ii < 16; ii++) {
        L[16 * j + ii] = clamp(nearestInt(f(x[xo + 16 * j + ii] / d)), -32, 31) + 32;
      }
    }
    for (let n = 0; n < 2; n++) {
      const ql = o + 64 * n, qh = o + 128 + 32 * n, e = 128 * n;
      for (let l = 0; l < 32; l++) {
        const a = L[e + l], b = L[e + l + 32], c = L[e + l + 64], d = L[e + l + 96];
        y[ql + l] = (a & 0xf) | ((c & 0xf) << 4);
        y[ql + l + 32] = (b & 0xf) | ((d & 0xf) << 4);
        y[qh + l] = (a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((d >> 4) << 6);
      }
    }
  }
};
