// Matrix products of quantised weights with float activations, as llama.cpp computes them:
// activations are quantised to the weight type's activation format first (ggml's vec_dot_type),
// then every output is one vec_dot of a weight row with an activation row. Weights are never
// dequantised in bulk. Rows are split across the pool's threads; each output is computed by
// exactly one thread with the same arithmetic, so results do not depend on the thread count.
#include "pool.h"
#include "quants.h"
#include "repack.h"

typedef struct {
  int wtype, type, n, rows;
  const float *x;
  uint8_t *xq;
  int xq_row_bytes;
  uint8_t *ex;  // act_extras rows (ex_row_bytes each) after the quantised rows, or none
  int ex_row_bytes;
} quantize_args;

static void quantize_task(const void *p, int ith, int nth) {
  const quantize_args *a = p;
  int r0, r1;
  split_range(a->rows, ith, nth, &r0, &r1);
  for (int r = r0; r < r1; r++) {
    uint8_t *xq = a->xq + (size_t)r * a->xq_row_bytes;
    quantize_row(a->type, a->x + (size_t)r * a->n, xq, a->n);
    if (a->ex_row_bytes) act_extras(a->wtype, xq, a->n, a->ex + (size_t)r * a->ex_row_bytes);
  }
}

// Bytes of scratch that `ntok` activation rows of `ncols` need for weights of `wtype`: the
// quantised rows, then (for the types that use them in batches) their act_extras rows.
// (wtype may carry the REPACKED flag, as in every call below.)
EXPORT(matmul_scratch_bytes) int matmul_scratch_bytes(int wtype, int ncols, int ntok) {
  wtype &= ~REPACKED;
  return ntok * (row_bytes(act_type(wtype), ncols) + act_extra_bytes(wtype, ncols));
}

// Which quantised activations weights of `wtype` take: weight types with the same id take the same
// bytes (the activation type and its act_extras), so one quantisation of an input serves them all
// (the transformer quantises q, k and v's input once when their formats agree).
EXPORT(act_format) int act_format(int wtype) { return act_format_of(wtype & ~REPACKED); }

// Quantises `ntok` float rows of `ncols` into the activation format of `wtype` (into xq, laid out
// as matmul_scratch_bytes says).
EXPORT(quantize_activations) void quantize_activations(int wtype, const float *x, int ncols, int ntok, void *xq) {
  wtype &= ~REPACKED;
  const int type = act_type(wtype), rb = row_bytes(type, ncols);
  const int eb = act_extra_bytes(wtype, ncols);
  quantize_args a = { wtype, type, ncols, ntok, x, xq, rb, (uint8_t *)xq + (size_t)ntok * rb, eb };
  // Shares of a few rows each, not one per thread: on a busy machine a thread that loses its core
  // leaves its rows to the others (the rows' bytes do not depend on the share).
  if (ntok == 1) quantize_task(&a, 0, 1);
  else pool_run_balanced(quantize_task, &a, sizeof a);
}

typedef struct {
  int wtype, nrows, ncols, ntok;
  const uint8_t *w;
  int w_row_bytes;
  const uint8_t *xq;
  int xq_row_bytes;
  const uint8_t *ex;
  int ex_row_bytes;
  float *y;
} matmul_args;

// Rows go in tiles so that a tile of weight rows stays in cache while it meets every token.
#define ROW_TILE 16
// Longest Q8_0 row (in blocks) whose activation the one-token products prepare on the stack (68
// bytes a block: 4096 blocks, rows of 131072 elements, 272 KiB of a thread's 1 MiB stack);
// longer rows take vec_dot.
#define Q8_0_PREPARED_BLOCKS 4096

static void matmul_task(const void *p, int ith, int nth) {
  const matmul_args *a = p;
  int r0, r1;
  split_range(a->nrows, ith, nth, &r0, &r1);
  // Q8_0's one-token products read the token's activation prepared once (prepare_q8_0).
  const int prepared = a->wtype == T_Q8_0 && a->ncols / QK <= Q8_0_PREPARED_BLOCKS;
  v128_t split[prepared ? 4 * a->ncols / QK : 1];
  float dy[prepared ? a->ncols / QK : 1];
  int prepared_t = -1;
  if (a->ntok == 1 && (prepared || a->wtype == T_Q6_K)) {
    // One token (generation) of the large file-layout matrices (the tied outputs): 4 rows at once,
    // a quarter of the share apart. The rows stream from memory, and 4 streams far apart read
    // faster than one (Q8_0 151936×896, A/B in one process: 6.1 → 11.8 GB/s at 1 thread, 12.0 →
    // 22.3 at 2; 4 adjacent rows at once had read 5.1).
    if (prepared) prepare_q8_0(a->ncols, (const block_q8_0 *)a->xq, split, dy);
    const int q = (r1 - r0) / 4;
    const size_t rb = (size_t)a->w_row_bytes;
    for (int r = r0; r < r0 + q; r++) {
      float out[4];
      if (prepared) dot_q8_0_prepared_x4(a->ncols, a->w + r * rb, q * rb, split, dy, out);
      else dot_q6_K_x4(a->ncols, a->w + r * rb, q * rb, (const block_q8_K *)a->xq, out);
      for (int j = 0; j < 4; j++) a->y[r + j * q] = out[j];
    }
    for (int r = r0 + 4 * q; r < r1; r++)
      a->y[r] = prepared ? dot_q8_0_prepared(a->ncols, (const block_q8_0 *)(a->w + r * rb), split, dy) : vec_dot_ex(a->wtype, a->ncols, a->w + r * rb, a->xq, a->ex);
    return;
  }
  for (int tile = r0; tile < r1; tile += ROW_TILE) {
    const int tile_end = tile + ROW_TILE < r1 ? tile + ROW_TILE : r1;
    int t = 0;
    // Groups of tokens: each weight row is unpacked once for all of them. 2·VEC_DOT_N where the
    // type has such a kernel (Q5_0 / Q4_0), then VEC_DOT_N, then one at a time below.
    for (int width = 2 * VEC_DOT_N; width >= VEC_DOT_N; width /= 2) {
      for (; t + width <= a->ntok; t += width) {
        const uint8_t *x = a->xq + (size_t)t * a->xq_row_bytes, *ex = a->ex + (size_t)t * a->ex_row_bytes;
        float out[2 * VEC_DOT_N];
        int r = tile;
        for (; r < tile_end; r++) {
          const uint8_t *w = a->w + (size_t)r * a->w_row_bytes;
          const int done = width == VEC_DOT_N ? vec_dot_n(a->wtype, a->ncols, w, x, a->xq_row_bytes, ex, a->ex_row_bytes, out)
                                              : vec_dot_n2(a->wtype, a->ncols, w, x, a->xq_row_bytes, ex, a->ex_row_bytes, out);
          if (!done) break;
          for (int u = 0; u < width; u++) a->y[(size_t)(t + u) * a->nrows + r] = out[u];
        }
        if (r < tile_end) break;  // no kernel of this width for this type
      }
    }
    for (; t < a->ntok; t++) {
      const uint8_t *x = a->xq + (size_t)t * a->xq_row_bytes;
      float *y = a->y + (size_t)t * a->nrows;
      const uint8_t *ex = a->ex + (size_t)t * a->ex_row_bytes;
      if (prepared) {
        if (prepared_t != t) prepare_q8_0(a->ncols, (const block_q8_0 *)x, split, dy);
        prepared_t = t;
        for (int r = tile; r < tile_end; r++) y[r] = dot_q8_0_prepared(a->ncols, (const block_q8_0 *)(a->w + (size_t)r * a->w_row_bytes), split, dy);
        continue;
      }
      for (int r = tile; r < tile_end; r++) y[r] = vec_dot_ex(a->wtype, a->ncols, a->w + (size_t)r * a->w_row_bytes, x, ex);
    }
  }
}

// y[t][r] = W[r] · x[t] for already quantised activations xq (see quantize_activations).
// W: nrows rows of ncols elements of wtype; y: ntok rows of nrows floats.
EXPORT(matmul_quantized) void matmul_quantized(int wtype, const void *w, int nrows, int ncols, const void *xq, int ntok, float *y) {
  if (wtype & REPACKED) {
    matmul_repacked(wtype & ~REPACKED, w, nrows, ncols, xq, ntok, y);
    return;
  }
  const int rb = row_bytes(act_type(wtype), ncols);
  matmul_args a = { wtype, nrows, ncols, ntok, w, row_bytes(wtype, ncols), xq, rb,
                    (const uint8_t *)xq + (size_t)ntok * rb, act_extra_bytes(wtype, ncols), y };
  pool_run_product(matmul_task, &a, sizeof a, ntok);
}

// y[t][r] = W[r] · x[t] for float activations x (ntok rows of ncols); `scratch` holds
// matmul_scratch_bytes(wtype, ncols, ntok) bytes for the quantised activations.
EXPORT(matmul) void matmul(int wtype, const void *w, int nrows, int ncols, const float *x, int ntok, float *y, void *scratch) {
  quantize_activations(wtype, x, ncols, ntok, scratch);
  matmul_quantized(wtype, w, nrows, ncols, scratch, ntok, y);
}

// One row of a weight matrix as floats (the embedding lookup); `type` may carry REPACKED.
EXPORT(get_row) void get_row(int type, const void *w, int ncols, int row, float *y) {
  if (type & REPACKED) repacked_get_row(type & ~REPACKED, w, ncols, row, y);
  else dequantize_row(type, (const uint8_t *)w + (size_t)row * row_bytes(type, ncols), y, ncols);
}
