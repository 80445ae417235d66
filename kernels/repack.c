// Weights repacked at load into an interleaved layout for 128-bit SIMD, and the matrix products
// that read it (issue 13). Only the formats that carry the time are repacked; the rest keep the
// file's layout and the products of matmul.c / quants.c.
//
// Why: with one weight row per product (quants.c), each block ends in horizontal sums, and one
// 16-byte weight load meets one 16-byte activation load. Here 4 rows are interleaved in 4-byte
// chunks: one 16-byte weight load holds 4 elements of each of 4 rows, the activation's 4 matching
// bytes are splat to all lanes (one load32_splat), and one i16x8.relaxed_dot gives 2 lanes per row.
// Lanes stay rows to the end: the 4 outputs of a group are one v128 store, no horizontal sum.
//
// Node 20's V8 (11.3) lowers i16x8.relaxed_dot_i8x16_i7x16_s to one pmaddubsw and has no usable
// i32 ..._add form (no VNNI, even on CPUs that have it; V8 13.6 has one: see dot_add), so the i16
// products of a sub-block are summed in i16 (bounded per format below) and widened once, by
// i32x4.dot_i16x8 with the sub-block scale (pmaddwd), as llama.cpp's AVX2 Q4_K kernel does.
//
// Exactness: every row's integer sums per (super-)block are exact and its float epilogue is the
// same sequence of operations for every token, whatever the number of tokens in a tile, the thread
// or the build: results are identical across thread counts, batch sizes and the two builds. The
// arithmetic is llama.cpp's (integers per block, then one float step), so results differ from the
// row-at-a-time products of quants.c by float summation order and are closer to llama.cpp's.
#include "pool.h"
#include "quants.h"
#include "repack.h"

#ifdef __wasm_relaxed_simd__
#define RELAXED 1
#else
#define RELAXED 0
#endif

#define NOINLINE __attribute__((noinline))
#define R 4        // rows per interleaved group
// Tokens per tile, chosen by measurement (Q4_K 2048×2048 × 64 tokens, 1 thread, best of
// alternating runs against the file layout): relaxed 6 (1.35× the file layout; 3: 1.16×,
// 4: 1.24×, 8: 1.33×), SIMD128 8.
#ifndef TOK
#define TOK (RELAXED ? 6 : 8)
#endif
// Groups of rows per one-token product (gemv_*_groups), measured per type: see gemv_q4_K_groups,
// gemv_q5_0_groups and gemv_q6_K_groups.
#ifndef GV_Q4_K
#define GV_Q4_K 2
#endif
#ifndef GV_Q5_0
#define GV_Q5_0 2
#endif
#ifndef GV_Q6_K
#define GV_Q6_K 1
#endif


// Σ over the pairs of a chunk, as i16 lanes (lanes 2r, 2r+1: row r): x (4 activation bytes splat)
// against w (4 rows × 4 unsigned quants ≤ 127). The relaxed dot, or in SIMD128 even and odd bytes
// as i16 (the same pairs in the same lanes).
INLINE v128_t dot_chunk(v128_t x, v128_t w) {
#if RELAXED
  return wasm_i16x8_relaxed_dot_i8x16_i7x16(x, w);
#else
  return wasm_i16x8_add(wasm_i16x8_mul(wasm_v128_and(w, wasm_i16x8_splat(0xff)), wasm_i16x8_shr(wasm_i16x8_shl(x, 8), 8)),
                        wasm_i16x8_mul(wasm_u16x8_shr(w, 8), wasm_i16x8_shr(x, 8)));
#endif
}


// The relaxed build's two ways to the same integer sums: the i16 dot and an add (dot_chunk, two
// instructions per 16 products), or i32x4.relaxed_dot_i8x16_i7x16_add_s ("dot-add"), one vpdpbusd
// where the engine uses AVX-VNNI: V8 13.6 (Node 24, and the Electron of current VS Code) does, V8
// 12.4 and older (Node 20, 22) lower it to pmaddubsw + pmaddwd + paddd, as does any V8 on a CPU
// without AVX-VNNI. The loader times dot_add_probe and sets dot_add where it pays (kernels.ts);
// the integers, hence every result, do not depend on it (tested).
static int dot_add;
// Returns the setting in force (always 0 in the SIMD128 build, which has one way).
EXPORT(set_dot_add) int set_dot_add(int on) {
  dot_add = RELAXED && on;
  return dot_add;
}

// ---------------------------------------------------------------------------------------------
// Q4_K × 4 rows. A group super-block (4 rows × 256 elements, 640 bytes against 4 × 144):
//   f32 d[4], f32 dmin[4]                       32 bytes: the file's halves converted at repack
//   u8 scale[8 sub-blocks][4 rows][2]           64 bytes: each row's 6-bit scale twice, so that
//                                                one load8x8_u is the pmaddwd operand (2 i16 lanes
//                                                per row) without a shuffle
//   u8 min[4 lanes L][4 rows][2]                32 bytes: mins of sub-blocks L and L + 4 of each
//                                                row, the pmaddwd operand against (P_L, P_L+4)
//   u8 qs[4 steps k][8 chunks c][4 rows][4]     512 bytes: byte b of chunk c of row r is the file's
//                                                qs[32k + 4c + b]: low nibble element 64k + 4c + b
//                                                (sub-block 2k), high nibble element 64k + 32 + 4c + b
//                                                (sub-block 2k + 1)
// The 11% more bytes buy decoded scales (k4_scales per row per block is ~40 scalar operations)
// and d, dmin as floats. As halves they were converted in the products, and half subnormals, common
// among these scales (the bench shapes' down projections have them all; a real matrix of small
// weights has d near the smallest normal half, 6.1e-5), took the conversion's rare path, a call
// that spills every live vector: 2048×11008, one token, alternating in one process, 16.0-17.9 GB/s
// against 23.7 with normal scales (the same code), 16.9 with that path inlined. As floats: see
// the README's kernels paragraph. 640 bytes are also 10 cache lines: in a 64-byte aligned matrix
// (the arena's) a group super-block shares none with the next.
//
// Arithmetic: llama.cpp's own (its repacked Q4_K GEMM and GEMV, ggml_gemm/gemv_q4_K_8x8_q8_K, which
// the x86 build runs for every Q4_K matrix whose rows are a multiple of 8): per row and super-block
// the exact integers isum = Σ_j sc_j·Σ(q4·q8) and imin = Σ_j m_j·(bsum_2j + bsum_2j+1), then
//   acc += (d·d8)·isum;  accm += (dmin·d8)·imin;  and y = acc − accm after the last super-block
// (llama.cpp fuses the multiply-adds; wasm has no FMA in both builds, so ours round the product
// once more: ~1 ulp per super-block). Rows of one super-block (every row of the conformance
// models' 256-wide matrices) give llama.cpp's bits exactly. This is a different float order from
// quants.c's dot_q4_K (4 f32 lanes per row, the order of llama.cpp's plain AVX2 vec_dot), so the
// engine uses the repacked product for every token count (prompt batches and generation alike):
// results are identical across thread counts, batch sizes and the two builds.
//
// Integers: the 8 chunks of a sub-block are summed in one i16 accumulator before the scale
// (2 products of ≤ 15·128 per lane and chunk, 16 per sub-block: ≤ 30720 < 32767), then widened once
// by pmaddwd with the scale: this is what makes the layout pay (previous design, 4 lane classes
// kept apart in dot_q4_K's float order: 21.9 GMAC/s; see the README's kernels paragraph).
// ---------------------------------------------------------------------------------------------
#define Q4KR_BYTES 640
#define Q4KR_DMIN 16
#define Q4KR_SC 32
#define Q4KR_MIN 96
#define Q4KR_QS 128

// Lanes (32-bit words) of 4 rows' vectors transposed: on return *a holds word 0 of each row, *b
// word 1, and so on.
INLINE void transpose4(v128_t *a, v128_t *b, v128_t *c, v128_t *d) {
  const v128_t ab0 = wasm_i32x4_shuffle(*a, *b, 0, 4, 1, 5), ab1 = wasm_i32x4_shuffle(*a, *b, 2, 6, 3, 7);
  const v128_t cd0 = wasm_i32x4_shuffle(*c, *d, 0, 4, 1, 5), cd1 = wasm_i32x4_shuffle(*c, *d, 2, 6, 3, 7);
  *a = wasm_i64x2_shuffle(ab0, cd0, 0, 2);
  *b = wasm_i64x2_shuffle(ab0, cd0, 1, 3);
  *c = wasm_i64x2_shuffle(ab1, cd1, 0, 2);
  *d = wasm_i64x2_shuffle(ab1, cd1, 1, 3);
}

// 16 bytes (4 chunks of 4 bytes) of each of 4 rows → chunk c of rows 0-3 at out + 16c.
INLINE void interleave4(v128_t a, v128_t b, v128_t c, v128_t d, uint8_t *out) {
  transpose4(&a, &b, &c, &d);
  wasm_v128_store(out, a);
  wasm_v128_store(out + 16, b);
  wasm_v128_store(out + 32, c);
  wasm_v128_store(out + 48, d);
}

// 4 file rows of nb blocks each (src, consecutive) → nb group super-blocks at dst. The 4 rows'
// first 16 bytes (d, dmin, scales) transposed give each 32-bit word of the 4 rows in one vector:
// ggml's get_scale_min_k4 on 4 bytes at once, for 4 rows, then shuffles into the group's order.
// (One row at a time with byte stores ran at 4.9-6.1 GB/s in cache, this at 13; 2048×2048: 4.7 →
// 9.3 GB/s; the same bytes.)
static void repack_q4_K(const block_q4_K *src, int nb, uint8_t *dst) {
  const v128_t m6 = wasm_i8x16_splat(0x3f), m4 = wasm_i8x16_splat(0x0f), m2 = wasm_i8x16_splat(0x30);
  for (int i = 0; i < nb; i++) {
    uint8_t *g = dst + (size_t)i * Q4KR_BYTES;
    const uint8_t *b0 = (const uint8_t *)&src[i], *b1 = (const uint8_t *)&src[(size_t)nb + i];
    const uint8_t *b2 = (const uint8_t *)&src[(size_t)2 * nb + i], *b3 = (const uint8_t *)&src[(size_t)3 * nb + i];
    // lane r of: d|dmin, scales 0-3, 4-7, 8-11
    v128_t dd = wasm_v128_load(b0), w0 = wasm_v128_load(b1), w1 = wasm_v128_load(b2), w2 = wasm_v128_load(b3);
    transpose4(&dd, &w0, &w1, &w2);
    const v128_t sc_lo = wasm_v128_and(w0, m6), m_lo = wasm_v128_and(w1, m6);  // byte 4r + j: sub-block j < 4
    const v128_t sc_hi = wasm_v128_or(wasm_v128_and(w2, m4), wasm_v128_and(wasm_u32x4_shr(w0, 2), m2));  // j ≥ 4
    const v128_t m_hi = wasm_v128_or(wasm_v128_and(wasm_u32x4_shr(w2, 4), m4), wasm_v128_and(wasm_u32x4_shr(w1, 2), m2));
    v128_t d, dmin;  // every half exactly (f16x8_to_f32 takes any)
    f16x8_to_f32(wasm_i16x8_shuffle(dd, dd, 0, 2, 4, 6, 1, 3, 5, 7), &d, &dmin);
    wasm_v128_store(g, d);
    wasm_v128_store(g + Q4KR_DMIN, dmin);
    wasm_v128_store(g + Q4KR_SC, wasm_i8x16_shuffle(sc_lo, sc_lo, 0, 0, 4, 4, 8, 8, 12, 12, 1, 1, 5, 5, 9, 9, 13, 13));
    wasm_v128_store(g + Q4KR_SC + 16, wasm_i8x16_shuffle(sc_lo, sc_lo, 2, 2, 6, 6, 10, 10, 14, 14, 3, 3, 7, 7, 11, 11, 15, 15));
    wasm_v128_store(g + Q4KR_SC + 32, wasm_i8x16_shuffle(sc_hi, sc_hi, 0, 0, 4, 4, 8, 8, 12, 12, 1, 1, 5, 5, 9, 9, 13, 13));
    wasm_v128_store(g + Q4KR_SC + 48, wasm_i8x16_shuffle(sc_hi, sc_hi, 2, 2, 6, 6, 10, 10, 14, 14, 3, 3, 7, 7, 11, 11, 15, 15));
    wasm_v128_store(g + Q4KR_MIN, wasm_i8x16_shuffle(m_lo, m_hi, 0, 16, 4, 20, 8, 24, 12, 28, 1, 17, 5, 21, 9, 25, 13, 29));
    wasm_v128_store(g + Q4KR_MIN + 16, wasm_i8x16_shuffle(m_lo, m_hi, 2, 18, 6, 22, 10, 26, 14, 30, 3, 19, 7, 23, 11, 27, 15, 31));
    for (int o = 0; o < 128; o += 16)
      interleave4(wasm_v128_load(b0 + 16 + o), wasm_v128_load(b1 + 16 + o), wasm_v128_load(b2 + 16 + o), wasm_v128_load(b3 + 16 + o), g + Q4KR_QS + 4 * o);
  }
}

// imin per row: Σ_L m_L·P_L + m_L+4·P_L+4 (P_j = bsums[2j] + bsums[2j+1]): the token's
// (P_L, P_L+4) as one i32 (pp[L], from act_extras), splat, against each row's min pair (m: the
// group's, widened by q4kr_min_pairs) by pmaddwd.
// The tile's float epilogue and this term were a fifth of its time (left out, wrongly: 52.1 → 63.3
// GMAC/s). Taking P from act_extras (built once per token, not once per group and token: 7
// operations and 4 shuffles) and widening the mins once per tile (not once per token), with
// f16x8_to_f32 for d and dmin (since then floats in the layout): 11008×2048 × 128 tokens, 1
// thread, alternating in one process, 54.1-54.6 → 60.8-61.0 GMAC/s; the 3B shape's 128-token
// prompt, 6 alternating repeats, 1.02-1.24× (median 1.17). The one-token product 1.01×.
INLINE v128_t q4kr_mins(const v128_t m[4], const int32_t *pp) {
  v128_t s = wasm_i32x4_dot_i16x8(m[0], wasm_v128_load32_splat(pp));
  s = wasm_i32x4_add(s, wasm_i32x4_dot_i16x8(m[1], wasm_v128_load32_splat(pp + 1)));
  s = wasm_i32x4_add(s, wasm_i32x4_dot_i16x8(m[2], wasm_v128_load32_splat(pp + 2)));
  return wasm_i32x4_add(s, wasm_i32x4_dot_i16x8(m[3], wasm_v128_load32_splat(pp + 3)));
}
// A group super-block's 4 min pairs per row, widened to i16: q4kr_mins' operand.
INLINE void q4kr_min_pairs(const uint8_t *g, v128_t m[4]) {
  for (int L = 0; L < 4; L++) m[L] = wasm_u16x8_load8x8(g + Q4KR_MIN + 8 * L);
}

// The low-nibble mask (0x0f in every byte), read where clang cannot see its value, once per call
// (as q6r_mask): seen as a constant, V8 13.6 (Node 24, current VS Code) rebuilt it inside the chunk
// loop on every use (a load, a move to a vector register and a shuffle).
static volatile int32_t q4kr_nibble_bits = 0x0f0f0f0f;
INLINE v128_t q4kr_nibble_mask(void) { return wasm_i32x4_splat(q4kr_nibble_bits); }

// Sub-block 2k + h of one group super-block for nt tokens: sumi[t] += sc·Σ(q4·q8) per row, exact.
// qs: the step's 8 chunks; the token's 32 activation bytes of the sub-block at xs[t] + off.
INLINE void q4kr_sub(int da, const uint8_t *qs, int h, v128_t m, v128_t sv, const int8_t *const *xs, int off, int nt, v128_t *sumi) {
#if RELAXED
  if (da) {
    // Each row's sum in its i32 lane, then times the row's scale (sv holds it twice per lane).
    v128_t p[TOK];
    for (int t = 0; t < nt; t++) p[t] = wasm_i32x4_splat(0);
#pragma clang loop unroll(disable)
    for (int c = 0; c < 8; c++) {
      const v128_t v = wasm_v128_load(qs + 16 * c);
      const v128_t w = h ? wasm_v128_and(wasm_u16x8_shr(v, 4), m) : wasm_v128_and(v, m);
      for (int t = 0; t < nt; t++) p[t] = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(wasm_v128_load32_splat(xs[t] + off + 4 * c), w, p[t]);
    }
    const v128_t s32 = wasm_u32x4_shr(sv, 16);
    for (int t = 0; t < nt; t++) sumi[t] = wasm_i32x4_add(sumi[t], wasm_i32x4_mul(p[t], s32));
    return;
  }
  // Rolled (unrolled, V8 hoists the loads and spills: 32 vs 34 GMAC/s at 6 tokens, 22 vs 29 at 4).
  v128_t p[TOK];
  for (int t = 0; t < nt; t++) p[t] = wasm_i16x8_splat(0);
#define Q4KR_CHUNK(c)                                                                                     \
  {                                                                                                       \
    const v128_t v = wasm_v128_load(qs + 16 * (c));                                                       \
    const v128_t w = h ? wasm_v128_and(wasm_u16x8_shr(v, 4), m) : wasm_v128_and(v, m);                    \
    for (int t = 0; t < nt; t++)                                                                          \
      p[t] = wasm_i16x8_add(p[t], wasm_i16x8_relaxed_dot_i8x16_i7x16(wasm_v128_load32_splat(xs[t] + off + 4 * (c)), w)); \
  }
#pragma clang loop unroll(disable)
  for (int c = 0; c < 8; c++) Q4KR_CHUNK(c)
#undef Q4KR_CHUNK
  for (int t = 0; t < nt; t++) sumi[t] = wasm_i32x4_add(sumi[t], wasm_i32x4_dot_i16x8(p[t], sv));
#else
  (void)da;
  // SIMD128 (no 8-bit multiply): the scale folded into the weights as i16 (≤ 63·15 = 945), the
  // activation's 4 bytes widened to i16 and splat; pmaddwd gives rows 0-1 (lo) and 2-3 (hi) in
  // i32 lane pairs (r, r), added pairwise at the end. The same integers as the relaxed build.
  const v128_t sa = wasm_i32x4_shuffle(sv, sv, 0, 0, 1, 1), sb = wasm_i32x4_shuffle(sv, sv, 2, 2, 3, 3);
  v128_t lo[TOK], hi[TOK];
  for (int t = 0; t < nt; t++) lo[t] = hi[t] = wasm_i32x4_splat(0);
#pragma clang loop unroll(disable)
  for (int c = 0; c < 8; c++) {
    const v128_t v = wasm_v128_load(qs + 16 * c);
    const v128_t w = h ? wasm_v128_and(wasm_u16x8_shr(v, 4), m) : wasm_v128_and(v, m);
    const v128_t wl = wasm_i16x8_mul(wasm_u16x8_extend_low_u8x16(w), sa), wh = wasm_i16x8_mul(wasm_u16x8_extend_high_u8x16(w), sb);
    for (int t = 0; t < nt; t++) {
      const v128_t x = wasm_i16x8_extend_low_i8x16(wasm_v128_load32_splat(xs[t] + off + 4 * c));
      lo[t] = wasm_i32x4_add(lo[t], wasm_i32x4_dot_i16x8(wl, x));
      hi[t] = wasm_i32x4_add(hi[t], wasm_i32x4_dot_i16x8(wh, x));
    }
  }
  for (int t = 0; t < nt; t++)
    sumi[t] = wasm_i32x4_add(sumi[t], wasm_i32x4_add(wasm_i32x4_shuffle(lo[t], hi[t], 0, 2, 4, 6), wasm_i32x4_shuffle(lo[t], hi[t], 1, 3, 5, 7)));
#endif
}

// 4 rows (one group, nb super-blocks at g0) × nt tokens (Q8_K rows at yb, ystride apart) → the
// 4 outputs of each token at y + t·ystep. acc lives in y and accm in a small array in memory: they
// are touched once per super-block, and keeping them out of registers leaves V8's 16 to the
// inner loop (sumi, the i16 sums, the weights, the splat).
INLINE void gemm_q4_K_r4(int da, int nb, const uint8_t *g0, const uint8_t *yb, int ystride, const uint8_t *ex, int exstride, int nt, float *y, int ystep) {
  float accm[TOK * R];
  const v128_t m = q4kr_nibble_mask();
  for (int t = 0; t < nt; t++) {
    wasm_v128_store(y + (size_t)t * ystep, wasm_f32x4_splat(0));
    wasm_v128_store(accm + R * t, wasm_f32x4_splat(0));
  }
  const uint8_t *g = g0;
  for (int i = 0; i < nb; i++, g += Q4KR_BYTES) {
    const int8_t *xs[TOK];
    for (int t = 0; t < nt; t++) xs[t] = ((const block_q8_K *)(yb + (size_t)t * ystride) + i)->qs;
    v128_t sumi[TOK];
    for (int t = 0; t < nt; t++) sumi[t] = wasm_i32x4_splat(0);
#pragma clang loop unroll(disable)
    for (int k = 0; k < 4; k++) {
      const uint8_t *qs = g + Q4KR_QS + 128 * k;
      q4kr_sub(da, qs, 0, m, wasm_u16x8_load8x8(g + Q4KR_SC + 16 * k), xs, 64 * k, nt, sumi);
      q4kr_sub(da, qs, 1, m, wasm_u16x8_load8x8(g + Q4KR_SC + 16 * k + 8), xs, 64 * k + 32, nt, sumi);
    }
    const v128_t dx = wasm_v128_load(g), dminx = wasm_v128_load(g + Q4KR_DMIN);
    v128_t mp[4];
    q4kr_min_pairs(g, mp);  // once for the tile's tokens
    for (int t = 0; t < nt; t++) {
      const block_q8_K *q8 = (const block_q8_K *)(yb + (size_t)t * ystride) + i;
      const v128_t d8 = wasm_f32x4_splat(q8->d);
      float *o = y + (size_t)t * ystep;
      wasm_v128_store(o, wasm_f32x4_add(wasm_v128_load(o), wasm_f32x4_mul(wasm_f32x4_convert_i32x4(sumi[t]), wasm_f32x4_mul(dx, d8))));
      const v128_t mins = q4kr_mins(mp, (const int32_t *)(ex + (size_t)t * exstride) + 4 * i);
      wasm_v128_store(accm + R * t, wasm_f32x4_add(wasm_v128_load(accm + R * t), wasm_f32x4_mul(wasm_f32x4_convert_i32x4(mins), wasm_f32x4_mul(dminx, d8))));
    }
    __asm__ volatile("" ::: "memory");  // keep acc and accm in memory (see above)
  }
  for (int t = 0; t < nt; t++) {
    float *o = y + (size_t)t * ystep;
    wasm_v128_store(o, wasm_f32x4_sub(wasm_v128_load(o), wasm_v128_load(accm + R * t)));
  }
}

NOINLINE static void gemm_q4_K_r4_tile(int nb, const uint8_t *g, const uint8_t *yb, int ystride, const uint8_t *ex, int exstride, float *y, int ystep) {
  gemm_q4_K_r4(0, nb, g, yb, ystride, ex, exstride, TOK, y, ystep);
}
NOINLINE static void gemm_q4_K_r4_tile_dot_add(int nb, const uint8_t *g, const uint8_t *yb, int ystride, const uint8_t *ex, int exstride, float *y, int ystep) {
  gemm_q4_K_r4(1, nb, g, yb, ystride, ex, exstride, TOK, y, ystep);
}
// A product's last 2 to TOK − 1 tokens: one tile function per count (its loops over tokens
// unrolled for it; see packed_task). They sum by the i16 dot whatever dot_add says: the same
// integers, and the one place where the dot-add pays is a whole tile's loop. (With the dot-add,
// Node 20's baseline compiler, Liftoff, gave wrong sums in some of these functions, e.g. 2 tokens,
// which the tests force on, and in the whole tiles' first calls too (see dot_add_probe); its
// optimised code and Node 24's Liftoff were right.)
typedef void q4k_tile_fn(int nb, const uint8_t *g, const uint8_t *yb, int ystride, const uint8_t *ex, int exstride, float *y, int ystep);
#define Q4K_TAIL(n)                                                                                                                   \
  NOINLINE static void gemm_q4_K_r4_t##n(int nb, const uint8_t *g, const uint8_t *yb, int ystride, const uint8_t *ex, int exstride, \
                                         float *y, int ystep) {                                                                    \
    gemm_q4_K_r4(0, nb, g, yb, ystride, ex, exstride, n, y, ystep);                                                                \
  }
Q4K_TAIL(2)
Q4K_TAIL(3)
Q4K_TAIL(4)
Q4K_TAIL(5)
#if TOK > 6
Q4K_TAIL(6)
Q4K_TAIL(7)
#endif
#undef Q4K_TAIL
_Static_assert(TOK == 6 || TOK == 8, "q4k_tails holds a function for every count below TOK");
static q4k_tile_fn *const q4k_tails[TOK] = {
  [2] = gemm_q4_K_r4_t2, [3] = gemm_q4_K_r4_t3, [4] = gemm_q4_K_r4_t4, [5] = gemm_q4_K_r4_t5,
#if TOK > 6
  [6] = gemm_q4_K_r4_t6, [7] = gemm_q4_K_r4_t7,
#endif
};
// One token (generation, and a product's last token after its tiles) against ng groups at once (ng a
// constant: GV_Q4_K, or 1 for the groups left over): the same integers and the same float epilogue
// as gemm_q4_K_r4 (bytes identical, tested). A token's product streams its weights from memory, and
// on this machine a core reads faster with fewer operations per byte and with several streams far
// apart in flight: each activation splat here serves ng groups, and packed_task passes groups a
// GV_Q4_K-th of the thread's share apart. 11008×2048, 1 thread, A/B in one process: one group at a
// time read 6.2 GB/s, 4 adjacent groups 9.3, 4 groups 4 apart 10.8 (the one-stream read is ~9.9
// GB/s); 4 apart against a quarter of the share apart 10.2 → 10.6 (2048×2048: 11.6 → 12.3,
// 896×4864: 10.2 → 11.8). Later (Zen 5, V8 11.3, kernels as now), 2 groups beat 4: 11008×2048
// 19.0 against 17.4 GB/s at 1 thread, 31-32 against 27.7 at 2 (3 groups: 18.2 and 28.0; 1: 16.8
// and 28.2), 2048×2048 equal at 1 thread and 31.8 against 29.8 at 2; the 3B shape's generation,
// token by token alternating in one process, 1.04× at 1 thread and 1.06× at 2. (Q5_0 in its
// earlier nibble layout, 896 columns, 2.4 KB groups: one at a time 5.5 GB/s, 4 adjacent groups 5.2,
// 4 apart 7.7; 896×896: 4 apart 4.9, a quarter 6.5; see gemv_q5_0_groups for now.) Loops shaped
// for V8: its scheduler moves every load of a basic block to the block's top without regard to
// registers (the unrolled loops of gemm_q4_K_r4 for one token spilled 9 v128 and reloaded 12 per
// step), so the chunk loop stays rolled; acc and accm stay in memory (touched once per super-block).
INLINE void gemv_q4_K_groups(int ng, int nb, const uint8_t *g0, int gb, const uint8_t *yb, const uint8_t *ex, float *y, int ys) {
  const v128_t m = q4kr_nibble_mask();
  float accs[GV_Q4_K][2][R];  // per group: acc, accm
  for (int n = 0; n < ng; n++) {
    wasm_v128_store(accs[n][0], wasm_f32x4_splat(0));
    wasm_v128_store(accs[n][1], wasm_f32x4_splat(0));
  }
  for (int i = 0; i < nb; i++) {
    const uint8_t *g = g0 + (size_t)i * Q4KR_BYTES;
    const block_q8_K *q8 = (const block_q8_K *)yb + i;
    const int8_t *x = q8->qs;
    v128_t sumi[GV_Q4_K];
    for (int n = 0; n < ng; n++) sumi[n] = wasm_i32x4_splat(0);
#pragma clang loop unroll(disable)
    for (int k = 0; k < 4; k++, x += 64) {
      v128_t plo[GV_Q4_K], phi[GV_Q4_K];  // sub-blocks 2k and 2k + 1: low and high nibbles
      for (int n = 0; n < ng; n++) plo[n] = phi[n] = wasm_i16x8_splat(0);
#pragma clang loop unroll(disable)
      for (int c = 0; c < 8; c++) {
        const v128_t xl = wasm_v128_load32_splat(x + 4 * c), xh = wasm_v128_load32_splat(x + 32 + 4 * c);
        for (int n = 0; n < ng; n++) {
          const v128_t v = wasm_v128_load(g + (size_t)n * gb + Q4KR_QS + 128 * k + 16 * c);
          plo[n] = wasm_i16x8_add(plo[n], dot_chunk(xl, wasm_v128_and(v, m)));
          phi[n] = wasm_i16x8_add(phi[n], dot_chunk(xh, wasm_v128_and(wasm_u16x8_shr(v, 4), m)));
        }
      }
      for (int n = 0; n < ng; n++) {
        const uint8_t *sc = g + (size_t)n * gb + Q4KR_SC + 16 * k;
        sumi[n] = wasm_i32x4_add(sumi[n], wasm_i32x4_add(wasm_i32x4_dot_i16x8(plo[n], wasm_u16x8_load8x8(sc)),
                                                         wasm_i32x4_dot_i16x8(phi[n], wasm_u16x8_load8x8(sc + 8))));
      }
    }
    const v128_t d8 = wasm_f32x4_splat(q8->d);
    for (int n = 0; n < ng; n++) {
      const uint8_t *gn = g + (size_t)n * gb;
      const v128_t dx = wasm_v128_load(gn), dminx = wasm_v128_load(gn + Q4KR_DMIN);
      v128_t mp[4];
      q4kr_min_pairs(gn, mp);
      wasm_v128_store(accs[n][0], wasm_f32x4_add(wasm_v128_load(accs[n][0]), wasm_f32x4_mul(wasm_f32x4_convert_i32x4(sumi[n]), wasm_f32x4_mul(dx, d8))));
      wasm_v128_store(accs[n][1], wasm_f32x4_add(wasm_v128_load(accs[n][1]), wasm_f32x4_mul(wasm_f32x4_convert_i32x4(q4kr_mins(mp, (const int32_t *)ex + 4 * i)), wasm_f32x4_mul(dminx, d8))));
    }
    __asm__ volatile("" ::: "memory");  // keep acc and accm in memory (see above)
  }
  for (int n = 0; n < ng; n++) wasm_v128_store(y + (size_t)ys * n, wasm_f32x4_sub(wasm_v128_load(accs[n][0]), wasm_v128_load(accs[n][1])));
}

NOINLINE static void gemv_q4_K_r4(int nb, const uint8_t *g, const uint8_t *yb, const uint8_t *ex, float *y) { gemv_q4_K_groups(1, nb, g, 0, yb, ex, y, 0); }
NOINLINE static void gemv_q4_K_r4xGV(int nb, const uint8_t *g, int gb, const uint8_t *yb, const uint8_t *ex, float *y, int ys) { gemv_q4_K_groups(GV_Q4_K, nb, g, gb, yb, ex, y, ys); }

// ---------------------------------------------------------------------------------------------
// Q5_0 × 4 rows, a byte per quant. A group block (4 rows × 32 elements, 136 bytes against 4 × 22):
//   f16 d[4]                                    8 bytes
//   u8 q[8 chunks c][4 rows][4]                 128 bytes: byte b of row r is the 5-bit quant (0..31)
//                                                of element 4c + b
// Why a byte per quant: nibbles and a bit plane (the file's 5.5 bits, 88 bytes a group block) took
// 9 operations per two chunks to merge each quant's high bit into its nibble, more than the dots,
// and made the one-token product the 0.5B shape's slowest (4864×896, alternating in one process:
// 12.1 GB/s of file bytes at 1 thread, 18.5 at 2; with the merge left out, wrong results, 17.6 and
// 23.4). A byte per quant reads 1.55× the bytes and decodes nothing: 16.3 and 24.5 GB/s of file
// bytes (two groups at a time; the prompt's tile 1.05×). Costs 55% more memory for the Q5_0
// matrices (the 0.5B shape's gate, up, q, k and v: ~90 MB).
// Arithmetic per row and block: isum = Σ q5·q8 − 16·Σq8 exact (quants unsigned 0..31 for the i7
// operand; the block's 16·Σq8 comes with the activations, act_extras), then acc += (d·d8)·isum.
// That is llama.cpp's integer and scale per block; its AVX2 kernels keep 8 float lanes per row
// (the integer split by position) where we keep one: the sums differ by rounding only.
// Integers: chunks u and u + 4 (u = 0..3) in two i16 sums of 4 chunks each (2 products of
// ≤ 31·128 per lane and chunk: ≤ 31744 < 32767), widened pairwise (lanes 2r, 2r+1 = row r).
// ---------------------------------------------------------------------------------------------
#define Q5R_BYTES 136
#define Q5R_Q 8
// Tokens per tile (Q5_0 4864×896 and 896×896, 64 and 128 tokens, 1 thread, alternating runs in
// one process against the earlier design at 10): relaxed 12: 1.04-1.07×, 16: 1.09-1.11×, 24:
// 1.12-1.15×, 32: 0.95-1.13×, 64: 0.71-0.75× (a 64-token tile's activations, 61 KB at 896
// columns, exceed L1). The earlier design summed each half block of the tile's tokens into an i32
// per token (sums and activation pointers in memory), then ran the float steps: 25.1-28.6 GMAC/s
// at its best tile.
#ifndef TOK5
#define TOK5 24
#endif

// Each row's 32 quants as bytes (nibble | high bit << 4, the high bits by quants.h's q5_high_bits),
// elements 0-15 and 16-31, then the 4 rows interleaved in 4-byte chunks.
static void repack_q5_0(const block_q5_0 *src, int nb, uint8_t *dst) {
  const v128_t m = wasm_i8x16_splat(0x0f);
  for (int i = 0; i < nb; i++) {
    uint8_t *g = dst + (size_t)i * Q5R_BYTES;
    v128_t lo[R], hi[R];
    for (int r = 0; r < R; r++) {
      const block_q5_0 *b = &src[(size_t)r * nb + i];
      __builtin_memcpy(g + 2 * r, &b->d, 2);
      v128_t hl, hh;
      q5_high_bits(b->qh, &hl, &hh);
      const v128_t qs = wasm_v128_load(b->qs);
      lo[r] = wasm_v128_or(wasm_v128_and(qs, m), hl);
      hi[r] = wasm_v128_or(wasm_v128_and(wasm_u16x8_shr(qs, 4), m), hh);
    }
    interleave4(lo[0], lo[1], lo[2], lo[3], g + Q5R_Q);
    interleave4(hi[0], hi[1], hi[2], hi[3], g + Q5R_Q + 64);
  }
}

// 4 rows × nt tokens (Q8_0 rows at yb, ystride apart; act_extras rows at ex, exstride apart) →
// y + t·ystep. Per block, the 8 chunks' weights are loaded once and stay in
// registers while every token of the tile meets them and finishes its block: its 8 products
// summed in i16 4 at a time (4 × 2 products of ≤ 31·127: ≤ 31496), widened, and the float step,
// acc living in y.
// Any nt: the token loop is rolled, so a tile's last tokens (2 or more) need not be one at a time.
INLINE void gemm_q5_0_r4(int da, int nb, const uint8_t *g, const uint8_t *yb, int ystride, const uint8_t *ex, int exstride, int nt, float *y, int ystep) {
  (void)da;  // unused in the SIMD128 build
  for (int t = 0; t < nt; t++) wasm_v128_store(y + (size_t)t * ystep, wasm_f32x4_splat(0));
  for (int i = 0; i < nb; i++, g += Q5R_BYTES) {
    v128_t lo[4], hi[4];  // chunks u and u + 4
#pragma clang loop unroll(full)
    for (int u = 0; u < 4; u++) {
      lo[u] = wasm_v128_load(g + Q5R_Q + 16 * u);
      hi[u] = wasm_v128_load(g + Q5R_Q + 64 + 16 * u);
    }
    const v128_t dw = f16x4_to_f32(wasm_u32x4_extend_low_u16x8(wasm_v128_load64_zero(g)));
    const uint8_t *xt = yb + (size_t)i * sizeof(block_q8_0), *et = ex;
    float *o = y;
#pragma clang loop unroll(disable)
    for (int t = 0; t < nt; t++, xt += ystride, et += exstride, o += ystep) {
      // The token's 32 bytes in two loads, each chunk's 4 bytes splat by a shuffle: V8 keeps one
      // register per distinct load offset in a loop (mem_start + offset, hoisted), and 8 splat
      // loads at 8 offsets spilled them.
      const int8_t *x = ((const block_q8_0 *)xt)->qs;
      const v128_t xa = wasm_v128_load(x), xb = wasm_v128_load(x + 16);
#define SPLAT(v, k) wasm_i32x4_shuffle(v, v, k, k, k, k)
      const float *sc = (const float *)et;
      const int32_t bsum = ((const int32_t *)((const int16_t *)(sc + nb) + 8 * nb))[i];
      v128_t isum;
#if RELAXED
      if (da) {
        // Two chains of 4 dot-adds (the second's latency overlaps the first's), the bias first.
#define DOT_ADD(acc, v, k, w) wasm_i32x4_relaxed_dot_i8x16_i7x16_add(SPLAT(v, k), w, acc)
        v128_t a0 = DOT_ADD(wasm_i32x4_splat(-bsum), xa, 0, lo[0]), a1 = DOT_ADD(wasm_i32x4_splat(0), xb, 0, hi[0]);
        a0 = DOT_ADD(a0, xa, 1, lo[1]), a1 = DOT_ADD(a1, xb, 1, hi[1]);
        a0 = DOT_ADD(a0, xa, 2, lo[2]), a1 = DOT_ADD(a1, xb, 2, hi[2]);
        a0 = DOT_ADD(a0, xa, 3, lo[3]), a1 = DOT_ADD(a1, xb, 3, hi[3]);
#undef DOT_ADD
        isum = wasm_i32x4_add(a0, a1);
      } else
#endif
      {
        const v128_t p0 = wasm_i16x8_add(wasm_i16x8_add(dot_chunk(SPLAT(xa, 0), lo[0]), dot_chunk(SPLAT(xb, 0), hi[0])),
                                         wasm_i16x8_add(dot_chunk(SPLAT(xa, 1), lo[1]), dot_chunk(SPLAT(xb, 1), hi[1])));
        const v128_t p1 = wasm_i16x8_add(wasm_i16x8_add(dot_chunk(SPLAT(xa, 2), lo[2]), dot_chunk(SPLAT(xb, 2), hi[2])),
                                         wasm_i16x8_add(dot_chunk(SPLAT(xa, 3), lo[3]), dot_chunk(SPLAT(xb, 3), hi[3])));
        isum = wasm_i32x4_sub(wasm_i32x4_add(wasm_i32x4_extadd_pairwise_i16x8(p0), wasm_i32x4_extadd_pairwise_i16x8(p1)), wasm_i32x4_splat(bsum));
      }
#undef SPLAT
      wasm_v128_store(o, wasm_f32x4_add(wasm_v128_load(o), wasm_f32x4_mul(wasm_f32x4_mul(dw, wasm_f32x4_splat(sc[i])), wasm_f32x4_convert_i32x4(isum))));
    }
  }
}

NOINLINE static void gemm_q5_0_r4_tile(int nb, const uint8_t *g, const uint8_t *yb, int ystride, const uint8_t *ex, int exstride, int nt, float *y, int ystep) {
  gemm_q5_0_r4(0, nb, g, yb, ystride, ex, exstride, nt, y, ystep);
}
NOINLINE static void gemm_q5_0_r4_tile_dot_add(int nb, const uint8_t *g, const uint8_t *yb, int ystride, const uint8_t *ex, int exstride, int nt, float *y, int ystep) {
  gemm_q5_0_r4(1, nb, g, yb, ystride, ex, exstride, nt, y, ystep);
}

// One token against ng groups at once (as gemv_q4_K_groups): gemm_q5_0_r4's integers and float
// steps (bytes identical, tested). The chunk loop stays rolled: V8 loads a basic block's values at
// its top, and the unrolled loop's 8 splats and 8 weights per group spilled (4864×896, 4 groups:
// 14.4 and 20.4 GB/s of file bytes at 1 and 2 threads rolled, 14.5 and 19.6 unrolled; 2 groups
// rolled 16.3 and 24.5, 1 group 14.7 and 23.1).
INLINE void gemv_q5_0_groups(int ng, int nb, const uint8_t *g0, int gb, const uint8_t *yb, const uint8_t *ex, float *y, int ys) {
  const float *sc = (const float *)ex;
  const int32_t *bsums = (const int32_t *)((const int16_t *)(sc + nb) + 8 * nb);
  float acc[GV_Q5_0][R];
  for (int n = 0; n < ng; n++) wasm_v128_store(acc[n], wasm_f32x4_splat(0));
  for (int i = 0; i < nb; i++) {
    const uint8_t *g = g0 + (size_t)i * Q5R_BYTES;
    const int8_t *x = ((const block_q8_0 *)yb)[i].qs;
    v128_t p0[GV_Q5_0], p1[GV_Q5_0];  // chunks u and u + 4
    for (int n = 0; n < ng; n++) p0[n] = p1[n] = wasm_i16x8_splat(0);
#pragma clang loop unroll(disable)
    for (int u = 0; u < 4; u++) {
      const v128_t xa = wasm_v128_load32_splat(x + 4 * u), xb = wasm_v128_load32_splat(x + 16 + 4 * u);
      for (int n = 0; n < ng; n++) {
        const uint8_t *q = g + (size_t)n * gb + Q5R_Q + 16 * u;
        p0[n] = wasm_i16x8_add(p0[n], dot_chunk(xa, wasm_v128_load(q)));
        p1[n] = wasm_i16x8_add(p1[n], dot_chunk(xb, wasm_v128_load(q + 64)));
      }
    }
    const v128_t bias = wasm_v128_load32_splat(bsums + i), dx = wasm_v128_load32_splat(sc + i);
    for (int n = 0; n < ng; n++) {
      const v128_t dw = f16x4_to_f32(wasm_u32x4_extend_low_u16x8(wasm_v128_load64_zero(g + (size_t)n * gb)));
      const v128_t isum = wasm_i32x4_sub(wasm_i32x4_add(wasm_i32x4_extadd_pairwise_i16x8(p0[n]), wasm_i32x4_extadd_pairwise_i16x8(p1[n])), bias);
      wasm_v128_store(acc[n], wasm_f32x4_add(wasm_v128_load(acc[n]), wasm_f32x4_mul(wasm_f32x4_mul(dw, dx), wasm_f32x4_convert_i32x4(isum))));
    }
    __asm__ volatile("" ::: "memory");  // acc stays in memory
  }
  for (int n = 0; n < ng; n++) wasm_v128_store(y + (size_t)ys * n, wasm_v128_load(acc[n]));
}

NOINLINE static void gemv_q5_0_r4(int nb, const uint8_t *g, const uint8_t *yb, const uint8_t *ex, float *y) { gemv_q5_0_groups(1, nb, g, 0, yb, ex, y, 0); }
NOINLINE static void gemv_q5_0_r4xGV(int nb, const uint8_t *g, int gb, const uint8_t *yb, const uint8_t *ex, float *y, int ys) { gemv_q5_0_groups(GV_Q5_0, nb, g, gb, yb, ex, y, ys); }

// ---------------------------------------------------------------------------------------------
// Q6_K × 4 rows. A group super-block (4 rows × 256 elements, 840 bytes: the same as 4 × 210):
//   f16 d[4]                                    8 bytes
//   i8 scale[8 pairs p][4 rows][2]              64 bytes: scales of sub-blocks 2p and 2p + 1 of
//                                                each row: sign-extended, the pmaddwd operand
//                                                against (bsum_2p, bsum_2p+1) for the −32 term, and
//                                                by a 16-bit shuffle each sub-block's (sc, sc) pairs
//   u8 v[16 sub-blocks j][3 i][4 rows][4]       768 bytes: byte b of row r in vector i holds the
//                                                6-bit element 4i + b of sub-block j (bits 0-5) and
//                                                bits 2i..2i+1 of element 12 + b (bits 6-7)
// So the chunks 0-2 of a sub-block are one and-not each and chunk 3 is put together from the three
// vectors' top bits (3 ands, 3 shifts, 2 ors, one mask for all: q6r_mask): 11 operations for 4
// chunks of 6-bit quants, where nibbles and separate high bits took 18 and a second mask (the
// one-token product ran 15.5 GB/s against 20 for Q4_K; a token's Q6_K matrices are a third of the
// 3B shape's bytes).
// Arithmetic per row and super-block: isum = Σ_j sc_j·Σ(q6·q8) − 32·Σ_j sc_j·bsum_j exact (quants
// unsigned 0..63 as the i7 operand), then acc += (d·d8)·isum: llama.cpp's integers and scale; its
// AVX2 kernel keeps 8 float lanes per row where we keep one (a difference of rounding only).
// Integers: two chunks per i16 sum (2 products of ≤ 63·128 per lane and chunk: ≤ 32256), each
// widened by pmaddwd with the sub-block's scale.
// ---------------------------------------------------------------------------------------------
#define Q6R_BYTES 840
#define Q6R_SC 8
#define Q6R_Q 72
// Tokens per tile (Q6_K 2048×2048 × 64 tokens, 1 thread, best of alternating runs; noisy shared
// machine): relaxed 16 (31.1 GMAC/s against 20.3 for the file layout; 2: 8.0, 4: 18.8, 6: 10.7,
// 8: 24.9-26.1, 12: 17.9), SIMD128 16 (13.9 against 10.8; 8: 1.2×). The unpacking of the 6-bit
// quants is the larger part per chunk, so it pays to share it with many tokens even though V8 then
// keeps the i32 sums on its stack.
#ifndef TOK6
#define TOK6 16
#endif

// Row r's 6-bit quants of one file block, in element order (ggml's dequantize_row_q6_K: element
// 128h + 32s + l has its low 4 bits in ql[64h + 32(s & 1) + l] (low nibble for s < 2, high
// nibble for s ≥ 2) and its top 2 bits at bits 2s..2s+1 of qh[32h + l]).
INLINE void q6_K_quants(const block_q6_K *b, uint8_t q[QK_K]) {
  const v128_t m4 = wasm_i8x16_splat(0x0f), m3 = wasm_i8x16_splat(3);
  for (int h = 0; h < 2; h++)
    for (int l = 0; l < 32; l += 16) {
      const v128_t qa = wasm_v128_load(b->ql + 64 * h + l), qb = wasm_v128_load(b->ql + 64 * h + 32 + l);
      const v128_t qh = wasm_v128_load(b->qh + 32 * h + l);
      uint8_t *o = q + 128 * h + l;
      wasm_v128_store(o, wasm_v128_or(wasm_v128_and(qa, m4), wasm_i16x8_shl(wasm_v128_and(qh, m3), 4)));
      wasm_v128_store(o + 32, wasm_v128_or(wasm_v128_and(qb, m4), wasm_i16x8_shl(wasm_v128_and(wasm_u16x8_shr(qh, 2), m3), 4)));
      wasm_v128_store(o + 64, wasm_v128_or(wasm_v128_and(wasm_u16x8_shr(qa, 4), m4), wasm_i16x8_shl(wasm_v128_and(wasm_u16x8_shr(qh, 4), m3), 4)));
      wasm_v128_store(o + 96, wasm_v128_or(wasm_v128_and(wasm_u16x8_shr(qb, 4), m4), wasm_i16x8_shl(wasm_v128_and(wasm_u16x8_shr(qh, 6), m3), 4)));
    }
}

// One row's sub-block (16 quants, 4 chunks) → its 3 words of each vector i (bytes 4i..4i+3): chunk
// i with bits 2i..2i+1 of chunk 3 on top.
INLINE v128_t q6r_sub_words(v128_t s) {
  const v128_t c3 = wasm_i8x16_shuffle(s, s, 12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15);
  const v128_t mc0 = wasm_i8x16_splat((int8_t)0xc0);
  // bits 2i..2i+1 of chunk 3 at bits 6-7: shifted left by 6 − 2i (u16 lanes; the mask drops what
  // crosses from the low byte)
  const v128_t h0 = wasm_v128_and(wasm_i16x8_shl(c3, 6), mc0), h1 = wasm_v128_and(wasm_i16x8_shl(c3, 4), mc0);
  const v128_t h2 = wasm_v128_and(wasm_i16x8_shl(c3, 2), mc0);
  const v128_t h01 = wasm_i32x4_shuffle(h0, h1, 0, 5, 0, 0);
  return wasm_v128_or(s, wasm_i32x4_shuffle(h01, h2, 0, 1, 6, 3));
}

// Whole vectors, not bytes (a byte loop ran at 0.6 GB/s, most of a 3B model's load): each row's
// quants in element order, then each sub-block's 3 words per row, interleaved across the 4 rows.
static void repack_q6_K(const block_q6_K *src, int nb, uint8_t *dst) {
  uint8_t q[R][QK_K];
  for (int i = 0; i < nb; i++) {
    uint8_t *g = dst + (size_t)i * Q6R_BYTES;
    const block_q6_K *b[R];
    for (int r = 0; r < R; r++) {
      b[r] = &src[(size_t)r * nb + i];
      __builtin_memcpy(g + 2 * r, &b[r]->d, 2);
      q6_K_quants(b[r], q[r]);
    }
    // scales 2p, 2p + 1 of rows 0-3 (i16 lane p of each row's scales) at Q6R_SC + 8p
    const v128_t s0 = wasm_v128_load(b[0]->scales), s1 = wasm_v128_load(b[1]->scales);
    const v128_t s2 = wasm_v128_load(b[2]->scales), s3 = wasm_v128_load(b[3]->scales);
    const v128_t ab0 = wasm_i16x8_shuffle(s0, s1, 0, 8, 1, 9, 2, 10, 3, 11), ab1 = wasm_i16x8_shuffle(s0, s1, 4, 12, 5, 13, 6, 14, 7, 15);
    const v128_t cd0 = wasm_i16x8_shuffle(s2, s3, 0, 8, 1, 9, 2, 10, 3, 11), cd1 = wasm_i16x8_shuffle(s2, s3, 4, 12, 5, 13, 6, 14, 7, 15);
    wasm_v128_store(g + Q6R_SC, wasm_i32x4_shuffle(ab0, cd0, 0, 4, 1, 5));
    wasm_v128_store(g + Q6R_SC + 16, wasm_i32x4_shuffle(ab0, cd0, 2, 6, 3, 7));
    wasm_v128_store(g + Q6R_SC + 32, wasm_i32x4_shuffle(ab1, cd1, 0, 4, 1, 5));
    wasm_v128_store(g + Q6R_SC + 48, wasm_i32x4_shuffle(ab1, cd1, 2, 6, 3, 7));
    for (int j = 0; j < QK_K / 16; j++) {
      v128_t w0 = q6r_sub_words(wasm_v128_load(q[0] + 16 * j)), w1 = q6r_sub_words(wasm_v128_load(q[1] + 16 * j));
      v128_t w2 = q6r_sub_words(wasm_v128_load(q[2] + 16 * j)), w3 = q6r_sub_words(wasm_v128_load(q[3] + 16 * j));
      transpose4(&w0, &w1, &w2, &w3);  // w3: the rows' fourth words, not stored
      uint8_t *o = g + Q6R_Q + 48 * j;
      wasm_v128_store(o, w0);
      wasm_v128_store(o + 16, w1);
      wasm_v128_store(o + 32, w2);
    }
  }
}

// Sub-block j's 4 chunks of 4 rows from its 3 vectors at v (see the layout); mc0: q6r_mask().
INLINE void q6r_chunks(const uint8_t *v, v128_t mc0, v128_t w[4]) {
  const v128_t a = wasm_v128_load(v), b = wasm_v128_load(v + 16), c = wasm_v128_load(v + 32);
  w[0] = wasm_v128_andnot(a, mc0);
  w[1] = wasm_v128_andnot(b, mc0);
  w[2] = wasm_v128_andnot(c, mc0);
  w[3] = wasm_v128_or(wasm_v128_or(wasm_u16x8_shr(wasm_v128_and(a, mc0), 6), wasm_u16x8_shr(wasm_v128_and(b, mc0), 4)),
                      wasm_u16x8_shr(wasm_v128_and(c, mc0), 2));
}

// The top-bits mask of q6r_chunks (0xc0 in every byte), read where clang cannot see its value, once
// per call. Seen as a constant, clang rewrites the chunks' arithmetic into four masks (0x3f, 0x03,
// 0x0c, 0x30), V8 keeps each in a register of its 16, and the one-token loop spilled; now two
// (the mask and its complement). The one-token product of 2048×11008, one group at a time,
// alternating in one process: 17.0 → 18.1 GB/s at 1 thread, 29.0 → 30.4 at 2.
static volatile int32_t q6r_top_bits = (int32_t)0xc0c0c0c0;
INLINE v128_t q6r_mask(void) { return wasm_i32x4_splat(q6r_top_bits); }

// Sub-block j's scales of the 4 rows, each twice (the pmaddwd operand): the pair p = j/2 read from
// byte j & 1 and sign-extended puts row r's scale in i16 lane 2r, then copied to lane 2r + 1 by a
// shuffle within each half (V8: pshuflw + pshufhw; a byte shuffle costs V8 a pshufb and three
// instructions that rebuild its constant on every use). One-token product as at q6r_mask: 16.4 →
// 17.0 GB/s at 1 thread, 28.1 → 29.0 at 2.
INLINE v128_t q6r_scale(const uint8_t *g, int j) {
  const v128_t s = wasm_i16x8_load8x8(g + Q6R_SC + 8 * (j >> 1) + (j & 1));
  return wasm_i16x8_shuffle(s, s, 0, 0, 2, 2, 4, 4, 6, 6);
}

// Row r (0-3) of nb group super-blocks at g back in the file's layout (the inverse of
// repack_q6_K, byte for byte): the token embedding of a model whose output is tied to it is
// repacked for the output's product, and its rows are still looked up (repacked_get_row). The
// quants are decoded as the products decode them (q6r_chunks: row r's word of each chunk), then
// put back where q6_K_quants took them from.
static void unrepack_q6_K(const uint8_t *g, int r, int nb, block_q6_K *dst) {
  uint8_t q[QK_K], words[4][16];
  for (int i = 0; i < nb; i++, g += Q6R_BYTES) {
    block_q6_K *b = &dst[i];
    __builtin_memcpy(&b->d, g + 2 * r, 2);
    for (int p = 0; p < 8; p++) {
      b->scales[2 * p] = (int8_t)g[Q6R_SC + 8 * p + 2 * r];
      b->scales[2 * p + 1] = (int8_t)g[Q6R_SC + 8 * p + 2 * r + 1];
    }
    for (int j = 0; j < QK_K / 16; j++) {
      v128_t w[4];
      q6r_chunks(g + Q6R_Q + 48 * j, wasm_i8x16_splat((int8_t)0xc0), w);
      for (int c = 0; c < 4; c++) {
        wasm_v128_store(words[c], w[c]);
        __builtin_memcpy(q + 16 * j + 4 * c, words[c] + 4 * r, 4);
      }
    }
    __builtin_memset(b->ql, 0, sizeof b->ql);
    __builtin_memset(b->qh, 0, sizeof b->qh);
    for (int l = 0; l < QK_K; l++) {
      const int h = l / 128, s = (l % 128) / 32, ll = l % 32;
      b->ql[64 * h + 32 * (s & 1) + ll] |= (uint8_t)((q[l] & 0xf) << (s < 2 ? 0 : 4));
      b->qh[32 * h + ll] |= (uint8_t)((q[l] >> 4) << (2 * s));
    }
  }
}

// Whether repacked_get_row can look up rows of a repacked matrix of `type`.
EXPORT(repacked_rows_readable) int repacked_rows_readable(int type) { return type == T_Q6_K; }

static int group_bytes(int type, int ncols);  // the dispatch's, below

// Row `row` of a repacked matrix of `type` (repacked_rows_readable) as floats: the file layout's
// values bit for bit (its blocks rebuilt, then the file's dequantisation).
void repacked_get_row(int type, const void *w, int ncols, int row, float *y) {
  const int nb = ncols / QK_K;
  block_q6_K blocks[64];  // 16384 columns
  const uint8_t *g = (const uint8_t *)w + (size_t)(row / R) * group_bytes(type, ncols);
  for (int b0 = 0; b0 < nb; b0 += 64) {
    const int n = nb - b0 < 64 ? nb - b0 : 64;
    unrepack_q6_K(g + (size_t)b0 * Q6R_BYTES, row % R, n, blocks);
    dequantize_row(type, blocks, y + (size_t)b0 * QK_K, n * QK_K);
  }
}

INLINE void gemm_q6_K_r4(int nb, const uint8_t *g, const uint8_t *yb, int ystride, int nt, float *y, int ystep) {
  const v128_t mc0 = q6r_mask();
  for (int t = 0; t < nt; t++) wasm_v128_store(y + (size_t)t * ystep, wasm_f32x4_splat(0));
  for (int i = 0; i < nb; i++, g += Q6R_BYTES) {
    const int8_t *xs[TOK6];
    v128_t sumi[TOK6];
    for (int t = 0; t < nt; t++) {
      xs[t] = ((const block_q8_K *)(yb + (size_t)t * ystride) + i)->qs;
      sumi[t] = wasm_i32x4_splat(0);
    }
#pragma clang loop unroll(disable)
    for (int j = 0; j < QK_K / 16; j++) {
      const v128_t sc = q6r_scale(g, j);
      v128_t w[4];
      q6r_chunks(g + Q6R_Q + 48 * j, mc0, w);
      for (int t = 0; t < nt; t++) {
        const int8_t *x = xs[t] + 16 * j;
        const v128_t a = wasm_i16x8_add(dot_chunk(wasm_v128_load32_splat(x), w[0]), dot_chunk(wasm_v128_load32_splat(x + 4), w[1]));
        const v128_t b = wasm_i16x8_add(dot_chunk(wasm_v128_load32_splat(x + 8), w[2]), dot_chunk(wasm_v128_load32_splat(x + 12), w[3]));
        sumi[t] = wasm_i32x4_add(sumi[t], wasm_i32x4_add(wasm_i32x4_dot_i16x8(a, sc), wasm_i32x4_dot_i16x8(b, sc)));
      }
    }
    const v128_t dw = f16x4_to_f32(wasm_u32x4_extend_low_u16x8(wasm_v128_load64_zero(g)));
    // The scale pairs widened once for the tile's tokens, not once per token (as q4kr_min_pairs):
    // 2048×11008 × 128 tokens, 1 thread, alternating: 39.9 → 43.1 and 46.2 → 49.7 GMAC/s.
    v128_t scp[8];
    for (int p = 0; p < 8; p++) scp[p] = wasm_i16x8_load8x8(g + Q6R_SC + 8 * p);
    for (int t = 0; t < nt; t++) {
      const block_q8_K *q8 = (const block_q8_K *)(yb + (size_t)t * ystride) + i;
      v128_t corr = wasm_i32x4_splat(0);
      for (int p = 0; p < 8; p++)
        corr = wasm_i32x4_add(corr, wasm_i32x4_dot_i16x8(scp[p], wasm_v128_load32_splat(q8->bsums + 2 * p)));
      const v128_t isum = wasm_i32x4_sub(sumi[t], wasm_i32x4_shl(corr, 5));
      float *o = y + (size_t)t * ystep;
      wasm_v128_store(o, wasm_f32x4_add(wasm_v128_load(o), wasm_f32x4_mul(wasm_f32x4_mul(dw, wasm_f32x4_splat(q8->d)), wasm_f32x4_convert_i32x4(isum))));
    }
    __asm__ volatile("" ::: "memory");  // acc stays in memory
  }
}

// Any nt up to TOK6: clang keeps the loop over tokens rolled (xs and sumi on V8's stack) whether
// nt is a constant or not, so a product's last 2 or more tokens make one more tile at the same
// speed per token (2048×11008, 1 thread, alternating in one process, two runs: 128 tokens 41.8 and
// 30.9 GMAC/s best against 37.3 and 29.9 with TOK6 a constant; 5 tokens 30.8 and 30.5 against 24.1
// and 23.8 one at a time).
NOINLINE static void gemm_q6_K_r4_tile(int nb, const uint8_t *g, const uint8_t *yb, int ystride, int nt, float *y, int ystep) {
  gemm_q6_K_r4(nb, g, yb, ystride, nt, y, ystep);
}
// One token against ng groups at once (as gemv_q4_K_groups; ng a constant: GV_Q6_K, or 1 for the
// groups left over): gemm_q6_K_r4's integers and float epilogue (bytes identical, tested) in a loop
// shaped for V8 (see gemv_q4_K_groups): one sub-block per step, its 4 activation splats shared by
// the groups. Two groups at a time had V8 keep fewer of this loop's values on its stack than 4
// (2048×11008, 1 thread, alternating in one process: 2 groups 23.4 GMAC/s, 3: 22.2, 4: 21.1, the
// earlier layout with 4: 19.2; 128256×2048: 22.2, 18.3, 22.0, 19.1). With q6r_mask and q6r_scale as
// now, one group at a time keeps every vector in a register (V8 loads both groups' weights at the
// top of the step, and two groups spilled 3 vectors and a sum per step): 2048×11008 16.9 against
// 16.4 GB/s at 1 thread, 26.8 against 25.4 at 2 (before those two changes 16.4 against 16.2, 28.1
// against 28.0 in another run). All three against the code before, the 3B shape's generation token
// by token, alternating in one process: 1.10× at 1 thread (1.03-1.14, 4 repeats), 1.06× at 2 (6 of
// 6 above 1); the 0.5B shape's 1.01×.
INLINE void gemv_q6_K_groups(int ng, int nb, const uint8_t *g0, int gb, const uint8_t *yb, float *y, int ys) {
  const v128_t mc0 = q6r_mask();
  float acc[GV_Q6_K][R];
  for (int n = 0; n < ng; n++) wasm_v128_store(acc[n], wasm_f32x4_splat(0));
  for (int i = 0; i < nb; i++) {
    const uint8_t *g = g0 + (size_t)i * Q6R_BYTES;
    const block_q8_K *q8 = (const block_q8_K *)yb + i;
    const int8_t *x = q8->qs;
    v128_t sumi[GV_Q6_K];
    for (int n = 0; n < ng; n++) sumi[n] = wasm_i32x4_splat(0);
#pragma clang loop unroll(disable)
    for (int j = 0; j < QK_K / 16; j++, x += 16) {
      const v128_t x0 = wasm_v128_load32_splat(x), x1 = wasm_v128_load32_splat(x + 4);
      const v128_t x2 = wasm_v128_load32_splat(x + 8), x3 = wasm_v128_load32_splat(x + 12);
      for (int n = 0; n < ng; n++) {
        const uint8_t *gn = g + (size_t)n * gb;
        v128_t w[4];
        q6r_chunks(gn + Q6R_Q + 48 * j, mc0, w);
        const v128_t a = wasm_i16x8_add(dot_chunk(x0, w[0]), dot_chunk(x1, w[1]));
        const v128_t b = wasm_i16x8_add(dot_chunk(x2, w[2]), dot_chunk(x3, w[3]));
        const v128_t sc = q6r_scale(gn, j);
        sumi[n] = wasm_i32x4_add(sumi[n], wasm_i32x4_add(wasm_i32x4_dot_i16x8(a, sc), wasm_i32x4_dot_i16x8(b, sc)));
      }
    }
    const v128_t d8 = wasm_f32x4_splat(q8->d);
    for (int n = 0; n < ng; n++) {
      const uint8_t *gn = g + (size_t)n * gb;
      const v128_t dw = f16x4_to_f32(wasm_u32x4_extend_low_u16x8(wasm_v128_load64_zero(gn)));
      v128_t corr = wasm_i32x4_splat(0);
      for (int p = 0; p < 8; p++)
        corr = wasm_i32x4_add(corr, wasm_i32x4_dot_i16x8(wasm_i16x8_load8x8(gn + Q6R_SC + 8 * p), wasm_v128_load32_splat(q8->bsums + 2 * p)));
      const v128_t isum = wasm_i32x4_sub(sumi[n], wasm_i32x4_shl(corr, 5));
      wasm_v128_store(acc[n], wasm_f32x4_add(wasm_v128_load(acc[n]), wasm_f32x4_mul(wasm_f32x4_mul(dw, d8), wasm_f32x4_convert_i32x4(isum))));
    }
    __asm__ volatile("" ::: "memory");  // acc stays in memory
  }
  for (int n = 0; n < ng; n++) wasm_v128_store(y + (size_t)ys * n, wasm_v128_load(acc[n]));
}

NOINLINE static void gemv_q6_K_r4(int nb, const uint8_t *g, const uint8_t *yb, float *y) { gemv_q6_K_groups(1, nb, g, 0, yb, y, 0); }
NOINLINE static void gemv_q6_K_r4xGV(int nb, const uint8_t *g, int gb, const uint8_t *yb, float *y, int ys) { gemv_q6_K_groups(GV_Q6_K, nb, g, gb, yb, y, ys); }

// ---------------------------------------------------------------------------------------------
// Dispatch
// ---------------------------------------------------------------------------------------------

static int group_bytes(int type, int ncols) {
  switch (type) {
    case T_Q4_K: return ncols / QK_K * Q4KR_BYTES;
    case T_Q5_0: return ncols / QK * Q5R_BYTES;
    case T_Q6_K: return ncols / QK_K * Q6R_BYTES;
    default: return -1;
  }
}

// Bytes a repacked rows × ncols matrix of `type` takes, or -1 when it is kept in the file's layout
// (a format without a repacked product, or rows not a whole number of groups).
EXPORT(repacked_bytes) int repacked_bytes(int type, int rows, int ncols) {
  const int gb = group_bytes(type, ncols);
  return gb < 0 || rows % R ? -1 : rows / R * gb;
}

typedef struct {
  int type, row0, rows, ncols;
  const uint8_t *src;
  uint8_t *dst, *tmp;
} repack_args;

static void repack_task(const void *p, int ith, int nth) {
  const repack_args *a = p;
  const int rb = row_bytes(a->type, a->ncols), gb = group_bytes(a->type, a->ncols);
  uint8_t *tmp = a->tmp + (size_t)ith * R * rb;
  int g0, g1;
  split_range(a->rows / R, ith, nth, &g0, &g1);
  for (int gi = g0; gi < g1; gi++) {
    __builtin_memcpy(tmp, a->src + (size_t)gi * R * rb, (size_t)R * rb);
    uint8_t *d = a->dst + (size_t)(a->row0 / R + gi) * gb;
    if (a->type == T_Q4_K) repack_q4_K((const block_q4_K *)tmp, a->ncols / QK_K, d);
    else if (a->type == T_Q5_0) repack_q5_0((const block_q5_0 *)tmp, a->ncols / QK, d);
    else if (a->type == T_Q6_K) repack_q6_K((const block_q6_K *)tmp, a->ncols / QK_K, d);
  }
}

// Bytes of scratch repack_rows needs for `type` and `ncols`: a group of file rows per thread.
EXPORT(repack_scratch_bytes) int repack_scratch_bytes(int type, int ncols) { return pool_threads() * R * row_bytes(type, ncols); }

// Rows [row0, row0 + rows) of a matrix in the file's layout (at src, consecutive) → their groups
// in the repacked matrix at dst (row0 and rows multiples of R); tmp: repack_scratch_bytes.
//
// In place: src may be the end of the rows' own place in dst (the loader reads the file there, so
// that the first touch of the pages happens in its parallel reads, as for the matrices that are not
// repacked: from a staging buffer the repack of a 3B model took the loading thread 1.5-1.8 s, in
// place 0.8 s, same session, alternating). Each
// group is copied to tmp before it is written, and group g's output never reaches group g + 1's
// source (its output ends at (g + 1)·gb, its source starts at (rows/R − g − 1)·(gb − R·rb) later).
// Where a group is as large as its rows (Q6_K) each group writes only its own source, so the
// groups are split across the pool's threads; Q4_K and Q5_0 groups are larger, so theirs go in order.
EXPORT(repack_rows) void repack_rows(int type, const void *src, int row0, int rows, int ncols, void *dst, void *tmp) {
  const repack_args a = { type, row0, rows, ncols, src, dst, tmp };
  if (group_bytes(type, ncols) == R * row_bytes(type, ncols)) pool_run(repack_task, &a, sizeof a);
  else repack_task(&a, 0, 1);
}

typedef struct {
  int type, nrows, ncols, ntok;
  const uint8_t *w;
  const uint8_t *xq;
  int xq_row_bytes;
  const uint8_t *ex;  // act_extras rows
  int ex_row_bytes;
  float *y;
} packed_args;

// Groups of rows are split across threads; a tile of GROUP_TILE groups stays in cache while it
// meets every token, and each tile of tokens' activations stays in L1 across the groups.
#define GROUP_TILE 16

static void packed_task(const void *p, int ith, int nth) {
  const packed_args *a = p;
  const int ngroups = a->nrows / R, gb = group_bytes(a->type, a->ncols);
  const int tok = a->type == T_Q5_0 ? TOK5 : a->type == T_Q6_K ? TOK6 : TOK;
  int g0, g1;
  split_range(ngroups, ith, nth, &g0, &g1);
  // A tile of groups is what meets every token; one token meets its weights once, so its tile is
  // the whole share (the groups a one-token product takes at once are then that fraction of the
  // share apart).
  const int tile_groups = a->ntok == 1 ? g1 - g0 : GROUP_TILE;
  for (int tile = g0; tile < g1; tile += tile_groups) {
    const int tile_end = tile + tile_groups < g1 ? tile + tile_groups : g1;
    int t = 0;
    // Whole tiles of tokens, then the last 2 or more tokens one smaller tile: the one-token product
    // below, on groups in cache, costs a token ~2.4 tile tokens (Q4_K 11008×2048, 1 thread: 128
    // tokens took 1.038× the time of 126). A 4-token product, alternating in one process, two runs:
    // 44.2 and 31.6 GMAC/s best in a tile against 34.8 and 29.4 one token at a time; 2 tokens 28.1
    // against 26.0. This is what a keystroke's few new tokens meet.
    while (t < a->ntok) {
      const int nt = a->ntok - t < tok ? a->ntok - t : tok;
      if (nt < 2) break;  // left to the one-token product below
      for (int g = tile; g < tile_end; g++) {
        const uint8_t *w = a->w + (size_t)g * gb, *x = a->xq + (size_t)t * a->xq_row_bytes, *ex = a->ex + (size_t)t * a->ex_row_bytes;
        float *y = a->y + (size_t)t * a->nrows + g * R;
        if (a->type == T_Q4_K) (nt < tok ? q4k_tails[nt] : RELAXED && dot_add ? gemm_q4_K_r4_tile_dot_add : gemm_q4_K_r4_tile)(a->ncols / QK_K, w, x, a->xq_row_bytes, ex, a->ex_row_bytes, y, a->nrows);
        else if (a->type == T_Q6_K) gemm_q6_K_r4_tile(a->ncols / QK_K, w, x, a->xq_row_bytes, nt, y, a->nrows);
        else (RELAXED && dot_add ? gemm_q5_0_r4_tile_dot_add : gemm_q5_0_r4_tile)(a->ncols / QK, w, x, a->xq_row_bytes, ex, a->ex_row_bytes, nt, y, a->nrows);
      }
      t += nt;
    }
    // One token: gv groups at once, a gv-th of the tile apart (see gemv_q4_K_groups), then the
    // groups left over one at a time.
    const int gv = a->type == T_Q4_K ? GV_Q4_K : a->type == T_Q6_K ? GV_Q6_K : GV_Q5_0;
    for (; t < a->ntok; t++) {
      const uint8_t *x = a->xq + (size_t)t * a->xq_row_bytes, *ex = a->ex + (size_t)t * a->ex_row_bytes;
      float *y = a->y + (size_t)t * a->nrows;
      const int s = (tile_end - tile) / gv;
      for (int g = tile; g < tile + s; g++) {
        const uint8_t *w = a->w + (size_t)g * gb;
        if (a->type == T_Q4_K) gemv_q4_K_r4xGV(a->ncols / QK_K, w, s * gb, x, ex, y + g * R, s * R);
        else if (a->type == T_Q6_K) gemv_q6_K_r4xGV(a->ncols / QK_K, w, s * gb, x, y + g * R, s * R);
        else gemv_q5_0_r4xGV(a->ncols / QK, w, s * gb, x, ex, y + g * R, s * R);
      }
      for (int g = tile + gv * s; g < tile_end; g++) {
        const uint8_t *w = a->w + (size_t)g * gb;
        if (a->type == T_Q4_K) gemv_q4_K_r4(a->ncols / QK_K, w, x, ex, y + g * R);
        else if (a->type == T_Q6_K) gemv_q6_K_r4(a->ncols / QK_K, w, x, y + g * R);
        else gemv_q5_0_r4(a->ncols / QK, w, x, ex, y + g * R);
      }
    }
  }
}

// What the loader times and checks to choose (kernels.ts): the Q4_K and Q5_0 tiles of one group
// over 256 columns, `reps` times, by the dot-add (mode 1) or not (mode 0), on the data that
// dot_add_probe_fill puts in DOT_ADD_PROBE_BYTES of scratch. Their outputs are the first
// DOT_ADD_PROBE_OUT bytes: the same bytes both ways, or the dot-add is not to be used (Node 20's
// baseline code gives other sums by the dot-add, in both tiles, until V8 optimises them; see q4k_tails).
#define DOT_ADD_PROBE_BYTES 49152
#define DOT_ADD_PROBE_OUT (R * (TOK + TOK5) * 4)
#define PROBE_Q4 512    // one Q4_K group super-block, then TOK Q8_K rows and their act_extras
#define PROBE_Q5 4096   // 8 Q5_0 group blocks, then TOK5 Q8_0 rows and their act_extras
#define PROBE_TMP 20480 // the fill's file blocks, then its floats
_Static_assert(PROBE_Q4 + Q4KR_BYTES + TOK * (sizeof(block_q8_K) + 16) <= PROBE_Q5, "probe: Q4_K overlaps Q5_0");
_Static_assert(PROBE_Q5 + (QK_K / QK) * Q5R_BYTES + TOK5 * (QK_K / QK) * (sizeof(block_q8_0) + 24) <= PROBE_TMP, "probe: Q5_0 overlaps tmp");
_Static_assert(PROBE_TMP + TOK5 * QK_K * 4 <= DOT_ADD_PROBE_BYTES && DOT_ADD_PROBE_OUT <= PROBE_Q4, "probe: too small");
EXPORT(dot_add_probe_bytes) int dot_add_probe_bytes(void) { return DOT_ADD_PROBE_BYTES; }
EXPORT(dot_add_probe_out_bytes) int dot_add_probe_out_bytes(void) { return DOT_ADD_PROBE_OUT; }

void quantize_activations(int wtype, const float *x, int ncols, int ntok, void *xq);  // matmul.c

// Where the probe's Q4_K and Q5_0 activations start (dot_add_probe_fill writes, dot_add_probe reads).
INLINE uint8_t *probe_x4(uint8_t *scratch) { return scratch + PROBE_Q4 + Q4KR_BYTES; }
INLINE uint8_t *probe_x5(uint8_t *scratch) { return scratch + PROBE_Q5 + (QK_K / QK) * Q5R_BYTES; }

// The next of the fill's pseudo-random words (xorshift32).
INLINE uint32_t probe_random(uint32_t *s) {
  *s ^= *s << 13, *s ^= *s >> 17, *s ^= *s << 5;
  return *s;
}

// Pseudo-random weights (file blocks of 4 rows, every bit pattern a valid quant, scales set to
// normal halves) repacked as the loader repacks them, and activations quantised from pseudo-random
// floats as a product quantises them.
EXPORT(dot_add_probe_fill) void dot_add_probe_fill(uint8_t *scratch) {
  uint32_t s = 0x9e3779b9u;
  uint8_t *tmp = scratch + PROBE_TMP;
  const int nb5 = QK_K / QK;
  for (int i = 0; i < DOT_ADD_PROBE_BYTES - PROBE_TMP; i++) tmp[i] = (uint8_t)(probe_random(&s) >> 24);
  block_q4_K *b4 = (block_q4_K *)tmp;
  for (int r = 0; r < R; r++) b4[r].d = b4[r].dmin = 0x2000 + 0x100 * r;  // 2^-7 and up
  repack_q4_K(b4, 1, scratch + PROBE_Q4);
  block_q5_0 *b5 = (block_q5_0 *)tmp;
  for (int i = 0; i < R * nb5; i++) b5[i].d = 0x2400 + (uint16_t)i;
  repack_q5_0(b5, nb5, scratch + PROBE_Q5);
  float *x = (float *)tmp;
  for (int i = 0; i < TOK5 * QK_K; i++) x[i] = (float)(int32_t)probe_random(&s) * 0x1p-31f;
  quantize_activations(T_Q4_K, x, QK_K, TOK, probe_x4(scratch));
  quantize_activations(T_Q5_0, x, QK_K, TOK5, probe_x5(scratch));
}

EXPORT(dot_add_probe) void dot_add_probe(uint8_t *scratch, int reps, int mode) {
  const int nb5 = QK_K / QK, xq5 = nb5 * (int)sizeof(block_q8_0), ex5 = act_extra_bytes(T_Q5_0, QK_K);
  const int ex4 = act_extra_bytes(T_Q4_K, QK_K);
  const uint8_t *x4 = probe_x4(scratch), *e4 = x4 + TOK * sizeof(block_q8_K);
  const uint8_t *x5 = probe_x5(scratch), *e5 = x5 + TOK5 * xq5;
  float *y4 = (float *)scratch, *y5 = y4 + R * TOK;
  for (int r = 0; r < reps; r++) {
    (RELAXED && mode ? gemm_q4_K_r4_tile_dot_add : gemm_q4_K_r4_tile)(1, scratch + PROBE_Q4, x4, sizeof(block_q8_K), e4, ex4, y4, R);
    (RELAXED && mode ? gemm_q5_0_r4_tile_dot_add : gemm_q5_0_r4_tile)(nb5, scratch + PROBE_Q5, x5, xq5, e5, ex5, TOK5, y5, R);
  }
}

void matmul_repacked(int type, const void *w, int nrows, int ncols, const void *xq, int ntok, float *y) {
  const int rb = row_bytes(act_type(type), ncols);
  packed_args a = { type, nrows, ncols, ntok, w, xq, rb, (const uint8_t *)xq + (size_t)ntok * rb, act_extra_bytes(type, ncols), y };
  // Balanced shares (several per thread), as matmul.c's products: on a busy machine a thread that
  // shares its core takes fewer of them. Each group is computed by one share with the same
  // arithmetic, so results do not depend on the split.
  pool_run_product(packed_task, &a, sizeof a, ntok);
}
