// How many kernel threads one generated token's forward pass (a decode step) uses. On a busy
// machine (inside an editor: language servers, the renderer, builds) a token's many small products
// can run slower on every thread than on one, because a thread that loses its core in the middle
// of its share holds the others up at the end of each product (measured, 0.5B shape, one core kept
// busy by another process, 2 threads against 1: 0.84-0.98x; idle: 1.6x). So one count (all
// threads, or one) is used and the other is tried now and then (often while the two are close,
// rarely once the one in use is clearly faster), each try timed against the step before it; when
// tries keep coming out faster, the counts swap. The choice follows the machine's load. Prompt
// batches are not governed: they gain from every thread even on a busy machine. Results do not
// depend on the thread count (the kernels' shares are fixed).

/** Weight of the newest try in the running mean of a try's time ÷ the step's before it. */
const NEWEST = 0.3;
/** Steps between tries of the other thread count until it has SURE tries since the last switch (a
 * noisy first try must not decide a whole reply). */
const TRY_UNSURE = 4;
const SURE = 3;
/** ... then while the two are within CLEAR of each other. */
const TRY_CLOSE = 16;
/** ... and once the one in use is faster by more than CLEAR (a try then costs little). */
const TRY_CLEAR = 64;
const CLEAR = 1.25;
/** CHANGED_STEPS steps in a row on the count in use, each more than CHANGED × the running mean of
 * the steps before it, while the other count is tried rarely (it was CLEAR-ly slower): the machine
 * changed (load came), and what the tries said is stale. */
const CHANGED = 1.3;
const CHANGED_STEPS = 3;

export class DecodeThreads {
  private current: number;
  /** Running mean of a try's time ÷ the time of the step before it (on the count in use). */
  private ratio: number | undefined;
  private tries = 0;
  private steps = 0;
  private lastMs = 0;
  /** Running mean of the steps on the count in use, and how many in a row were CHANGED slower. */
  private meanMs = 0;
  private slowRun = 0;
  /** The machine changed: the next step tries the other count. */
  private changed = false;

  /** `max`: the kernels' threads (the caller included); governed between max and 1. */
  constructor(readonly max: number) {
    this.current = max;
  }

  /** Threads for the next step. */
  next(): number {
    if (this.max === 1 || this.lastMs === 0) return this.current;
    if (this.changed) return this.other();
    const r = this.ratio ?? 1;
    const every = this.tries < SURE ? TRY_UNSURE : r > CLEAR ? TRY_CLEAR : TRY_CLOSE;
    return this.steps % every === every - 1 ? this.other() : this.current;
  }

  /**
   * The step just run on `threads` threads took `ms`. A try of the other count is compared with
   * the step just before it, not with an older mean: on these machines the speed of a core changes
   * by 2x for seconds at a time, which made the means of the two counts, sampled at different
   * times, pick the slower one (a 0.5B reply on a busy machine: 29% of its steps on 2 threads,
   * 0.93x of one thread).
   */
  report(threads: number, ms: number): void {
    this.steps++;
    if (threads === this.current) {
      this.lastMs = ms;
      this.watch(ms);
      return;
    }
    const r = ms / this.lastMs;
    this.ratio = this.ratio === undefined ? r : this.ratio + NEWEST * (r - this.ratio);
    this.changed = false;
    this.tries++;
    if (this.ratio < 1) {
      // The other count is faster: use it, and try the one left soon (the switch may be noise).
      this.current = threads;
      this.ratio = 1 / this.ratio;
      this.tries = 0;
      this.lastMs = ms;
      this.meanMs = ms;
      this.slowRun = 0;
    }
  }

  /**
   * Steps on the count in use that turn markedly slower and stay so mean load came (a build, a
   * language server): after a long idle stretch the other count is tried only every TRY_CLEAR
   * steps and the running mean of tries moves slowly: driven with idle, then busy step times (the
   * test), all threads ran 86 of the 88 steps from the 40th after the load came (now 7, the
   * switch at the 31st). A slowdown of a few steps in a row (not one hiccup) has the other count
   * tried at once. The slow steps are measured against the mean from before them, which they do
   * not move: the 0.5B shape's steps on 2 threads went 1.5x slower under load, and a mean that
   * followed them let at most 2 in a row count as slow (63 of 64 steps stayed on 2 threads, 0.86x
   * of one thread). (While the two are close, tries come every TRY_CLOSE steps anyway, and a speed
   * change of the whole machine must not add tries: the stretches test, 45 → 60 → 88 of 640 steps.)
   */
  private watch(ms: number): void {
    if (this.meanMs > 0 && ms > CHANGED * this.meanMs) {
      if (++this.slowRun < CHANGED_STEPS) return;
      // The machine is slower from now on: the mean starts again from here, and if the other
      // count was clearly slower it is tried at once, the tries' mean set back to even (what they
      // said is stale; a running mean still, as a single try is often a hiccup's).
      this.slowRun = 0;
      this.meanMs = ms;
      if (this.ratio !== undefined && this.ratio > CLEAR) {
        this.changed = true;
        this.ratio = 1;
      }
      return;
    }
    this.slowRun = 0;
    this.meanMs = this.meanMs === 0 ? ms : this.meanMs + NEWEST * (ms - this.meanMs);
  }

  private other(): number {
    return this.current === 1 ? this.max : 1;
  }
}
