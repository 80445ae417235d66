// Tensor formats: activation quantisation, dot products of every weight format with its
// activation format (ggml's vec_dot_type), row dequantisation. Implemented in quants.c.
#pragma once
#include "common.h"

// ggml's vec_dot_type: the format activations are quantised to before a product with `wtype`.
int act_type(int wtype);
// Bytes of a row of n elements of `type` (n a whole number of blocks).
int row_bytes(int type, int n);
// Quantise a float row to an activation format (F32, F16, BF16, Q8_0, Q8_1, Q8_K), as ggml does.
void quantize_row(int type, const float *x, void *y, int n);
// Dot product of one weight row of `wtype` with a row already in act_type(wtype).
float vec_dot(int wtype, int n, const void *w, const void *x);
// Dequantise one row (embedding lookup; never used to dequantise weights in bulk).
void dequantize_row(int type, const void *x, float *y, int n);
// Tokens a vec_dot_n call takes at once.
#define VEC_DOT_N 4
// Bytes of per-token extras that batched products of `wtype` read beside the quantised
// activations (0 for most types), and their computation from one quantised row xq.
int act_extra_bytes(int wtype, int n);
void act_extras(int wtype, const void *xq, int n, void *ex);
// Weight types with equal act_format_of take the same quantised activations and extras.
int act_format_of(int wtype);
// One weight row against VEC_DOT_N activation rows (x, x + xstride, ...; their extras at ex,
// ex + exstride, ...): out[t], identical to vec_dot of each. Returns 0 (and does nothing) for
// types without a batched kernel.
int vec_dot_n(int wtype, int n, const void *w, const void *x, int xstride, const void *ex, int exstride, float *out);
// The same for 2·VEC_DOT_N tokens (Q5_0 and Q4_0 only; 0 for other types).
int vec_dot_n2(int wtype, int n, const void *w, const void *x, int xstride, const void *ex, int exstride, float *out);
// Q8_0 one-token products with the activation prepared once: prepare_q8_0 fills split (4 v128
// per block) and dy (a float per block); dot_q8_0_prepared equals vec_dot(T_Q8_0, ...) bit for bit.
void prepare_q8_0(int n, const block_q8_0 *y, v128_t *split, float *dy);
float dot_q8_0_prepared(int n, const block_q8_0 *x, const v128_t *split, const float *dy);
// dot_q8_0_prepared of the 4 rows x, x + stride, x + 2·stride, x + 3·stride (bytes) into out.
void dot_q8_0_prepared_x4(int n, const uint8_t *x, size_t stride, const v128_t *split, const float *dy, float out[4]);
// vec_dot(T_Q6_K, ...) of the 4 rows x, x + stride, x + 2·stride, x + 3·stride (bytes) into out.
void dot_q6_K_x4(int n, const uint8_t *x, size_t stride, const block_q8_K *y, float out[4]);
// vec_dot of a row whose act_extras are at ex (same result).
float vec_dot_ex(int wtype, int n, const void *w, const void *x, const void *ex);

// The 32 high bits of Q5_0 / Q5_1 as bytes 0x10 / 0x00, in element order (lo: 0..15, hi: 16..31),
// by a table of the 256 bytes spread to 8 bytes each (q5_spread, filled by init_tables): four
// loads and two inserts, measured faster than SIMD shuffles, masks and compares.
extern uint64_t q5_spread[256];
INLINE void q5_high_bits(const uint8_t *qh, v128_t *lo, v128_t *hi) {
  *lo = wasm_i64x2_make((int64_t)q5_spread[qh[0]], (int64_t)q5_spread[qh[1]]);
  *hi = wasm_i64x2_make((int64_t)q5_spread[qh[2]], (int64_t)q5_spread[qh[3]]);
}
