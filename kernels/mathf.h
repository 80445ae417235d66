// Float math the kernels need without libm: exp (SIMD and scalar) and SIMD f16 <-> f32.
//
// exp is ggml's ggml_v_expf (itself ARM optimized-routines' expf): n = round(x / ln 2),
// b = x - n ln 2 (in two parts, so b is nearly exact), exp(b) - 1 by a degree-5 polynomial,
// scaled by 2^n through the exponent bits; lanes with |n| > 126 take a slower path that splits
// 2^n in two factors so results reaching the subnormal range or overflowing to inf come out right.
// ggml uses FMA; plain SIMD128 has none, so the products round separately: measured max error
// stays within ~2 ulp (test/unit/kernels-ops.test.ts checks it against Math.exp).
#pragma once
#include "common.h"

INLINE v128_t v_expf(v128_t x) {
  const v128_t r = wasm_f32x4_splat(0x1.8p23f);  // 1.5 * 2^23: adding it rounds to an integer
  const v128_t z = wasm_f32x4_add(wasm_f32x4_mul(x, wasm_f32x4_splat(0x1.715476p+0f)), r);
  const v128_t n = wasm_f32x4_sub(z, r);  // round(x * log2(e))
  // b = x - n * ln2, with ln2 = 0x1.62e4p-1 (few bits: n * hi is exact) + 0x1.7f7d1cp-20.
  const v128_t b = wasm_f32x4_sub(wasm_f32x4_sub(x, wasm_f32x4_mul(n, wasm_f32x4_splat(0x1.62e4p-1f))),
                                  wasm_f32x4_mul(n, wasm_f32x4_splat(0x1.7f7d1cp-20f)));
  const v128_t e = wasm_i32x4_shl(z, 23);  // n in the exponent field (z's low bits hold n)
  const v128_t k = wasm_i32x4_add(e, wasm_f32x4_splat(1.0f));  // 2^n while |n| <= 126
  const v128_t c = wasm_f32x4_gt(wasm_f32x4_abs(n), wasm_f32x4_splat(126.0f));
  const v128_t u = wasm_f32x4_mul(b, b);
  // j = exp(b) - 1 ≈ b*c1 + u*((c2 + c3 b) + u*(c4 + c5 b))
  const v128_t j = wasm_f32x4_add(
      wasm_f32x4_mul(wasm_f32x4_splat(0x1.ffffecp-1f), b),
      wasm_f32x4_mul(
          wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_splat(0x1.fffdb6p-2f), wasm_f32x4_mul(wasm_f32x4_splat(0x1.555e66p-3f), b)),
                         wasm_f32x4_mul(wasm_f32x4_add(wasm_f32x4_splat(0x1.573e2ep-5f), wasm_f32x4_mul(wasm_f32x4_splat(0x1.0e4020p-7f), b)), u)),
          u));
  // k + k*j: k*j is exact (k is a power of two), so this rounds once, like ggml's fma(k, j, k).
  const v128_t normal = wasm_f32x4_add(k, wasm_f32x4_mul(k, j));
  if (!wasm_v128_any_true(c)) return normal;
  // |n| > 126: 2^n = s1 * s2 with s1 = 2^127 (n > 0) or 2^-125 (n <= 0), each representable.
  const v128_t d = wasm_v128_and(wasm_f32x4_le(n, wasm_f32x4_splat(0.0f)), wasm_i32x4_splat((int32_t)0x82000000u));
  const v128_t s1 = wasm_i32x4_add(d, wasm_i32x4_splat(0x7f000000));
  const v128_t s2 = wasm_i32x4_sub(e, d);
  const v128_t big = wasm_f32x4_mul(wasm_f32x4_add(s2, wasm_f32x4_mul(s2, j)), s1);
  // |n| > 192: the result is certainly inf (n > 0: s1*s1 = 2^254 overflows) or 0 (n <= 0:
  // 2^-250 underflows); this also maps x = ±inf, where b is NaN, to inf and 0.
  const v128_t huge = wasm_f32x4_mul(s1, s1);
  const v128_t dd = wasm_f32x4_gt(wasm_f32x4_abs(n), wasm_f32x4_splat(192.0f));
  return wasm_v128_bitselect(huge, wasm_v128_bitselect(big, normal, c), dd);
}

INLINE float expf_(float x) { return wasm_f32x4_extract_lane(v_expf(wasm_f32x4_splat(x)), 0); }

// f32 → f16 bits (round to nearest even, NaN → 0x7E00), four lanes: common.h's f32_to_f16
// (ggml's portable GGML_COMPUTE_FP32_TO_FP16) lane-wise. The result sits in the low 16 bits of
// each 32-bit lane.
INLINE v128_t v_f32_to_f16(v128_t f) {
  // Scaling up then down makes the float add below round at the half's precision.
  v128_t base = wasm_f32x4_mul(wasm_f32x4_mul(wasm_f32x4_abs(f), wasm_f32x4_splat(0x1.0p+112f)), wasm_f32x4_splat(0x1.0p-110f));
  const v128_t shl1_w = wasm_i32x4_add(f, f);
  const v128_t sign = wasm_v128_and(f, wasm_i32x4_splat((int32_t)0x80000000u));
  const v128_t bias = wasm_u32x4_max(wasm_v128_and(shl1_w, wasm_i32x4_splat((int32_t)0xFF000000u)), wasm_i32x4_splat(0x71000000));
  base = wasm_f32x4_add(wasm_i32x4_add(wasm_u32x4_shr(bias, 1), wasm_i32x4_splat(0x07800000)), base);
  const v128_t exp_bits = wasm_v128_and(wasm_u32x4_shr(base, 13), wasm_i32x4_splat(0x00007C00));
  const v128_t mantissa_bits = wasm_v128_and(base, wasm_i32x4_splat(0x00000FFF));
  const v128_t nonsign = wasm_i32x4_add(exp_bits, mantissa_bits);
  const v128_t is_nan = wasm_u32x4_gt(shl1_w, wasm_i32x4_splat((int32_t)0xFF000000u));
  return wasm_v128_or(wasm_u32x4_shr(sign, 16), wasm_v128_bitselect(wasm_i32x4_splat(0x7E00), nonsign, is_nan));
}

// Four f16 values at p (8 bytes, any alignment) → f32x4 (common.h's f16x4_to_f32).
INLINE v128_t v_load_f16x4(const uint16_t *p) { return f16x4_to_f32(wasm_u32x4_load16x4(p)); }

// x rounded to the nearest f16 and back (what a trip through an F16 tensor does to a float).
INLINE v128_t v_round_f16(v128_t x) { return f16x4_to_f32(v_f32_to_f16(x)); }
