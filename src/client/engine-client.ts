// The extension host's side of the engine: starts the one engine worker on first need, sends it
// typed requests, turns its events into promises and async iterables of text deltas, and hands
// each cancellable request's CancelFlag to the worker. The worker holds a model per role
// (completion, chat; one model may serve both): each role has its own wanted model and state, and
// `forRole` gives a feature the view of its role. If the worker dies (crash, out of memory, exit),
// every pending request fails with a WorkerDiedError, the states say so, and the next request of
// a role starts a fresh worker and reloads the model that role had. No `vscode` import: tested in
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
  type Role,
  type TokenizeParams,
  type WarmParams,
  type WarmResult,
  type WireError,
  ROLES,
} from "../worker/protocol.ts";

export { isAbort };
export type { Role };

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

/** What the client asks the worker to load (LoadParams without the per-load cancel flag and roles). */
export type ModelRequest = Omit<LoadParams, "cancelFlag" | "announce" | "roles">;

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
  /** The roles the model serves (default both). */
  roles?: readonly Role[];
}

/** One role's model as the client tracks it. */
interface RoleRecord {
  /** The model the user wants for this role; reloaded into a restarted worker. */
  wanted: ModelRequest | undefined;
  /** The model the current worker holds for it (undefined after a restart). */
  loadedKey: string | undefined;
  loading: Promise<ModelInfo> | undefined;
  state: ClientState;
}

/** A feature's view of the engine: its role's model, state and requests. */
export interface RoleEngine {
  readonly role: Role;
  readonly state: ClientState;
  /** The model that is (or will be) loaded for the role. */
  readonly model: ModelRequest | undefined;
  onDidChangeState(listener: (state: ClientState) => void): { dispose(): void };
  generate(params: GenerateParams, options?: GenerateOptions): Generation;
  warm(params: WarmParams, options?: RequestOptions): Promise<WarmResult | undefined>;
  cached(params: CachedParams): Promise<CachedResult | undefined>;
  tokenize(params: TokenizeParams): Promise<number[]>;
  info(): Promise<ModelInfo | null>;
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
  private readonly roles: Record<Role, RoleRecord> = {
    completion: { wanted: undefined, loadedKey: undefined, loading: undefined, state: { kind: "none" } },
    chat: { wanted: undefined, loadedKey: undefined, loading: undefined, state: { kind: "none" } },
  };
  private readonly stateListeners = new Set<(state: ClientState, role: Role) => void>();
  private readonly statsListeners = new Set<Listener<GenerateStats>>();
  private readonly readingListeners = new Set<Listener<PromptReading>>();
  private disposed = false;
  /** Requests posted / received by the worker (LoadParams.announce); one pair per worker. */
  private announce = new SharedArrayBuffer(8);
  /** Counts worker starts, for logs and tests. */
  workerStarts = 0;

  constructor(private readonly options: ClientOptions) {}

  /** The state of `role`'s model. */
  stateOf(role: Role): ClientState {
    return this.roles[role].state;
  }

  /** Fires when a role's state changes, with the role. */
  onDidChangeState(listener: (state: ClientState, role: Role) => void): { dispose(): void } {
    this.stateListeners.add(listener);
    return { dispose: () => this.stateListeners.delete(listener) };
  }

  /** The engine as the feature of `role` sees it. */
  forRole(role: Role): RoleEngine {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the view's getters read the client
    const client = this;
    return {
      role,
      get state() {
        return client.stateOf(role);
      },
      get model() {
        return client.modelOf(role);
      },
      onDidChangeState: (listener) => client.onDidChangeState((s, r) => r === role && listener(s)),
      generate: (params, options) => client.generate({ ...params, slot: role }, options),
      warm: (params, options) => client.warm({ ...params, slot: role }, options),
      cached: (params) => client.cached({ ...params, slot: role }),
      tokenize: (params) => client.tokenize({ ...params, role }),
      info: () => client.info(role),
    };
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

  /** The model that is (or will be) loaded for `role`. */
  modelOf(role: Role): ModelRequest | undefined {
    return this.roles[role].wanted;
  }

  /**
   * Loads a model for `roles` (default both; a no-op when the worker already holds it for them).
   * The other role's model is not touched. Progress goes to `onProgress` and to the roles'
   * states; cancelling stops the load after the tensor being read.
   */
  async load(model: ModelRequest, { cancel, onProgress, roles = ROLES }: LoadOptions = {}): Promise<ModelInfo> {
    const recs = roles.map((r) => this.roles[r]);
    for (const rec of recs) rec.wanted = model;
    const key = JSON.stringify(model);
    const ready = recs.every((rec) => rec.loadedKey === key && rec.state.kind === "ready");
    if (ready && recs[0].state.kind === "ready") return recs[0].state.info;
    for (const r of roles) {
      this.roles[r].loadedKey = undefined;
      this.setState(r, { kind: "loading", path: model.path, fraction: 0 });
    }
    const started = performance.now();
    const attempt = this.request(
      "load",
      { ...model, roles: [...roles], cancelFlag: cancel?.buffer, announce: this.announce },
      {
        cancel,
        onEvent: (ev) => {
          if (ev.kind !== "progress") return;
          for (const r of roles) if (this.roles[r].loading === attempt) this.setState(r, { kind: "loading", path: model.path, fraction: ev.fraction });
          onProgress?.(ev.fraction);
        },
      },
    );
    for (const rec of recs) rec.loading = attempt;
    // The roles this attempt still speaks for (a newer load of a role takes it over).
    const mine = () => roles.filter((r) => this.roles[r].loading === attempt);
    try {
      const info = await attempt;
      for (const r of mine()) {
        this.roles[r].loadedKey = key;
        this.setState(r, { kind: "ready", info });
      }
      this.log("info", `model loaded in ${Math.round(performance.now() - started)} ms for ${roles.join(" and ")}: ${info.name ?? model.path} (${info.architecture}, context ${info.contextSize}, ${model.threads} threads)`);
      return info;
    } catch (err) {
      for (const r of mine()) {
        if (isAbort(err)) {
          this.roles[r].wanted = undefined;
          this.setState(r, { kind: "none" });
        } else if (!(err instanceof WorkerDiedError)) {
          this.roles[r].wanted = undefined;
          this.setState(r, { kind: "error", message: (err as Error).message });
        }
      }
      if (isAbort(err)) this.log("info", `model loading cancelled: ${model.path}`);
      throw err;
    } finally {
      for (const r of mine()) this.roles[r].loading = undefined;
    }
  }

  /** Unloads `role`'s model (default: both roles'); a model the other role uses stays loaded. */
  async unload(role?: Role): Promise<void> {
    const roles = role ? [role] : ROLES;
    for (const r of roles) {
      this.roles[r].wanted = undefined;
      this.roles[r].loadedKey = undefined;
    }
    if (this.worker) await this.request("unload", role ? { role } : {});
    for (const r of roles) this.setState(r, { kind: "none" });
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
        await this.ensureModel(params.slot);
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
    if (this.stateOf(params.slot).kind !== "ready" || !this.worker) return undefined;
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
    if (this.stateOf(params.slot).kind !== "ready" || !this.worker) return undefined;
    return this.request("cached", params);
  }

  /** Tokens of `params.text` by the tokenizer of `params.role`'s model (default completion's). */
  async tokenize(params: TokenizeParams): Promise<number[]> {
    const role = params.role ?? "completion";
    await this.ensureModel(role);
    return this.request("tokenize", { ...params, role });
  }

  /** The info of `role`'s model (loading the wanted model first if the worker restarted). */
  async info(role: Role = "completion"): Promise<ModelInfo | null> {
    if (this.roles[role].wanted) await this.ensureModel(role);
    if (!this.worker) return null;
    return this.request("info", { role });
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
   * Loads `role`'s wanted model into the worker if it is not there (after a restart, say), in one
   * load with the other role when it wants the same model. Not tied to the caller's token: one
   * cancelled completion must not cancel a load others wait for.
   */
  private async ensureModel(role: Role): Promise<void> {
    const rec = this.roles[role];
    if (rec.loading) {
      await rec.loading;
      return;
    }
    if (!rec.wanted) throw new EngineError({ name: "NoModelError", message: `no model is loaded for ${role}: choose a model file first (Hearth: Select Model File)` });
    const key = JSON.stringify(rec.wanted);
    if (rec.loadedKey !== key) {
      const roles = ROLES.filter((r) => r === role || (JSON.stringify(this.roles[r].wanted) === key && this.roles[r].loadedKey !== key && !this.roles[r].loading));
      this.log("info", `loading ${rec.wanted.path} into the engine worker for ${roles.join(" and ")}`);
      await this.load(rec.wanted, { roles });
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
    for (const r of ROLES) this.roles[r].loadedKey = undefined;
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
      for (const r of ROLES) this.roles[r].loadedKey = undefined;
      // Fresh counters: a request the dead worker never received must not hold pre-warms back.
      this.announce = new SharedArrayBuffer(8);
      const why = lastError ? `${lastError.message}` : `exit code ${code}`;
      const message = `the engine worker stopped unexpectedly (${why}); it restarts with the next request`;
      this.log("error", message);
      this.failAll(new WorkerDiedError(message));
      // Each role that had a model says so; its next request restarts the worker and reloads it.
      for (const r of ROLES) if (this.roles[r].wanted || this.roles[r].state.kind !== "none") this.setState(r, { kind: "error", message });
    });
    this.log("info", `engine worker started (#${this.workerStarts})`);
    return worker;
  }

  private failAll(err: Error): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.fail(err);
  }

  private setState(role: Role, s: ClientState): void {
    this.roles[role].state = s;
    for (const l of this.stateListeners) l(s, role);
  }

  private log(level: keyof ClientLogger, message: string): void {
    this.options.log?.[level](message);
  }
}

const NO_STATS: GenerateStats = { promptTokens: 0, reusedTokens: 0, restoredTokens: 0, evaluatedTokens: 0, generatedTokens: 0, promptMs: 0, generateMs: 0, stopReason: "length" };

