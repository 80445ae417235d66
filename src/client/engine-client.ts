// The extension host's side of the engine: starts the one engine worker on first need, sends it
// typed requests, turns its events into promises and async iterables of text deltas, and hands
// each cancellable request's CancelFlag to the worker. If the worker dies (crash, out of memory,
// exit), every pending request fails with a WorkerDiedError, the state says so, and the next
// request starts a fresh worker and reloads the model the user had. No `vscode` import: tested in
// plain node.
import { Worker } from "node:worker_threads";
import { DeltaStream } from "./stream.ts";
import {
  AbortError,
  CancelFlag,
  isAbort,
  type CachedParams,
  type CachedResult,
  type Event,
  type GenerateParams,
  type GenerateStats,
  type LoadParams,
  type Method,
  type Methods,
  type ModelInfo,
  type ModelShape,
  type Request,
  type TokenizeParams,
  type WarmParams,
  type WarmResult,
  type WireError,
} from "../worker/protocol.ts";

export { isAbort };

export type ClientState =
  | { kind: "none" }
  | { kind: "loading"; path: string; fraction: number }
  | { kind: "ready"; info: ModelInfo }
  | { kind: "error"; message: string };

export interface ClientLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface ClientOptions {
  /** dist/worker.js (the bundled src/worker/main.ts). */
  workerPath: string;
  log?: ClientLogger;
}

/** What the client asks the worker to load (LoadParams without the per-load cancel flag). */
export type ModelRequest = Omit<LoadParams, "cancelFlag" | "announce">;

/** The engine worker stopped while requests were pending. */
export class WorkerDiedError extends Error {
  override readonly name = "WorkerDiedError";
}

/** An error the worker reported, with the worker-side name ("GgufError", "AbortError", ...). */
export class EngineError extends Error {
  constructor(readonly wire: WireError) {
    super(wire.message);
    this.name = wire.name;
  }
}

/** How a caller cancels a request: setting its flag (nothing is sent; the worker polls it). */
export interface RequestOptions {
  cancel?: CancelFlag;
}

export interface GenerateOptions extends RequestOptions {
  /** How far the worker has evaluated the prompt: `done` of the `total` tokens it needs to. */
  onPromptProgress?: (done: number, total: number) => void;
}

/** A generation's prompt evaluation, as onDidReadPrompt reports it. */
export interface PromptReading {
  slot: GenerateParams["slot"];
  /** Tokens evaluated so far of the `total` that need it (reused ones not counted). */
  done: number;
  total: number;
  /** The text has started, or the generation ended (or was cancelled). */
  ended: boolean;
}

export interface LoadOptions extends RequestOptions {
  onProgress?: (fraction: number) => void;
}

/** What request() needs besides the method and its parameters. */
interface SendOptions extends RequestOptions {
  /** The request's progress and delta events. */
  onEvent?: (ev: Event) => void;
}

export interface Generation extends AsyncIterable<string> {
  /** Settles when the worker has finished the request (also after a cancel: stopReason "cancelled"). */
  readonly stats: Promise<GenerateStats>;
}

interface Pending {
  onEvent(ev: Event): void;
  fail(err: Error): void;
}

type Listener<T> = (value: T) => void;

export class EngineClient {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** The model the user wants loaded; reloaded into a restarted worker. */
  private wanted: ModelRequest | undefined;
  /** The model the current worker holds (undefined after a restart). */
  private loadedKey: string | undefined;
  private loading: Promise<ModelInfo> | undefined;
  private current: ClientState = { kind: "none" };
  private readonly stateListeners = new Set<Listener<ClientState>>();
  private readonly statsListeners = new Set<Listener<GenerateStats>>();
  private readonly readingListeners = new Set<Listener<PromptReading>>();
  private disposed = false;
  /** Requests posted / received by the worker (LoadParams.announce); one pair per worker. */
  private announce = new SharedArrayBuffer(8);
  /** Counts worker starts, for logs and tests. */
  workerStarts = 0;

  constructor(private readonly options: ClientOptions) {}

  get state(): ClientState {
    return this.current;
  }

  onDidChangeState(listener: Listener<ClientState>): { dispose(): void } {
    this.stateListeners.add(listener);
    return { dispose: () => this.stateListeners.delete(listener) };
  }

  /**
   * Fires while any generation's prompt is evaluated (each batch), and with `ended` once its
   * text starts or it ends: for the status bar's "reading file… n %".
   */
  onDidReadPrompt(listener: Listener<PromptReading>): { dispose(): void } {
    this.readingListeners.add(listener);
    return { dispose: () => this.readingListeners.delete(listener) };
  }

  /** Fires after every generation that ended normally (for tokens/s in the status bar). */
  onDidFinishGeneration(listener: Listener<GenerateStats>): { dispose(): void } {
    this.statsListeners.add(listener);
    return { dispose: () => this.statsListeners.delete(listener) };
  }

  /** The model that is (or will be) loaded. */
  get model(): ModelRequest | undefined {
    return this.wanted;
  }

  /**
   * Loads a model (no-op when the worker already holds it). Progress goes to `onProgress` and
   * to the state; cancelling stops the load after the tensor being read.
   */
  async load(model: ModelRequest, { cancel, onProgress }: LoadOptions = {}): Promise<ModelInfo> {
    this.wanted = model;
    const key = JSON.stringify(model);
    if (this.loadedKey === key && this.current.kind === "ready") return this.current.info;
    this.setState({ kind: "loading", path: model.path, fraction: 0 });
    this.loadedKey = undefined;
    const started = performance.now();
    const attempt = this.request(
      "load",
      { ...model, cancelFlag: cancel?.buffer, announce: this.announce },
      {
        cancel,
        onEvent: (ev) => {
          if (ev.kind !== "progress") return;
          this.setState({ kind: "loading", path: model.path, fraction: ev.fraction });
          onProgress?.(ev.fraction);
        },
      },
    );
    this.loading = attempt;
    try {
      const info = await attempt;
      if (this.loading === attempt) {
        this.loadedKey = key;
        this.setState({ kind: "ready", info });
        this.log("info", `model loaded in ${Math.round(performance.now() - started)} ms: ${info.name ?? model.path} (${info.architecture}, context ${info.contextSize}, ${model.threads} threads)`);
      }
      return info;
    } catch (err) {
      if (this.loading === attempt) {
        if (isAbort(err)) {
          this.wanted = undefined;
          this.setState({ kind: "none" });
          this.log("info", `model loading cancelled: ${model.path}`);
        } else if (!(err instanceof WorkerDiedError)) {
          this.wanted = undefined;
          this.setState({ kind: "error", message: (err as Error).message });
        }
      }
      throw err;
    } finally {
      if (this.loading === attempt) this.loading = undefined;
    }
  }

  async unload(): Promise<void> {
    this.wanted = undefined;
    this.loadedKey = undefined;
    if (this.worker) await this.request("unload", {});
    this.setState({ kind: "none" });
  }

  /**
   * Streams the text of a generation. Iterating starts nothing extra: the request is sent at
   * once. Cancelling (or leaving the loop early) ends the iteration at once and the worker stops
   * between two layers; an error (worker death, bad request) is thrown from the loop.
   */
  generate(params: GenerateParams, { cancel = new CancelFlag(), onPromptProgress }: GenerateOptions = {}): Generation {
    const stream = new DeltaStream(() => cancel.cancel());
    let reading: PromptReading | undefined;
    const read = (r: PromptReading) => {
      reading = r;
      for (const l of this.readingListeners) l(r);
    };
    const readingEnded = () => reading && !reading.ended && read({ ...reading, ended: true });
    // A cancelled request stops yielding (and reading, as far as anyone can see) at once.
    const sub = cancel.onCancel(() => {
      stream.end();
      readingEnded();
    });
    const stats = (async (): Promise<GenerateStats> => {
      try {
        await this.ensureModel();
        const onEvent = (ev: Event) => {
          if (ev.kind === "delta") {
            readingEnded();
            stream.push(ev.text);
          } else if (ev.kind === "prompt-progress" && !cancel.cancelled) {
            onPromptProgress?.(ev.done, ev.total);
            read({ slot: params.slot, done: ev.done, total: ev.total, ended: false });
          }
        };
        return await this.request("generate", { ...params, cancelFlag: cancel.buffer }, { cancel, onEvent });
      } catch (err) {
        // Cancelled before the request reached the worker: the same quiet end as after.
        if (isAbort(err)) return { ...NO_STATS, stopReason: "cancelled" };
        throw err;
      } finally {
        sub.dispose();
        readingEnded();
      }
    })();
    stats.then(
      (s) => {
        stream.end();
        if (s.stopReason !== "cancelled") for (const l of this.statsListeners) l(s);
      },
      (err) => stream.fail(err),
    );
    return Object.assign(stream, { stats });
  }

  /**
   * Pre-warm: the worker evaluates the prompt into its slot when it has nothing else to do, and
   * yields to any user request within one layer. Only with a model ready (a pre-warm never
   * starts a load); resolves to undefined when there is none, or when the warm was replaced or
   * cancelled.
   */
  async warm(params: WarmParams, { cancel }: RequestOptions = {}): Promise<WarmResult | undefined> {
    if (this.current.kind !== "ready" || !this.worker) return undefined;
    try {
      // The flag goes with the request, as a generation's does: cancelling stops the worker too.
      return await this.request("warm", { ...params, cancelFlag: cancel?.buffer }, { cancel });
    } catch (err) {
      if (isAbort(err)) return undefined;
      throw err;
    }
  }

  /** Deletes the prefix cache's files under `dir` (through the worker, off this thread). */
  async clearPromptCache(dir: string): Promise<void> {
    await this.request("clearPromptCache", { dir });
  }

  /**
   * What the memory check needs of a GGUF file, read in the worker (started if it is not running;
   * the loaded model is untouched). A bad file rejects with the reader's message.
   */
  inspect(path: string): Promise<ModelShape> {
    return this.request("inspect", { path });
  }

  /**
   * How much of a completion prompt its slot or the prefix cache holds; undefined when no model
   * is ready (nothing is cached then). The worker evaluates and restores nothing for it (the prefix
   * cache's index may read headers of files it has not seen yet).
   */
  async cached(params: CachedParams): Promise<CachedResult | undefined> {
    if (this.current.kind !== "ready" || !this.worker) return undefined;
    return this.request("cached", params);
  }

  async tokenize(params: TokenizeParams): Promise<number[]> {
    await this.ensureModel();
    return this.request("tokenize", params);
  }

  /** The loaded model's info (loading the wanted model first if the worker restarted). */
  async info(): Promise<ModelInfo | null> {
    if (this.wanted) await this.ensureModel();
    if (!this.worker) return null;
    return this.request("info", {});
  }

  /** Test hook: make the worker die as a crash would ("exit" inside it, or an uncaught throw). */
  crashWorker(how: "exit" | "throw"): void {
    this.worker?.postMessage({ kind: "request", id: this.nextId++, method: "crash", params: { how } } satisfies Request);
  }

  /** Test hook and last resort: stop the worker thread from outside, like an OOM kill would. */
  async terminateWorker(): Promise<void> {
    await this.worker?.terminate();
  }

  get workerRunning(): boolean {
    return this.worker !== undefined;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    const w = this.worker;
    this.worker = undefined;
    this.failAll(new WorkerDiedError("the engine was shut down"));
    this.stateListeners.clear();
    this.statsListeners.clear();
    this.readingListeners.clear();
    await w?.terminate();
  }

  /**
   * Loads the wanted model into the worker if it is not there (after a restart, say). Not tied
   * to the caller's token: one cancelled completion must not cancel a load others wait for.
   */
  private async ensureModel(): Promise<void> {
    if (this.loading) {
      await this.loading;
      return;
    }
    if (!this.wanted) throw new EngineError({ name: "NoModelError", message: "no model is loaded: choose a model file first (Hearth: Select Model File)" });
    if (this.loadedKey !== JSON.stringify(this.wanted)) {
      this.log("info", `loading ${this.wanted.path} into the engine worker`);
      await this.load(this.wanted);
    }
  }

  /**
   * Sends one request and settles with its `done` (or its error). A cancellable request carries
   * its flag's buffer in `params`; here the flag only stops a request not yet sent.
   */
  private request<M extends Method>(method: M, params: Methods[M]["params"], { cancel, onEvent }: SendOptions = {}): Promise<Methods[M]["result"]> {
    if (this.disposed) return Promise.reject(new WorkerDiedError("the engine was shut down"));
    if (cancel?.cancelled) return Promise.reject(new AbortError());
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, {
        onEvent: (ev) => {
          if (ev.kind === "done" || ev.kind === "error") {
            this.pending.delete(id);
            if (ev.kind === "done") resolve(ev.result as Methods[M]["result"]);
            else reject(ev.error.name === "AbortError" ? new AbortError(ev.error.message) : new EngineError(ev.error));
          } else onEvent?.(ev);
        },
        fail: reject,
      });
      // Announced before it is posted: a pre-warm the worker is computing yields at its next layer.
      if (method === "generate") Atomics.add(new Int32Array(this.announce, 0, 1), 0, 1);
      worker.postMessage({ kind: "request", id, method, params } as Request);
    });
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    this.workerStarts++;
    const worker = new Worker(this.options.workerPath, { name: "hearth-engine" });
    this.worker = worker;
    this.loadedKey = undefined;
    let lastError: Error | undefined;
    worker.on("message", (ev: Event) => {
      if (ev.kind === "log") this.log(ev.level, `engine: ${ev.message}`);
      else this.pending.get(ev.id)?.onEvent(ev);
    });
    worker.on("error", (err) => {
      lastError = err;
      this.log("error", `engine worker error: ${err.stack ?? err.message}`);
    });
    worker.on("exit", (code) => {
      if (this.worker !== worker) return; // disposed or already replaced
      this.worker = undefined;
      this.loadedKey = undefined;
      // Fresh counters: a request the dead worker never received must not hold pre-warms back.
      this.announce = new SharedArrayBuffer(8);
      const why = lastError ? `${lastError.message}` : `exit code ${code}`;
      const message = `the engine worker stopped unexpectedly (${why}); it restarts with the next request`;
      this.log("error", message);
      this.failAll(new WorkerDiedError(message));
      this.setState({ kind: "error", message });
    });
    this.log("info", `engine worker started (#${this.workerStarts})`);
    return worker;
  }

  private failAll(err: Error): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.fail(err);
  }

  private setState(s: ClientState): void {
    this.current = s;
    for (const l of this.stateListeners) l(s);
  }

  private log(level: keyof ClientLogger, message: string): void {
    this.options.log?.[level](message);
  }
}

const NO_STATS: GenerateStats = { promptTokens: 0, reusedTokens: 0, restoredTokens: 0, evaluatedTokens: 0, generatedTokens: 0, promptMs: 0, generateMs: 0, stopReason: "length" };

