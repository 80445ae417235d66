// How long to wait after a keystroke before asking the model. The base comes from the settings;
// adaptively, a fast typist gets a little more than their usual gap between keys (up to four
// times the base), so that requests start in pauses rather than in the middle of a word.
// Gaps longer than a second are pauses, not typing speed, and are not learnt.

const PAUSE_MS = 1000;
const SMOOTHING = 0.25;

export class AdaptiveDebounce {
  private last: number | undefined;
  private gap: number | undefined;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Records a keystroke now and returns the delay before requesting a completion. */
  next(baseMs: number, adaptive: boolean): number {
    const t = this.now();
    if (this.last !== undefined) {
      const gap = t - this.last;
      if (gap < PAUSE_MS) this.gap = this.gap === undefined ? gap : this.gap + SMOOTHING * (gap - this.gap);
    }
    this.last = t;
    if (!adaptive || this.gap === undefined || this.gap > 4 * baseMs) return baseMs;
    return Math.round(Math.min(4 * baseMs, Math.max(baseMs, 1.2 * this.gap)));
  }

  /** The learnt typical gap between keystrokes (ms), for logs and tests. */
  get typicalGap(): number | undefined {
    return this.gap;
  }
}
