// The float operations of a transformer layer besides the matrix products: RMSNorm, RoPE, softmax,
// SwiGLU, elementwise add/mul/scale, biases, f16 KV stores, exp. Each follows ggml's CPU op
// (ggml-cpu/ops.cpp, vec.h) step by step, including where ggml rounds to float and where it sums
// in double, so the engine reproduces llama.cpp's numbers. Pointers are byte offsets into the
// shared memory; lengths are element counts. Attention is in ops-attention.c.
#include "mathf.h"
#include "pool.h"

// ---------------------------------------------------------------- elementwise

// y = a + b (ggml_add, same shapes). y may alias a or b.
EXPORT(add) void add(const float *a, const float *b, float *y, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(y + i, wasm_f32x4_add(wasm_v128_load(a + i), wasm_v128_load(b + i)));
  for (; i < n; i++) y[i] = a[i] + b[i];
}

// y = a * b elementwise (ggml_mul, same shapes). y may alias a or b.
EXPORT(mul) void mul(const float *a, const float *b, float *y, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(y + i, wasm_f32x4_mul(wasm_v128_load(a + i), wasm_v128_load(b + i)));
  for (; i < n; i++) y[i] = a[i] * b[i];
}

// y = x * s (ggml_scale / ggml_vec_scale_f32). y may alias x.
EXPORT(scale) void scale(const float *x, float *y, int n, float s) {
  const v128_t vs = wasm_f32x4_splat(s);
  int i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(y + i, wasm_f32x4_mul(wasm_v128_load(x + i), vs));
  for (; i < n; i++) y[i] = x[i] * s;
}

// x[r][i] += b[i] for `rows` contiguous rows of n: the Q/K/V biases of qwen2 (ggml_add with a
// broadcast bias row).
EXPORT(add_bias_rows) void add_bias_rows(float *x, const float *b, int n, int rows) {
  for (int r = 0; r < rows; r++) add(x + (size_t)r * n, b, x + (size_t)r * n, n);
}

// y = exp(x) by the kernels' own expf (mathf.h); y may alias x. Exported mainly so the tests can
// measure its error.
EXPORT(exp_f32) void exp_f32(const float *x, float *y, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(y + i, v_expf(wasm_v128_load(x + i)));
  for (; i < n; i++) y[i] = expf_(x[i]);
}

// ---------------------------------------------------------------- RMSNorm

// Σ x² with each square rounded to float and the sum kept in double, as ggml's rms_norm does
// (`sum += (ggml_float)(x[i]*x[i])`). Double sums of floats round so little that the order of
// the additions does not show in the float result.
static double sum_squares(const float *x, int n) {
  v128_t acc0 = wasm_f64x2_splat(0.0), acc1 = acc0;
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    const v128_t v = wasm_v128_load(x + i);
    const v128_t sq = wasm_f32x4_mul(v, v);
    acc0 = wasm_f64x2_add(acc0, wasm_f64x2_promote_low_f32x4(sq));
    acc1 = wasm_f64x2_add(acc1, wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(sq, sq, 2, 3, 0, 1)));
  }
  const v128_t acc = wasm_f64x2_add(acc0, acc1);
  double sum = wasm_f64x2_extract_lane(acc, 0) + wasm_f64x2_extract_lane(acc, 1);
  for (; i < n; i++) sum += (double)(x[i] * x[i]);
  return sum;
}

// y = x / sqrt(mean(x²) + eps) * w over one row of n. As in llama.cpp: ggml_rms_norm computes
// mean in double, rounds it to float, scale = 1.0f / sqrtf(mean + eps) in float, y = x * scale;
// then a separate ggml_mul by the weight rounds again. w = 0 (null) skips the weight.
EXPORT(rms_norm) void rms_norm(const float *x, const float *w, float *y, int n, float eps) {
  const float mean = (float)(sum_squares(x, n) / n);
  const float s = 1.0f / __builtin_sqrtf(mean + eps);
  scale(x, y, n, s);
  if (w) mul(y, w, y, n);
}

// rms_norm on `rows` contiguous rows of n with the same weight: a batch of tokens, or qwen3's
// per-head Q/K norm (rows = tokens * heads, n = head_dim, w = the head_dim weight).
EXPORT(rms_norm_rows) void rms_norm_rows(const float *x, const float *w, float *y, int n, int rows, float eps) {
  for (int r = 0; r < rows; r++) rms_norm(x + (size_t)r * n, w, y + (size_t)r * n, n, eps);
}

// ---------------------------------------------------------------- RoPE

// Rotates the first n_dims of each head in place. cs holds n_dims/2 pairs (cos θ_i, sin θ_i), made
// by the caller as llama.cpp makes them (test/reference/ops.ts ropeCosSin). Per ggml's
// rotate_pairs: x0' = x0*cos - x1*sin, x1' = x0*sin + x1*cos, each product rounded to float (no
// FMA here; an FMA-contracting native build can differ by an ulp). Normal mode pairs
// (x[2i], x[2i+1]); NeoX mode pairs (x[i], x[i + n_dims/2]). Dimensions past n_dims are kept.
static void rope_head(float *x, int n_dims, const float *cs, int neox) {
  const int half = n_dims / 2;
  int i = 0;
  if (neox) {
    for (; i + 4 <= half; i += 4) {
      const v128_t cs0 = wasm_v128_load(cs + 2 * i), cs1 = wasm_v128_load(cs + 2 * i + 4);
      const v128_t c = wasm_i32x4_shuffle(cs0, cs1, 0, 2, 4, 6);
      const v128_t s = wasm_i32x4_shuffle(cs0, cs1, 1, 3, 5, 7);
      const v128_t x0 = wasm_v128_load(x + i), x1 = wasm_v128_load(x + half + i);
      wasm_v128_store(x + i, wasm_f32x4_sub(wasm_f32x4_mul(x0, c), wasm_f32x4_mul(x1, s)));
      wasm_v128_store(x + half + i, wasm_f32x4_add(wasm_f32x4_mul(x0, s), wasm_f32x4_mul(x1, c)));
    }
    for (; i < half; i++) {
      const float c = cs[2 * i], s = cs[2 * i + 1], x0 = x[i], x1 = x[half + i];
      x[i] = x0 * c - x1 * s;
      x[half + i] = x0 * s + x1 * c;
    }
  } else {
    // Two pairs per vector: x = [a0 b0 a1 b1], out = x*[c0 c0 c1 c1] + [b0 a0 b1 a1]*[-s0 s0 -s1 s1]
    // (negating a product is exact, so this equals the scalar formula bit for bit).
    const v128_t flip = wasm_f32x4_make(-1.0f, 1.0f, -1.0f, 1.0f);
    for (; i + 2 <= half; i += 2) {
      const v128_t v = wasm_v128_load(x + 2 * i), t = wasm_v128_load(cs + 2 * i);
      const v128_t c = wasm_i32x4_shuffle(t, t, 0, 0, 2, 2);
      const v128_t s = wasm_f32x4_mul(wasm_i32x4_shuffle(t, t, 1, 1, 3, 3), flip);
      const v128_t vs = wasm_i32x4_shuffle(v, v, 1, 0, 3, 2);
      wasm_v128_store(x + 2 * i, wasm_f32x4_add(wasm_f32x4_mul(v, c), wasm_f32x4_mul(vs, s)));
    }
    for (; i < half; i++) {
      const float c = cs[2 * i], s = cs[2 * i + 1], x0 = x[2 * i], x1 = x[2 * i + 1];
      x[2 * i] = x0 * c - x1 * s;
      x[2 * i + 1] = x0 * s + x1 * c;
    }
  }
}

// RoPE in place on `n_tokens` rows, row t starting at x + t*row_stride (floats) and holding
// n_heads heads of head_dim; token t uses the table cs + t*n_dims (n_dims/2 (cos, sin) pairs for
// its position). neox: 0 = GGML_ROPE_TYPE_NORM (llama, smollm3), 1 = NEOX (qwen2, qwen3).
EXPORT(rope_rows) void rope_rows(float *x, int n_tokens, int row_stride, int n_heads, int head_dim, int n_dims,
                                 const float *cs, int neox) {
  for (int t = 0; t < n_tokens; t++) {
    float *row = x + (size_t)t * row_stride;
    const float *table = cs + (size_t)t * n_dims;
    for (int h = 0; h < n_heads; h++) rope_head(row + (size_t)h * head_dim, n_dims, table, neox);
  }
}

// RoPE in place on one token's row of n_heads heads (see rope_rows).
EXPORT(rope) void rope(float *x, int n_heads, int head_dim, int n_dims, const float *cs, int neox) {
  rope_rows(x, 1, n_heads * head_dim, n_heads, head_dim, n_dims, cs, neox);
}

// ---------------------------------------------------------------- softmax, SwiGLU

// Softmax in place, shared with ops-attention.c.
void softmax_f32(float *x, int n);
void softmax_f32(float *x, int n) {
  // max (ggml_vec_max_f32)
  float max = -__builtin_inff();
  int i = 0;
  if (n >= 4) {
    v128_t m = wasm_v128_load(x);
    for (i = 4; i + 4 <= n; i += 4) m = wasm_f32x4_pmax(m, wasm_v128_load(x + i));
    m = wasm_f32x4_pmax(m, wasm_i32x4_shuffle(m, m, 2, 3, 0, 1));
    m = wasm_f32x4_pmax(m, wasm_i32x4_shuffle(m, m, 1, 0, 3, 2));
    max = wasm_f32x4_extract_lane(m, 0);
  }
  for (; i < n; i++) max = x[i] > max ? x[i] : max;
  // e = exp(x - max), Σ e in double (ggml_vec_soft_max_f32 returns a ggml_float sum).
  const v128_t vmax = wasm_f32x4_splat(max);
  v128_t acc0 = wasm_f64x2_splat(0.0), acc1 = acc0;
  for (i = 0; i + 4 <= n; i += 4) {
    const v128_t e = v_expf(wasm_f32x4_sub(wasm_v128_load(x + i), vmax));
    wasm_v128_store(x + i, e);
    acc0 = wasm_f64x2_add(acc0, wasm_f64x2_promote_low_f32x4(e));
    acc1 = wasm_f64x2_add(acc1, wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(e, e, 2, 3, 0, 1)));
  }
  const v128_t acc = wasm_f64x2_add(acc0, acc1);
  double sum = wasm_f64x2_extract_lane(acc, 0) + wasm_f64x2_extract_lane(acc, 1);
  for (; i < n; i++) {
    const float e = expf_(x[i] - max);
    x[i] = e;
    sum += e;
  }
  // ggml: sum = 1.0/sum (double), then ggml_vec_scale_f32 takes it as a float.
  scale(x, x, n, (float)(1.0 / sum));
}

// Softmax of one row in place: exp(x - max(x)) / Σ, as ggml_soft_max (scale 1, no mask).
EXPORT(softmax) void softmax(float *x, int n) { softmax_f32(x, n); }

// Elements [i0, i1) of silu_mul: 4 at a time, the last n % 4 of the whole row one at a time.
static void silu_mul_range(const float *gate, const float *up, float *y, int i0, int i1) {
  const v128_t one = wasm_f32x4_splat(1.0f);
  int i = i0;
  for (; i + 4 <= i1; i += 4) {
    const v128_t g = wasm_v128_load(gate + i);
    const v128_t silu = wasm_f32x4_div(g, wasm_f32x4_add(one, v_expf(wasm_f32x4_neg(g))));
    wasm_v128_store(y + i, wasm_f32x4_mul(silu, wasm_v128_load(up + i)));
  }
  for (; i < i1; i++) y[i] = gate[i] / (1.0f + expf_(-gate[i])) * up[i];
}

typedef struct {
  const float *gate, *up;
  float *y;
  int n;
} silu_args;

// Shares of whole vectors of 4, so that every element takes the same path at any thread count.
static void silu_task(const void *p, int ith, int nth) {
  const silu_args *a = p;
  int v0, v1;
  split_range(a->n / 4, ith, nth, &v0, &v1);
  silu_mul_range(a->gate, a->up, a->y, 4 * v0, ith == nth - 1 ? a->n : 4 * v1);
}

// A prompt batch's SwiGLU is split across the pool's threads (the 3B shape's 512 tokens: 5.6M
// elements, ~200 ms on one thread, ~1% of the prompt); a generated token's (~10 µs) is not.
#define SILU_SHARED_MIN 65536

// y = silu(gate) * up = gate / (1 + exp(-gate)) * up: ggml's swiglu (ggml_vec_swiglu_f32 with
// ggml_v_silu). y may alias gate or up.
EXPORT(silu_mul) void silu_mul(const float *gate, const float *up, float *y, int n) {
  if (n < SILU_SHARED_MIN) {
    silu_mul_range(gate, up, y, 0, n);
    return;
  }
  const silu_args a = { gate, up, y, n };
  pool_run_balanced(silu_task, &a, sizeof a);
}

// ---------------------------------------------------------------- f16 KV cache

// dst = f16(src), round to nearest even: what ggml_cpy from F32 into the F16 KV cache stores.
EXPORT(store_kv_f16) void store_kv_f16(const float *src, uint16_t *dst, int n) {
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    const v128_t lo = v_f32_to_f16(wasm_v128_load(src + i));
    const v128_t hi = v_f32_to_f16(wasm_v128_load(src + i + 4));
    // Each lane holds its half in the low 16 bits: pick those of both vectors into one.
    wasm_v128_store(dst + i, wasm_i16x8_shuffle(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14));
  }
  for (; i < n; i++) dst[i] = f32_to_f16(src[i]);
}

// The keys (or values) of n_tokens tokens, rows of n_heads × head_dim floats at src, into a cache
// that keeps each head's positions together: head g of token t at dst + g·plane + t·head_dim
// (dst: the first token's position in head 0's plane). Why by head: see attend (ops-attention.c).
EXPORT(store_kv_f16_heads) void store_kv_f16_heads(const float *src, uint16_t *dst, int n_tokens, int n_heads, int head_dim, int plane) {
  for (int t = 0; t < n_tokens; t++)
    for (int g = 0; g < n_heads; g++) store_kv_f16(src + ((size_t)t * n_heads + g) * head_dim, dst + (size_t)g * plane + (size_t)t * head_dim, head_dim);
}

// dst = f32 of the f16 values src (exact; NaN stays NaN, its payload bits are not guaranteed):
// attention's conversion of its K and V rows (f16_row_to_f32), exported so that the tests check it
// over every half.
EXPORT(f16_to_f32_row) void f16_to_f32_row(const uint16_t *src, float *dst, int n) { f16_row_to_f32(src, dst, n); }
