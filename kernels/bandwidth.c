// A streaming read over a buffer, split across the pool's threads: the benchmarks report this
// machine's memory bandwidth next to the kernels' throughput, measured in the same run.
#include "pool.h"

typedef struct {
  const uint8_t *p;
  int blocks;  // 64-byte blocks
  float *partial;  // one per thread
} stream_args;

static void stream_task(const void *a_, int ith, int nth) {
  const stream_args *a = a_;
  int b0, b1;
  split_range(a->blocks, ith, nth, &b0, &b1);
  v128_t s0 = wasm_i32x4_splat(0), s1 = s0, s2 = s0, s3 = s0;
  for (const uint8_t *q = a->p + (size_t)b0 * 64, *end = a->p + (size_t)b1 * 64; q < end; q += 64) {
    s0 = wasm_i32x4_add(s0, wasm_v128_load(q));
    s1 = wasm_i32x4_add(s1, wasm_v128_load(q + 16));
    s2 = wasm_i32x4_add(s2, wasm_v128_load(q + 32));
    s3 = wasm_i32x4_add(s3, wasm_v128_load(q + 48));
  }
  a->partial[ith] = (float)hsum_i32x4(wasm_i32x4_add(wasm_i32x4_add(s0, s1), wasm_i32x4_add(s2, s3)));
}

// Reads `bytes` (a multiple of 64) from p on every thread of the pool; returns a checksum so the
// reads cannot be optimised away. `partial` holds one float per thread.
EXPORT(stream_read) float stream_read(const void *p, int bytes, float *partial) {
  stream_args a = { p, bytes / 64, partial };
  pool_run(stream_task, &a, sizeof a);
  float s = 0;
  for (int i = 0; i < pool_threads(); i++) s += partial[i];
  return s;
}
