// Causal multi-head attention with grouped KV heads over an f16 KV cache, as llama.cpp computes it
// without flash attention:
//   kq  = ggml_mul_mat(k, q)            k is F16, so ggml first converts q to F16 (the vec_dot_type
//                                       of F16) and sums the products of the two f16 rows in float;
//   kq  = ggml_soft_max_ext(kq, mask, scale)   w = kq*scale (+0 or -inf mask), then softmax with
//                                       the sum in double;
//   kqv = ggml_mul_mat(v, kq)           v is F16, so the f32 probabilities are converted to F16
//                                       before their products with v.
// Both f16 roundings are reproduced here; the order of the float sums differs from ggml's
// (which depends on the native SIMD width anyway), so results agree to float rounding, not bits.
#include "mathf.h"
#include "pool.h"

void softmax_f32(float *x, int n);  // ops.c
int pool_threads(void);             // pool.c

INLINE int align4(int n) { return (n + 3) & ~3; }

// Floats of scratch one thread uses: the K and V rows of one KV head converted from f16 to f32
// (n_ctx rows each), the f16-rounded q of each query head of a group, one score row per query
// head of the group.
INLINE int per_thread(int n_ctx, int head_dim, int group) {
  return align4(head_dim) * (2 * n_ctx + group) + group * align4(n_ctx);
}

// Floats of scratch that attention() needs for contexts up to n_ctx positions (n_ctx =
// first_pos + n_tokens of the call) with the pool's current thread count. Allocating it once for
// the largest context is enough for every later call with the same thread count or fewer.
EXPORT(attention_scratch_floats) int attention_scratch_floats(int n_ctx, int head_dim, int n_head, int n_head_kv) {
  return pool_threads() * per_thread(n_ctx, head_dim, n_head / n_head_kv);
}

typedef struct {
  float *out;
  const float *q;
  const uint16_t *k, *v;
  int n_tokens, n_head, n_head_kv, head_dim, kv_stride, kv_head_stride, first_pos;
  float scale;
  float *scratch;
  int parts;  // each group of query heads is split in this many work items
} attn_args;

// a·b + c for a and b f16 values held as floats: their product is exact in f32 (11 × 11 significant
// bits, exponents well inside f32's range), so a fused multiply-add (the relaxed build's, one
// instruction) gives the same float as a multiply then an add (the SIMD128 build's).
INLINE v128_t madd_f16_product(v128_t a, v128_t b, v128_t c) {
#ifdef __wasm_relaxed_simd__
  return wasm_f32x4_relaxed_madd(a, b, c);
#else
  return wasm_f32x4_add(wasm_f32x4_mul(a, b), c);
#endif
}

// Σ_d a[d] * b[d] in float: one 4-lane partial sum over d (d mod 4 in lane d mod 4), the lanes
// left to right, then the elements past the last whole 4.
static float dot_f32(const float *a, const float *b, int n) {
  v128_t acc = wasm_f32x4_splat(0.0f);
  int d = 0;
  for (; d + 4 <= n; d += 4) acc = madd_f16_product(wasm_v128_load(a + d), wasm_v128_load(b + d), acc);
  float sum = hsum_f32x4(acc);
  for (; d < n; d++) sum += a[d] * b[d];
  return sum;
}

// Lane k: the sum of the lanes of the k-th argument (a, b, c, d) left to right, ((l0 + l1) + l2) +
// l3 as hsum_f32x4.
INLINE v128_t hsum4_f32x4(v128_t a, v128_t b, v128_t c, v128_t d) {
  const v128_t ab0 = wasm_i32x4_shuffle(a, b, 0, 4, 1, 5), ab1 = wasm_i32x4_shuffle(a, b, 2, 6, 3, 7);
  const v128_t cd0 = wasm_i32x4_shuffle(c, d, 0, 4, 1, 5), cd1 = wasm_i32x4_shuffle(c, d, 2, 6, 3, 7);
  const v128_t l0 = wasm_i64x2_shuffle(ab0, cd0, 0, 2), l1 = wasm_i64x2_shuffle(ab0, cd0, 1, 3);
  const v128_t l2 = wasm_i64x2_shuffle(ab1, cd1, 0, 2), l3 = wasm_i64x2_shuffle(ab1, cd1, 1, 3);
  return wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_add(l0, l1), l2), l3);
}

// dot_f32 of nq (1 or 2, a constant after inlining) query rows q[i] against 4 K rows (r, r +
// stride, ...) at once, n a multiple of 4: sc[i] gets the 4 scores of q[i], each in dot_f32's
// order. Both queries meet each K vector once it is loaded (8 sums in flight). With pv_block's
// two heads per V vector and the fused multiply-adds: the 0.5B shape's 512-token prompt attention
// 1.52× (SIMD128 1.33×), the 3B shape's 1.71×, a decoded token at 2048 positions 1.26× (1 thread).
INLINE void dots_4rows(int nq, const float *const q[2], const float *r, size_t stride, int n, v128_t sc[2]) {
  v128_t acc[2][4];
  for (int i = 0; i < nq; i++)
    for (int c = 0; c < 4; c++) acc[i][c] = wasm_f32x4_splat(0.0f);
  const float *r1 = r + stride, *r2 = r1 + stride, *r3 = r2 + stride;
  for (int d = 0; d < n; d += 4) {
    const v128_t k0 = wasm_v128_load(r + d), k1 = wasm_v128_load(r1 + d);
    const v128_t k2 = wasm_v128_load(r2 + d), k3 = wasm_v128_load(r3 + d);
    for (int i = 0; i < nq; i++) {
      const v128_t x = wasm_v128_load(q[i] + d);
      acc[i][0] = madd_f16_product(x, k0, acc[i][0]);
      acc[i][1] = madd_f16_product(x, k1, acc[i][1]);
      acc[i][2] = madd_f16_product(x, k2, acc[i][2]);
      acc[i][3] = madd_f16_product(x, k3, acc[i][3]);
    }
  }
  for (int i = 0; i < nq; i++) sc[i] = hsum4_f32x4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
}

// out[i][d] = Σ_j p[i][j] · v_j[d] over positions j < n_kv, for nq (1 or 2, a constant after
// inlining) query heads and the nv (1..4) vectors of dimensions d0 .. d0 + 4 nv - 1: those sums stay
// in registers across all positions, each V vector loaded once for both heads. The additions run
// in position order from 0; with `more`, out holds the sums of the positions before these (a
// decoded token's V goes in blocks of rows, see attend) and they go on from there, in that order.
INLINE void pv_block(int nq, int nv, const float *const p[2], const float *vf, int hd4, int n_kv, int d0, float *const out[2], int more) {
  v128_t acc[2][4];
  for (int i = 0; i < nq; i++)
    for (int c = 0; c < nv; c++) acc[i][c] = more ? wasm_v128_load(out[i] + d0 + 4 * c) : wasm_f32x4_splat(0.0f);
  const float *v = vf + d0;
  for (int j = 0; j < n_kv; j++, v += hd4) {
    v128_t x[4];
    for (int c = 0; c < nv; c++) x[c] = wasm_v128_load(v + 4 * c);
    for (int i = 0; i < nq; i++) {
      const v128_t pj = wasm_v128_load32_splat(p[i] + j);
      for (int c = 0; c < nv; c++) acc[i][c] = madd_f16_product(pj, x[c], acc[i][c]);
    }
  }
  for (int i = 0; i < nq; i++)
    for (int c = 0; c < nv; c++) wasm_v128_store(out[i] + d0 + 4 * c, acc[i][c]);
}

// pv_block over every dimension of nq heads; the dimensions past the last whole 4 one at a time.
INLINE void pv_heads(int nq, const float *const p[2], const float *vf, int hd, int n_kv, float *const out[2], int more) {
  const int hd4 = align4(hd);
  int d = 0;
  for (; d + 16 <= hd; d += 16) pv_block(nq, 4, p, vf, hd4, n_kv, d, out, more);
  for (; d + 4 <= hd; d += 4) pv_block(nq, 1, p, vf, hd4, n_kv, d, out, more);
  for (; d < hd; d++)
    for (int i = 0; i < nq; i++) {
      float acc = more ? out[i][d] : 0.0f;
      for (int j = 0; j < n_kv; j++) acc += p[i][j] * vf[(size_t)j * hd4 + d];
      out[i][d] = acc;
    }
}

// One K or V row to floats (f16_row_to_f32 in a function of its own: inlined into the loops
// below, the decoded token's attention took 1.02×).
static void row_to_f32(const uint16_t *src, float *dst, int n) { f16_row_to_f32(src, dst, n); }

// `rows` rows of an f16 cache (from src, stride elements apart) → f32 rows of align4(hd) at dst.
static void convert_block(float *dst, const uint16_t *src, int stride, int hd, int rows) {
  for (int j = 0; j < rows; j++) row_to_f32(src + (size_t)j * stride, dst + (size_t)j * align4(hd), hd);
}

// Rows *done .. upto - 1 of an f16 cache (KV head at src, rows stride elements apart) → f32 rows of
// align4(hd) at dst, each in its place; *done becomes upto (nothing when it is there already).
static void convert_rows(float *dst, const uint16_t *src, int stride, int hd, int *done, int upto) {
  if (upto <= *done) return;
  convert_block(dst + (size_t)*done * align4(hd), src + (size_t)*done * stride, stride, hd, upto - *done);
  *done = upto;
}

// K rows j .. j + n - 1 of KV head k as f32 rows of align4(head_dim): a decoded token's streamed
// into the start of kf, a batch's converted into their place (up to *ck converted so far).
static const float *k_rows(const attn_args *a, const uint16_t *k, float *kf, int *ck, int j, int n, int stream) {
  if (stream) {
    convert_block(kf, k + (size_t)j * a->kv_stride, a->kv_stride, a->head_dim, n);
    return kf;
  }
  convert_rows(kf, k, a->kv_stride, a->head_dim, ck, j + n);
  return kf + (size_t)j * align4(a->head_dim);
}

// pv_heads for nh query heads (rows of p pstride apart, outputs hd apart from out), two at a time.
static void pv_group(int nh, const float *p, size_t pstride, const float *vf, int hd, int n_kv, float *out, int more) {
  int i = 0;
  for (; i + 2 <= nh; i += 2) {
    const float *const p2[2] = { p + i * pstride, p + (i + 1) * pstride };
    float *const o2[2] = { out + (size_t)i * hd, out + (size_t)(i + 1) * hd };
    pv_heads(2, p2, vf, hd, n_kv, o2, more);
  }
  if (i < nh) {
    const float *const p1[2] = { p + i * pstride, 0 };
    float *const o1[2] = { out + (size_t)i * hd, 0 };
    pv_heads(1, p1, vf, hd, n_kv, o1, more);
  }
}

// V rows a decoded token's attention converts at a time (8 KiB of floats at head_dim 128: in L1).
#define STREAM_V_ROWS 16

// Query heads h0 .. h1-1 of token t, all reading KV head g: out_row = softmax(scale * f16(q)·K)
// · V over positions 0 .. first_pos + t. kf and vf hold K and V of head g in f32 for positions
// 0 .. converted[0] - 1 and 0 .. converted[1] - 1; the rows this token needs beyond them are
// converted (K's as the scores reach them, still in cache when read), so that a share converts each
// row once for all the tokens and query heads it attends with them (the conversion cost as much as
// the products: a 512-token prompt's attention 1.4-2.5x faster, a decoded token's unchanged).
// A call with one token (decoding) reads each row once: it streams them instead, a few rows at a
// time converted into the start of kf and vf, where they stay in L1, rather than every row into
// its place (n_ctx rows of scratch, out to L2 or memory and back; 3B shape, 1 thread, alternating
// in one process: 1000 positions 384 → 345 us, 4000 positions 2101 → 1549 us, the same bytes).
// The rows it reads are best one after the other in memory: the engine's cache keeps each KV
// head's positions together. With all heads of a position together, a head's rows were 256 bytes
// apart of which it read 128 (0.5B shape), and a decoded token at 1500 positions whose cache was
// not in cache (24 layers' worth, in turn) took 425-454 us against 221 us for the same work on
// rows one after the other (2 × 7 heads over one KV head each; 110 us each, as with a warm cache).
// Every head's arithmetic is the same whichever heads and tokens it is grouped with, so the result
// does not depend on how the work is split.
static void attend(const attn_args *a, int g, int t, int h0, int h1, float *qh, float *kf, float *vf, int converted[2]) {
  const int hd = a->head_dim, hd4 = align4(hd);
  const int nh = h1 - h0;
  const int n_kv = a->first_pos + t + 1;  // causal: positions 0 .. first_pos + t
  const uint16_t *k = a->k + (size_t)g * a->kv_head_stride, *v = a->v + (size_t)g * a->kv_head_stride;
  int ck = converted[0], cv = converted[1];
  float *p = qh + (size_t)nh * hd4;  // nh rows of align4(n_kv) (stride: the call's largest n_kv)
  const size_t pstride = (size_t)align4(a->first_pos + a->n_tokens);
  const int stream = a->n_tokens == 1;

  for (int i = 0; i < nh; i++) {
    const float *q = a->q + ((size_t)t * a->n_head + h0 + i) * hd;
    float *qi = qh + (size_t)i * hd4;
    int d = 0;
    for (; d + 4 <= hd; d += 4) wasm_v128_store(qi + d, v_round_f16(wasm_v128_load(q + d)));
    for (; d < hd; d++) qi[d] = f16_to_f32(f32_to_f16(q[d]));
  }

  // Scores, two query heads at a time against 4 K rows at a time.
  int j0 = 0;
  if (hd % 4 == 0) {
    const v128_t scale = wasm_f32x4_splat(a->scale);
    for (; j0 + 4 <= n_kv; j0 += 4) {
      const float *r = k_rows(a, k, kf, &ck, j0, 4, stream);
      int i = 0;
      for (; i + 2 <= nh; i += 2) {
        const float *const q2[2] = { qh + (size_t)i * hd4, qh + (size_t)(i + 1) * hd4 };
        v128_t sc[2];
        dots_4rows(2, q2, r, hd4, hd, sc);
        wasm_v128_store(p + i * pstride + j0, wasm_f32x4_mul(sc[0], scale));
        wasm_v128_store(p + (i + 1) * pstride + j0, wasm_f32x4_mul(sc[1], scale));
      }
      if (i < nh) {
        const float *const q1[2] = { qh + (size_t)i * hd4, 0 };
        v128_t sc[2];
        dots_4rows(1, q1, r, hd4, hd, sc);
        wasm_v128_store(p + i * pstride + j0, wasm_f32x4_mul(sc[0], scale));
      }
    }
  }
  for (int j = j0; j < n_kv; j++) {
    const float *r = k_rows(a, k, kf, &ck, j, 1, stream);
    for (int i = 0; i < nh; i++) p[i * pstride + j] = dot_f32(qh + (size_t)i * hd4, r, hd) * a->scale;
  }
  for (int i = 0; i < nh; i++) {
    float *pi = p + i * pstride;
    softmax_f32(pi, n_kv);
    int j = 0;
    for (; j + 4 <= n_kv; j += 4) wasm_v128_store(pi + j, v_round_f16(wasm_v128_load(pi + j)));
    for (; j < n_kv; j++) pi[j] = f16_to_f32(f32_to_f16(pi[j]));
  }

  // Σ_j p_j · v_j.
  float *out = a->out + ((size_t)t * a->n_head + h0) * hd;
  if (stream) {
    for (int j = 0; j < n_kv; j += STREAM_V_ROWS) {
      const int rows = n_kv - j < STREAM_V_ROWS ? n_kv - j : STREAM_V_ROWS;
      convert_block(vf, v + (size_t)j * a->kv_stride, a->kv_stride, hd, rows);
      pv_group(nh, p + j, pstride, vf, hd, rows, out, j > 0);
    }
  } else {
    convert_rows(vf, v, a->kv_stride, hd, &cv, n_kv);
    pv_group(nh, p, pstride, vf, hd, n_kv, out, 0);
  }
  converted[0] = ck;
  converted[1] = cv;
}

// Work items are (KV head, token, part of the group's query heads), numbered KV-head-major, tokens
// in order: a share's items mostly share a KV head, whose rows its thread then converts once.
// Groups are split in parts only when there are fewer (KV head, token) pairs than threads
// (decoding with few KV heads), since each part converts the K/V rows again. Several shares per
// thread, as the products: on a busy machine a thread that shares its core takes fewer of them.
// Share s takes the items of range n - 1 - s, so that the last ranges of a KV head, whose tokens
// attend to the most positions, go first and a cheap one is left for last.
static void attn_task(const void *args, int share, int n, int slot) {
  const attn_args *a = args;
  const int group = a->n_head / a->n_head_kv;
  const int n_ctx = a->first_pos + a->n_tokens, hd4 = align4(a->head_dim);
  float *kf = a->scratch + (size_t)slot * per_thread(n_ctx, a->head_dim, group);
  float *vf = kf + (size_t)n_ctx * hd4, *qh = vf + (size_t)n_ctx * hd4;
  int s, e, kv_head = -1, converted[2] = {0, 0};
  split_range(a->n_head_kv * a->n_tokens * a->parts, n - 1 - share, n, &s, &e);
  for (int i = s; i < e; i++) {
    const int part = i % a->parts, pair = i / a->parts;
    const int g = pair / a->n_tokens, t = pair % a->n_tokens;
    int h0, h1;
    split_range(group, part, a->parts, &h0, &h1);
    if (g != kv_head) kv_head = g, converted[0] = converted[1] = 0;
    if (h1 > h0) attend(a, g, t, g * group + h0, g * group + h1, qh, kf, vf, converted);
  }
}

// out[t][h*head_dim ..] = attention of query head h of token t (at position first_pos + t) over
// cache positions 0 .. first_pos + t.
//   q:  [n_tokens][n_head * head_dim] f32;  out: same shape (must not overlap q).
//   k, v: f16 caches: KV head g's row of position j at g * kv_head_stride + j * kv_stride
//         (elements); positions up to first_pos + n_tokens - 1 filled. The engine's cache keeps
//         each head's positions together (kv_stride = head_dim, kv_head_stride = n_ctx * head_dim;
//         see attend); positions together ([position][kv_stride], kv_head_stride = head_dim) work too.
//   query head h reads KV head h / (n_head / n_head_kv) (GQA; n_head a multiple of n_head_kv).
//   scale: usually 1/sqrt(head_dim).
//   scratch: attention_scratch_floats(first_pos + n_tokens, head_dim, n_head, n_head_kv) floats
//         = pool_threads() * (align4(head_dim) * (2 * n + G) + G * align4(n)),
//         n = first_pos + n_tokens, G = n_head / n_head_kv; 16-byte aligned.
EXPORT(attention) void attention(float *out, const float *q, const uint16_t *k, const uint16_t *v, int n_tokens,
                                 int n_head, int n_head_kv, int head_dim, int kv_stride, int kv_head_stride, int first_pos,
                                 float scale, float *scratch) {
  const int pairs = n_head_kv * n_tokens, nth = pool_threads(), group = n_head / n_head_kv;
  int parts = pairs >= nth ? 1 : (nth + pairs - 1) / pairs;
  if (parts > group) parts = group;
  const attn_args a = {
      .out = out, .q = q, .k = k, .v = v, .n_tokens = n_tokens, .n_head = n_head, .n_head_kv = n_head_kv,
      .head_dim = head_dim, .kv_stride = kv_stride, .kv_head_stride = kv_head_stride, .first_pos = first_pos, .scale = scale,
      .scratch = scratch,
      .parts = parts,
  };
  const int items = pairs * parts, shares = nth * POOL_SHARES_PER_THREAD;
  pool_run_slots(attn_task, &a, sizeof a, items < shares ? items : shares);
}
