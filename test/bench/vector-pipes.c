// Loops for npm run bench:pipes (vector-pipes.bench.ts): how many of the Q4_K prompt tile's
// operations this CPU does per nanosecond once V8 has compiled them, with nothing else in the loop.
// The tile (kernels/repack.c, q4kr_sub) spends most of its time in tile6's loop; the other loops
// take it apart: its multiplies, its adds and its splat loads, each alone and independent, so each
// runs at its own throughput. clang would fold or hoist much of this: the empty asm statements keep
// each loop's work in the loop.
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))

// The tile's chunk loop: 6 tokens' 4 activation bytes splat, against one 16-byte weight vector
// (its low nibbles), each token's sum updated by STEP(sum, splat, weights). x: 24 bytes per chunk
// (the tokens' bytes side by side), w: 16 bytes per chunk; n chunks, reps times.
#define TILE6(STEP)                                                                                   \
  v128_t p0 = wasm_i32x4_splat(0), p1 = p0, p2 = p0, p3 = p0, p4 = p0, p5 = p0;                      \
  const v128_t m = wasm_i8x16_splat(15);                                                            \
  for (int r = 0; r < reps; r++) {                                                                  \
    const signed char *xc = x;                                                                      \
    const unsigned char *wc = w;                                                                    \
    _Pragma("clang loop unroll(disable)") for (int c = 0; c < n; c++) {                            \
      const v128_t v = wasm_v128_and(wasm_v128_load(wc), m);                                        \
      p0 = STEP(p0, wasm_v128_load32_splat(xc), v), p1 = STEP(p1, wasm_v128_load32_splat(xc + 4), v); \
      p2 = STEP(p2, wasm_v128_load32_splat(xc + 8), v), p3 = STEP(p3, wasm_v128_load32_splat(xc + 12), v); \
      p4 = STEP(p4, wasm_v128_load32_splat(xc + 16), v), p5 = STEP(p5, wasm_v128_load32_splat(xc + 20), v); \
      xc += 24;                                                                                     \
      wc += 16;                                                                                     \
      __asm__("" : "+r"(xc)); /* keeps the splats' offsets constant from one pointer */              \
      __asm__("" : "+r"(wc));                                                                       \
    }                                                                                               \
  }                                                                                                 \
  out[0] = p0, out[1] = p1, out[2] = p2, out[3] = p3, out[4] = p4, out[5] = p5;

// One relaxed i16 dot and one i16 add per token: the tile's i16 way.
#define DOT_I16(p, x, v) wasm_i16x8_add(p, wasm_i16x8_relaxed_dot_i8x16_i7x16(x, v))
EXPORT(tile6) void tile6(const signed char *x, const unsigned char *w, v128_t *out, int n, int reps) { TILE6(DOT_I16) }

// The dot-add (i32x4.relaxed_dot_i8x16_i7x16_add_s), the relaxed build's other way
// (kernels/repack.c, dot_add): one vpdpbusd where V8 uses AVX-VNNI (V8 13.6 and later), three
// instructions elsewhere.
#define DOT_ADD(p, x, v) wasm_i32x4_relaxed_dot_i8x16_i7x16_add(x, v, p)
EXPORT(tile6_dot_add) void tile6_dot_add(const signed char *x, const unsigned char *w, v128_t *out, int n, int reps) { TILE6(DOT_ADD) }

// 12 independent chains of one operation on values in registers, reps × n steps.
#define CHAINS12(OP)                                                                                  \
  v128_t a0 = wasm_v128_load(x), a1 = wasm_v128_load(x + 16), a2 = wasm_v128_load(x + 32);          \
  v128_t a3 = wasm_v128_load(x + 48), a4 = wasm_v128_load(x + 64), a5 = wasm_v128_load(x + 80);     \
  v128_t a6 = wasm_v128_load(x + 96), a7 = wasm_v128_load(x + 112), a8 = wasm_v128_load(x + 128);   \
  v128_t a9 = wasm_v128_load(x + 144), a10 = wasm_v128_load(x + 160), a11 = wasm_v128_load(x + 176); \
  const v128_t v = wasm_v128_load(w);                                                               \
  for (int r = 0; r < reps; r++) {                                                                  \
    _Pragma("clang loop unroll(disable)") for (int c = 0; c < n; c++) {                            \
      a0 = OP(a0, v), a1 = OP(a1, v), a2 = OP(a2, v), a3 = OP(a3, v), a4 = OP(a4, v), a5 = OP(a5, v); \
      a6 = OP(a6, v), a7 = OP(a7, v), a8 = OP(a8, v), a9 = OP(a9, v), a10 = OP(a10, v);             \
      a11 = OP(a11, v);                                                                             \
      __asm__("" : "+r"(c));                                                                        \
    }                                                                                               \
  }                                                                                                 \
  out[0] = a0, out[1] = a1, out[2] = a2, out[3] = a3, out[4] = a4, out[5] = a5, out[6] = a6;        \
  out[7] = a7, out[8] = a8, out[9] = a9, out[10] = a10, out[11] = a11;

// The relaxed i16 dot (x86: pmaddubsw), 12 per step.
EXPORT(mul12) void mul12(const signed char *x, const unsigned char *w, v128_t *out, int n, int reps) {
  CHAINS12(wasm_i16x8_relaxed_dot_i8x16_i7x16)
}
// The i16 add (paddw), 12 per step.
EXPORT(add12) void add12(const signed char *x, const unsigned char *w, v128_t *out, int n, int reps) {
  CHAINS12(wasm_i16x8_add)
}

// Splat loads of 4 bytes (vbroadcastss from memory), 6 per step as in tile6, each xor-ed into
// its own sum (the 6 xors need 1.5 cycles of the 4 vector pipes: not what limits this loop).
EXPORT(splat6) void splat6(const signed char *x, const unsigned char *w, v128_t *out, int n, int reps) {
  (void)w;
  v128_t a0 = wasm_i32x4_splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
  for (int r = 0; r < reps; r++) {
    const signed char *xc = x;
#pragma clang loop unroll(disable)
    for (int c = 0; c < n; c++) {
      a0 = wasm_v128_xor(a0, wasm_v128_load32_splat(xc)), a1 = wasm_v128_xor(a1, wasm_v128_load32_splat(xc + 4));
      a2 = wasm_v128_xor(a2, wasm_v128_load32_splat(xc + 8)), a3 = wasm_v128_xor(a3, wasm_v128_load32_splat(xc + 12));
      a4 = wasm_v128_xor(a4, wasm_v128_load32_splat(xc + 16)), a5 = wasm_v128_xor(a5, wasm_v128_load32_splat(xc + 20));
      xc += 24;
      __asm__("" : "+r"(xc));
    }
  }
  out[0] = a0, out[1] = a1, out[2] = a2, out[3] = a3, out[4] = a4, out[5] = a5;
}

// One chain of dependent i32 adds (one cycle each on current x86 cores): the clock, roughly.
EXPORT(clock_adds) int clock_adds(int n, int y) {
  int s = 0;
#pragma clang loop unroll(disable)
  for (int c = 0; c < n; c++) {
    s += y;
    __asm__("" : "+r"(s));
    s += y;
    __asm__("" : "+r"(s));
    s += y;
    __asm__("" : "+r"(s));
    s += y;
    __asm__("" : "+r"(s));
  }
  return s;
}
