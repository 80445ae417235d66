// The kernels' thread pool. The caller (the engine's thread) and N-1 helper workers share one
// wasm memory; a parallel kernel packs its arguments in a struct and calls pool_run, which runs
// `fn(args, ith, nth)` for every share ith of nth and returns when all are done. Shares go to
// whichever thread claims them first (see pool.c), so a share's result must not depend on the
// thread that runs it. The graph code never sees threads: it calls ordinary exported kernels that
// split their own work.
#pragma once
#include "common.h"

typedef void (*task_fn)(const void *args, int ith, int nth);

// The largest argument struct of a task. The pool gives the shares a copy of the caller's struct
// (args_bytes of it) on cache lines of their own: the struct lives in the caller's frame, next to
// locals the caller writes while it runs shares itself, and a helper reading its arguments in its
// loops took that line from the caller's core at every read, and the caller took it back at its
// next write (Q4_K 11008×2048 × 128 tokens, 2 threads, alternating in one process: 74.6 → 88.9
// GMAC/s; 2048×11008, whose shares read them 5× less often per product: 84.1 → 89.3).
#define POOL_ARGS_BYTES 128

// Runs fn(args, share, n) once for each share of n = pool_threads() (a share per thread, for
// kernels with per-share scratch, which they may index by share).
void pool_run(task_fn fn, const void *args, int args_bytes);
// The same with n shares (1..255), for kernels whose shares need nothing of their own.
void pool_run_shares(task_fn fn, const void *args, int args_bytes, int n);
// pool_run_shares with POOL_SHARES_PER_THREAD shares per thread: on a busy machine a thread that
// shares its core runs slower, and small shares let the others take over its part as they finish
// (2 shares: 1.05x at 2 threads against 1 under load; 16: 1.35x, decode-sized Q4_K products).
#define POOL_SHARES_PER_THREAD 8
void pool_run_balanced(task_fn fn, const void *args, int args_bytes);
// A product's task: pool_run_balanced, but with POOL_ONE_TOKEN_SHARES_PER_THREAD shares per thread
// for one token (generation). Those shares are small (2-20 us in the 0.5B shape), and each costs a
// claim and a completion on words every thread writes; on a busy machine generation runs on one
// thread anyway (decode-threads.ts). 2 threads, idle, generation A/B alternating in one process
// against 8 per thread: 0.5B shape 1.04-1.10x, 3B 1.02-1.04x (16: 0.93x and 0.95x).
#define POOL_ONE_TOKEN_SHARES_PER_THREAD 4
void pool_run_product(task_fn fn, const void *args, int args_bytes, int ntok);
// pool_run_shares for kernels with scratch of their own per thread: fn also gets the slot of the
// thread that runs the share, 0 .. pool_threads() - 1, which no other thread has meanwhile.
typedef void (*slot_task_fn)(const void *args, int share, int n, int slot);
void pool_run_slots(slot_task_fn fn, const void *args, int args_bytes, int n);
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
