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
// This machine's V8 lowers i16x8.relaxed_dot_i8x16_i7x16_s to one pmaddubsw (Zen 4 lacks the VEX
// AVX-VNNI that V8 checks for the i32 ..._add form), so the i16 products of a sub-block are summed
// in i16 (bounded per format below) and widened once, by i32x4.dot_i16x8 with the sub-block scale
// (pmaddwd), as llama.cpp's AVX2 Q4_K kernel does.
//
// Exactness: every row's integer sums per super-block are exact and its float epilogue is the same
// sequence of operations for every token, whatever the number of tokens in a tile, the thread or
// the build: results are identical across thread counts, batch sizes and the two builds. They
// differ from the row-at-a-time products (and from llama.cpp) only by float summation order.
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
// Tokens per tile, chosen by measurement (alternating runs, 512×2048 × 48 tokens, 1 thread):
// relaxed 4 (21.6 GMAC/s; 6: 19.4, 8: 17.9 as V8 spills), SIMD128 8 (14.8; 4: 13.7, 6: 14.1).
#ifndef TOK
#define TOK (RELAXED ? 4 : 8)
#endif


// ---------------------------------------------------------------------------------------------
// Q4_K × 4 rows. A group super-block (4 rows × 256 elements, 624 bytes against 4 × 144):
//   f16 d[4], f16 dmin[4]                       16 bytes: one load, both halves converted at once
//   u8 scale[8 sub-blocks][4 rows][2]           64 bytes: each row's 6-bit scale twice, so that
//                                                one load8x8_u is the pmaddwd operand (2 i16 lanes
//                                                per row) without a shuffle
//   u8 min[4 lanes L][4 rows][2]                32 bytes: mins of sub-blocks L and L + 4 of each
//                                                row, the pmaddwd operand against (P_L, P_L+4)
//   u8 qs[4 steps k][4 lanes L][2 h][4 rows][4] 512 bytes: chunk c = L + 4h of step k; byte b of
//                                                row r is the file's qs[32k + 4c + b]: low nibble
//                                                element 64k + 4c + b (sub-block 2k), high nibble
//                                                element 64k + 32 + 4c + b (sub-block 2k + 1)
// The 8% more bytes buy decoded scales (k4_scales per row per block is ~40 scalar operations).
//
// Float order: the same as quants.c's dot_q4_K, so results are identical to the row-at-a-time
// product (and conformance with llama.cpp is unchanged; its tiny random test models turn any
// change of float order into a different greedy token within a few steps). dot_q4_K keeps 4 f32
// lanes per row: lane L sums the elements whose index within a sub-block is 4L..4L+3 or
// 16+4L..16+4L+3, i.e. chunks L and L+4 here. So each token keeps 4 sums, one per lane class L,
// with rows in lanes, and adds them ((L0 + L1) + L2) + L3 at the end, as hsum_f32x4 does.
// ---------------------------------------------------------------------------------------------
#define Q4KR_BYTES 624
#define Q4KR_SC 16
#define Q4KR_MIN 80
#define Q4KR_QS 112

// ggml's get_scale_min_k4 for all 8 sub-blocks (as quants.c's k4_scales): scales in sc, mins in m.
static void k4_decode(const uint8_t *q, uint8_t sc[8], uint8_t m[8]) {
  for (int j = 0; j < 8; j++) {
    if (j < 4) {
      sc[j] = q[j] & 63;
      m[j] = q[j + 4] & 63;
    } else {
      sc[j] = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
      m[j] = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
  }
}

// 4 file rows of nb blocks each (src, consecutive) → nb group super-blocks at dst.
static void repack_q4_K(const block_q4_K *src, int nb, uint8_t *dst) {
  for (int i = 0; i < nb; i++) {
    uint8_t *g = dst + (size_t)i * Q4KR_BYTES;
    for (int r = 0; r < R; r++) {
      const block_q4_K *b = &src[(size_t)r * nb + i];
      __builtin_memcpy(g + 2 * r, &b->d, 2);
      __builtin_memcpy(g + 8 + 2 * r, &b->dmin, 2);
      uint8_t sc[8], m[8];
      k4_decode(b->scales, sc, m);
      for (int j = 0; j < 8; j++) g[Q4KR_SC + 8 * j + 2 * r] = g[Q4KR_SC + 8 * j + 2 * r + 1] = sc[j];
      for (int l = 0; l < 4; l++) {
        g[Q4KR_MIN + 8 * l + 2 * r] = m[l];
        g[Q4KR_MIN + 8 * l + 2 * r + 1] = m[l + 4];
      }
      for (int k = 0; k < 4; k++)
        for (int c = 0; c < 8; c++) __builtin_memcpy(g + Q4KR_QS + 128 * k + 32 * (c & 3) + 16 * (c >> 2) + 4 * r, b->qs + 32 * k + 4 * c, 4);
    }
  }
}

// Lane class L of the min term per row: m_L·P_L + m_L+4·P_L+4 (P_j = bsums[2j] + bsums[2j+1],
// |P_j| ≤ 32·128 fits i16), as dot_q4_K's k4_min_products lane L: (P_L, P_L+4) as one i32, splat,
// against the min pairs by pmaddwd.
INLINE v128_t q4kr_mins(const uint8_t *g, const int16_t *bsums, int l) {
  const uint16_t pl = (uint16_t)(bsums[2 * l] + bsums[2 * l + 1]), ph = (uint16_t)(bsums[2 * l + 8] + bsums[2 * l + 9]);
  return wasm_i32x4_dot_i16x8(wasm_u16x8_load8x8(g + Q4KR_MIN + 8 * l), wasm_i32x4_splat((int32_t)(pl | (uint32_t)ph << 16)));
}

// Lane class l of one group super-block for nt tokens: sumi[t] = that class of Σ_j sc_j·Σ(q4·q8)
// per row, exact. qs: the class's 2 chunks of step 0 (32 bytes; the next step 128 bytes on).
INLINE void q4kr_class(const uint8_t *g, const int8_t *const *xs, int l, int nt, v128_t *sumi) {
  const uint8_t *qs = g + Q4KR_QS + 32 * l;
  for (int t = 0; t < nt; t++) sumi[t] = wasm_i32x4_splat(0);
#pragma clang loop unroll(disable)
  for (int j = 0; j < 8; j++) {  // sub-block j: step j / 2, low or high nibbles
    const int k = j >> 1, shift = 4 * (j & 1), off = 64 * k + 32 * (j & 1) + 4 * l;
    const v128_t m = wasm_i8x16_splat(0x0f);
    const v128_t wa = wasm_v128_and(wasm_u16x8_shr(wasm_v128_load(qs + 128 * k), shift), m);
    const v128_t wb = wasm_v128_and(wasm_u16x8_shr(wasm_v128_load(qs + 128 * k + 16), shift), m);
    const v128_t sv = wasm_u16x8_load8x8(g + Q4KR_SC + 8 * j);
#if RELAXED
    // chunks l and l + 4 by pmaddubsw, summed in i16 (≤ 2·2·15·128), widened once by pmaddwd
    for (int t = 0; t < nt; t++) {
      const v128_t p = wasm_i16x8_add(wasm_i16x8_relaxed_dot_i8x16_i7x16(wasm_v128_load32_splat(xs[t] + off), wa),
                                      wasm_i16x8_relaxed_dot_i8x16_i7x16(wasm_v128_load32_splat(xs[t] + off + 16), wb));
      sumi[t] = wasm_i32x4_add(sumi[t], wasm_i32x4_dot_i16x8(p, sv));
    }
#else
    // SIMD128 (no 8-bit multiply): the scale folded into the weights as i16 (≤ 63·15 = 945), the
    // activation's 4 bytes widened to i16 and splat; pmaddwd gives rows 0-1 (lo) and 2-3 (hi) in
    // i32 lane pairs (r, r), added pairwise below.
    const v128_t sa = wasm_i32x4_shuffle(sv, sv, 0, 0, 1, 1), sb = wasm_i32x4_shuffle(sv, sv, 2, 2, 3, 3);
    const v128_t a_lo = wasm_i16x8_mul(wasm_u16x8_extend_low_u8x16(wa), sa), a_hi = wasm_i16x8_mul(wasm_u16x8_extend_high_u8x16(wa), sb);
    const v128_t b_lo = wasm_i16x8_mul(wasm_u16x8_extend_low_u8x16(wb), sa), b_hi = wasm_i16x8_mul(wasm_u16x8_extend_high_u8x16(wb), sb);
    for (int t = 0; t < nt; t++) {
      const v128_t xa = wasm_i16x8_extend_low_i8x16(wasm_v128_load32_splat(xs[t] + off));
      const v128_t xb = wasm_i16x8_extend_low_i8x16(wasm_v128_load32_splat(xs[t] + off + 16));
      const v128_t lo = wasm_i32x4_add(wasm_i32x4_dot_i16x8(a_lo, xa), wasm_i32x4_dot_i16x8(b_lo, xb));
      const v128_t hi = wasm_i32x4_add(wasm_i32x4_dot_i16x8(a_hi, xa), wasm_i32x4_dot_i16x8(b_hi, xb));
      sumi[t] = wasm_i32x4_add(sumi[t], wasm_i32x4_add(wasm_i32x4_shuffle(lo, hi, 0, 2, 4, 6), wasm_i32x4_shuffle(lo, hi, 1, 3, 5, 7)));
    }
#endif
  }
}

// 4 rows (one group, nb super-blocks at g) × nt tokens (Q8_K rows at yb, ystride apart) → the
// 4 outputs of each token at y + t·ystep. Per lane class, as dot_q4_K per block:
//   acc += (d8·d)·Σ sc·q4·q8;  acc −= (d8·dmin)·Σ min·bsum
// and the classes are added in order into y.
INLINE void gemm_q4_K_r4(int nb, const uint8_t *g0, const uint8_t *yb, int ystride, int nt, float *y, int ystep) {
#pragma clang loop unroll(disable)
  for (int l = 0; l < 4; l++) {
    v128_t acc[TOK], sumi[TOK];
    for (int t = 0; t < nt; t++) acc[t] = wasm_f32x4_splat(0);
    const uint8_t *g = g0;
    for (int i = 0; i < nb; i++, g += Q4KR_BYTES) {
      const block_q8_K *q8[TOK];
      const int8_t *xs[TOK];
      for (int t = 0; t < nt; t++) {
        q8[t] = (const block_q8_K *)(yb + (size_t)t * ystride) + i;
        xs[t] = q8[t]->qs;
      }
      q4kr_class(g, xs, l, nt, sumi);
      const v128_t h = wasm_v128_load(g);
      const v128_t dx = f16x4_to_f32(wasm_u32x4_extend_low_u16x8(h)), dminx = f16x4_to_f32(wasm_u32x4_extend_high_u16x8(h));
      for (int t = 0; t < nt; t++) {
        const v128_t d8 = wasm_f32x4_splat(q8[t]->d);
        acc[t] = wasm_f32x4_add(acc[t], wasm_f32x4_mul(wasm_f32x4_mul(d8, dx), wasm_f32x4_convert_i32x4(sumi[t])));
        acc[t] = wasm_f32x4_sub(acc[t], wasm_f32x4_mul(wasm_f32x4_mul(d8, dminx), wasm_f32x4_convert_i32x4(q4kr_mins(g, q8[t]->bsums, l))));
      }
    }
    for (int t = 0; t < nt; t++) {
      float *o = y + (size_t)t * ystep;
      wasm_v128_store(o, l == 0 ? acc[t] : wasm_f32x4_add(wasm_v128_load(o), acc[t]));
    }
  }
}

NOINLINE static void gemm_q4_K_r4_tile(int nb, const uint8_t *g, const uint8_t *yb, int ystride, float *y, int ystep) {
  gemm_q4_K_r4(nb, g, yb, ystride, TOK, y, ystep);
}
// One token (generation): the 4 class passes per super-block instead of per matrix, so that the
// weights are read from memory once (a pass over a matrix of a 3B model's size does not stay in
// cache); 4 f32 sums and one i32 sum live.
NOINLINE static void gemv_q4_K_r4(int nb, const uint8_t *g, const uint8_t *yb, float *y) {
  const block_q8_K *q8 = (const block_q8_K *)yb;
  v128_t acc[4];
  for (int l = 0; l < 4; l++) acc[l] = wasm_f32x4_splat(0);
  for (int i = 0; i < nb; i++, g += Q4KR_BYTES, q8++) {
    const int8_t *xs[1] = { q8->qs };
    const v128_t h = wasm_v128_load(g), d8 = wasm_f32x4_splat(q8->d);
    const v128_t d = wasm_f32x4_mul(d8, f16x4_to_f32(wasm_u32x4_extend_low_u16x8(h)));
    const v128_t dmin = wasm_f32x4_mul(d8, f16x4_to_f32(wasm_u32x4_extend_high_u16x8(h)));
    for (int l = 0; l < 4; l++) {
      v128_t sumi;
      q4kr_class(g, xs, l, 1, &sumi);
      acc[l] = wasm_f32x4_add(acc[l], wasm_f32x4_mul(d, wasm_f32x4_convert_i32x4(sumi)));
      acc[l] = wasm_f32x4_sub(acc[l], wasm_f32x4_mul(dmin, wasm_f32x4_convert_i32x4(q4kr_mins(g, q8->bsums, l))));
    }
  }
  wasm_v128_store(y, wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_add(acc[0], acc[1]), acc[2]), acc[3]));
}

// ---------------------------------------------------------------------------------------------
// Dispatch
// ---------------------------------------------------------------------------------------------

static int group_bytes(int type, int ncols) {
  switch (type) {
    case T_Q4_K: return ncols / QK_K * Q4KR_BYTES;
    default: return -1;
  }
}

// Bytes a repacked rows × ncols matrix of `type` takes, or -1 when it is kept in the file's layout
// (a format without a repacked product, or rows not a whole number of groups).
EXPORT(repacked_bytes) int repacked_bytes(int type, int rows, int ncols) {
  const int gb = group_bytes(type, ncols);
  return gb < 0 || rows % R ? -1 : rows / R * gb;
}

// Rows [row0, row0 + rows) of a matrix in the file's layout (at src, consecutive) → their groups
// in the repacked matrix at dst (row0 and rows multiples of R). Called while the file is read.
EXPORT(repack_rows) void repack_rows(int type, const void *src, int row0, int rows, int ncols, void *dst) {
  const int rb = row_bytes(type, ncols), gb = group_bytes(type, ncols);
  for (int r = 0; r < rows; r += R) {
    const uint8_t *s = (const uint8_t *)src + (size_t)r * rb;
    uint8_t *d = (uint8_t *)dst + (size_t)(row0 + r) / R * gb;
    if (type == T_Q4_K) repack_q4_K((const block_q4_K *)s, ncols / QK_K, d);
  }
}

typedef struct {
  int type, nrows, ncols, ntok;
  const uint8_t *w;
  const uint8_t *xq;
  int xq_row_bytes;
  float *y;
} packed_args;

// Groups of rows are split across threads; a tile of GROUP_TILE groups stays in cache while it
// meets every token, and each tile of TOK tokens' activations stays in L1 across the groups.
#define GROUP_TILE 16

static void packed_task(const void *p, int ith, int nth) {
  const packed_args *a = p;
  const int ngroups = a->nrows / R, nb = a->ncols / QK_K, gb = group_bytes(a->type, a->ncols);
  int g0, g1;
  split_range(ngroups, ith, nth, &g0, &g1);
  for (int tile = g0; tile < g1; tile += GROUP_TILE) {
    const int tile_end = tile + GROUP_TILE < g1 ? tile + GROUP_TILE : g1;
    int t = 0;
    for (; t + TOK <= a->ntok; t += TOK)
      for (int g = tile; g < tile_end; g++)
        gemm_q4_K_r4_tile(nb, a->w + (size_t)g * gb, a->xq + (size_t)t * a->xq_row_bytes, a->xq_row_bytes,
                          a->y + (size_t)t * a->nrows + g * R, a->nrows);
    for (; t < a->ntok; t++)
      for (int g = tile; g < tile_end; g++)
        gemv_q4_K_r4(nb, a->w + (size_t)g * gb, a->xq + (size_t)t * a->xq_row_bytes, a->y + (size_t)t * a->nrows + g * R);
  }
}

void matmul_repacked(int type, const void *w, int nrows, int ncols, const void *xq, int ntok, float *y) {
  packed_args a = { type, nrows, ncols, ntok, w, xq, row_bytes(act_type(type), ncols), y };
  pool_run(packed_task, &a);
}
