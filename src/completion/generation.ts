// One completion generation as it streams: the raw text so far, what post-processing makes of
// it, and waiting for "enough to show". It owns the cancellation of its request: whoever decides
// the user moved on calls cancel(), which sets the request's CancelFlag, so the engine stops
// between two layers. Later provider calls at positions that continue the anchor read the
// same generation instead of starting another (that is how the ghost text grows while typing).
import { CancelFlag } from "../client/cancellation.ts";
import type { RequestOptions } from "../client/engine-client.ts";
import type { GenerateParams, GenerateStats } from "../worker/protocol.ts";
import type { Anchor } from "./anchor.ts";
import type { Processed } from "./postprocess.ts";

/** What a generation needs of the engine client (EngineClient has it; tests pass a fake). */
export interface CompletionClient {
  generate(params: GenerateParams, options?: RequestOptions): AsyncIterable<string> & { readonly stats: Promise<GenerateStats> };
}

export type PostProcessor = (raw: string, opts: { final: boolean; partial?: boolean }) => Processed;

export class StreamingGeneration {
  private raw = "";
  private finished = false;
  private failure: unknown;
  private readonly flag = new CancelFlag();
  private readonly listeners = new Set<() => void>();
  /** Settles with the request's stats (stopReason "cancelled" after cancel()), or undefined after an error. */
  readonly done: Promise<GenerateStats | undefined>;
  /** When the first text arrived (performance.now()), for logs. */
  firstTextAt: number | undefined;
  /** When the request was sent (performance.now()). */
  readonly startedAt: number;
  /** Set by the controller once a suggestion from this generation was returned to the editor. */
  shown: string | undefined;
  /** The first line was shown before it was complete (the time budget ran out): keep showing it so. */
  partialShown = false;
  private stoppedByRules = false;

  constructor(
    client: CompletionClient,
    params: GenerateParams,
    readonly anchor: Anchor,
    private readonly post: PostProcessor,
    readonly promptChars: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.startedAt = now();
    const g = client.generate(params, { cancel: this.flag });
    this.done = this.consume(g).then(
      () => g.stats,
      (err) => {
        this.failure = err;
        return undefined;
      },
    ).finally(() => {
      this.finished = true;
      this.emit();
    });
    // stats rejects together with the iteration; that rejection is handled through `done`.
    g.stats.catch(() => {});
  }

  private async consume(g: AsyncIterable<string>): Promise<void> {
    for await (const delta of g) {
      this.firstTextAt ??= this.now();
      this.raw += delta;
      // Once the rules have ended the suggestion, more tokens are wasted work: stop the engine.
      if (this.post(this.raw, { final: false }).stopped) {
        this.stoppedByRules = true;
        this.flag.cancel();
        break;
      }
      this.emit();
    }
  }

  get isDone(): boolean {
    return this.finished;
  }

  get error(): unknown {
    return this.failure;
  }

  get rawText(): string {
    return this.raw;
  }

  /**
   * Whether the text is all there is: the generation ended by itself (end of text, stop string,
   * token limit) or the post-processing rules ended it. Not after a cancel from outside.
   */
  get complete(): boolean {
    return this.finished && this.failure === undefined && (this.stoppedByRules || !this.cancelledFromOutside);
  }

  private cancelledFromOutside = false;

  /** The suggestion as it stands; `partial` also shows an unterminated first line. */
  view(partial = false): Processed {
    return this.post(this.raw, { final: this.complete, partial });
  }

  cancel(): void {
    if (!this.finished && !this.stoppedByRules) this.cancelledFromOutside = true;
    this.flag.cancel();
  }

  get cancelled(): boolean {
    return this.flag.cancelled;
  }

  /** Calls `listener` after each new piece of text and at the end. */
  onDidChange(listener: () => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  /**
   * Resolves when `enough()` holds, the generation ends, `ms` pass or `cancel` is set,
   * whichever comes first.
   */
  wait(enough: () => boolean, ms: number, cancel?: CancelFlag): Promise<void> {
    if (this.finished || enough() || cancel?.cancelled) return Promise.resolve();
    return new Promise((resolve) => {
      const subs: { dispose(): unknown }[] = [];
      const end = () => {
        clearTimeout(timer);
        for (const s of subs) s.dispose();
        resolve();
      };
      const timer = setTimeout(end, Math.max(0, ms));
      subs.push(this.onDidChange(() => (this.finished || enough()) && end()));
      if (cancel) subs.push(cancel.onCancel(end));
    });
  }

  private emit(): void {
    for (const l of [...this.listeners]) l();
  }
}
