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
  int n_tokens, n_head, n_head_kv, head_dim, kv_stride, first_pos;
  float scale;
  float *scratch;
  int parts;  // each group of query heads is split in this many work items
} attn_args;

// dst[d] = f16 → f32 of src[d], d < n (exact).
static void row_f16_to_f32(float *dst, const uint16_t *src, int n) {
  int d = 0;
  for (; d + 8 <= n; d += 8) {
    const v128_t h = wasm_v128_load(src + d);
    wasm_v128_store(dst + d, v_f16x8_half_to_f32(h, 0));
    wasm_v128_store(dst + d + 4, v_f16x8_half_to_f32(h, 1));
  }
  for (; d + 4 <= n; d += 4) wasm_v128_store(dst + d, v_load_f16x4(src + d));
  for (; d < n; d++) dst[d] = f16_to_f32(src[d]);
}

// Σ_d a[d] * b[d] in float, eight lanes of partial sums.
static float dot_f32(const float *a, const float *b, int n) {
  v128_t acc0 = wasm_f32x4_splat(0.0f), acc1 = acc0;
  int d = 0;
  for (; d + 8 <= n; d += 8) {
    acc0 = wasm_f32x4_add(acc0, wasm_f32x4_mul(wasm_v128_load(a + d), wasm_v128_load(b + d)));
    acc1 = wasm_f32x4_add(acc1, wasm_f32x4_mul(wasm_v128_load(a + d + 4), wasm_v128_load(b + d + 4)));
  }
  for (; d + 4 <= n; d += 4) acc0 = wasm_f32x4_add(acc0, wasm_f32x4_mul(wasm_v128_load(a + d), wasm_v128_load(b + d)));
  float sum = hsum_f32x4(wasm_f32x4_add(acc0, acc1));
  for (; d < n; d++) sum += a[d] * b[d];
  return sum;
}

// dot_f32 of q against 4 rows (r, r + stride, ...) at once: each sum in dot_f32's own order
// (two 4-lane partial sums, then the lanes left to right), n a multiple of 8.
static v128_t dot4_f32(const float *q, const float *r, size_t stride, int n) {
  v128_t a0 = wasm_f32x4_splat(0.0f), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
  const float *r1 = r + stride, *r2 = r1 + stride, *r3 = r2 + stride;
  for (int d = 0; d < n; d += 8) {
    const v128_t x = wasm_v128_load(q + d), y = wasm_v128_load(q + d + 4);
    a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(x, wasm_v128_load(r + d)));
    a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(y, wasm_v128_load(r + d + 4)));
    b0 = wasm_f32x4_add(b0, wasm_f32x4_mul(x, wasm_v128_load(r1 + d)));
    b1 = wasm_f32x4_add(b1, wasm_f32x4_mul(y, wasm_v128_load(r1 + d + 4)));
    c0 = wasm_f32x4_add(c0, wasm_f32x4_mul(x, wasm_v128_load(r2 + d)));
    c1 = wasm_f32x4_add(c1, wasm_f32x4_mul(y, wasm_v128_load(r2 + d + 4)));
    d0 = wasm_f32x4_add(d0, wasm_f32x4_mul(x, wasm_v128_load(r3 + d)));
    d1 = wasm_f32x4_add(d1, wasm_f32x4_mul(y, wasm_v128_load(r3 + d + 4)));
  }
  // Lane l of the sums, position k in lane k: ((l0 + l1) + l2) + l3 as hsum_f32x4.
  const v128_t a = wasm_f32x4_add(a0, a1), b = wasm_f32x4_add(b0, b1), c = wasm_f32x4_add(c0, c1), d = wasm_f32x4_add(d0, d1);
  const v128_t ab0 = wasm_i32x4_shuffle(a, b, 0, 4, 1, 5), ab1 = wasm_i32x4_shuffle(a, b, 2, 6, 3, 7);
  const v128_t cd0 = wasm_i32x4_shuffle(c, d, 0, 4, 1, 5), cd1 = wasm_i32x4_shuffle(c, d, 2, 6, 3, 7);
  const v128_t l0 = wasm_i64x2_shuffle(ab0, cd0, 0, 2), l1 = wasm_i64x2_shuffle(ab0, cd0, 1, 3);
  const v128_t l2 = wasm_i64x2_shuffle(ab1, cd1, 0, 2), l3 = wasm_i64x2_shuffle(ab1, cd1, 1, 3);
  return wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_add(l0, l1), l2), l3);
}

// Rows *done .. upto - 1 of an f16 cache (KV head at src, rows stride elements apart) → f32 rows of
// align4(hd) at dst; *done becomes upto (nothing when it is there already).
static void convert_rows(float *dst, const uint16_t *src, int stride, int hd, int *done, int upto) {
  for (int j = *done; j < upto; j++) row_f16_to_f32(dst + (size_t)j * align4(hd), src + (size_t)j * stride, hd);
  if (upto > *done) *done = upto;
}

// Query heads h0 .. h1-1 of token t, all reading KV head g: out_row = softmax(scale * f16(q)·K)
// · V over positions 0 .. first_pos + t. kf and vf hold K and V of head g in f32 for positions
// 0 .. converted[0] - 1 and 0 .. converted[1] - 1; the rows this token needs beyond them are
// converted as the products reach them (still in cache when read), so that a thread converts each
// row once for all the tokens and query heads it attends with them (the conversion cost as much as
// the products: a 512-token prompt's attention 1.4-2.5x faster, a decoded token's unchanged).
// Every head's arithmetic is the same whichever heads and tokens it is grouped with, so the result
// does not depend on how the work is split.
static void attend(const attn_args *a, int g, int t, int h0, int h1, float *qh, float *kf, float *vf, int converted[2]) {
  const int hd = a->head_dim, hd4 = align4(hd);
  const int nh = h1 - h0;
  const int n_kv = a->first_pos + t + 1;  // causal: positions 0 .. first_pos + t
  const uint16_t *k = a->k + (size_t)g * hd, *v = a->v + (size_t)g * hd;
  int ck = converted[0], cv = converted[1];
  float *p = qh + (size_t)nh * hd4;  // nh rows of align4(n_kv) (stride: the call's largest n_kv)
  const size_t pstride = (size_t)align4(a->first_pos + a->n_tokens);

  for (int i = 0; i < nh; i++) {
    const float *q = a->q + ((size_t)t * a->n_head + h0 + i) * hd;
    float *qi = qh + (size_t)i * hd4;
    int d = 0;
    for (; d + 4 <= hd; d += 4) wasm_v128_store(qi + d, v_round_f16(wasm_v128_load(q + d)));
    for (; d < hd; d++) qi[d] = f16_to_f32(f32_to_f16(q[d]));
  }

  int j0 = 0;
  if (hd % 8 == 0) {
    const v128_t scale = wasm_f32x4_splat(a->scale);
    for (; j0 + 4 <= n_kv; j0 += 4) {
      convert_rows(kf, k, a->kv_stride, hd, &ck, j0 + 4);
      for (int i = 0; i < nh; i++) wasm_v128_store(p + i * pstride + j0, wasm_f32x4_mul(dot4_f32(qh + (size_t)i * hd4, kf + (size_t)j0 * hd4, hd4, hd), scale));
    }
  }
  convert_rows(kf, k, a->kv_stride, hd, &ck, n_kv);
  for (int j = j0; j < n_kv; j++)
    for (int i = 0; i < nh; i++) p[i * pstride + j] = dot_f32(qh + (size_t)i * hd4, kf + (size_t)j * hd4, hd) * a->scale;
  for (int i = 0; i < nh; i++) {
    float *pi = p + i * pstride;
    softmax_f32(pi, n_kv);
    int j = 0;
    for (; j + 4 <= n_kv; j += 4) wasm_v128_store(pi + j, v_round_f16(wasm_v128_load(pi + j)));
    for (; j < n_kv; j++) pi[j] = f16_to_f32(f32_to_f16(pi[j]));
    float *out = a->out + ((size_t)t * a->n_head + h0 + i) * hd;
    for (int d = 0; d < hd; d++) out[d] = 0.0f;
  }

  // out += p_j * v_j, four positions per pass over each output row; the additions stay in
  // position order, so the result equals one position at a time.
  int j = 0;
  for (; j + 4 <= n_kv; j += 4) {
    convert_rows(vf, v, a->kv_stride, hd, &cv, j + 4);
    const float *v0 = vf + (size_t)j * hd4, *v1 = v0 + hd4, *v2 = v1 + hd4, *v3 = v2 + hd4;
    for (int i = 0; i < nh; i++) {
      const float *pi = p + i * pstride + j;
      float *out = a->out + ((size_t)t * a->n_head + h0 + i) * hd;
      const v128_t p0 = wasm_f32x4_splat(pi[0]), p1 = wasm_f32x4_splat(pi[1]);
      const v128_t p2 = wasm_f32x4_splat(pi[2]), p3 = wasm_f32x4_splat(pi[3]);
      int d = 0;
      for (; d + 4 <= hd; d += 4) {
        v128_t o = wasm_v128_load(out + d);
        o = wasm_f32x4_add(o, wasm_f32x4_mul(p0, wasm_v128_load(v0 + d)));
        o = wasm_f32x4_add(o, wasm_f32x4_mul(p1, wasm_v128_load(v1 + d)));
        o = wasm_f32x4_add(o, wasm_f32x4_mul(p2, wasm_v128_load(v2 + d)));
        o = wasm_f32x4_add(o, wasm_f32x4_mul(p3, wasm_v128_load(v3 + d)));
        wasm_v128_store(out + d, o);
      }
      for (; d < hd; d++) out[d] = (((out[d] + pi[0] * v0[d]) + pi[1] * v1[d]) + pi[2] * v2[d]) + pi[3] * v3[d];
    }
  }
  convert_rows(vf, v, a->kv_stride, hd, &cv, n_kv);
  for (; j < n_kv; j++) {
    const float *rows = vf + (size_t)j * hd4;
    for (int i = 0; i < nh; i++) {
      const v128_t pj = wasm_f32x4_splat(p[i * pstride + j]);
      float *out = a->out + ((size_t)t * a->n_head + h0 + i) * hd;
      int d = 0;
      for (; d + 4 <= hd; d += 4) wasm_v128_store(out + d, wasm_f32x4_add(wasm_v128_load(out + d), wasm_f32x4_mul(pj, wasm_v128_load(rows + d))));
      for (; d < hd; d++) out[d] += p[i * pstride + j] * rows[d];
    }
  }
  converted[0] = ck;
  converted[1] = cv;
}

// Work items are (KV head, token, part of the group's query heads), numbered KV-head-major: a
// contiguous share gives each thread whole heads (equal causal work per head). Groups are split
// in parts only when there are fewer (KV head, token) pairs than threads (decoding with few KV
// heads), since each part converts the K/V rows again.
static void attn_task(const void *args, int ith, int nth) {
  const attn_args *a = args;
  const int group = a->n_head / a->n_head_kv;
  const int n_ctx = a->first_pos + a->n_tokens, hd4 = align4(a->head_dim);
  float *kf = a->scratch + (size_t)ith * per_thread(n_ctx, a->head_dim, group);
  float *vf = kf + (size_t)n_ctx * hd4, *qh = vf + (size_t)n_ctx * hd4;
  int s, e, kv_head = -1, converted[2] = {0, 0};
  split_range(a->n_head_kv * a->n_tokens * a->parts, ith, nth, &s, &e);
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
//   k, v: f16 caches, [position][kv_stride] (kv_stride >= n_head_kv * head_dim, in elements);
//         KV head g at offset g * head_dim; positions up to first_pos + n_tokens - 1 filled.
//   query head h reads KV head h / (n_head / n_head_kv) (GQA; n_head a multiple of n_head_kv).
//   scale: usually 1/sqrt(head_dim).
//   scratch: attention_scratch_floats(first_pos + n_tokens, head_dim, n_head, n_head_kv) floats
//         = pool_threads() * (align4(head_dim) * (2 * n + G) + G * align4(n)),
//         n = first_pos + n_tokens, G = n_head / n_head_kv; 16-byte aligned.
EXPORT(attention) void attention(float *out, const float *q, const uint16_t *k, const uint16_t *v, int n_tokens,
                                 int n_head, int n_head_kv, int head_dim, int kv_stride, int first_pos, float scale,
                                 float *scratch) {
  const int pairs = n_head_kv * n_tokens, nth = pool_threads(), group = n_head / n_head_kv;
  int parts = pairs >= nth ? 1 : (nth + pairs - 1) / pairs;
  if (parts > group) parts = group;
  const attn_args a = {
      .out = out, .q = q, .k = k, .v = v, .n_tokens = n_tokens, .n_head = n_head, .n_head_kv = n_head_kv,
      .head_dim = head_dim, .kv_stride = kv_stride, .first_pos = first_pos, .scale = scale, .scratch = scratch,
      .parts = parts,
  };
  pool_run(attn_task, &a);
}
