// How many kernel threads one generated token's forward pass (a decode step) uses. On a busy
// machine (inside an editor: language servers, the renderer, builds) a token's many small products
// can run slower on every thread than on one, because a thread that loses its core in the middle
// of its share holds the others up at the end of each product (measured, 0.5B shape, one core kept
// busy by another process, 2 threads against 1: 0.84-0.98x; idle: 1.6x). So the steps are timed
// and the thread count whose recent steps were faster is used; the other one is tried now and then
// (often while the two are close, rarely once one is clearly faster), so the choice follows the
// machine's load as it changes. Prompt batches are not governed: they gain from every thread even
// on a busy machine. Results do not depend on the thread count (the kernels' shares are fixed).

/** Weight of the newest step in a thread count's running mean of step times. */
const NEWEST = 0.3;
/** Steps between tries of the other thread count while it has fewer than SURE steps (one noisy
 * first step must not decide a whole reply: 64 tokens of a 0.5B reply on a busy machine ran on
 * 2 threads after a lucky first step, 0.94x of one thread). */
const TRY_UNSURE = 4;
const SURE = 3;
/** ... while the two are within CLEAR of each other. */
const TRY_CLOSE = 16;
/** ... and once the better one is faster by more than CLEAR (a try then costs little). */
const TRY_CLEAR = 64;
const CLEAR = 1.25;

export class DecodeThreads {
  private readonly stepMs = new Map<number, number>();
  private readonly counts = new Map<number, number>();
  private steps = 0;

  /** `max`: the kernels' threads (the caller included); governed between max and 1. */
  constructor(readonly max: number) {}

  /** Threads for the next step. */
  next(): number {
    if (this.max === 1) return 1;
    const all = this.stepMs.get(this.max);
    const one = this.stepMs.get(1);
    if (all === undefined) return this.max;
    if (one === undefined) return 1;
    const [best, other] = all <= one ? [this.max, 1] : [1, this.max];
    const every = (this.counts.get(other) ?? 0) < SURE ? TRY_UNSURE : Math.max(all, one) > CLEAR * Math.min(all, one) ? TRY_CLEAR : TRY_CLOSE;
    return this.steps % every === every - 1 ? other : best;
  }

  /** The running mean of step times on `threads` threads, ms (undefined before one ran). */
  meanMs(threads: number): number | undefined {
    return this.stepMs.get(threads);
  }

  /** The step just run on `threads` threads took `ms`. */
  report(threads: number, ms: number): void {
    this.steps++;
    this.counts.set(threads, (this.counts.get(threads) ?? 0) + 1);
    const mean = this.stepMs.get(threads);
    this.stepMs.set(threads, mean === undefined ? ms : mean + NEWEST * (ms - mean));
  }
}
