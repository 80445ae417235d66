// Shared definitions of the kernels: fixed-width types, ggml's block layouts, fp16/bf16 helpers.
// Freestanding: no libc. Everything the kernels need is here or in clang builtins.
#pragma once

#include <stdint.h>
#include <stddef.h>
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))
#define INLINE static inline __attribute__((always_inline))

// ggml type ids (as in GGUF tensor infos), for the kernels that dispatch on a weight type.
enum {
  T_F32 = 0, T_F16 = 1, T_Q4_0 = 2, T_Q4_1 = 3, T_Q5_0 = 6, T_Q5_1 = 7, T_Q8_0 = 8, T_Q8_1 = 9,
  T_Q4_K = 12, T_Q5_K = 13, T_Q6_K = 14, T_Q8_K = 15, T_BF16 = 30,
};

#define QK 32      // elements per block of the legacy formats
#define QK_K 256   // elements per super-block of the K-quants

typedef uint16_t f16_t;
typedef uint16_t bf16_t;

// ggml's block layouts (ggml-common.h), byte for byte.
typedef struct { f16_t d; uint8_t qs[QK / 2]; } block_q4_0;                    // 18 bytes
typedef struct { f16_t d, m; uint8_t qs[QK / 2]; } block_q4_1;                 // 20
typedef struct { f16_t d; uint8_t qh[4]; uint8_t qs[QK / 2]; } block_q5_0;     // 22
typedef struct { f16_t d, m; uint8_t qh[4]; uint8_t qs[QK / 2]; } block_q5_1;  // 24
typedef struct { f16_t d; int8_t qs[QK]; } block_q8_0;                         // 34
typedef struct { f16_t d, s; int8_t qs[QK]; } block_q8_1;                      // 36
typedef struct { f16_t d, dmin; uint8_t scales[12]; uint8_t qs[QK_K / 2]; } block_q4_K;  // 144
typedef struct { f16_t d, dmin; uint8_t scales[12]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; } block_q5_K;  // 176
typedef struct { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; f16_t d; } block_q6_K;  // 210
typedef struct { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; } block_q8_K;  // 292

_Static_assert(sizeof(block_q4_0) == 18, "q4_0");
_Static_assert(sizeof(block_q4_1) == 20, "q4_1");
_Static_assert(sizeof(block_q5_0) == 22, "q5_0");
_Static_assert(sizeof(block_q5_1) == 24, "q5_1");
_Static_assert(sizeof(block_q8_0) == 34, "q8_0");
_Static_assert(sizeof(block_q8_1) == 36, "q8_1");
_Static_assert(sizeof(block_q4_K) == 144, "q4_K");
_Static_assert(sizeof(block_q5_K) == 176, "q5_K");
_Static_assert(sizeof(block_q6_K) == 210, "q6_K");
_Static_assert(sizeof(block_q8_K) == 292, "q8_K");

INLINE uint32_t f32_bits(float f) { union { float f; uint32_t u; } v = { .f = f }; return v.u; }
INLINE float bits_f32(uint32_t u) { union { uint32_t u; float f; } v = { .u = u }; return v.f; }

// IEEE half → float, exact (the same algorithm as ggml's portable GGML_COMPUTE_FP16_TO_FP32).
INLINE float f16_to_f32(f16_t h) {
  const uint32_t w = (uint32_t)h << 16;
  const uint32_t sign = w & 0x80000000u;
  const uint32_t two_w = w + w;
  const uint32_t exp_offset = 0xE0u << 23;
  const float exp_scale = 0x1.0p-112f;
  const float normalized = bits_f32((two_w >> 4) + exp_offset) * exp_scale;
  const uint32_t magic_mask = 126u << 23;
  const float magic_bias = 0.5f;
  const float denormalized = bits_f32((two_w >> 17) | magic_mask) - magic_bias;
  const uint32_t denormalized_cutoff = 1u << 27;
  const uint32_t result = sign | (two_w < denormalized_cutoff ? f32_bits(denormalized) : f32_bits(normalized));
  return bits_f32(result);
}

// float → IEEE half with round-to-nearest-even (what x86 F16C does, so what llama.cpp does).
INLINE f16_t f32_to_f16(float f) {
  const float scale_to_inf = 0x1.0p+112f;
  const float scale_to_zero = 0x1.0p-110f;
  float base = (__builtin_fabsf(f) * scale_to_inf) * scale_to_zero;
  const uint32_t w = f32_bits(f);
  const uint32_t shl1_w = w + w;
  const uint32_t sign = w & 0x80000000u;
  uint32_t bias = shl1_w & 0xFF000000u;
  if (bias < 0x71000000u) bias = 0x71000000u;
  base = bits_f32((bias >> 1) + 0x07800000u) + base;
  const uint32_t bits = f32_bits(base);
  const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
  const uint32_t mantissa_bits = bits & 0x00000FFFu;
  const uint32_t nonsign = exp_bits + mantissa_bits;
  return (f16_t)((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

// f16 → f32 by table (filled by init_tables, which Kernels.create calls first): one load instead
// of f16_to_f32's dozen operations and branch, for the per-block scales of the dot products
// (measured ~8% of a Q4_K matvec). Same values as f16_to_f32.
extern float f16_table[65536];
INLINE float f16_lut(f16_t h) { return f16_table[h]; }

INLINE float bf16_to_f32(bf16_t h) { return bits_f32((uint32_t)h << 16); }

// ggml's GGML_FP32_TO_BF16: round to nearest even, NaN made quiet.
INLINE bf16_t f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (bf16_t)((u >> 16) | 64);
  return (bf16_t)((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}

// Normal halves (mag: the halves' magnitudes, h32: the halves, u32 lanes): exponent and mantissa
// shifted into place, the exponent rebased (15 → 127) by an integer add, the sign on top.
INLINE v128_t f16x4_normal_to_f32(v128_t mag, v128_t h32) {
  const v128_t f = wasm_i32x4_add(wasm_i32x4_shl(mag, 13), wasm_i32x4_splat(112 << 23));
  return wasm_v128_or(f, wasm_i32x4_shl(wasm_v128_and(h32, wasm_i32x4_splat(0x8000)), 16));
}

// Any halves (the rare path): zero and subnormal halves (m·2^-24) as the float 2^-14·(1 + m/1024),
// whose bits are the normal case's with one more in the exponent, minus 2^-14 (two normals, an
// exact difference); inf/NaN (half exponent 31) with float exponent 255, the payload kept.
INLINE v128_t f16x4_any_to_f32(v128_t mag, v128_t h32) {
  const v128_t small = wasm_i32x4_lt(mag, wasm_i32x4_splat(0x400)), infnan = wasm_i32x4_gt(mag, wasm_i32x4_splat(0x7bff));
  v128_t f = wasm_i32x4_add(wasm_i32x4_shl(mag, 13), wasm_i32x4_splat(112 << 23));
  const v128_t sub = wasm_f32x4_sub(wasm_i32x4_add(f, wasm_i32x4_splat(1 << 23)), wasm_f32x4_splat(0x1.0p-14f));
  f = wasm_v128_or(wasm_v128_bitselect(sub, f, small), wasm_v128_and(infnan, wasm_i32x4_splat(0x7f800000)));
  return wasm_v128_or(f, wasm_i32x4_shl(wasm_v128_and(h32, wasm_i32x4_splat(0x8000)), 16));
}

// f16 → f32 of four halves zero-extended to u32 lanes, exact for every input (NaN payloads kept).
// No float operation here ever meets a subnormal float: x86 takes a microcode assist of ~100+
// cycles for each SIMD float operation on a subnormal operand unless subnormals are flushed, which
// wasm forbids. Half subnormals are common among the f16 scales of K-quant blocks (every d of a
// real Q6_K matrix): the previous conversion (the half's bits shifted into a float's place, a
// float subnormal for those, times 2^112) made such a matrix's prompt product 3× slower (Q4_K
// 2048×11008 × 64 tokens: 35.8 GMAC/s with normal scales, 12.0 with subnormal ones).
// Normal halves take integer operations only; the rest (zero, subnormal, inf, NaN) a branch that
// is rarely taken or taken for a whole matrix (its scales are of one kind), so it predicts well:
// selecting both ways every time cost the one-token products ~10% (Q4_K, Q5_0 from memory).
INLINE v128_t f16x4_to_f32(v128_t h32) {  // h32: halves zero-extended to u32 lanes
  const v128_t mag = wasm_v128_and(h32, wasm_i32x4_splat(0x7fff));
  const v128_t odd = wasm_v128_or(wasm_i32x4_lt(mag, wasm_i32x4_splat(0x400)), wasm_i32x4_gt(mag, wasm_i32x4_splat(0x7bff)));
  return __builtin_expect(wasm_v128_any_true(odd), 0) ? f16x4_any_to_f32(mag, h32) : f16x4_normal_to_f32(mag, h32);
}

// f16x4_to_f32 of the 8 halves of h (i16 lanes) as two f32x4, with one test for the 8 (a test per
// four: 0.96× in the Q4_K one-token product, which then converted d and dmin of every group
// super-block; the repacked Q4_K layout now holds them as floats, converted at load).
// Normal halves: each half moved to the top of its i32 lane (an interleave with zero), where an
// arithmetic shift by 3 puts exponent and mantissa in a float's place under the sign (its copies
// in between masked off), and an integer add rebases the exponent (15 → 127): 4 operations per
// four halves against f16x4_normal_to_f32's 7 with the widening. Attention converts the KV cache's
// rows with it (before, a test and a conversion per four): a token decoded at 1024 positions, 1
// thread, alternating in one process, 963 → 770 µs per call (3B shape), 305 → 265 (0.5B shape);
// the Q4_K one-token product (d and dmin, then) 19.6 → 20.1 GB/s; the 3B shape's generation token
// by token after a 128-token prompt 1.03× (4 of 4 repeats).
// The rare path of f16x8_to_f32, not inlined: inlined, clang turned the branch into selects and
// computed both paths every time (then in the Q4_K prompt tile: ~50 operations per group
// super-block). Its callers now: attention's K and V rows, f16_to_f32_row and the Q4_K repack.
__attribute__((noinline)) static void f16x8_any_to_f32(v128_t h, v128_t *lo, v128_t *hi) {
  const v128_t mag = wasm_v128_and(h, wasm_i16x8_splat(0x7fff));
  *lo = f16x4_any_to_f32(wasm_u32x4_extend_low_u16x8(mag), wasm_u32x4_extend_low_u16x8(h));
  *hi = f16x4_any_to_f32(wasm_u32x4_extend_high_u16x8(mag), wasm_u32x4_extend_high_u16x8(h));
}
// The 8 halves of h with their sign, exponent and mantissa bits where a float has them (the
// exponent not rebased): each half moved to the top of its i32 lane (an interleave with zero), an
// arithmetic shift by 3 under the sign, the sign's copies masked off by keep (0x8fffe000 in every
// lane). Halves 0-3 in *lo, 4-7 in *hi. The two conversions below differ in how they rebase.
INLINE void f16x8_bits_in_f32_place(v128_t h, v128_t keep, v128_t *lo, v128_t *hi) {
  const v128_t z = wasm_i32x4_splat(0);
  *lo = wasm_v128_and(wasm_i32x4_shr(wasm_i16x8_shuffle(z, h, 0, 8, 1, 9, 2, 10, 3, 11), 3), keep);
  *hi = wasm_v128_and(wasm_i32x4_shr(wasm_i16x8_shuffle(z, h, 4, 12, 5, 13, 6, 14, 7, 15), 3), keep);
}

// Finite halves (exponent below 31: zero and subnormals too) → floats, without a branch: each
// half's bits moved into a float's place (shifted left by 13, the sign kept by the arithmetic
// shift and the mask) are a float 2^-112 times the half, subnormal or zero alike, and the multiply
// by 2^112 is exact. (f16x8_to_f32 below rebases the exponent by an add instead, which is wrong for
// zero and subnormals, hence its check of every 8 halves; see f16_row_to_f32 for what this saves.)
// Inf and NaN come out finite: a caller checks for them (exponent 31) and converts those again.
// keep: 0x8fffe000 in every lane, scale: 2^112 (operands, so that a loop can hold them: see
// f16_row_to_f32).
INLINE void f16x8_finite_to_f32(v128_t h, v128_t keep, v128_t scale, v128_t *lo, v128_t *hi) {
  f16x8_bits_in_f32_place(h, keep, lo, hi);
  *lo = wasm_f32x4_mul(*lo, scale);
  *hi = wasm_f32x4_mul(*hi, scale);
}

INLINE void f16x8_to_f32(v128_t h, v128_t *lo, v128_t *hi) {
  const v128_t mag = wasm_v128_and(h, wasm_i16x8_splat(0x7fff));
  const v128_t odd = wasm_v128_or(wasm_i16x8_lt(mag, wasm_i16x8_splat(0x400)), wasm_i16x8_gt(mag, wasm_i16x8_splat(0x7bff)));
  if (__builtin_expect(wasm_v128_any_true(odd), 0)) {
    f16x8_any_to_f32(h, lo, hi);
    return;
  }
  const v128_t rebase = wasm_i32x4_splat(112 << 23);
  f16x8_bits_in_f32_place(h, wasm_i32x4_splat((int32_t)0x8fffe000), lo, hi);
  *lo = wasm_i32x4_add(*lo, rebase);
  *hi = wasm_i32x4_add(*hi, rebase);
}

// dst = f32 of the f16 values src (exact; NaN stays NaN), attention's K and V rows (compiled into
// ops-attention.c: a call per row into ops.c cost its decoded token 1.10×). By
// f16x8_finite_to_f32, the row's largest magnitude kept on the side: only a row that held an inf
// or NaN is converted again by f16x8_to_f32. (A decoded token's attention, 3B shape, 1000
// positions, 1 thread, alternating in one process: 555 → 345 us, the same bytes; with 1% of the
// halves zero 759 → 342, as f16x8_to_f32 sends every 8 with a zero or subnormal down its rare path;
// f16x8_to_f32 with the multiply and a check of every 8 halves for inf and NaN, 470.) The loop's
// constants are read from memory where clang cannot see their values, once per row: as constants,
// V8 13.6 (Node 24, current VS Code) rebuilt all three inside the loop at every use (a load, a
// move and a shuffle each; 360 → 320 us).
INLINE void f16_row_to_f32(const uint16_t *src, float *dst, int n) {
  static volatile int32_t keep_bits = (int32_t)0x8fffe000, scale_bits = 0x77800000 /* 2^112 */, mag_bits = 0x7fff7fff;
  const v128_t keep = wasm_i32x4_splat(keep_bits), scale = wasm_i32x4_splat(scale_bits), mag = wasm_i32x4_splat(mag_bits);
  v128_t top = wasm_i16x8_splat(0);
  int d = 0;
  for (; d + 8 <= n; d += 8) {
    const v128_t h = wasm_v128_load(src + d);
    v128_t lo, hi;
    f16x8_finite_to_f32(h, keep, scale, &lo, &hi);
    top = wasm_u16x8_max(top, wasm_v128_and(h, mag));
    wasm_v128_store(dst + d, lo);
    wasm_v128_store(dst + d + 4, hi);
  }
  if (__builtin_expect(wasm_v128_any_true(wasm_u16x8_gt(top, wasm_i16x8_splat(0x7bff))), 0)) {
    for (int e = 0; e < d; e += 8) {
      v128_t lo, hi;
      f16x8_to_f32(wasm_v128_load(src + e), &lo, &hi);
      wasm_v128_store(dst + e, lo);
      wasm_v128_store(dst + e + 4, hi);
    }
  }
  for (; d + 4 <= n; d += 4) wasm_v128_store(dst + d, f16x4_to_f32(wasm_u32x4_load16x4(src + d)));
  for (; d < n; d++) dst[d] = f16_to_f32(src[d]);
}

INLINE float hsum_f32x4(v128_t v) {
  return wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1) +
         wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3);
}

INLINE int32_t hsum_i32x4(v128_t v) {
  return wasm_i32x4_extract_lane(v, 0) + wasm_i32x4_extract_lane(v, 1) +
         wasm_i32x4_extract_lane(v, 2) + wasm_i32x4_extract_lane(v, 3);
}
