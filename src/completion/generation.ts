// One completion generation as it streams: its status, the suggestion its text makes so far, and
// waiting for "enough to show". It owns the cancellation of its request: whoever decides the user
// moved on calls cancel(), which sets the request's CancelFlag, so the engine stops between two
// layers. Later provider calls at positions that continue the anchor read the same generation
// instead of starting another (that is how the ghost text grows while typing). What was shown of
// it is the controller's business, not this class's.
import { CancelFlag } from "../client/cancellation.ts";
import type { RequestOptions } from "../client/engine-client.ts";
import type { GenerateParams, GenerateStats } from "../worker/protocol.ts";
import type { Anchor } from "./anchor.ts";
import { SuggestionStream, type PostContext, type Processed } from "./postprocess.ts";

/** What a generation needs of the engine client (EngineClient has it; tests pass a fake). */
export interface CompletionClient {
  generate(params: GenerateParams, options?: RequestOptions): AsyncIterable<string> & { readonly stats: Promise<GenerateStats> };
}

/** Starts the request with the generation's cancel flag (the local client's or a server's). */
export type StartGeneration = (options: RequestOptions) => AsyncIterable<string> & { readonly stats: Promise<GenerateStats> };

/**
 * Where a generation is. The text is the whole suggestion only in "stopping" and "done"; after a
 * cancel from outside it may end anywhere.
 */
export type GenerationStatus =
  /** Sent; no text yet. */
  | "waiting"
  /** Text is arriving. */
  | "streaming"
  /** The rules ended the suggestion; the engine is being stopped. */
  | "stopping"
  /** Cancelled from outside (the user moved on); the engine is being stopped. */
  | "cancelling"
  /** Ended by itself (end of text, stop string, token limit) or by the rules. */
  | "done"
  /** Ended after a cancel from outside. */
  | "cancelled"
  /** The request failed (or was aborted). */
  | "failed";

/** The transitions, all in one place: what each event moves a status to (absent: no change). */
const TRANSITIONS: Record<"text" | "rulesEnded" | "cancel" | "end" | "error", Partial<Record<GenerationStatus, GenerationStatus>>> = {
  text: { waiting: "streaming" },
  rulesEnded: { waiting: "stopping", streaming: "stopping" },
  cancel: { waiting: "cancelling", streaming: "cancelling" },
  end: { waiting: "done", streaming: "done", stopping: "done", cancelling: "cancelled" },
  error: { waiting: "failed", streaming: "failed", stopping: "failed", cancelling: "failed" },
};

const ENDED: ReadonlySet<GenerationStatus> = new Set(["done", "cancelled", "failed"]);

export class StreamingGeneration {
  private state: GenerationStatus = "waiting";
  private failure: unknown;
  private readonly suggestion: SuggestionStream;
  private readonly flag = new CancelFlag();
  private readonly listeners = new Set<() => void>();
  /** Settles with the request's stats (stopReason "cancelled" after cancel()), or undefined after an error. */
  readonly done: Promise<GenerateStats | undefined>;
  /** When the first text arrived (performance.now()), for logs. */
  firstTextAt: number | undefined;
  /** When the request was sent (performance.now()). */
  readonly startedAt: number;

  constructor(
    start: StartGeneration,
    readonly anchor: Anchor,
    post: PostContext,
    readonly promptChars: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.suggestion = new SuggestionStream(post);
    this.startedAt = now();
    const g = start({ cancel: this.flag });
    this.done = this.consume(g)
      .then(() => g.stats)
      .then(
        (stats) => {
          this.move("end");
          return stats;
        },
        (err) => {
          this.failure = err;
          this.move("error");
          return undefined;
        },
      )
      .finally(() => this.emit());
    // stats rejects together with the iteration; that rejection is handled through `done`.
    g.stats.catch(() => {});
  }

  private async consume(g: AsyncIterable<string>): Promise<void> {
    for await (const delta of g) {
      this.firstTextAt ??= this.now();
      this.suggestion.push(delta);
      this.move("text");
      // Once the rules have ended the suggestion, more tokens are wasted work: stop the engine.
      if (this.suggestion.stopped) {
        this.move("rulesEnded");
        this.flag.cancel();
        break;
      }
      this.emit();
    }
  }

  private move(event: keyof typeof TRANSITIONS): void {
    this.state = TRANSITIONS[event][this.state] ?? this.state;
  }

  get status(): GenerationStatus {
    return this.state;
  }

  /** It ended (done, cancelled or failed): no more text comes. */
  get isDone(): boolean {
    return ENDED.has(this.state);
  }

  /** Still generating text for someone (not ended, not being stopped). */
  get running(): boolean {
    return this.state === "waiting" || this.state === "streaming";
  }

  /** The text is all there is: it ended by itself or the rules ended it (not after a cancel from outside). */
  get complete(): boolean {
    return this.state === "done";
  }

  get error(): unknown {
    return this.failure;
  }

  /** The generated text so far (line ends made "\n"). */
  get rawText(): string {
    return this.suggestion.text;
  }

  /** The suggestion as it stands; `partial` also shows an unterminated first line. */
  view(partial = false): Processed {
    return this.suggestion.view({ final: this.complete, partial });
  }

  cancel(): void {
    this.move("cancel");
    this.flag.cancel();
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
    if (this.isDone || enough() || cancel?.cancelled) return Promise.resolve();
    return new Promise((resolve) => {
      const subs: { dispose(): unknown }[] = [];
      const end = () => {
        clearTimeout(timer);
        for (const s of subs) s.dispose();
        resolve();
      };
      const timer = setTimeout(end, Math.max(0, ms));
      subs.push(this.onDidChange(() => (this.isDone || enough()) && end()));
      if (cancel) subs.push(cancel.onCancel(end));
    });
  }

  private emit(): void {
    for (const l of [...this.listeners]) l();
  }
}
