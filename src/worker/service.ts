// What the engine worker does with each request, apart from the thread plumbing (main.ts), so the
// same code runs in the worker and in-process in tests. One engine at a time: loading another
// model first cancels the running generations and disposes the old engine. Loads and unloads run
// one after another; requests that need the model wait for a load in progress. With a prompt
// cache folder, what requests leave in their slots is written to disk when the worker is idle
// (IdleSaver) and restored by later requests, also after a reload; pre-warms run at idle priority.
import { CancelFlag } from "../engine/cancel.ts";
import { Engine } from "../engine/engine.ts";
import { PrefixCache } from "../engine/prefix-cache.ts";
import { readGguf } from "../engine/gguf/reader.ts";
import { modelShape } from "../engine/model/shape.ts";
import { Scheduler } from "./scheduler.ts";
import { IdleSaver } from "./idle-saver.ts";
import { withChatPrompts } from "../engine/chat-prompt.ts";
import { toWireError, type Event, type GenerateParams, type LoadParams, type ModelInfo, type Request, type WarmParams } from "./protocol.ts";

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
  private saver: IdleSaver | undefined;
  /** The client's announcement counters (see LoadParams.announce); [1] is bumped here. */
  private announce: Int32Array | undefined;
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
      case "inspect":
        reply(readGguf(msg.params.path).then(modelShape));
        return;
      case "tokenize":
        reply(this.ready().then(() => this.need().tokenize(msg.params.text, msg.params)));
        return;
      case "cached":
        reply(this.ready().then(() => this.need().cachedPrefix(msg.params)));
        return;
      case "generate":
        // Received: a pre-warm no longer yields to this request's announcement (it is queued).
        if (this.announce) Atomics.add(this.announce, 1, 1);
        this.saver?.poke();
        // catch() after then(): need() throws inside the handler when no model is loaded.
        this.ready()
          .then(() => {
            this.need();
            this.scheduler!.submit(msg.params, {
              delta: (text, tokens) => this.post({ kind: "delta", id, text, tokens }),
              promptProgress: (done, total) => this.post({ kind: "prompt-progress", id, done, total }),
              done: (stats) => {
                // Cancelled ones too: most completions are cancelled by the next keystroke after
                // their prompt was read, and what the slot holds of it is worth as much (the save
                // takes only the slot's valid positions). One cancelled before it started says
                // nothing about the slot: it must not replace what an earlier request noted.
                if (stats.promptTokens > 0) this.saver?.note(slotOf(msg.params), stats.promptTokens);
                this.post({ kind: "done", id, result: stats });
              },
              error: (err) => this.post({ kind: "error", id, error: toWireError(err) }),
            });
          })
          .catch((err: unknown) => this.post({ kind: "error", id, error: toWireError(err) }));
        return;
      case "warm":
        reply(this.ready().then(() => this.warm(msg.params)));
        return;
      case "clearPromptCache":
        reply(this.clearPromptCache(msg.params.dir));
        return;
      case "crash":
        this.crash(msg.params.how);
        return;
      default:
        // A request this worker does not know (a host newer than its dist/worker.js): say so,
        // or the host would wait for an answer that never comes.
        reply(Promise.reject(new Error(`the engine worker does not know the request "${(msg as { method: string }).method}"`)));
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

  /** Queues a pre-warm; resolves when it finished (an AbortError when replaced or cancelled). */
  private warm(params: WarmParams): Promise<unknown> {
    this.need();
    return new Promise((resolve, reject) => {
      this.scheduler!.warm(params, {
        done: (r) => {
          const what = `${params.slot}${params.document ? ` (${params.document})` : ""}`;
          this.log("info", `pre-warmed ${what}: ${r.promptTokens} tokens (${r.reusedTokens} reused, ${r.restoredTokens} restored, ${r.evaluatedTokens} evaluated) in ${Math.round(r.ms)} ms, preempted ${r.preemptions}×`);
          this.saver?.note(slotOf(params), r.promptTokens);
          resolve(r);
        },
        error: reject,
      });
    });
  }

  /** Through the loaded model's cache when there is one, so its index forgets the files too. */
  private async clearPromptCache(dir: string): Promise<null> {
    this.saver?.clear();
    const cache = this.engine?.session.prefixCache;
    await (cache ? cache.clear() : PrefixCache.clearDir(dir));
    this.log("info", `prefix cache cleared: ${dir}`);
    return null;
  }

  private log(level: "info" | "warn", message: string): void {
    this.post({ kind: "log", id: 0, level, message });
  }

  private async load(id: number, p: LoadParams): Promise<ModelInfo> {
    if (p.announce) this.announce = new Int32Array(p.announce, 0, 2);
    const key = JSON.stringify([p.path, p.threads, p.contextSize, p.batchSize, p.completionSlots, p.promptCache]);
    if (this.engine && key === this.loadedKey) return this.engine.info();
    await this.unload();
    const cancel = p.cancelFlag && new CancelFlag(p.cancelFlag);
    let lastPercent = -1;
    const engine = await Engine.load(p.path, {
      threads: p.threads,
      contextSize: p.contextSize,
      batchSize: p.batchSize,
      slots: { completion: p.completionSlots ?? 2, chat: 1 },
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
    const scheduler = new Scheduler(withChatPrompts(engine), { userRequestPending: () => this.userRequestPending() });
    this.scheduler = scheduler;
    if (p.promptCache) {
      await engine.usePrefixCache({ dir: p.promptCache.dir, maxBytes: p.promptCache.maxBytes, log: (level, message) => this.log(level, message) });
      this.saver = new IdleSaver({
        save: (at, n) => engine.session.savePrefix(at, n),
        busy: () => scheduler.size > 0 || this.userRequestPending(),
        log: (message) => this.log("info", message),
      });
    }
    return engine.info();
  }

  private async unload(): Promise<null> {
    const engine = this.engine;
    if (!engine) return null;
    await this.scheduler?.drain();
    // What the last requests evaluated is written before the slots go away.
    await this.saver?.flush();
    this.saver?.clear();
    this.saver = undefined;
    this.engine = undefined;
    this.scheduler = undefined;
    this.loadedKey = "";
    await engine.dispose();
    return null;
  }

  /** A user request was posted that has not arrived here yet (the pre-warm yields to it). */
  private userRequestPending(): boolean {
    const a = this.announce;
    return a !== undefined && Atomics.load(a, 0) !== Atomics.load(a, 1);
  }

  async dispose(): Promise<void> {
    await this.ready();
    await this.unload();
  }
}

function slotOf(p: GenerateParams | WarmParams): { slot: GenerateParams["slot"]; document?: string } {
  return { slot: p.slot, document: p.document };
}
