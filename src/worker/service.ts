// What the engine worker does with each request, apart from the thread plumbing (main.ts), so the
// same code runs in the worker and in-process in tests. One engine at a time: loading another
// model first cancels the running generations and disposes the old engine. Loads and unloads run
// one after another; requests that need the model wait for a load in progress.
import { CancelFlag } from "../engine/cancel.ts";
import { Engine } from "../engine/engine.ts";
import { Scheduler } from "./scheduler.ts";
import { withChatPrompts } from "../chat/render-prompt.ts";
import { toWireError, type Event, type LoadParams, type ModelInfo, type Request } from "./protocol.ts";

type Post = (event: Event) => void;

class NoModelError extends Error {
  override readonly name = "NoModelError";
  constructor() {
    super("no model is loaded: choose a model file first");
  }
}

export class EngineService {
  private engine: Engine | undefined;
  private loadedKey = "";
  private scheduler: Scheduler | undefined;
  /** Loads and unloads, in order; generate/tokenize/info wait for it. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly post: Post,
    /** How the crash test hook dies (the worker's main passes process.exit and a real throw). */
    private readonly crash: (how: "exit" | "throw") => void = () => {},
  ) {}

  handle(msg: Request): void {
    const { id } = msg;
    const reply = (p: Promise<unknown>) =>
      p.then(
        (result) => this.post({ kind: "done", id, result: result ?? null }),
        (err) => this.post({ kind: "error", id, error: toWireError(err) }),
      );
    switch (msg.method) {
      case "load":
        reply((this.chain = this.chain.catch(() => {}).then(() => this.load(id, msg.params))));
        return;
      case "unload":
        reply((this.chain = this.chain.catch(() => {}).then(() => this.unload())));
        return;
      case "info":
        reply(this.ready().then(() => this.engine?.info() ?? null));
        return;
      case "tokenize":
        reply(this.ready().then(() => this.need().tokenize(msg.params.text, msg.params)));
        return;
      case "generate":
        // catch() after then(): need() throws inside the handler when no model is loaded.
        this.ready()
          .then(() => {
            this.need();
            this.scheduler!.submit(msg.params, {
              delta: (text, tokens) => this.post({ kind: "delta", id, text, tokens }),
              promptProgress: (done, total) => this.post({ kind: "prompt-progress", id, done, total }),
              done: (stats) => this.post({ kind: "done", id, result: stats }),
              error: (err) => this.post({ kind: "error", id, error: toWireError(err) }),
            });
          })
          .catch((err: unknown) => this.post({ kind: "error", id, error: toWireError(err) }));
        return;
      case "crash":
        this.crash(msg.params.how);
        return;
    }
  }

  /** Waits for loads/unloads queued so far; a failed load leaves no model (need() says so). */
  private ready(): Promise<void> {
    return this.chain.then(
      () => {},
      () => {},
    );
  }

  private need(): Engine {
    if (!this.engine) throw new NoModelError();
    return this.engine;
  }

  private async load(id: number, p: LoadParams): Promise<ModelInfo> {
    const key = JSON.stringify([p.path, p.threads, p.contextSize, p.batchSize]);
    if (this.engine && key === this.loadedKey) return this.engine.info();
    await this.unload();
    const cancel = p.cancelFlag && new CancelFlag(p.cancelFlag);
    let lastPercent = -1;
    const engine = await Engine.load(p.path, {
      threads: p.threads,
      contextSize: p.contextSize,
      batchSize: p.batchSize,
      onProgress: (fraction) => {
        // Called after every tensor, synchronously: the only place a cancel can be seen.
        cancel?.throwIfCancelled("model loading was cancelled");
        const percent = Math.floor(fraction * 100);
        if (percent !== lastPercent) {
          lastPercent = percent;
          this.post({ kind: "progress", id, fraction });
        }
      },
    });
    this.engine = engine;
    this.loadedKey = key;
    // Chat requests carry the conversation: rendered with the model's template here, not in the host.
    this.scheduler = new Scheduler(withChatPrompts(engine));
    return engine.info();
  }

  private async unload(): Promise<null> {
    const engine = this.engine;
    if (!engine) return null;
    await this.scheduler?.drain();
    this.engine = undefined;
    this.scheduler = undefined;
    this.loadedKey = "";
    await engine.dispose();
    return null;
  }

  async dispose(): Promise<void> {
    await this.ready();
    await this.unload();
  }
}
