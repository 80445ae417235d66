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

// Floats of scratch one thread uses: four f32 rows of K or V converted from f16, the f16-rounded
// q of each query head of a group, one score row per query head of the group.
INLINE int per_thread(int n_ctx, int head_dim, int group) {
  return align4(head_dim) * (4 + group) + group * align4(n_ctx);
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

// Query heads h0 .. h1-1 of token t, all reading KV head g: out_row = softmax(scale * f16(q)·K)
// · V over positions 0 .. first_pos + t. The heads share each K and V row's f16 → f32
// conversion (the costly part); every head's arithmetic is the same whichever heads it is
// grouped with, so the result does not depend on how the work is split.
static void attend(const attn_args *a, int g, int t, int h0, int h1, float *scratch) {
  const int hd = a->head_dim, hd4 = align4(hd);
  const int nh = h1 - h0;
  const int n_kv = a->first_pos + t + 1;  // causal: positions 0 .. first_pos + t
  const size_t stride = (size_t)a->kv_stride;
  const uint16_t *k = a->k + (size_t)g * hd;
  const uint16_t *v = a->v + (size_t)g * hd;
  float *rows = scratch;            // 4 rows of hd4
  float *qh = rows + 4 * hd4;       // nh rows of hd4
  float *p = qh + (size_t)nh * hd4;  // nh rows of align4(n_kv) (stride: the call's largest n_kv)
  const size_t pstride = (size_t)align4(a->first_pos + a->n_tokens);

  for (int i = 0; i < nh; i++) {
    const float *q = a->q + ((size_t)t * a->n_head + h0 + i) * hd;
    float *qi = qh + (size_t)i * hd4;
    int d = 0;
    for (; d + 4 <= hd; d += 4) wasm_v128_store(qi + d, v_round_f16(wasm_v128_load(q + d)));
    for (; d < hd; d++) qi[d] = f16_to_f32(f32_to_f16(q[d]));
  }

  for (int j = 0; j < n_kv; j++) {
    row_f16_to_f32(rows, k + j * stride, hd);
    for (int i = 0; i < nh; i++) p[i * pstride + j] = dot_f32(qh + (size_t)i * hd4, rows, hd) * a->scale;
  }
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
    float *v0 = rows, *v1 = rows + hd4, *v2 = rows + 2 * hd4, *v3 = rows + 3 * hd4;
    row_f16_to_f32(v0, v + j * stride, hd);
    row_f16_to_f32(v1, v + (j + 1) * stride, hd);
    row_f16_to_f32(v2, v + (j + 2) * stride, hd);
    row_f16_to_f32(v3, v + (j + 3) * stride, hd);
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
  for (; j < n_kv; j++) {
    row_f16_to_f32(rows, v + j * stride, hd);
    for (int i = 0; i < nh; i++) {
      const v128_t pj = wasm_f32x4_splat(p[i * pstride + j]);
      float *out = a->out + ((size_t)t * a->n_head + h0 + i) * hd;
      int d = 0;
      for (; d + 4 <= hd; d += 4) wasm_v128_store(out + d, wasm_f32x4_add(wasm_v128_load(out + d), wasm_f32x4_mul(pj, wasm_v128_load(rows + d))));
      for (; d < hd; d++) out[d] += p[i * pstride + j] * rows[d];
    }
  }
}

// Work items are (KV head, token, part of the group's query heads), numbered KV-head-major: a
// contiguous share gives each thread whole heads (equal causal work per head). Groups are split
// in parts only when there are fewer (KV head, token) pairs than threads (decoding with few KV
// heads), since each part converts the K/V rows again.
static void attn_task(const void *args, int ith, int nth) {
  const attn_args *a = args;
  const int group = a->n_head / a->n_head_kv;
  float *scratch = a->scratch + (size_t)ith * per_thread(a->first_pos + a->n_tokens, a->head_dim, group);
  int s, e;
  split_range(a->n_head_kv * a->n_tokens * a->parts, ith, nth, &s, &e);
  for (int i = s; i < e; i++) {
    const int part = i % a->parts, pair = i / a->parts;
    const int g = pair / a->n_tokens, t = pair % a->n_tokens;
    int h0, h1;
    split_range(group, part, a->parts, &h0, &h1);
    if (h1 > h0) attend(a, g, t, g * group + h0, g * group + h1, scratch);
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
//         = pool_threads() * (align4(head_dim) * (4 + G) + G * align4(first_pos + n_tokens)),
//         G = n_head / n_head_kv; 16-byte aligned.
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
