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

export class DecodeThreads {
  private current: number;
  /** Running mean of a try's time ÷ the time of the step before it (on the count in use). */
  private ratio: number | undefined;
  private tries = 0;
  private steps = 0;
  private lastMs = 0;

  /** `max`: the kernels' threads (the caller included); governed between max and 1. */
  constructor(readonly max: number) {
    this.current = max;
  }

  /** Threads for the next step. */
  next(): number {
    if (this.max === 1 || this.lastMs === 0) return this.current;
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
      return;
    }
    const r = ms / this.lastMs;
    this.ratio = this.ratio === undefined ? r : this.ratio + NEWEST * (r - this.ratio);
    this.tries++;
    if (this.ratio < 1) {
      // The other count is faster: use it, and try the one left soon (the switch may be noise).
      this.current = threads;
      this.ratio = 1 / this.ratio;
      this.tries = 0;
      this.lastMs = ms;
    }
  }

  private other(): number {
    return this.current === 1 ? this.max : 1;
  }
}
