// How long to wait after a keystroke before asking the model. The base comes from the settings;
// adaptively, a fast typist gets a little more than their usual gap between keys (up to four
// times the base), so that requests start in pauses rather than in the middle of a word.
// Only keystrokes are learnt (the controller tells which calls are keystrokes: not an explicit
// trigger, a refresh or a cursor move); gaps longer than a second are pauses, not typing speed.

const PAUSE_MS = 1000;
const SMOOTHING = 0.25;

export class AdaptiveDebounce {
  private last: number | undefined;
  private gap: number | undefined;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Records a keystroke now. */
  keystroke(): void {
    const t = this.now();
    if (this.last !== undefined) {
      const gap = t - this.last;
      if (gap < PAUSE_MS) this.gap = this.gap === undefined ? gap : this.gap + SMOOTHING * (gap - this.gap);
    }
    this.last = t;
  }

  /** The delay before requesting a completion, from what was learnt so far. */
  delay(baseMs: number, adaptive: boolean): number {
    if (!adaptive || this.gap === undefined || this.gap > 4 * baseMs) return baseMs;
    return Math.round(Math.min(4 * baseMs, Math.max(baseMs, 1.2 * this.gap)));
  }

  /** The learnt typical gap between keystrokes (ms), for logs and tests. */
  get typicalGap(): number | undefined {
    return this.gap;
  }
}
