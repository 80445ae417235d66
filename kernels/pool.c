// Thread pool over one shared memory, made to hold up when the machine is busy (inside an editor
// it always is). A task is cut into shares; the caller announces it and starts on the shares
// itself, helpers that arrive claim the rest, one at a time. The caller waits only for shares a
// helper has claimed and not finished, never for a helper that has not arrived: a descheduled
// helper costs its share's time at most, not a scheduler time slice, and a helper that never
// comes leaves the caller to do the whole task alone (no slower than one thread).
//
// Waiting spins a bounded number of times, then sleeps in memory.atomic.wait32 so that a waiting
// thread gives its core to the thread it waits for (a wake-up through wait/notify costs 15-56 us
// on these VMs and a 3B model issues ~250 products per token, so sleeping at once would cost more
// than it saves on an idle machine). When helpers keep arriving too late to take a share, the
// caller stops announcing tasks to them for a while (they sleep, their cores are free) and then
// tries again, waiting longer each time they are still late.
#include "pool.h"

// Consecutive announced tasks in which no helper took a share before the caller stops announcing.
// Not fewer: a helper asleep after a gap between products wakes 15-56 us late and misses a small
// decode product without being gone, and leaving it out then lost more than it saved (4 late
// tasks: 1.02x at 2 threads against 1 on a busy machine; 32: 1.17x; never: 1.05-1.35x).
#define LATE_LIMIT 32
// Tasks run by the caller alone after LATE_LIMIT late tasks: SOLO_MIN the first time, doubled
// each time the helpers are late again right after, up to solo_max (default 64: a third of a
// token of a 0.5B model; a prompt that follows decoding must not run alone for long).
#define SOLO_MIN 16
// Claims go through one 32-bit word, the ticket: the current task's share count over its next
// unclaimed share (8 bits each). The caller writes the task's fn and args, then a fresh ticket, and
// waits for every share before it writes anything else, so a claim that succeeds (share < count)
// is always a claim on the current task, however late the claiming helper is.
#define SHARE_BITS 8
#define SHARE_MASK ((1 << SHARE_BITS) - 1)
#define MAX_SHARES SHARE_MASK

// The words threads write while another polls them have a cache line each: a helper spinning on
// the generation then keeps its copy while shares are claimed and finished (2 threads, idle,
// generation A/B alternating in one process, 0.5B shape: 1.03-1.04x in three runs of 8-12).
static struct {
  _Alignas(64) int32_t generation;  // bumped once per announced task (and at shutdown); helpers wait on it
  _Alignas(64) int32_t ticket;      // (shares << SHARE_BITS) | next share: claimed by compare-exchange
  _Alignas(64) int32_t done;        // shares of the current task finished
  _Alignas(64) int32_t sleepers;    // helpers sleeping in wait32 on `generation`
  int32_t caller_sleeping;
  int32_t n_threads;    // threads taking part, caller included
  int32_t n_helpers;    // helpers running pool_worker_loop
  int32_t spin;         // polls before sleeping
  int32_t shutdown;
  int32_t late_streak;  // consecutive announced tasks that helpers took no share of
  int32_t solo_left;    // tasks the caller still runs alone before announcing again
  int32_t solo_next;    // length of the next solo period
  int32_t solo_max;     // longest solo period; 0: helpers are never left out
  task_fn fn;
  slot_task_fn slot_fn;  // instead of fn for pool_run_slots
  // Counters for tests and benchmarks (only the caller writes them).
  int32_t stat_tasks, stat_solo_tasks, stat_helper_shares;
  // The announced task's arguments (see POOL_ARGS_BYTES): whole lines, written only between tasks.
  _Alignas(64) uint8_t args_copy[POOL_ARGS_BYTES];
} pool = { .n_threads = 1, .spin = 20000, .solo_next = SOLO_MIN, .solo_max = 64 };

#define LOAD(p) __atomic_load_n(p, __ATOMIC_SEQ_CST)
#define STORE(p, v) __atomic_store_n(p, v, __ATOMIC_SEQ_CST)

EXPORT(pool_set_threads) void pool_set_threads(int n) { pool.n_threads = n < 1 ? 1 : n > MAX_SHARES ? MAX_SHARES : n; }
// Helpers started (Kernels.create, once they are all in pool_worker_loop). Tasks are announced
// only when there are helpers: a pool whose helpers are not running yet still computes alone.
EXPORT(pool_set_helpers) void pool_set_helpers(int n) { pool.n_helpers = n < 0 ? 0 : n; }
EXPORT(pool_threads) int pool_threads(void) { return pool.n_threads; }
EXPORT(pool_set_spin) void pool_set_spin(int n) { pool.spin = n < 0 ? 0 : n; }
// Longest run of tasks the caller does alone when helpers keep arriving late; 0 turns that off.
EXPORT(pool_set_solo_max) void pool_set_solo_max(int n) {
  pool.solo_max = n < 0 ? 0 : n;
  pool.solo_left = 0;
}
EXPORT(pool_generation) int32_t pool_generation(void) { return LOAD(&pool.generation); }
// Parallel tasks run, those of them the caller ran alone without announcing them, and shares
// helpers ran: since the pool was made.
EXPORT(pool_stat_tasks) int32_t pool_stat_tasks(void) { return pool.stat_tasks; }
EXPORT(pool_stat_solo_tasks) int32_t pool_stat_solo_tasks(void) { return pool.stat_solo_tasks; }
EXPORT(pool_stat_helper_shares) int32_t pool_stat_helper_shares(void) { return pool.stat_helper_shares; }

// Claims the next share of the current task (and its share count, in *n); -1 when none is left.
static int claim(int *n) {
  int32_t t = LOAD(&pool.ticket);
  for (;;) {
    *n = t >> SHARE_BITS;
    if ((t & SHARE_MASK) >= *n) return -1;
    if (__atomic_compare_exchange_n(&pool.ticket, &t, t + 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) return t & SHARE_MASK;
  }
}

// Share s of n of a task: fn(args, s, n), or slot_fn(args, s, n, slot) when fn is 0.
INLINE void run_share(task_fn fn, slot_task_fn slot_fn, const void *args, int s, int n, int slot) {
  if (slot_fn) slot_fn(args, s, n, slot);
  else fn(args, s, n);
}

// Runs shares of the current task until none is left; returns how many this thread ran. fn and
// args_copy are read under a claim: the caller does not change them before every claimed share is
// done.
// slot: this thread's (0 for the caller, ith for helper ith).
static int run_shares(int notify_caller, int slot) {
  int ran = 0;
  for (int s, n; (s = claim(&n)) >= 0; ran++) {
    run_share(pool.fn, pool.slot_fn, pool.args_copy, s, n, slot);
    if (__atomic_add_fetch(&pool.done, 1, __ATOMIC_SEQ_CST) == n && notify_caller && LOAD(&pool.caller_sleeping)) {
      __builtin_wasm_memory_atomic_notify(&pool.done, 1);
    }
  }
  return ran;
}

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
    if (LOAD(&pool.shutdown)) return;
    if (ith < pool.n_threads) run_shares(1, ith);
  }
}

// Waits until every share of the current task is done (only claimed, running shares remain).
static void wait_done(int n_shares) {
  int32_t d = LOAD(&pool.done);
  for (int i = 0; d != n_shares && i < pool.spin; i++) d = LOAD(&pool.done);
  while (d != n_shares) {
    STORE(&pool.caller_sleeping, 1);
    d = LOAD(&pool.done);
    if (d != n_shares) __builtin_wasm_memory_atomic_wait32(&pool.done, d, -1);
    STORE(&pool.caller_sleeping, 0);
    d = LOAD(&pool.done);
  }
}

// Whether this task goes to the helpers, or the caller runs it alone (helpers late of late).
static int announce_this_task(void) {
  if (pool.solo_left > 0) {
    pool.solo_left--;
    return 0;
  }
  return 1;
}

// After an announced task: helpers that took no share were late; LATE_LIMIT such tasks in a row
// start a solo period, longer each time the probe after one finds them late again.
static void learn(int helper_shares) {
  if (helper_shares > 0) {
    pool.late_streak = 0;
    pool.solo_next = SOLO_MIN;
    return;
  }
  if (++pool.late_streak < LATE_LIMIT || pool.solo_max == 0) return;
  pool.solo_left = pool.solo_next < pool.solo_max ? pool.solo_next : pool.solo_max;
  pool.solo_next = pool.solo_left * 2;
  pool.late_streak = LATE_LIMIT - 1;  // one late probe after the solo period starts the next one
}

void pool_run(task_fn fn, const void *args, int args_bytes) { pool_run_shares(fn, args, args_bytes, pool.n_threads); }

void pool_run_balanced(task_fn fn, const void *args, int args_bytes) {
  pool_run_shares(fn, args, args_bytes, pool.n_threads * POOL_SHARES_PER_THREAD);
}

void pool_run_product(task_fn fn, const void *args, int args_bytes, int ntok) {
  pool_run_shares(fn, args, args_bytes, pool.n_threads * (ntok == 1 ? POOL_ONE_TOKEN_SHARES_PER_THREAD : POOL_SHARES_PER_THREAD));
}

// Runs a task of n shares (see run_share).
static void run_task(task_fn fn, slot_task_fn slot_fn, const void *args, int args_bytes, int n) {
  if (args_bytes > POOL_ARGS_BYTES) __builtin_trap();  // at any thread count, not only with helpers
  if (n > MAX_SHARES) n = MAX_SHARES;
  if (pool.n_threads == 1 || pool.n_helpers == 0 || n <= 1) {
    run_share(fn, slot_fn, args, 0, 1, 0);
    return;
  }
  pool.stat_tasks++;
  if (!announce_this_task()) {
    // Alone: every share in turn (the same shares as with helpers; results do not depend on it).
    for (int s = 0; s < n; s++) run_share(fn, slot_fn, args, s, n, 0);
    pool.stat_solo_tasks++;
    return;
  }
  __builtin_memcpy(pool.args_copy, args, args_bytes);
  const int32_t g = pool.generation + 1;
  pool.fn = fn;
  pool.slot_fn = slot_fn;
  STORE(&pool.done, 0);
  STORE(&pool.ticket, n << SHARE_BITS);
  STORE(&pool.generation, g);
  if (LOAD(&pool.sleepers) > 0) __builtin_wasm_memory_atomic_notify(&pool.generation, (uint32_t)-1);
  const int helper_shares = n - run_shares(0, 0);
  wait_done(n);
  pool.stat_helper_shares += helper_shares;
  learn(helper_shares);
}

void pool_run_shares(task_fn fn, const void *args, int args_bytes, int n) { run_task(fn, 0, args, args_bytes, n); }

void pool_run_slots(slot_task_fn fn, const void *args, int args_bytes, int n) { run_task(0, fn, args, args_bytes, n); }

// Has every helper worker return from pool_worker_loop (Kernels.close waits for their exit).
EXPORT(pool_shutdown) void pool_shutdown(void) {
  STORE(&pool.shutdown, 1);
  __atomic_add_fetch(&pool.generation, 1, __ATOMIC_SEQ_CST);
  __builtin_wasm_memory_atomic_notify(&pool.generation, (uint32_t)-1);
  pool.n_helpers = 0;
}
