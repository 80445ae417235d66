// Tensor formats: activation quantisers, dot products of every weight format with its activation
// format, and row dequantisation — computing what ggml's x86 CPU backend computes.
//
// Exactness: the activation quantisers (Q8_0, Q8_1, Q8_K, F16, BF16) are bit-exact with ggml's x86
// paths (see each section). The dot products do the same integer arithmetic as ggml inside each
// block (exact), then scale per block in float and accumulate in f32 lanes: the result differs from
// ggml only by float summation order (~1e-7 relative). Dequantisation is ggml's scalar code, op for
// op (no FMA: wasm SIMD128 has none, and ggml-base is built for baseline x86-64).
//
// SIMD128 technique for the integer products (no 8-bit multiply in wasm): 16 bytes loaded as eight
// 16-bit lanes hold an even and an odd element each; `(v << 8) >> 8` and `v >> 8` give the even and
// odd elements as i16 without any widening instruction. 4-bit quants come out of the same lanes by
// shifts and masks. Products of a few quants fit in i16 (checked per format below), so they are
// summed as i16 and widened once, by i32x4.dot_i16x8 with the sub-block scale as the other operand.
// Loops over sub-blocks stay rolled: V8 (TurboFan) hoists all loads of an unrolled body and spills
// registers, which cost 25% on Q4_K. No function here touches the C stack.
#include "quants.h"

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

// Each dot product stays its own function (readable profiles; one call per row is negligible).
#define NOINLINE __attribute__((noinline))

INLINE uint32_t load_u32(const void *p) { uint32_t v; __builtin_memcpy(&v, p, 4); return v; }

// Even / odd bytes of 16 signed bytes, as i16 lanes (see the header comment).
INLINE v128_t even_i8(v128_t v) { return wasm_i16x8_shr(wasm_i16x8_shl(v, 8), 8); }
INLINE v128_t odd_i8(v128_t v) { return wasm_i16x8_shr(v, 8); }

// The relaxed build (-mrelaxed-simd): i16x8.relaxed_dot_i8x16_i7x16_s(y, q) gives lane i =
// y[2i]·q[2i] + y[2i+1]·q[2i+1] for signed bytes y and bytes q in 0..127 — the same pairs, in the
// same lanes, as the SIMD128 even/odd products below, so both builds compute identical integers.
// (Not the i32x4 ..._add_s variant: V8 11.3 miscomputes it before tier-up.)
#ifdef __wasm_relaxed_simd__
#define RELAXED 1
INLINE v128_t rdot(v128_t y, v128_t q) { return wasm_i16x8_relaxed_dot_i8x16_i7x16(y, q); }
#else
#define RELAXED 0
#endif

INLINE float hmax_f32x4(v128_t v) {
  v = wasm_f32x4_pmax(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
  v = wasm_f32x4_pmax(v, wasm_i32x4_shuffle(v, v, 1, 0, 3, 2));
  return wasm_f32x4_extract_lane(v, 0);
}

// float → nearest integer, ties to even, as i32 lanes: f32x4.nearest is roundeven, the same as
// x86's _mm256_round_ps(_MM_ROUND_NEAREST) and as ggml's nearest_int (the 1.5·2^23 trick).
INLINE v128_t round_i32(v128_t v) { return wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(v)); }

// Four rounded i32x4 → 16 saturated i8 (x86 packs_epi32 + packs_epi16, in order).
INLINE v128_t pack_i8(v128_t a, v128_t b, v128_t c, v128_t d) {
  return wasm_i8x16_narrow_i16x8(wasm_i16x8_narrow_i32x4(a, b), wasm_i16x8_narrow_i32x4(c, d));
}

// f16 → f32 of eight halves held in an i16x8, as two f32x4 (low four, high four): f16x4_to_f32
// (common.h) of each half.
INLINE v128_t f16x8_lo(v128_t h) { return f16x4_to_f32(wasm_u32x4_extend_low_u16x8(h)); }
INLINE v128_t f16x8_hi(v128_t h) { return f16x4_to_f32(wasm_u32x4_extend_high_u16x8(h)); }
// bf16 → f32: the bf16 bits are the top half of the float.
INLINE v128_t bf16x8_lo(v128_t h) { return wasm_i32x4_shl(wasm_u32x4_extend_low_u16x8(h), 16); }
INLINE v128_t bf16x8_hi(v128_t h) { return wasm_i32x4_shl(wasm_u32x4_extend_high_u16x8(h), 16); }

// ggml's K-quant 6-bit scales and mins (get_scale_min_k4), decoded for all 8 sub-blocks at once as
// ggml's SIMD kernels do: sc[0..7] in the bytes of s[0..1], mins in the bytes of s[2..3].
INLINE void k4_scales(const uint8_t *q, uint32_t s[4]) {
  const uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
  const uint32_t u0 = load_u32(q), u1 = load_u32(q + 4), u2 = load_u32(q + 8);
  s[0] = u0 & kmask1;
  s[1] = (u2 & kmask2) | (((u0 >> 6) & kmask3) << 4);
  s[2] = u1 & kmask1;
  s[3] = ((u2 >> 4) & kmask2) | (((u1 >> 6) & kmask3) << 4);
}

// Σ_j mins[j] * (bsums[2j] + bsums[2j+1]) as i32x4 lanes (the min term of Q4_K / Q5_K): lane k
// holds mins[k]·P_k + mins[k+4]·P_{k+4}, P_j = bsums[2j] + bsums[2j+1]. Pairwise sums and i32
// multiplies rather than byte shuffles into i16 dot products: the same integers in the same lanes,
// without the two shuffle masks V8 rebuilds on every block (measured ~10% of a Q4_K matvec).
INLINE v128_t k4_min_products(uint32_t m_lo, uint32_t m_hi, const int16_t *bsums) {
  const v128_t m16 = wasm_u16x8_extend_low_u8x16(wasm_i32x4_make((int32_t)m_lo, (int32_t)m_hi, 0, 0));  // m0..m7
  const v128_t p_lo = wasm_i32x4_extadd_pairwise_i16x8(wasm_v128_load(bsums));      // P0..P3
  const v128_t p_hi = wasm_i32x4_extadd_pairwise_i16x8(wasm_v128_load(bsums + 8));  // P4..P7
  return wasm_i32x4_add(wasm_i32x4_mul(p_lo, wasm_u32x4_extend_low_u16x8(m16)),
                        wasm_i32x4_mul(p_hi, wasm_u32x4_extend_high_u16x8(m16)));
}

// The f16 → f32 table of common.h's f16_lut (256 KiB of the module's static data).
float f16_table[65536];
// Q5's high bits: byte b spread to 8 bytes, byte k = 0x10 when bit k of b is set (quants.h's
// q5_high_bits).
uint64_t q5_spread[256];

EXPORT(init_tables) void init_tables(void) {
  for (int h = 0; h < 65536; h++) f16_table[h] = f16_to_f32((f16_t)h);
  for (int b = 0; b < 256; b++) {
    uint64_t v = 0;
    for (int k = 0; k < 8; k++) v |= (uint64_t)((b >> k) & 1) << (8 * k + 4);
    q5_spread[b] = v;
  }
}

// ---------------------------------------------------------------------------------------------
// Type table
// ---------------------------------------------------------------------------------------------

int act_type(int wtype) {
  switch (wtype) {
    case T_F32: return T_F32;
    case T_F16: return T_F16;
    case T_BF16: return T_BF16;
    case T_Q4_0: case T_Q5_0: case T_Q8_0: return T_Q8_0;
    case T_Q4_1: case T_Q5_1: return T_Q8_1;
    case T_Q4_K: case T_Q5_K: case T_Q6_K: return T_Q8_K;
    default: return -1;
  }
}

int row_bytes(int type, int n) {
  switch (type) {
    case T_F32: return n * 4;
    case T_F16: case T_BF16: return n * 2;
    case T_Q4_0: return n / QK * (int)sizeof(block_q4_0);
    case T_Q4_1: return n / QK * (int)sizeof(block_q4_1);
    case T_Q5_0: return n / QK * (int)sizeof(block_q5_0);
    case T_Q5_1: return n / QK * (int)sizeof(block_q5_1);
    case T_Q8_0: return n / QK * (int)sizeof(block_q8_0);
    case T_Q8_1: return n / QK * (int)sizeof(block_q8_1);
    case T_Q4_K: return n / QK_K * (int)sizeof(block_q4_K);
    case T_Q5_K: return n / QK_K * (int)sizeof(block_q5_K);
    case T_Q6_K: return n / QK_K * (int)sizeof(block_q6_K);
    case T_Q8_K: return n / QK_K * (int)sizeof(block_q8_K);
    default: return -1;
  }
}

// Batched Q4_0 / Q5_0 products read two things per token and block that depend on the activations
// only, so they are computed once per product (act_extras, when the activations are quantised)
// rather than once per weight row: the block scale as a float, and bias·(y[2j] + y[2j+1] +
// y[16+2j] + y[17+2j]) as i16 lanes j, the term dot32_off subtracts (bias = the weight offset,
// 16 or 8; |value| ≤ 16·4·127 fits i16), and the whole block's bias·Σy as one i32 (for the repacked
// products of repack.c, where rows are in lanes). Layout per token: float scale[nb], int16
// bias[nb][8], int32 bias_sum[nb].
//
// Q8_K activations (Q4_K, Q5_K and Q6_K weights, one format for all three) carry per super-block
// the 8 sub-block sums P_j = bsums[2j] + bsums[2j+1] as 4 i32 words, word L = P_L | P_L+4 << 16
// (|P_j| ≤ 32·128 fits i16): the operand of the repacked Q4_K product's mins term (q4kr_mins),
// which every group of rows built from bsums again before (see q4kr_mins).
static int extras_bias(int wtype) { return wtype == T_Q5_0 ? 16 : wtype == T_Q4_0 ? 8 : 0; }

int act_extra_bytes(int wtype, int n) {
  if (extras_bias(wtype)) return n / QK * 24;
  return act_type(wtype) == T_Q8_K ? n / QK_K * 16 : 0;
}

// The activation type and the act_extras' bias: everything quantize_activations' bytes depend on.
int act_format_of(int wtype) { return act_type(wtype) << 8 | extras_bias(wtype); }

static void act_extras_q8_K(const block_q8_K *y, int nb, int32_t *pairs) {
  for (int i = 0; i < nb; i++) {
    const v128_t blo = wasm_v128_load(y[i].bsums), bhi = wasm_v128_load(y[i].bsums + 8);
    // lanes 2j of slo: P_j (j < 4); lanes 2j + 1 of shi: P_4+j
    const v128_t slo = wasm_i16x8_add(blo, wasm_u32x4_shr(blo, 16)), shi = wasm_i16x8_add(bhi, wasm_i32x4_shl(bhi, 16));
    wasm_v128_store(pairs + 4 * i, wasm_i16x8_shuffle(slo, shi, 0, 9, 2, 11, 4, 13, 6, 15));
  }
}

void act_extras(int wtype, const void *xq, int n, void *ex) {
  if (act_type(wtype) == T_Q8_K) {
    act_extras_q8_K(xq, n / QK_K, ex);
    return;
  }
  const int nb = n / QK, bias = extras_bias(wtype);
  const block_q8_0 *y = xq;
  float *scale = ex;
  int16_t *sb = (int16_t *)(scale + nb);
  for (int i = 0; i < nb; i++) {
    scale[i] = f16_lut(y[i].d);
    const v128_t pairs = wasm_i16x8_add(wasm_i16x8_extadd_pairwise_i8x16(wasm_v128_load(y[i].qs)),
                                        wasm_i16x8_extadd_pairwise_i8x16(wasm_v128_load(y[i].qs + 16)));
    const v128_t b = wasm_i16x8_mul(pairs, wasm_i16x8_splat((int16_t)bias));
    wasm_v128_store(sb + 8 * i, b);
    ((int32_t *)(sb + 8 * nb))[i] = hsum_i32x4(wasm_i32x4_extadd_pairwise_i16x8(b));
  }
}

// ---------------------------------------------------------------------------------------------
// Activation quantisers
// ---------------------------------------------------------------------------------------------

// Q8_0 and Q8_1, as ggml's x86 quantize_row_q8_0 / _q8_1 (AVX/AVX2 paths, which llama.cpp runs):
// amax = max |x|; d = amax/127 (stored as f16); id = 127/amax — NOT 1/d as in the scalar reference;
// q = round-half-even(x*id). Q8_1 also stores s = f16(d * Σq), with d the unrounded float.
static void quantize_q8_01(const float *x, void *vy, int n, int with_sum) {
  const int nb = n / QK;
  uint8_t *out = vy;
  const size_t bsz = with_sum ? sizeof(block_q8_1) : sizeof(block_q8_0);
  for (int i = 0; i < nb; i++, x += QK, out += bsz) {
    v128_t amax = wasm_f32x4_splat(0.0f);
    for (int k = 0; k < QK; k += 4) amax = wasm_f32x4_pmax(amax, wasm_f32x4_abs(wasm_v128_load(x + k)));
    const float max = hmax_f32x4(amax);
    const float d = max / 127.f;
    const float id = max != 0.0f ? 127.f / max : 0.0f;
    const v128_t mul = wasm_f32x4_splat(id);
    const f16_t dh = f32_to_f16(d);
    __builtin_memcpy(out, &dh, 2);
    int8_t *qs = (int8_t *)(out + (with_sum ? 4 : 2));
    v128_t sum = wasm_i32x4_splat(0);
    for (int k = 0; k < QK; k += 16) {
      const v128_t q0 = round_i32(wasm_f32x4_mul(wasm_v128_load(x + k), mul));
      const v128_t q1 = round_i32(wasm_f32x4_mul(wasm_v128_load(x + k + 4), mul));
      const v128_t q2 = round_i32(wasm_f32x4_mul(wasm_v128_load(x + k + 8), mul));
      const v128_t q3 = round_i32(wasm_f32x4_mul(wasm_v128_load(x + k + 12), mul));
      sum = wasm_i32x4_add(sum, wasm_i32x4_add(wasm_i32x4_add(q0, q1), wasm_i32x4_add(q2, q3)));
      wasm_v128_store(qs + k, pack_i8(q0, q1, q2, q3));
    }
    if (with_sum) {
      const f16_t sh = f32_to_f16(d * (float)hsum_i32x4(sum));
      __builtin_memcpy(out + 2, &sh, 2);
    }
  }
}

// Q8_K, as ggml's quantize_row_q8_K_ref (which the x86 build uses): max = the signed value of
// largest magnitude (first one on ties), iscale = -127/max, q = nearest_int(iscale*x) (ties to
// even), d = 1/iscale, bsums = sums of 16 quants. An all-zero block gets d = 0, zero quants and
// zero bsums (ggml leaves its bsums unwritten; they are multiplied by d = 0 anyway).
static void quantize_q8_K(const float *x, block_q8_K *y, int n) {
  const int nb = n / QK_K;
  for (int i = 0; i < nb; i++, x += QK_K) {
    v128_t amaxv = wasm_f32x4_splat(0.0f);
    for (int j = 0; j < QK_K; j += 4) amaxv = wasm_f32x4_pmax(amaxv, wasm_f32x4_abs(wasm_v128_load(x + j)));
    const float amax = hmax_f32x4(amaxv);
    if (!(amax > 0.0f)) {
      y[i].d = 0.0f;
      for (int j = 0; j < QK_K; j += 16) wasm_v128_store(y[i].qs + j, wasm_i32x4_splat(0));
      for (int j = 0; j < QK_K / 16; j += 8) wasm_v128_store(y[i].bsums + j, wasm_i32x4_splat(0));
      continue;
    }
    float max = 0.0f;
    for (int j = 0; j < QK_K; j++) {
      if (__builtin_fabsf(x[j]) == amax) { max = x[j]; break; }
    }
    const float iscale = -127.f / max;
    const v128_t mul = wasm_f32x4_splat(iscale);
    for (int j = 0; j < QK_K; j += 16) {
      const v128_t a = round_i32(wasm_f32x4_mul(wasm_v128_load(x + j), mul));
      const v128_t b = round_i32(wasm_f32x4_mul(wasm_v128_load(x + j + 4), mul));
      const v128_t c = round_i32(wasm_f32x4_mul(wasm_v128_load(x + j + 8), mul));
      const v128_t e = round_i32(wasm_f32x4_mul(wasm_v128_load(x + j + 12), mul));
      // |iscale*x| <= 127 (+1 ulp), so the saturating packs never clip: this is MIN(127, v).
      wasm_v128_store(y[i].qs + j, pack_i8(a, b, c, e));
      y[i].bsums[j / 16] = (int16_t)hsum_i32x4(wasm_i32x4_add(wasm_i32x4_add(a, b), wasm_i32x4_add(c, e)));
    }
    y[i].d = 1.0f / iscale;
  }
}

// F16 activations: ggml_cpu_fp32_to_fp16 (F16C, round to nearest even) — f32_to_f16.
static void quantize_f16(const float *x, f16_t *y, int n) {
  for (int i = 0; i < n; i++) y[i] = f32_to_f16(x[i]);
}

// BF16 activations: GGML_FP32_TO_BF16 (round to nearest even, NaN made quiet, subnormals kept).
// Note: an AVX512-BF16 build of ggml (vcvtneps2bf16) flushes subnormal inputs to zero instead.
static void quantize_bf16(const float *x, bf16_t *y, int n) {
  for (int i = 0; i < n; i++) y[i] = f32_to_bf16(x[i]);
}

void quantize_row(int type, const float *x, void *y, int n) {
  switch (type) {
    case T_F32: __builtin_memcpy(y, x, (size_t)n * 4); break;
    case T_F16: quantize_f16(x, y, n); break;
    case T_BF16: quantize_bf16(x, y, n); break;
    case T_Q8_0: quantize_q8_01(x, y, n, 0); break;
    case T_Q8_1: quantize_q8_01(x, y, n, 1); break;
    case T_Q8_K: quantize_q8_K(x, y, n); break;
    default: break;
  }
}

// ---------------------------------------------------------------------------------------------
// Dot products: float formats
// ---------------------------------------------------------------------------------------------

// F32 × F32: ggml_vec_dot_f32 — SIMD float accumulators, then a horizontal sum.
NOINLINE static float dot_f32(int n, const float *w, const float *x) {
  v128_t a0 = wasm_f32x4_splat(0), a1 = a0, a2 = a0, a3 = a0;
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(wasm_v128_load(w + i), wasm_v128_load(x + i)));
    a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(wasm_v128_load(w + i + 4), wasm_v128_load(x + i + 4)));
    a2 = wasm_f32x4_add(a2, wasm_f32x4_mul(wasm_v128_load(w + i + 8), wasm_v128_load(x + i + 8)));
    a3 = wasm_f32x4_add(a3, wasm_f32x4_mul(wasm_v128_load(w + i + 12), wasm_v128_load(x + i + 12)));
  }
  for (; i + 4 <= n; i += 4) a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(wasm_v128_load(w + i), wasm_v128_load(x + i)));
  float s = hsum_f32x4(wasm_f32x4_add(wasm_f32x4_add(a0, a1), wasm_f32x4_add(a2, a3)));
  for (; i < n; i++) s += w[i] * x[i];
  return s;
}

// F16 × F16 and BF16 × BF16: ggml_vec_dot_f16 / _bf16 convert both to f32 and accumulate in f32
// lanes. 8 halves per load, two f32x4 each.
#define DOT_HALF(name, lo, hi, scalar)                                                         \
  static float name(int n, const uint16_t *w, const uint16_t *x) {                             \
    v128_t a0 = wasm_f32x4_splat(0), a1 = a0, a2 = a0, a3 = a0;                                \
    int i = 0;                                                                                 \
    for (; i + 16 <= n; i += 16) {                                                             \
      const v128_t w0 = wasm_v128_load(w + i), x0 = wasm_v128_load(x + i);                     \
      const v128_t w1 = wasm_v128_load(w + i + 8), x1 = wasm_v128_load(x + i + 8);             \
      a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(lo(w0), lo(x0)));                                 \
      a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(hi(w0), hi(x0)));                                 \
      a2 = wasm_f32x4_add(a2, wasm_f32x4_mul(lo(w1), lo(x1)));                                 \
      a3 = wasm_f32x4_add(a3, wasm_f32x4_mul(hi(w1), hi(x1)));                                 \
    }                                                                                          \
    float s = hsum_f32x4(wasm_f32x4_add(wasm_f32x4_add(a0, a1), wasm_f32x4_add(a2, a3)));      \
    for (; i < n; i++) s += scalar(w[i]) * scalar(x[i]);                                       \
    return s;                                                                                  \
  }
DOT_HALF(dot_f16_exact, f16x8_lo, f16x8_hi, f16_to_f32)
DOT_HALF(dot_bf16_body, bf16x8_lo, bf16x8_hi, bf16_to_f32)
NOINLINE static float dot_bf16(int n, const uint16_t *w, const uint16_t *x) { return dot_bf16_body(n, w, x); }

// F16 fast path for finite halves: sign-extended to i32 and shifted by 13, the half's sign lands
// on the float's sign and its magnitude 2^-112 times too small (subnormals included, exact), so
// one mask and one multiply by 2^112 convert. Infinities and NaNs would come out finite: the
// largest magnitude seen is tracked and the exact conversion redoes the row if one occurred.
INLINE v128_t f16_fast(v128_t h32) {
  return wasm_f32x4_mul(wasm_v128_and(wasm_i32x4_shl(h32, 13), wasm_i32x4_splat((int32_t)0x8FFFE000u)),
                        wasm_f32x4_splat(0x1.0p+112f));
}
NOINLINE static float dot_f16(int n, const uint16_t *w, const uint16_t *x) {
  v128_t a0 = wasm_f32x4_splat(0), a1 = a0, mx = a0;
  const v128_t mag = wasm_i16x8_splat(0x7fff);
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    const v128_t wv = wasm_v128_load(w + i), xv = wasm_v128_load(x + i);
    mx = wasm_u16x8_max(mx, wasm_u16x8_max(wasm_v128_and(wv, mag), wasm_v128_and(xv, mag)));
    a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(f16_fast(wasm_i32x4_extend_low_i16x8(wv)), f16_fast(wasm_i32x4_extend_low_i16x8(xv))));
    a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(f16_fast(wasm_i32x4_extend_high_i16x8(wv)), f16_fast(wasm_i32x4_extend_high_i16x8(xv))));
  }
  if (wasm_v128_any_true(wasm_u16x8_ge(mx, wasm_i16x8_splat(0x7c00)))) return dot_f16_exact(n, w, x);
  float s = hsum_f32x4(wasm_f32x4_add(a0, a1));
  for (; i < n; i++) s += f16_to_f32(w[i]) * f16_to_f32(x[i]);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Dot products: legacy formats (blocks of 32) × Q8_0 / Q8_1
// ---------------------------------------------------------------------------------------------
// Per block: sumi = Σ q·q8 (exact, integers), then acc += (d_w·d_x)·sumi in f32 lanes, as ggml's
// AVX2 kernels (fmadd of the block scale with the converted partial sums).

// 32 weight quants in element order (lo = elements 0..15, hi = 16..31, as i8x16) against the 32
// activation quants at q8: returns the partial sums as i32x4 (each i16 lane takes 4 products).
// Needs 4·|q·q8| ≤ 32767: true for 4/5-bit quants (|q| ≤ 31) against |q8| ≤ 128 (15872).
INLINE v128_t dot32_small(v128_t lo, v128_t hi, const int8_t *q8) {
  const v128_t y0 = wasm_v128_load(q8), y1 = wasm_v128_load(q8 + 16);
  v128_t p = wasm_i16x8_add(wasm_i16x8_extmul_low_i8x16(lo, y0), wasm_i16x8_extmul_high_i8x16(lo, y0));
  p = wasm_i16x8_add(p, wasm_i16x8_add(wasm_i16x8_extmul_low_i8x16(hi, y1), wasm_i16x8_extmul_high_i8x16(hi, y1)));
  return wasm_i32x4_extadd_pairwise_i16x8(p);
}

// dot32_small for offset quants: lo/hi hold q + bias (0..127, bias 8 or 16) and the result is
// Σ (q+bias)·q8 − bias·Σ q8 with the same pairs in the same i16 lanes (lane j: elements 2j, 2j+1,
// 16+2j, 17+2j; all partial sums ≤ 2·128·31·2 fit i16), then i32 lane k = i16 lanes k and k+4,
// so every i32 lane holds exactly the integers dot32_small's lane k holds (builds identical).
// The relaxed build uses i16x8.relaxed_dot_i8x16_i7x16_s (one pmaddubsw on x86) for the products.
#if RELAXED
INLINE v128_t dot32_off(v128_t lo, v128_t hi, const int8_t *q8, int bias) {
  const v128_t y0 = wasm_v128_load(q8), y1 = wasm_v128_load(q8 + 16), b = wasm_i8x16_splat((int8_t)bias);
  const v128_t p = wasm_i16x8_add(rdot(y0, lo), rdot(y1, hi));
  const v128_t sb = wasm_i16x8_add(rdot(y0, b), rdot(y1, b));
  const v128_t r = wasm_i16x8_sub(p, sb);
  return wasm_i32x4_add(wasm_i32x4_extend_low_i16x8(r), wasm_i32x4_extend_high_i16x8(r));
}
#define OFFSET_QUANTS 1
#else
INLINE v128_t dot32_off(v128_t lo, v128_t hi, const int8_t *q8, int bias) {
  (void)bias;
  return dot32_small(lo, hi, q8);
}
#define OFFSET_QUANTS 0
#endif

// Low / high nibbles of 16 bytes, as bytes.
INLINE v128_t nib_lo(v128_t v) { return wasm_v128_and(v, wasm_i8x16_splat(0x0f)); }
INLINE v128_t nib_hi(v128_t v) { return wasm_v128_and(wasm_u16x8_shr(v, 4), wasm_i8x16_splat(0x0f)); }

// Per-block integer sums Σ q·q8 as i32x4 partial sums, one function per format.

// Q4_0: q = nibble - 8 (element j low nibble of qs[j], element j+16 its high nibble).
INLINE v128_t bsum_q4_0(const block_q4_0 *x, const int8_t *q8) {
  const v128_t q = wasm_v128_load(x->qs), eight = wasm_i8x16_splat(8);
  if (OFFSET_QUANTS) return dot32_off(nib_lo(q), nib_hi(q), q8, 8);
  return dot32_small(wasm_i8x16_sub(nib_lo(q), eight), wasm_i8x16_sub(nib_hi(q), eight), q8);
}

// Q4_1: q = nibble (0..15); its offset m enters through Q8_1's s (see LEGACY_DOT).
INLINE v128_t bsum_q4_1(const block_q4_1 *x, const int8_t *q8) {
  const v128_t q = wasm_v128_load(x->qs);
  return dot32_small(nib_lo(q), nib_hi(q), q8);
}

// Q5_0: q = (nibble | high bit << 4) - 16; bit j of qh belongs to element j.
INLINE v128_t bsum_q5_0(const block_q5_0 *x, const int8_t *q8) {
  v128_t hl, hh;
  q5_high_bits(x->qh, &hl, &hh);
  const v128_t q = wasm_v128_load(x->qs), sixteen = wasm_i8x16_splat(16);
  if (OFFSET_QUANTS) return dot32_off(wasm_v128_or(nib_lo(q), hl), wasm_v128_or(nib_hi(q), hh), q8, 16);
  return dot32_small(wasm_i8x16_sub(wasm_v128_or(nib_lo(q), hl), sixteen),
                     wasm_i8x16_sub(wasm_v128_or(nib_hi(q), hh), sixteen), q8);
}

// Q5_1: q = nibble | high bit << 4 (0..31); offset m as Q4_1.
INLINE v128_t bsum_q5_1(const block_q5_1 *x, const int8_t *q8) {
  v128_t hl, hh;
  q5_high_bits(x->qh, &hl, &hh);
  const v128_t q = wasm_v128_load(x->qs);
  return dot32_small(wasm_v128_or(nib_lo(q), hl), wasm_v128_or(nib_hi(q), hh), q8);
}

// Q8_0: two products of full bytes may reach 2·128² > i16, so both sides are split into i16
// even/odd elements and multiplied by i32x4.dot_i16x8 (one pair per i32 lane). The block's sum
// from the split halves of both sides (weights: we0, wo0 of bytes 0-15, we1, wo1 of 16-31; the
// activation likewise): every Q8_0 product, whichever side it splits once for many.
INLINE v128_t bsum_q8_0_split(v128_t we0, v128_t wo0, v128_t we1, v128_t wo1, v128_t ye0, v128_t yo0, v128_t ye1, v128_t yo1) {
  const v128_t s = wasm_i32x4_add(wasm_i32x4_dot_i16x8(we0, ye0), wasm_i32x4_dot_i16x8(wo0, yo0));
  return wasm_i32x4_add(s, wasm_i32x4_add(wasm_i32x4_dot_i16x8(we1, ye1), wasm_i32x4_dot_i16x8(wo1, yo1)));
}

INLINE v128_t bsum_q8_0(const block_q8_0 *x, const int8_t *q8) {
  const v128_t w0 = wasm_v128_load(x->qs), w1 = wasm_v128_load(x->qs + 16);
  const v128_t y0 = wasm_v128_load(q8), y1 = wasm_v128_load(q8 + 16);
  return bsum_q8_0_split(even_i8(w0), odd_i8(w0), even_i8(w1), odd_i8(w1), even_i8(y0), odd_i8(y0), even_i8(y1), odd_i8(y1));
}

// Scales of 4 consecutive blocks (the f16 at p, p + stride, ...) as f32x4.
INLINE v128_t f16x4_gather(const void *p, size_t stride) {
  const uint8_t *b = p;
  uint16_t h0, h1, h2, h3;
  __builtin_memcpy(&h0, b, 2);
  __builtin_memcpy(&h1, b + stride, 2);
  __builtin_memcpy(&h2, b + 2 * stride, 2);
  __builtin_memcpy(&h3, b + 3 * stride, 2);
  return wasm_f32x4_make(f16_lut(h0), f16_lut(h1), f16_lut(h2), f16_lut(h3));
}

// The driver: acc += (d_w·d_x)·sumi per block; for the Q8_1 pairs also Σ m_w·s_x (ggml adds
// m·s, s = f16(d·Σq8) from the activation block, rather than m·Σ(d·q8): see the tests).
// Blocks go in groups of 4 whose scales are multiplied together in SIMD (the four scales come
// from f16_lut: table loads measured faster than converting the four halves in SIMD, 5.7 vs
// 4.7 GB/s for Q5_0); the inner loop stays rolled (V8 spills unrolled bodies, see dot_q4_K).
#define LEGACY_DOT(name, wblock, ablock, bsum, has_min)                                         \
  NOINLINE static float name(int n, const wblock *x, const ablock *y) {                        \
    const int nb = n / QK;                                                                     \
    v128_t acc = wasm_f32x4_splat(0), accm = acc;                                              \
    int i = 0;                                                                                 \
    for (; i + 4 <= nb; i += 4) {                                                              \
      const v128_t d = wasm_f32x4_mul(f16x4_gather(&x[i].d, sizeof(wblock)),                   \
                                      f16x4_gather(&y[i].d, sizeof(ablock)));                  \
      if (has_min) {                                                                           \
        accm = wasm_f32x4_add(accm, wasm_f32x4_mul(f16x4_gather(&x[i].d + 1, sizeof(wblock)),  \
                                                   f16x4_gather(&y[i].d + 1, sizeof(ablock)))); \
      }                                                                                        \
      v128_t lane = wasm_i32x4_splat(0x03020100);                                              \
      _Pragma("clang loop unroll(disable)")                                                    \
      for (int b = 0; b < 4; b++) {                                                            \
        const v128_t s = bsum(&x[i + b], y[i + b].qs);                                         \
        acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_i8x16_swizzle(d, lane), wasm_f32x4_convert_i32x4(s))); \
        lane = wasm_i32x4_add(lane, wasm_i32x4_splat(0x04040404));                             \
      }                                                                                        \
    }                                                                                          \
    float sum = 0;                                                                             \
    for (; i < nb; i++) {                                                                      \
      const float d = f16_lut(x[i].d) * f16_lut(y[i].d);                                       \
      sum += d * (float)hsum_i32x4(bsum(&x[i], y[i].qs));                                      \
      if (has_min) sum += f16_lut((&x[i].d)[1]) * f16_lut((&y[i].d)[1]);                       \
    }                                                                                          \
    return hsum_f32x4(wasm_f32x4_add(acc, accm)) + sum;                                        \
  }
LEGACY_DOT(dot_q4_0, block_q4_0, block_q8_0, bsum_q4_0, 0)
LEGACY_DOT(dot_q4_1, block_q4_1, block_q8_1, bsum_q4_1, 1)
LEGACY_DOT(dot_q5_0, block_q5_0, block_q8_0, bsum_q5_0, 0)
LEGACY_DOT(dot_q5_1, block_q5_1, block_q8_1, bsum_q5_1, 1)

// Q8_0's integer work per block is small enough that the plain per-block loop (scalar scales,
// unrolled by clang) measured faster than the grouped driver: 8.0 vs 6.9 GB/s.
NOINLINE static float dot_q8_0(int n, const block_q8_0 *x, const block_q8_0 *y) {
  const int nb = n / QK;
  v128_t acc = wasm_f32x4_splat(0);
  for (int i = 0; i < nb; i++) {
    const float d = f16_lut(x[i].d) * f16_lut(y[i].d);
    acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_splat(d), wasm_f32x4_convert_i32x4(bsum_q8_0(&x[i], y[i].qs))));
  }
  return hsum_f32x4(acc);
}

// A Q8_0 activation row prepared for many one-token products (dot_q8_0_prepared): per block its
// quants split into even and odd i16 lanes (the operands of dot_q8_0's i32x4.dot_i16x8) and its
// scale as a float. Done once per token instead of once per weight row: about a quarter of
// dot_q8_0's operations per block (a 0.5B model's tied Q8_0 output is 37% of its weight bytes per
// token).
void prepare_q8_0(int n, const block_q8_0 *y, v128_t *split, float *dy) {
  for (int i = 0; i < n / QK; i++) {
    const v128_t y0 = wasm_v128_load(y[i].qs), y1 = wasm_v128_load(y[i].qs + 16);
    split[4 * i] = even_i8(y0);
    split[4 * i + 1] = odd_i8(y0);
    split[4 * i + 2] = even_i8(y1);
    split[4 * i + 3] = odd_i8(y1);
    dy[i] = f16_lut(y[i].d);
  }
}

// dot_q8_0 of weight row x with a prepared activation row, bit for bit (the same integers, the
// same float steps in the same order). The weight rows stay one sequential stream: four rows at
// once (one activation split for four rows, four streams 952 bytes apart) ran faster in cache
// (10.5 vs 8.7 GB/s) but slower from memory (5.1 vs 5.7 GB/s, 151936×896).
float dot_q8_0_prepared(int n, const block_q8_0 *x, const v128_t *split, const float *dy) {
  const int nb = n / QK;
  v128_t acc = wasm_f32x4_splat(0);
  for (int i = 0; i < nb; i++) {
    const v128_t w0 = wasm_v128_load(x[i].qs), w1 = wasm_v128_load(x[i].qs + 16);
    const v128_t si = bsum_q8_0_split(even_i8(w0), odd_i8(w0), even_i8(w1), odd_i8(w1), split[4 * i], split[4 * i + 1], split[4 * i + 2], split[4 * i + 3]);
    acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_splat(f16_lut(x[i].d) * dy[i]), wasm_f32x4_convert_i32x4(si)));
  }
  return hsum_f32x4(acc);
}

// dot_q8_0_prepared of 4 weight rows at once, rows x + r·stride (bytes): each row's integers and float
// steps as dot_q8_0_prepared's (bit for bit). The activation's loads serve 4 rows, and rows far
// apart are 4 streams in flight (see matmul_task).
void dot_q8_0_prepared_x4(int n, const uint8_t *x, size_t stride, const v128_t *split, const float *dy, float out[4]) {
  const int nb = n / QK;
  v128_t acc[4];
  for (int r = 0; r < 4; r++) acc[r] = wasm_f32x4_splat(0);
  for (int i = 0; i < nb; i++) {
    const v128_t ye0 = split[4 * i], yo0 = split[4 * i + 1], ye1 = split[4 * i + 2], yo1 = split[4 * i + 3];
    for (int r = 0; r < 4; r++) {
      const block_q8_0 *b = (const block_q8_0 *)(x + r * stride) + i;
      const v128_t w0 = wasm_v128_load(b->qs), w1 = wasm_v128_load(b->qs + 16);
      const v128_t si = bsum_q8_0_split(even_i8(w0), odd_i8(w0), even_i8(w1), odd_i8(w1), ye0, yo0, ye1, yo1);
      acc[r] = wasm_f32x4_add(acc[r], wasm_f32x4_mul(wasm_f32x4_splat(f16_lut(b->d) * dy[i]), wasm_f32x4_convert_i32x4(si)));
    }
  }
  for (int r = 0; r < 4; r++) out[r] = hsum_f32x4(acc[r]);
}

// ---------------------------------------------------------------------------------------------
// Dot products: K-quants (super-blocks of 256) × Q8_K
// ---------------------------------------------------------------------------------------------

// Q4_K: ggml_vec_dot_q4_K_q8_K:
//   Σ_blocks  d_x·d_y · Σ_j sc_j·Σ(q4·q8)  −  dmin_x·d_y · Σ_j min_j·(bsum_2j + bsum_2j+1)
// Each 64 elements: 32 bytes of qs; low nibbles are sub-block 2k (pairs with q8[0..31]), high
// nibbles sub-block 2k+1 (q8[32..63]). Within a 16-byte load, as i16 lanes: byte 2i low nibble
// = v & 15, byte 2i+1 low nibble = (v >> 8) & 15, high nibbles (v >> 4) & 15 and v >> 12.
// i16 sums of 4 products: ≤ 4·15·128 = 7680.
NOINLINE static float dot_q4_K(int n, const block_q4_K *x, const block_q8_K *y) {
  const int nb = n / QK_K;
  v128_t acc = wasm_f32x4_splat(0);
  const v128_t m15 = wasm_i16x8_splat(0x0f);
  (void)m15;  // SIMD128 build only
  for (int i = 0; i < nb; i++) {
    uint32_t s[4];
    k4_scales(x[i].scales, s);
    const v128_t mins = k4_min_products(s[2], s[3], y[i].bsums);
    const uint8_t *q4 = x[i].qs;
    const int8_t *q8 = y[i].qs;
    uint64_t sc = (uint64_t)s[0] | (uint64_t)s[1] << 32;  // the 8 scales, two consumed per step
    v128_t sumi = wasm_i32x4_splat(0);
    // Not unrolled on purpose: V8 hoists every load of an unrolled body to its top and spills
    // (measured: 4.7 GB/s unrolled, 6.2 rolled).
#pragma clang loop unroll(disable)
    for (int k = 0; k < 4; k++, q4 += 32, q8 += 64, sc >>= 16) {
      const v128_t a = wasm_v128_load(q4), b = wasm_v128_load(q4 + 16);
      const v128_t y0 = wasm_v128_load(q8), y1 = wasm_v128_load(q8 + 16);
#if RELAXED
      const v128_t lo = wasm_i16x8_add(rdot(y0, nib_lo(a)), rdot(y1, nib_lo(b)));
      sumi = wasm_i32x4_add(sumi, wasm_i32x4_dot_i16x8(lo, wasm_i16x8_splat((int16_t)(sc & 0xff))));
      const v128_t y2 = wasm_v128_load(q8 + 32), y3 = wasm_v128_load(q8 + 48);
      const v128_t hi = wasm_i16x8_add(rdot(y2, nib_hi(a)), rdot(y3, nib_hi(b)));
#else
      v128_t lo = wasm_i16x8_mul(wasm_v128_and(a, m15), even_i8(y0));
      lo = wasm_i16x8_add(lo, wasm_i16x8_mul(wasm_v128_and(wasm_u16x8_shr(a, 8), m15), odd_i8(y0)));
      lo = wasm_i16x8_add(lo, wasm_i16x8_mul(wasm_v128_and(b, m15), even_i8(y1)));
      lo = wasm_i16x8_add(lo, wasm_i16x8_mul(wasm_v128_and(wasm_u16x8_shr(b, 8), m15), odd_i8(y1)));
      sumi = wasm_i32x4_add(sumi, wasm_i32x4_dot_i16x8(lo, wasm_i16x8_splat((int16_t)(sc & 0xff))));
      const v128_t y2 = wasm_v128_load(q8 + 32), y3 = wasm_v128_load(q8 + 48);
      v128_t hi = wasm_i16x8_mul(wasm_v128_and(wasm_u16x8_shr(a, 4), m15), even_i8(y2));
      hi = wasm_i16x8_add(hi, wasm_i16x8_mul(wasm_u16x8_shr(a, 12), odd_i8(y2)));
      hi = wasm_i16x8_add(hi, wasm_i16x8_mul(wasm_v128_and(wasm_u16x8_shr(b, 4), m15), even_i8(y3)));
      hi = wasm_i16x8_add(hi, wasm_i16x8_mul(wasm_u16x8_shr(b, 12), odd_i8(y3)));
#endif
      sumi = wasm_i32x4_add(sumi, wasm_i32x4_dot_i16x8(hi, wasm_i16x8_splat((int16_t)((sc >> 8) & 0xff))));
    }
    const float d = y[i].d * f16_lut(x[i].d);
    const float dmin = y[i].d * f16_lut(x[i].dmin);
    acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_splat(d), wasm_f32x4_convert_i32x4(sumi)));
    acc = wasm_f32x4_sub(acc, wasm_f32x4_mul(wasm_f32x4_splat(dmin), wasm_f32x4_convert_i32x4(mins)));
  }
  return hsum_f32x4(acc);
}

// Q5_K: as Q4_K with a fifth bit: for the 64 elements k (k = 0..3), bit 2k of qh[l] is the high
// bit of element l of sub-block 2k, bit 2k+1 that of sub-block 2k+1 (l = 0..31). The quants are
// built as bytes: nibbles | (qh bits moved to bit 4), masks 0x0f0f / 0x1010 act on both bytes of
// an i16 lane at once. i16 sums of 4 products: ≤ 4·31·128 = 15872.
NOINLINE static float dot_q5_K(int n, const block_q5_K *x, const block_q8_K *y) {
  const int nb = n / QK_K;
  v128_t acc = wasm_f32x4_splat(0);
  const v128_t m0f = wasm_i8x16_splat(0x0f), m10 = wasm_i8x16_splat(0x10), mff = wasm_i16x8_splat(0xff);
  (void)mff;  // SIMD128 build only
  for (int i = 0; i < nb; i++) {
    uint32_t s[4];
    k4_scales(x[i].scales, s);
    const v128_t mins = k4_min_products(s[2], s[3], y[i].bsums);
    const uint8_t *q5 = x[i].qs;
    const int8_t *q8 = y[i].qs;
    uint64_t sc = (uint64_t)s[0] | (uint64_t)s[1] << 32;
    v128_t h0 = wasm_v128_load(x[i].qh), h1 = wasm_v128_load(x[i].qh + 16);
    v128_t sumi = wasm_i32x4_splat(0);
#pragma clang loop unroll(disable)  // see dot_q4_K
    for (int k = 0; k < 4; k++, q5 += 32, q8 += 64, sc >>= 16) {
      const v128_t a = wasm_v128_load(q5), b = wasm_v128_load(q5 + 16);
      // quants as bytes (0..31): a/b low nibbles = sub-block 2k, high nibbles = sub-block 2k+1
      const v128_t al = wasm_v128_or(wasm_v128_and(a, m0f), wasm_v128_and(wasm_i16x8_shl(h0, 4), m10));
      const v128_t bl = wasm_v128_or(wasm_v128_and(b, m0f), wasm_v128_and(wasm_i16x8_shl(h1, 4), m10));
      const v128_t y0 = wasm_v128_load(q8), y1 = wasm_v128_load(q8 + 16);
#if RELAXED
      const v128_t lo = wasm_i16x8_add(rdot(y0, al), rdot(y1, bl));
#else
      v128_t lo = wasm_i16x8_mul(wasm_v128_and(al, mff), even_i8(y0));
      lo = wasm_i16x8_add(lo, wasm_i16x8_mul(wasm_u16x8_shr(al, 8), odd_i8(y0)));
      lo = wasm_i16x8_add(lo, wasm_i16x8_mul(wasm_v128_and(bl, mff), even_i8(y1)));
      lo = wasm_i16x8_add(lo, wasm_i16x8_mul(wasm_u16x8_shr(bl, 8), odd_i8(y1)));
#endif
      sumi = wasm_i32x4_add(sumi, wasm_i32x4_dot_i16x8(lo, wasm_i16x8_splat((int16_t)(sc & 0xff))));
      const v128_t ah = wasm_v128_or(nib_hi(a), wasm_v128_and(wasm_i16x8_shl(h0, 3), m10));
      const v128_t bh = wasm_v128_or(nib_hi(b), wasm_v128_and(wasm_i16x8_shl(h1, 3), m10));
      h0 = wasm_u16x8_shr(h0, 2);
      h1 = wasm_u16x8_shr(h1, 2);
      const v128_t y2 = wasm_v128_load(q8 + 32), y3 = wasm_v128_load(q8 + 48);
#if RELAXED
      const v128_t hi = wasm_i16x8_add(rdot(y2, ah), rdot(y3, bh));
#else
      v128_t hi = wasm_i16x8_mul(wasm_v128_and(ah, mff), even_i8(y2));
      hi = wasm_i16x8_add(hi, wasm_i16x8_mul(wasm_u16x8_shr(ah, 8), odd_i8(y2)));
      hi = wasm_i16x8_add(hi, wasm_i16x8_mul(wasm_v128_and(bh, mff), even_i8(y3)));
      hi = wasm_i16x8_add(hi, wasm_i16x8_mul(wasm_u16x8_shr(bh, 8), odd_i8(y3)));
#endif
      sumi = wasm_i32x4_add(sumi, wasm_i32x4_dot_i16x8(hi, wasm_i16x8_splat((int16_t)((sc >> 8) & 0xff))));
    }
    const float d = y[i].d * f16_lut(x[i].d);
    const float dmin = y[i].d * f16_lut(x[i].dmin);
    acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_splat(d), wasm_f32x4_convert_i32x4(sumi)));
    acc = wasm_f32x4_sub(acc, wasm_f32x4_mul(wasm_f32x4_splat(dmin), wasm_f32x4_convert_i32x4(mins)));
  }
  return hsum_f32x4(acc);
}

// Q6_K: ggml_vec_dot_q6_K_q8_K: Σ_blocks d_x·d_y · Σ_j sc_j·Σ((q6 − 32)·q8) over 16 sub-blocks of
// 16. Per 128 elements, l = 0..31: element l   = ql[l] & 15    | (qh[l] bits 0-1) << 4,
// l+32 = ql[l+32] & 15 | bits 2-3, l+64 = ql[l] >> 4 | bits 4-5, l+96 = ql[l+32] >> 4 | bits 6-7.
// The −32 is taken out through Q8_K's bsums (which are sums over exactly these 16-element
// sub-blocks): Σ sc·q6·q8 − 32·Σ sc_j·bsum_j, as ggml's AVX2 kernel does with its q8s term.
// i16 sums of 2 products of unsigned q6 (0..63): ≤ 2·63·128 = 16128.
INLINE v128_t q6_sub(v128_t qlv, v128_t qhv, v128_t y, int scale) {
  // qlv: 16 bytes of nibbles already in bits 0-3; qhv: their two high bits already at bits 4-5
  const v128_t q = wasm_v128_or(qlv, qhv);
#if RELAXED
  const v128_t p = rdot(y, q);
#else
  v128_t p = wasm_i16x8_mul(wasm_v128_and(q, wasm_i16x8_splat(0xff)), even_i8(y));
  p = wasm_i16x8_add(p, wasm_i16x8_mul(wasm_u16x8_shr(q, 8), odd_i8(y)));
#endif
  return wasm_i32x4_dot_i16x8(p, wasm_i16x8_splat((int16_t)scale));
}

// dot_q6_K of nr rows at once (nr a constant; row r at x + r·stride bytes): each row's integers and
// float steps are dot_q6_K's, and the activation's loads serve nr rows. One token's product of a
// large file-layout Q6_K matrix (a tied output) takes 4 rows far apart, 4 streams in flight (see
// matmul_task). acc lives in memory (touched once per super-block).
INLINE void dot_q6_K_rows(int nr, int n, const uint8_t *xr, size_t stride, const block_q8_K *y, float *out) {
  const int nb = n / QK_K;
  float acc[4][4];
  for (int r = 0; r < nr; r++) wasm_v128_store(acc[r], wasm_f32x4_splat(0));
  const v128_t m0f = wasm_i8x16_splat(0x0f), m30 = wasm_i8x16_splat(0x30);
  for (int i = 0; i < nb; i++) {
    v128_t sumi[4];
    for (int r = 0; r < nr; r++) {
      // −32·Σ sc_j·bsum_j: the scales widened to i16 against the 16 bsums
      const v128_t scv = wasm_v128_load(((const block_q6_K *)(xr + r * stride))[i].scales);
      sumi[r] = wasm_i32x4_add(wasm_i32x4_dot_i16x8(wasm_i16x8_extend_low_i8x16(scv), wasm_v128_load(y[i].bsums)),
                               wasm_i32x4_dot_i16x8(wasm_i16x8_extend_high_i8x16(scv), wasm_v128_load(y[i].bsums + 8)));
      sumi[r] = wasm_i32x4_mul(sumi[r], wasm_i32x4_splat(-32));
    }
    // 4 steps of 64 elements (half j of 128-block h), rolled on purpose (see dot_q4_K)
#pragma clang loop unroll(disable)
    for (int t = 0; t < 4; t++) {
      const int h = t >> 1, j = t & 1;
      const int8_t *q8 = y[i].qs + 128 * h + 16 * j;
      const v128_t y0 = wasm_v128_load(q8), y1 = wasm_v128_load(q8 + 32), y2 = wasm_v128_load(q8 + 64), y3 = wasm_v128_load(q8 + 96);
      for (int r = 0; r < nr; r++) {
        const block_q6_K *x = (const block_q6_K *)(xr + r * stride) + i;
        const uint8_t *ql = x->ql + 64 * h + 16 * j;
        const int8_t *s = x->scales + 8 * h + j;
        const v128_t la = wasm_v128_load(ql), lb = wasm_v128_load(ql + 32);
        const v128_t hv = wasm_v128_load(x->qh + 32 * h + 16 * j);
        sumi[r] = wasm_i32x4_add(sumi[r], q6_sub(wasm_v128_and(la, m0f), wasm_v128_and(wasm_i16x8_shl(hv, 4), m30), y0, s[0]));
        sumi[r] = wasm_i32x4_add(sumi[r], q6_sub(wasm_v128_and(lb, m0f), wasm_v128_and(wasm_i16x8_shl(hv, 2), m30), y1, s[2]));
        sumi[r] = wasm_i32x4_add(sumi[r], q6_sub(nib_hi(la), wasm_v128_and(hv, m30), y2, s[4]));
        sumi[r] = wasm_i32x4_add(sumi[r], q6_sub(nib_hi(lb), wasm_v128_and(wasm_u16x8_shr(hv, 2), m30), y3, s[6]));
      }
    }
    for (int r = 0; r < nr; r++) {
      const float d = f16_lut(((const block_q6_K *)(xr + r * stride))[i].d) * y[i].d;
      wasm_v128_store(acc[r], wasm_f32x4_add(wasm_v128_load(acc[r]), wasm_f32x4_mul(wasm_f32x4_splat(d), wasm_f32x4_convert_i32x4(sumi[r]))));
    }
    __asm__ volatile("" ::: "memory");  // acc stays in memory
  }
  for (int r = 0; r < nr; r++) out[r] = hsum_f32x4(wasm_v128_load(acc[r]));
}

NOINLINE static float dot_q6_K(int n, const block_q6_K *x, const block_q8_K *y) {
  float out;
  dot_q6_K_rows(1, n, (const uint8_t *)x, 0, y, &out);
  return out;
}

void dot_q6_K_x4(int n, const uint8_t *x, size_t stride, const block_q8_K *y, float out[4]) { dot_q6_K_rows(4, n, x, stride, y, out); }

// ---------------------------------------------------------------------------------------------
// One weight row against NT activation rows (batched products: prompt processing). The weight's
// unpacking (nibbles, high bits, scales) is done once and used for NT tokens; every token's
// arithmetic is exactly that of the one-row functions above (same lanes, same order), so the
// results are identical to NT calls of vec_dot.
// ---------------------------------------------------------------------------------------------
#define NT VEC_DOT_N

// The end of block i of a Q4_K row for NT tokens (both builds of dotn_q4_K): the integer sums
// scaled by d·d8, less dmin·d8 times the sub-block mins against the tokens' block sums.
INLINE void k4_block_end_n(v128_t acc[NT], const v128_t sumi[NT], const block_q4_K *xi, const uint32_t s[4], const uint8_t *yb, int ystride, int i) {
  const float dx = f16_lut(xi->d), dminx = f16_lut(xi->dmin);
  for (int t = 0; t < NT; t++) {
    const block_q8_K *y = (const block_q8_K *)(yb + (size_t)t * ystride);
    const v128_t mins = k4_min_products(s[2], s[3], y[i].bsums);
    const float d = y[i].d * dx, dmin = y[i].d * dminx;
    acc[t] = wasm_f32x4_add(acc[t], wasm_f32x4_mul(wasm_f32x4_splat(d), wasm_f32x4_convert_i32x4(sumi[t])));
    acc[t] = wasm_f32x4_sub(acc[t], wasm_f32x4_mul(wasm_f32x4_splat(dmin), wasm_f32x4_convert_i32x4(mins)));
  }
}

#if !RELAXED
// SIMD128: the 64 elements of a step at once per token (measured faster than the split below).
NOINLINE static void dotn_q4_K(int n, const block_q4_K *x, const uint8_t *yb, int ystride, float *out) {
  const int nb = n / QK_K;
  v128_t acc[NT];
  for (int t = 0; t < NT; t++) acc[t] = wasm_f32x4_splat(0);
  const v128_t m15 = wasm_i16x8_splat(0x0f);
  for (int i = 0; i < nb; i++) {
    uint32_t s[4];
    k4_scales(x[i].scales, s);
    v128_t sumi[NT];
    for (int t = 0; t < NT; t++) sumi[t] = wasm_i32x4_splat(0);
    const uint8_t *q4 = x[i].qs;
    uint64_t sc = (uint64_t)s[0] | (uint64_t)s[1] << 32;
#pragma clang loop unroll(disable)
    for (int k = 0; k < 4; k++, q4 += 32, sc >>= 16) {
      const v128_t a = wasm_v128_load(q4), b = wasm_v128_load(q4 + 16);
      const v128_t sl = wasm_i16x8_splat((int16_t)(sc & 0xff)), sh = wasm_i16x8_splat((int16_t)((sc >> 8) & 0xff));
      for (int t = 0; t < NT; t++) {
        const int8_t *q8 = ((const block_q8_K *)(yb + (size_t)t * ystride))[i].qs + 64 * k;
        const v128_t y0 = wasm_v128_load(q8), y1 = wasm_v128_load(q8 + 16);
        const v128_t y2 = wasm_v128_load(q8 + 32), y3 = wasm_v128_load(q8 + 48);
        v128_t lo = wasm_i16x8_mul(wasm_v128_and(a, m15), even_i8(y0));
        lo = wasm_i16x8_add(lo, wasm_i16x8_mul(wasm_v128_and(wasm_u16x8_shr(a, 8), m15), odd_i8(y0)));
        lo = wasm_i16x8_add(lo, wasm_i16x8_mul(wasm_v128_and(b, m15), even_i8(y1)));
        lo = wasm_i16x8_add(lo, wasm_i16x8_mul(wasm_v128_and(wasm_u16x8_shr(b, 8), m15), odd_i8(y1)));
        v128_t hi = wasm_i16x8_mul(wasm_v128_and(wasm_u16x8_shr(a, 4), m15), even_i8(y2));
        hi = wasm_i16x8_add(hi, wasm_i16x8_mul(wasm_u16x8_shr(a, 12), odd_i8(y2)));
        hi = wasm_i16x8_add(hi, wasm_i16x8_mul(wasm_v128_and(wasm_u16x8_shr(b, 4), m15), even_i8(y3)));
        hi = wasm_i16x8_add(hi, wasm_i16x8_mul(wasm_u16x8_shr(b, 12), odd_i8(y3)));
        sumi[t] = wasm_i32x4_add(sumi[t], wasm_i32x4_dot_i16x8(lo, sl));
        sumi[t] = wasm_i32x4_add(sumi[t], wasm_i32x4_dot_i16x8(hi, sh));
      }
    }
    k4_block_end_n(acc, sumi, &x[i], s, yb, ystride, i);
  }
  for (int t = 0; t < NT; t++) out[t] = hsum_f32x4(acc[t]);
}
#else
// Relaxed: per 64 elements, the low nibbles (sub-block 2k) against every token, then the high
// nibbles (sub-block 2k+1): fewer values live at once (V8 has 16 SIMD registers); measured 1.7x
// faster than the layout above in this build. Both halves are written out (no nibble choice
// inside the loop: a branch per step there, and spills, cost ~10%).
NOINLINE static void dotn_q4_K(int n, const block_q4_K *x, const uint8_t *yb, int ystride, float *out) {
  const int nb = n / QK_K;
  v128_t acc[NT];
  for (int t = 0; t < NT; t++) acc[t] = wasm_f32x4_splat(0);
  for (int i = 0; i < nb; i++) {
    uint32_t s[4];
    k4_scales(x[i].scales, s);
    v128_t sumi[NT];
    for (int t = 0; t < NT; t++) sumi[t] = wasm_i32x4_splat(0);
    const uint8_t *q4 = x[i].qs;
    const uint64_t sc = (uint64_t)s[0] | (uint64_t)s[1] << 32;
#pragma clang loop unroll(disable)
    for (int k = 0; k < 4; k++) {
      const v128_t a = wasm_v128_load(q4 + 32 * k), b = wasm_v128_load(q4 + 32 * k + 16);
      v128_t qa = nib_lo(a), qb = nib_lo(b), sv = wasm_i16x8_splat((int16_t)((sc >> (16 * k)) & 0xff));
      for (int t = 0; t < NT; t++) {
        const int8_t *q8 = ((const block_q8_K *)(yb + (size_t)t * ystride))[i].qs + 64 * k;
        const v128_t p = wasm_i16x8_add(rdot(wasm_v128_load(q8), qa), rdot(wasm_v128_load(q8 + 16), qb));
        sumi[t] = wasm_i32x4_add(sumi[t], wasm_i32x4_dot_i16x8(p, sv));
      }
      qa = nib_hi(a), qb = nib_hi(b), sv = wasm_i16x8_splat((int16_t)((sc >> (16 * k + 8)) & 0xff));
      for (int t = 0; t < NT; t++) {
        const int8_t *q8 = ((const block_q8_K *)(yb + (size_t)t * ystride))[i].qs + 64 * k + 32;
        const v128_t p = wasm_i16x8_add(rdot(wasm_v128_load(q8), qa), rdot(wasm_v128_load(q8 + 16), qb));
        sumi[t] = wasm_i32x4_add(sumi[t], wasm_i32x4_dot_i16x8(p, sv));
      }
    }
    k4_block_end_n(acc, sumi, &x[i], s, yb, ystride, i);
  }
  for (int t = 0; t < NT; t++) out[t] = hsum_f32x4(acc[t]);
}

#endif

NOINLINE static void dotn_q6_K(int n, const block_q6_K *x, const uint8_t *yb, int ystride, float *out) {
  const int nb = n / QK_K;
  v128_t acc[NT];
  for (int t = 0; t < NT; t++) acc[t] = wasm_f32x4_splat(0);
  const v128_t m0f = wasm_i8x16_splat(0x0f), m30 = wasm_i8x16_splat(0x30);
  for (int i = 0; i < nb; i++) {
    const int8_t *sc = x[i].scales;
    const v128_t scv = wasm_v128_load(sc);
    const v128_t sc_lo = wasm_i16x8_extend_low_i8x16(scv), sc_hi = wasm_i16x8_extend_high_i8x16(scv);
    v128_t sumi[NT];
    for (int t = 0; t < NT; t++) {
      const block_q8_K *y = (const block_q8_K *)(yb + (size_t)t * ystride);
      const v128_t b = wasm_i32x4_add(wasm_i32x4_dot_i16x8(sc_lo, wasm_v128_load(y[i].bsums)),
                                      wasm_i32x4_dot_i16x8(sc_hi, wasm_v128_load(y[i].bsums + 8)));
      sumi[t] = wasm_i32x4_mul(b, wasm_i32x4_splat(-32));
    }
#pragma clang loop unroll(disable)
    for (int u = 0; u < 4; u++) {
      const int h = u >> 1, j = u & 1;
      const uint8_t *ql = x[i].ql + 64 * h + 16 * j;
      const int8_t *s = sc + 8 * h + j;
      const v128_t la = wasm_v128_load(ql), lb = wasm_v128_load(ql + 32);
      const v128_t hv = wasm_v128_load(x[i].qh + 32 * h + 16 * j);
      const v128_t q0 = wasm_v128_or(wasm_v128_and(la, m0f), wasm_v128_and(wasm_i16x8_shl(hv, 4), m30));
      const v128_t q1 = wasm_v128_or(wasm_v128_and(lb, m0f), wasm_v128_and(wasm_i16x8_shl(hv, 2), m30));
      const v128_t q2 = wasm_v128_or(nib_hi(la), wasm_v128_and(hv, m30));
      const v128_t q3 = wasm_v128_or(nib_hi(lb), wasm_v128_and(wasm_u16x8_shr(hv, 2), m30));
      const int s0 = s[0], s2 = s[2], s4 = s[4], s6 = s[6];
      for (int t = 0; t < NT; t++) {
        const int8_t *q8 = ((const block_q8_K *)(yb + (size_t)t * ystride))[i].qs + 128 * h + 16 * j;
        sumi[t] = wasm_i32x4_add(sumi[t], q6_sub(q0, wasm_i32x4_splat(0), wasm_v128_load(q8), s0));
        sumi[t] = wasm_i32x4_add(sumi[t], q6_sub(q1, wasm_i32x4_splat(0), wasm_v128_load(q8 + 32), s2));
        sumi[t] = wasm_i32x4_add(sumi[t], q6_sub(q2, wasm_i32x4_splat(0), wasm_v128_load(q8 + 64), s4));
        sumi[t] = wasm_i32x4_add(sumi[t], q6_sub(q3, wasm_i32x4_splat(0), wasm_v128_load(q8 + 96), s6));
      }
    }
    const float dx = f16_lut(x[i].d);
    for (int t = 0; t < NT; t++) {
      const block_q8_K *y = (const block_q8_K *)(yb + (size_t)t * ystride);
      const float d = dx * y[i].d;
      acc[t] = wasm_f32x4_add(acc[t], wasm_f32x4_mul(wasm_f32x4_splat(d), wasm_f32x4_convert_i32x4(sumi[t])));
    }
  }
  for (int t = 0; t < NT; t++) out[t] = hsum_f32x4(acc[t]);
}

// Q5_0 / Q4_0 × NT rows of Q8_0, as LEGACY_DOT per token, with the activation scales and offset
// terms precomputed (act_extras: ex, one row of exstride bytes per token). Relaxed build:
// rdot of the offset quants minus the precomputed bias, the same i16 lanes as dot32_off.
// Measured on Q5_0 4864x896 x 64 tokens, 1 thread: relaxed 12.0 -> 14.5 GMAC/s, SIMD128 10.3 -> 11.4.
#if RELAXED
INLINE v128_t dot32_pre(v128_t lo, v128_t hi, const int8_t *q8, const int16_t *sb) {
  const v128_t r = wasm_i16x8_sub(wasm_i16x8_add(rdot(wasm_v128_load(q8), lo), rdot(wasm_v128_load(q8 + 16), hi)), wasm_v128_load(sb));
  return wasm_i32x4_add(wasm_i32x4_extend_low_i16x8(r), wasm_i32x4_extend_high_i16x8(r));
}
#else
INLINE v128_t dot32_pre(v128_t lo, v128_t hi, const int8_t *q8, const int16_t *sb) {
  (void)sb;
  return dot32_small(lo, hi, q8);
}
#endif
#define LEGACY_DOTN(name, wblock, unpack, NT)                                                              \
  NOINLINE static void name(int n, const wblock *x, const uint8_t *yb, int ystride, const uint8_t *ex, int exstride, float *out) { \
    const int nb = n / QK;                                                                       \
    v128_t acc[NT];                                                                              \
    float sum[NT];                                                                               \
    for (int t = 0; t < NT; t++) acc[t] = wasm_f32x4_splat(0), sum[t] = 0;                       \
    int i = 0;                                                                                   \
    for (; i + 4 <= nb; i += 4) {                                                                \
      const v128_t dw = f16x4_gather(&x[i].d, sizeof(wblock));                                   \
      v128_t d[NT];                                                                              \
      for (int t = 0; t < NT; t++) d[t] = wasm_f32x4_mul(dw, wasm_v128_load((const float *)(ex + (size_t)t * exstride) + i)); \
      v128_t lane = wasm_i32x4_splat(0x03020100);                                                \
      _Pragma("clang loop unroll(disable)")                                                      \
      for (int b = 0; b < 4; b++) {                                                              \
        v128_t lo, hi;                                                                           \
        unpack(&x[i + b], &lo, &hi);                                                             \
        for (int t = 0; t < NT; t++) {                                                           \
          const int16_t *sb = (const int16_t *)((const float *)(ex + (size_t)t * exstride) + nb) + 8 * (i + b); \
          const v128_t s = dot32_pre(lo, hi, ((const block_q8_0 *)(yb + (size_t)t * ystride))[i + b].qs, sb); \
          acc[t] = wasm_f32x4_add(acc[t], wasm_f32x4_mul(wasm_i8x16_swizzle(d[t], lane), wasm_f32x4_convert_i32x4(s))); \
        }                                                                                        \
        lane = wasm_i32x4_add(lane, wasm_i32x4_splat(0x04040404));                               \
      }                                                                                          \
    }                                                                                            \
    for (; i < nb; i++) {                                                                        \
      v128_t lo, hi;                                                                             \
      unpack(&x[i], &lo, &hi);                                                                   \
      for (int t = 0; t < NT; t++) {                                                             \
        const float *sc = (const float *)(ex + (size_t)t * exstride);                            \
        const int16_t *sb = (const int16_t *)(sc + nb) + 8 * i;                                  \
        const float d = f16_lut(x[i].d) * sc[i];                                                 \
        sum[t] += d * (float)hsum_i32x4(dot32_pre(lo, hi, ((const block_q8_0 *)(yb + (size_t)t * ystride))[i].qs, sb)); \
      }                                                                                          \
    }                                                                                            \
    for (int t = 0; t < NT; t++) out[t] = hsum_f32x4(acc[t]) + sum[t];                           \
  }

INLINE void unpack_q5_0(const block_q5_0 *x, v128_t *lo, v128_t *hi) {
  v128_t hl, hh;
  q5_high_bits(x->qh, &hl, &hh);
  const v128_t q = wasm_v128_load(x->qs), sixteen = wasm_i8x16_splat(OFFSET_QUANTS ? 0 : 16);
  *lo = wasm_i8x16_sub(wasm_v128_or(nib_lo(q), hl), sixteen);
  *hi = wasm_i8x16_sub(wasm_v128_or(nib_hi(q), hh), sixteen);
}
INLINE void unpack_q4_0(const block_q4_0 *x, v128_t *lo, v128_t *hi) {
  const v128_t q = wasm_v128_load(x->qs), eight = wasm_i8x16_splat(OFFSET_QUANTS ? 0 : 8);
  *lo = wasm_i8x16_sub(nib_lo(q), eight);
  *hi = wasm_i8x16_sub(nib_hi(q), eight);
}
LEGACY_DOTN(dotn_q5_0, block_q5_0, unpack_q5_0, VEC_DOT_N)
LEGACY_DOTN(dotn_q4_0, block_q4_0, unpack_q4_0, VEC_DOT_N)
// Eight tokens: the weight unpacking (high bits, offsets) is the larger part of these formats'
// work, so it pays to share it more widely (measured +8-20% on Q5_0; not for the K-quants).
LEGACY_DOTN(dotn2_q5_0, block_q5_0, unpack_q5_0, 2 * VEC_DOT_N)
LEGACY_DOTN(dotn2_q4_0, block_q4_0, unpack_q4_0, 2 * VEC_DOT_N)
// One token (decode): the same kernel, so the same integers and float order as LEGACY_DOT.
LEGACY_DOTN(dot1_q5_0, block_q5_0, unpack_q5_0, 1)
LEGACY_DOTN(dot1_q4_0, block_q4_0, unpack_q4_0, 1)

NOINLINE static void dotn_q8_0(int n, const block_q8_0 *x, const uint8_t *yb, int ystride, float *out) {
  const int nb = n / QK;
  v128_t acc[NT];
  for (int t = 0; t < NT; t++) acc[t] = wasm_f32x4_splat(0);
  for (int i = 0; i < nb; i++) {
    const v128_t w0 = wasm_v128_load(x[i].qs), w1 = wasm_v128_load(x[i].qs + 16);
    const v128_t we0 = even_i8(w0), wo0 = odd_i8(w0), we1 = even_i8(w1), wo1 = odd_i8(w1);
    const float dx = f16_lut(x[i].d);
    for (int t = 0; t < NT; t++) {
      const block_q8_0 *y = (const block_q8_0 *)(yb + (size_t)t * ystride) + i;
      const v128_t y0 = wasm_v128_load(y->qs), y1 = wasm_v128_load(y->qs + 16);
      const v128_t s = bsum_q8_0_split(we0, wo0, we1, wo1, even_i8(y0), odd_i8(y0), even_i8(y1), odd_i8(y1));
      const float d = dx * f16_lut(y->d);
      acc[t] = wasm_f32x4_add(acc[t], wasm_f32x4_mul(wasm_f32x4_splat(d), wasm_f32x4_convert_i32x4(s)));
    }
  }
  for (int t = 0; t < NT; t++) out[t] = hsum_f32x4(acc[t]);
}

// out[t] = vec_dot(w, x + t·xstride) for t < NT (NT tokens; ex: their act_extras rows): 1 when
// done, 0 when the type has no batched kernel (the caller uses vec_dot).
int vec_dot_n(int wtype, int n, const void *w, const void *x, int xstride, const void *ex, int exstride, float *out) {
  switch (wtype) {
    case T_Q4_K: dotn_q4_K(n, w, x, xstride, out); return 1;
    case T_Q6_K: dotn_q6_K(n, w, x, xstride, out); return 1;
    case T_Q5_0: dotn_q5_0(n, w, x, xstride, ex, exstride, out); return 1;
    case T_Q4_0: dotn_q4_0(n, w, x, xstride, ex, exstride, out); return 1;
    case T_Q8_0: dotn_q8_0(n, w, x, xstride, out); return 1;
    default: return 0;
  }
}

int vec_dot_n2(int wtype, int n, const void *w, const void *x, int xstride, const void *ex, int exstride, float *out) {
  switch (wtype) {
    case T_Q5_0: dotn2_q5_0(n, w, x, xstride, ex, exstride, out); return 1;
    case T_Q4_0: dotn2_q4_0(n, w, x, xstride, ex, exstride, out); return 1;
    default: return 0;
  }
}

// vec_dot with the row's act_extras at ex (the same result; faster for Q5_0 / Q4_0).
float vec_dot_ex(int wtype, int n, const void *w, const void *x, const void *ex) {
  float out;
  switch (wtype) {
    case T_Q5_0: dot1_q5_0(n, w, x, 0, ex, 0, &out); return out;
    case T_Q4_0: dot1_q4_0(n, w, x, 0, ex, 0, &out); return out;
    default: return vec_dot(wtype, n, w, x);
  }
}

float vec_dot(int wtype, int n, const void *w, const void *x) {
  switch (wtype) {
    case T_F32: return dot_f32(n, w, x);
    case T_F16: return dot_f16(n, w, x);
    case T_BF16: return dot_bf16(n, w, x);
    case T_Q4_0: return dot_q4_0(n, w, x);
    case T_Q4_1: return dot_q4_1(n, w, x);
    case T_Q5_0: return dot_q5_0(n, w, x);
    case T_Q5_1: return dot_q5_1(n, w, x);
    case T_Q8_0: return dot_q8_0(n, w, x);
    case T_Q4_K: return dot_q4_K(n, w, x);
    case T_Q5_K: return dot_q5_K(n, w, x);
    case T_Q6_K: return dot_q6_K(n, w, x);
    default: return __builtin_nanf("");
  }
}

// ---------------------------------------------------------------------------------------------
// Dequantisation: ggml's dequantize_row_* (scalar, same float operations in the same order)
// ---------------------------------------------------------------------------------------------

static void deq_q4_0(const block_q4_0 *x, float *y, int n) {
  for (int i = 0; i < n / QK; i++) {
    const float d = f16_to_f32(x[i].d);
    for (int j = 0; j < QK / 2; j++) {
      y[i * QK + j] = (float)((x[i].qs[j] & 0x0f) - 8) * d;
      y[i * QK + j + QK / 2] = (float)((x[i].qs[j] >> 4) - 8) * d;
    }
  }
}

static void deq_q4_1(const block_q4_1 *x, float *y, int n) {
  for (int i = 0; i < n / QK; i++) {
    const float d = f16_to_f32(x[i].d), m = f16_to_f32(x[i].m);
    for (int j = 0; j < QK / 2; j++) {
      y[i * QK + j] = (float)(x[i].qs[j] & 0x0f) * d + m;
      y[i * QK + j + QK / 2] = (float)(x[i].qs[j] >> 4) * d + m;
    }
  }
}

static void deq_q5_0(const block_q5_0 *x, float *y, int n) {
  for (int i = 0; i < n / QK; i++) {
    const float d = f16_to_f32(x[i].d);
    const uint32_t qh = load_u32(x[i].qh);
    for (int j = 0; j < QK / 2; j++) {
      const uint8_t xh0 = ((qh >> j) << 4) & 0x10, xh1 = (qh >> (j + 12)) & 0x10;
      y[i * QK + j] = (float)(((x[i].qs[j] & 0x0f) | xh0) - 16) * d;
      y[i * QK + j + QK / 2] = (float)(((x[i].qs[j] >> 4) | xh1) - 16) * d;
    }
  }
}

static void deq_q5_1(const block_q5_1 *x, float *y, int n) {
  for (int i = 0; i < n / QK; i++) {
    const float d = f16_to_f32(x[i].d), m = f16_to_f32(x[i].m);
    const uint32_t qh = load_u32(x[i].qh);
    for (int j = 0; j < QK / 2; j++) {
      const uint8_t xh0 = ((qh >> j) << 4) & 0x10, xh1 = (qh >> (j + 12)) & 0x10;
      y[i * QK + j] = (float)((x[i].qs[j] & 0x0f) | xh0) * d + m;
      y[i * QK + j + QK / 2] = (float)((x[i].qs[j] >> 4) | xh1) * d + m;
    }
  }
}

static void deq_q8_0(const block_q8_0 *x, float *y, int n) {
  for (int i = 0; i < n / QK; i++) {
    const float d = f16_to_f32(x[i].d);
    for (int j = 0; j < QK; j++) y[i * QK + j] = (float)x[i].qs[j] * d;
  }
}

static void deq_q8_1(const block_q8_1 *x, float *y, int n) {
  for (int i = 0; i < n / QK; i++) {
    const float d = f16_to_f32(x[i].d);
    for (int j = 0; j < QK; j++) y[i * QK + j] = (float)x[i].qs[j] * d;
  }
}

static void deq_q8_K(const block_q8_K *x, float *y, int n) {
  for (int i = 0; i < n / QK_K; i++)
    for (int j = 0; j < QK_K; j++) y[i * QK_K + j] = x[i].d * (float)x[i].qs[j];
}

// get_scale_min_k4 (ggml-quants.c)
INLINE void scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
  }
}

static void deq_q4_K(const block_q4_K *x, float *y, int n) {
  for (int i = 0; i < n / QK_K; i++) {
    const uint8_t *q = x[i].qs;
    const float d = f16_to_f32(x[i].d), min = f16_to_f32(x[i].dmin);
    for (int j = 0, is = 0; j < QK_K; j += 64, is += 2, q += 32) {
      uint8_t sc, m;
      scale_min_k4(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = min * m;
      scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = min * m;
      for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0xf) - m1;
      for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
    }
  }
}

static void deq_q5_K(const block_q5_K *x, float *y, int n) {
  for (int i = 0; i < n / QK_K; i++) {
    const uint8_t *ql = x[i].qs, *qh = x[i].qh;
    const float d = f16_to_f32(x[i].d), min = f16_to_f32(x[i].dmin);
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0, is = 0; j < QK_K; j += 64, is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
      uint8_t sc, m;
      scale_min_k4(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = min * m;
      scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = min * m;
      for (int l = 0; l < 32; l++) *y++ = d1 * (float)((ql[l] & 0xf) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; l++) *y++ = d2 * (float)((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
    }
  }
}

static void deq_q6_K(const block_q6_K *x, float *y, int n) {
  for (int i = 0; i < n / QK_K; i++) {
    const float d = f16_to_f32(x[i].d);
    const uint8_t *ql = x[i].ql, *qh = x[i].qh;
    const int8_t *sc = x[i].scales;
    for (int h = 0; h < QK_K; h += 128, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; l++) {
        const int is = l / 16;
        const int8_t q1 = (int8_t)((ql[l + 0] & 0xf) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int8_t q2 = (int8_t)((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int8_t q3 = (int8_t)((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int8_t q4 = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l + 0] = d * (float)sc[is + 0] * (float)q1;
        y[l + 32] = d * (float)sc[is + 2] * (float)q2;
        y[l + 64] = d * (float)sc[is + 4] * (float)q3;
        y[l + 96] = d * (float)sc[is + 6] * (float)q4;
      }
    }
  }
}

void dequantize_row(int type, const void *x, float *y, int n) {
  switch (type) {
    case T_F32: __builtin_memcpy(y, x, (size_t)n * 4); break;
    case T_F16: {
      const uint16_t *h = x;
      int i = 0;
      for (; i + 8 <= n; i += 8) {
        const v128_t v = wasm_v128_load(h + i);
        wasm_v128_store(y + i, f16x8_lo(v));
        wasm_v128_store(y + i + 4, f16x8_hi(v));
      }
      for (; i < n; i++) y[i] = f16_to_f32(h[i]);
      break;
    }
    case T_BF16: {
      const uint16_t *h = x;
      for (int i = 0; i < n; i++) y[i] = bf16_to_f32(h[i]);
      break;
    }
    case T_Q4_0: deq_q4_0(x, y, n); break;
    case T_Q4_1: deq_q4_1(x, y, n); break;
    case T_Q5_0: deq_q5_0(x, y, n); break;
    case T_Q5_1: deq_q5_1(x, y, n); break;
    case T_Q8_0: deq_q8_0(x, y, n); break;
    case T_Q8_1: deq_q8_1(x, y, n); break;
    case T_Q4_K: deq_q4_K(x, y, n); break;
    case T_Q5_K: deq_q5_K(x, y, n); break;
    case T_Q6_K: deq_q6_K(x, y, n); break;
    case T_Q8_K: deq_q8_K(x, y, n); break;
    default: break;
  }
}

// ---------------------------------------------------------------------------------------------
// Exports for JavaScript (tests, embedding lookups); C callers use the quants.h functions.
// ---------------------------------------------------------------------------------------------

EXPORT(k_act_type) int k_act_type(int wtype) { return act_type(wtype); }
EXPORT(k_row_bytes) int k_row_bytes(int type, int n) { return row_bytes(type, n); }
EXPORT(k_quantize_row) void k_quantize_row(int type, const float *x, void *y, int n) { quantize_row(type, x, y, n); }
EXPORT(k_vec_dot) float k_vec_dot(int wtype, int n, const void *w, const void *x) { return vec_dot(wtype, n, w, x); }
EXPORT(k_dequantize_row) void k_dequantize_row(int type, const void *x, float *y, int n) { dequantize_row(type, x, y, n); }

// `rows` consecutive weight rows against one activation row, on the calling thread only: for
// tests and single-thread measurements (the engine's threaded matvec is in matmul.c).
EXPORT(k_vec_dot_rows) void k_vec_dot_rows(int wtype, int n, int rows, const void *w, const void *x, float *out) {
  const int rb = row_bytes(wtype, n);
  for (int r = 0; r < rows; r++) out[r] = vec_dot(wtype, n, (const uint8_t *)w + (size_t)r * rb, x);
}
