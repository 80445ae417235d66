// Token budgets without tokenising on the extension host: characters per token, estimated, and
// refined from what the worker reports after each request (its stats count the prompt's tokens).
// The ratio moves only when the measurement drifts clearly away from it, because every change
// of it moves the windows' cut points and throws away the prompt's cached KV.

const SMOOTHING = 0.3;
/** Relative drift of the measured ratio that is worth a cache miss. */
const HYSTERESIS = 0.15;
/** Budgets are filled to this fraction, so an estimate a little off still fits. */
const SAFETY = 0.9;

export class TokenEstimator {
  private measured: number;
  private current: number;
  private known = false;

  /** 3 characters per token: a little pessimistic for code with a 150k vocabulary. */
  constructor(initial = 3) {
    this.measured = initial;
    this.current = initial;
  }

  get charsPerToken(): number {
    return this.current;
  }

  /** Whether the ratio was measured (calibrated or observed), not the initial guess. */
  get learned(): boolean {
    return this.known;
  }

  /** Characters that hold about `tokens` tokens (with a safety margin). */
  chars(tokens: number): number {
    return Math.max(0, Math.floor(tokens * this.current * SAFETY));
  }

  /** Sets the ratio from a measurement by the worker's tokenizer (the first request of a model). */
  calibrate(promptChars: number, promptTokens: number): void {
    if (promptTokens <= 0 || promptChars <= 0) return;
    this.known = true;
    this.measured = promptChars / promptTokens;
    this.current = Math.max(1, Math.round(this.measured * 4) / 4);
  }

  /** Learns from one request: the prompt's characters and the tokens the worker made of them. */
  observe(promptChars: number, promptTokens: number): void {
    if (promptTokens <= 0 || promptChars <= 0) return;
    this.known = true;
    this.measured += SMOOTHING * (promptChars / promptTokens - this.measured);
    if (Math.abs(this.measured - this.current) / this.current > HYSTERESIS) {
      // Rounded so that close measurements give the same budgets.
      this.current = Math.max(1, Math.round(this.measured * 4) / 4);
    }
  }
}
