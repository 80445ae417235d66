// The kernels' thread pool. The caller (the engine's thread) and N-1 helper workers share one
// wasm memory; a parallel kernel packs its arguments in a struct and calls pool_run, which runs
// `fn(args, ith, nth)` on every thread and returns when all are done. The graph code never sees
// threads: it calls ordinary exported kernels that split their own work.
#pragma once
#include "common.h"

typedef void (*task_fn)(const void *args, int ith, int nth);

void pool_run(task_fn fn, const void *args);
// Threads taking part in each pool_run, the caller included.
int pool_threads(void);

// Split [0, n) into nth nearly equal ranges; thread ith gets [*start, *end).
INLINE void split_range(int n, int ith, int nth, int *start, int *end) {
  const int per = (n + nth - 1) / nth;
  int s = per * ith;
  int e = s + per;
  if (s > n) s = n;
  if (e > n) e = n;
  *start = s;
  *end = e;
}
