// A push → pull adapter: the worker's delta messages are pushed in, the caller pulls them with
// `for await`. Deltas that arrive while nobody is pulling are queued (a generation is at most a
// few thousand short strings, so the queue needs no bound). `end` and `fail` finish the iteration;
// `onReturn` runs when the consumer stops early (break / return), so the request can be cancelled.
export class DeltaStream implements AsyncIterable<string> {
  private readonly queue: string[] = [];
  private finished = false;
  private failure: unknown;
  private wake: (() => void) | undefined;

  constructor(private readonly onReturn: () => void) {}

  push(text: string): void {
    if (this.finished) return;
    this.queue.push(text);
    this.notify();
  }

  end(): void {
    this.finished = true;
    this.notify();
  }

  fail(err: unknown): void {
    if (this.finished) return;
    this.failure = err;
    this.finished = true;
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<string, void> {
    let completed = false;
    try {
      for (;;) {
        if (this.queue.length > 0) {
          yield this.queue.shift()!;
          continue;
        }
        if (this.finished) {
          completed = true;
          if (this.failure !== undefined) throw this.failure;
          return;
        }
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    } finally {
      // The consumer left before the end (break, exception in its loop body).
      if (!completed && !this.finished) this.onReturn();
    }
  }
}
