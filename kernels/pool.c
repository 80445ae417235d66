// Thread pool over one shared memory: a generation counter announces a task, helpers run their
// share, a pending counter meets at the end. Waiting spins a bounded number of times (a wake-up
// through memory.atomic.wait/notify costs 15-56 us on these VMs, and a 3B model issues ~250
// products per token), then sleeps; notify is only sent when someone sleeps.
#include "pool.h"

static struct {
  int32_t generation;   // bumped once per task; helpers wait for it to change
  int32_t pending;      // helpers that have not finished the current task
  int32_t sleepers;     // helpers sleeping in wait32 on `generation`
  int32_t caller_sleeping;
  int32_t n_threads;    // threads taking part, caller included
  int32_t n_helpers;    // helpers running pool_worker_loop; every one of them checks in per task
  int32_t spin;         // polls before sleeping
  int32_t shutdown;
  task_fn fn;
  const void *args;
} pool = { .n_threads = 1, .spin = 20000 };

#define LOAD(p) __atomic_load_n(p, __ATOMIC_SEQ_CST)
#define STORE(p, v) __atomic_store_n(p, v, __ATOMIC_SEQ_CST)

EXPORT(pool_set_threads) void pool_set_threads(int n) { pool.n_threads = n < 1 ? 1 : n; }
// Helpers started (Kernels.create, once they are all in pool_worker_loop). Every started helper
// answers every task, also those with ith >= n_threads that only skip it: the count the caller
// waits for is n_helpers, never n_threads - 1 (that deadlocked after setThreads(n) with n below
// the threads the pool was made with). Waiting for all also means no helper can lag a task behind.
EXPORT(pool_set_helpers) void pool_set_helpers(int n) { pool.n_helpers = n < 0 ? 0 : n; }
EXPORT(pool_threads) int pool_threads(void) { return pool.n_threads; }
EXPORT(pool_set_spin) void pool_set_spin(int n) { pool.spin = n < 0 ? 0 : n; }

EXPORT(pool_generation) int32_t pool_generation(void) { return LOAD(&pool.generation); }

// Helper workers call this once, with the generation read before they were started (a task
// announced while a helper was starting must not be missed); it returns after pool_shutdown.
EXPORT(pool_worker_loop) void pool_worker_loop(int ith, int32_t seen) {
  for (;;) {
    int32_t g = LOAD(&pool.generation);
    for (int i = 0; g == seen && i < pool.spin; i++) g = LOAD(&pool.generation);
    while (g == seen) {
      __atomic_add_fetch(&pool.sleepers, 1, __ATOMIC_SEQ_CST);
      __builtin_wasm_memory_atomic_wait32(&pool.generation, seen, -1);
      __atomic_sub_fetch(&pool.sleepers, 1, __ATOMIC_SEQ_CST);
      g = LOAD(&pool.generation);
    }
    seen = g;
    const int stop = LOAD(&pool.shutdown);
    const int nth = pool.n_threads;
    if (!stop && ith < nth) pool.fn(pool.args, ith, nth);
    if (__atomic_sub_fetch(&pool.pending, 1, __ATOMIC_SEQ_CST) == 0 && LOAD(&pool.caller_sleeping)) {
      __builtin_wasm_memory_atomic_notify(&pool.pending, 1);
    }
    if (stop) return;
  }
}

// Wakes every helper and has each return from pool_worker_loop. `helpers` = helpers started.
static void announce(int helpers) {
  STORE(&pool.pending, helpers);
  __atomic_add_fetch(&pool.generation, 1, __ATOMIC_SEQ_CST);
  if (LOAD(&pool.sleepers) > 0) __builtin_wasm_memory_atomic_notify(&pool.generation, (uint32_t)-1);
}

static void wait_helpers(void) {
  int32_t p = LOAD(&pool.pending);
  for (int i = 0; p != 0 && i < pool.spin; i++) p = LOAD(&pool.pending);
  while (p != 0) {
    STORE(&pool.caller_sleeping, 1);
    p = LOAD(&pool.pending);
    if (p != 0) __builtin_wasm_memory_atomic_wait32(&pool.pending, p, -1);
    STORE(&pool.caller_sleeping, 0);
    p = LOAD(&pool.pending);
  }
}

void pool_run(task_fn fn, const void *args) {
  const int nth = pool.n_threads;
  if (nth == 1) {
    fn(args, 0, 1);
    return;
  }
  pool.fn = fn;
  pool.args = args;
  announce(pool.n_helpers);
  fn(args, 0, nth);
  wait_helpers();
}

// Stops every helper worker (all that run pool_worker_loop).
EXPORT(pool_shutdown) void pool_shutdown(void) {
  STORE(&pool.shutdown, 1);
  announce(pool.n_helpers);
  wait_helpers();
  STORE(&pool.shutdown, 0);
  pool.n_helpers = 0;
}
