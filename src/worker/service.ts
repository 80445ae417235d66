// What the engine worker does with each request, apart from the thread plumbing (main.ts), so the
// same code runs in the worker and in-process in tests. It holds up to two engines, one per role
// (completion, chat), each with its own wasm memory, kernels and KV slots; when both roles name
// the same file with the same settings, one engine serves both (its pools: completion's and
// chat's). One scheduler runs the requests of both, one engine step at a time: the CPU is shared.
// Loads and unloads of a role run one after another; requests of a role wait for its load in
// progress, never for the other role's. Replacing a role's model first cancels that role's
// requests and frees its old engine if no role uses it any more. With a prompt cache folder, what
// requests leave in their slots is written to disk when the worker is idle (IdleSaver, one per
// engine) and restored by later requests, also after a reload; pre-warms run at idle priority.
import { CancelFlag } from "../engine/cancel.ts";
import { Engine } from "../engine/engine.ts";
import { PrefixCache } from "../engine/prefix-cache.ts";
import { readGguf } from "../engine/gguf/reader.ts";
import { modelShape } from "../engine/model/shape.ts";
import { Scheduler } from "./scheduler.ts";
import { IdleSaver } from "./idle-saver.ts";
import { withChatPrompts, type ChatCapableEngine } from "../engine/chat-prompt.ts";
import { ROLES, toWireError, type Event, type GenerateParams, type LoadParams, type ModelInfo, type Request, type Role, type WarmParams } from "./protocol.ts";

type Post = (event: Event) => void;

class NoModelError extends Error {
  override readonly name = "NoModelError";
  constructor(role?: Role) {
    super(`no model is loaded${role ? ` for ${role}` : ""}: choose a model file first`);
  }
}

/** A loaded engine and the roles it serves. */
interface Loaded {
  engine: Engine;
  /** The file and the settings that make an engine (engineKey); KV pools may be added later. */
  key: string;
  /** The engine as the scheduler drives it (conversation prompts rendered with its template). */
  driven: ChatCapableEngine;
  saver: IdleSaver | undefined;
  roles: Set<Role>;
}

export class EngineService {
  private readonly loaded: Loaded[] = [];
  private readonly byRole = new Map<Role, Loaded>();
  private readonly scheduler = new Scheduler((slot) => this.byRole.get(slot)?.driven, { userRequestPending: () => this.userRequestPending() });
  /** The client's announcement counters (see LoadParams.announce); [1] is bumped here. */
  private announce: Int32Array | undefined;
  /** Each role's loads and unloads, in order; its requests wait for them. */
  private readonly chains = new Map<Role, Promise<unknown>>(ROLES.map((r) => [r, Promise.resolve()]));

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
      case "load": {
        const roles = rolesOf(msg.params.roles);
        reply(this.queue(roles, () => this.load(id, msg.params, roles)));
        return;
      }
      case "unload": {
        const roles = rolesOf(msg.params.role && [msg.params.role]);
        reply(this.queue(roles, () => this.unload(roles)));
        return;
      }
      case "info":
        reply(this.ready(msg.params.role).then(() => this.engineFor(msg.params.role)?.info() ?? null));
        return;
      case "inspect":
        reply(readGguf(msg.params.path).then(modelShape));
        return;
      case "tokenize":
        reply(this.ready(msg.params.role).then(() => this.need(msg.params.role).tokenize(msg.params.text, msg.params)));
        return;
      case "cached":
        reply(this.ready(msg.params.slot).then(() => this.need(msg.params.slot).cachedPrefix(msg.params)));
        return;
      case "generate":
        // Received: a pre-warm no longer yields to this request's announcement (it is queued).
        if (this.announce) Atomics.add(this.announce, 1, 1);
        for (const l of this.loaded) l.saver?.poke();
        // catch() after then(): need() throws inside the handler when no model is loaded.
        this.ready(msg.params.slot)
          .then(() => {
            const saver = this.byRole.get(msg.params.slot)?.saver;
            this.need(msg.params.slot);
            this.scheduler.submit(msg.params, {
              delta: (text, tokens) => this.post({ kind: "delta", id, text, tokens }),
              promptProgress: (done, total) => this.post({ kind: "prompt-progress", id, done, total }),
              done: (stats) => {
                // Cancelled ones too: most completions are cancelled by the next keystroke after
                // their prompt was read, and what the slot holds of it is worth as much (the save
                // takes only the slot's valid positions). One cancelled before it started says
                // nothing about the slot: it must not replace what an earlier request noted.
                if (stats.promptTokens > 0) saver?.note(slotOf(msg.params), stats.promptTokens);
                this.post({ kind: "done", id, result: stats });
              },
              error: (err) => this.post({ kind: "error", id, error: toWireError(err) }),
            });
          })
          .catch((err: unknown) => this.post({ kind: "error", id, error: toWireError(err) }));
        return;
      case "warm":
        reply(this.ready(msg.params.slot).then(() => this.warm(msg.params)));
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

  /** Runs `task` after the loads and unloads queued so far for `roles`; theirs until it ends. */
  private queue<T>(roles: readonly Role[], task: () => Promise<T>): Promise<T> {
    const run = Promise.all(roles.map((r) => this.chains.get(r)!.catch(() => {}))).then(task);
    for (const r of roles) this.chains.set(r, run);
    return run;
  }

  /** Waits for the loads/unloads queued so far for `role` (default: both); a failed load leaves no model (need() says so). */
  private async ready(role?: Role): Promise<void> {
    await Promise.all((role ? [role] : ROLES).map((r) => this.chains.get(r)!.catch(() => {})));
  }

  /** The engine of `role`; without a role, completion's, else chat's (tokenize and info from older hosts). */
  private engineFor(role?: Role): Engine | undefined {
    return (role ? this.byRole.get(role) : (this.byRole.get("completion") ?? this.byRole.get("chat")))?.engine;
  }

  private need(role?: Role): Engine {
    const engine = this.engineFor(role);
    if (!engine) throw new NoModelError(role);
    return engine;
  }

  /** Queues a pre-warm; resolves when it finished (an AbortError when replaced or cancelled). */
  private warm(params: WarmParams): Promise<unknown> {
    this.need(params.slot);
    const saver = this.byRole.get(params.slot)?.saver;
    return new Promise((resolve, reject) => {
      this.scheduler.warm(params, {
        done: (r) => {
          const what = `${params.slot}${params.document ? ` (${params.document})` : ""}`;
          this.log("info", `pre-warmed ${what}: ${r.promptTokens} tokens (${r.reusedTokens} reused, ${r.restoredTokens} restored, ${r.evaluatedTokens} evaluated) in ${Math.round(r.ms)} ms, preempted ${r.preemptions}×`);
          saver?.note(slotOf(params), r.promptTokens);
          resolve(r);
        },
        error: reject,
      });
    });
  }

  /** Through the loaded models' caches when there are any, so their indexes forget the files too. */
  private async clearPromptCache(dir: string): Promise<null> {
    const caches = this.loaded.flatMap((l) => (l.engine.session.prefixCache ? [l.engine.session.prefixCache] : []));
    for (const l of this.loaded) l.saver?.clear();
    if (caches.length === 0) await PrefixCache.clearDir(dir);
    for (const cache of caches) await cache.clear();
    this.log("info", `prefix cache cleared: ${dir}`);
    return null;
  }

  private log(level: "info" | "warn", message: string): void {
    this.post({ kind: "log", id: 0, level, message });
  }

  /**
   * Makes `roles` served by the model of `p`: by the engine that has it already (adding the KV
   * pool of a role it did not serve: no reload), else by a new engine. Engines no role uses any
   * more are freed before a new one loads, so the two are never in memory together.
   */
  private async load(id: number, p: LoadParams, roles: readonly Role[]): Promise<ModelInfo> {
    if (p.announce) this.announce = new Int32Array(p.announce, 0, 2);
    const key = engineKey(p);
    const pools = poolsFor(roles, p);
    let target = this.loaded.find((l) => l.key === key && canServe(l.engine, pools));
    for (const l of [...this.loaded]) {
      if (l !== target && [...l.roles].every((r) => roles.includes(r))) await this.free(l);
    }
    if (!target) {
      target = await this.open(id, p, key, pools);
      this.log("info", `loaded ${describe(target.engine)} for ${roles.join(" and ")}`);
    } else {
      const added = [...pools].filter(([r]) => !target!.engine.model.poolSizes().has(r));
      for (const [r, n] of added) target.engine.model.addPool(r, n);
      const moved = roles.filter((r) => this.byRole.get(r) !== target);
      if (moved.length > 0) this.log("info", `${moved.join(" and ")} now served by ${describe(target.engine)}, already loaded (no reload)`);
    }
    // Roles that move off an engine that keeps serving another role: their requests end first.
    for (const r of roles) {
      const from = this.byRole.get(r);
      if (!from || from === target) continue;
      await this.scheduler.drain([r]);
      from.roles.delete(r);
    }
    for (const r of roles) {
      this.byRole.set(r, target);
      target.roles.add(r);
    }
    return target.engine.info();
  }

  /** Loads a new engine with the KV pools `pools`, posting progress; cancellable between tensors. */
  private async open(id: number, p: LoadParams, key: string, pools: Map<Role, number>): Promise<Loaded> {
    const cancel = p.cancelFlag && new CancelFlag(p.cancelFlag);
    let lastPercent = -1;
    const engine = await Engine.load(p.path, {
      threads: p.threads,
      contextSize: p.contextSize,
      batchSize: p.batchSize,
      slots: Object.fromEntries(pools),
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
    // Chat requests carry the conversation: rendered with the model's template here, not in the host.
    const loaded: Loaded = { engine, key, driven: withChatPrompts(engine), saver: undefined, roles: new Set() };
    if (p.promptCache) {
      await engine.usePrefixCache({ dir: p.promptCache.dir, maxBytes: p.promptCache.maxBytes, log: (level, message) => this.log(level, message) });
      loaded.saver = new IdleSaver({
        save: (at, n) => engine.session.savePrefix(at, n),
        busy: () => this.scheduler.size > 0 || this.userRequestPending(),
        log: (message) => this.log("info", message),
      });
    }
    this.loaded.push(loaded);
    return loaded;
  }

  private async unload(roles: readonly Role[]): Promise<null> {
    await this.scheduler.drain(roles);
    for (const r of roles) {
      this.byRole.get(r)?.roles.delete(r);
      this.byRole.delete(r);
    }
    for (const l of [...this.loaded]) if (l.roles.size === 0) await this.free(l);
    return null;
  }

  /** Ends an engine's requests, writes what its slots hold, and disposes it. */
  private async free(l: Loaded): Promise<void> {
    await this.scheduler.drain([...l.roles]);
    // What the last requests evaluated is written before the slots go away.
    await l.saver?.flush();
    l.saver?.clear();
    for (const r of l.roles) if (this.byRole.get(r) === l) this.byRole.delete(r);
    l.roles.clear();
    this.loaded.splice(this.loaded.indexOf(l), 1);
    await l.engine.dispose();
  }

  /** A user request was posted that has not arrived here yet (the pre-warm yields to it). */
  private userRequestPending(): boolean {
    const a = this.announce;
    return a !== undefined && Atomics.load(a, 0) !== Atomics.load(a, 1);
  }

  async dispose(): Promise<void> {
    await this.ready();
    await this.unload(ROLES);
  }
}

/** A load's roles: both when it names none (the CLI, tests and hosts before two models). */
function rolesOf(roles: readonly Role[] | undefined): Role[] {
  return roles && roles.length > 0 ? [...new Set(roles)] : [...ROLES];
}

/** What makes two loads the same engine: the file and the settings fixed at load. */
function engineKey(p: LoadParams): string {
  return JSON.stringify([p.path, p.threads, p.contextSize, p.batchSize, p.promptCache]);
}

/** The KV pools `roles` need: completion's slots (one per recent document), chat's one. */
function poolsFor(roles: readonly Role[], p: LoadParams): Map<Role, number> {
  return new Map(roles.map((r) => [r, r === "completion" ? (p.completionSlots ?? 2) : 1]));
}

/** Whether `engine` can serve pools of these sizes: each one it has is that size (missing ones are added). */
function canServe(engine: Engine, pools: Map<Role, number>): boolean {
  const have = engine.model.poolSizes();
  return [...pools].every(([r, n]) => !have.has(r) || have.get(r) === n);
}

function describe(engine: Engine): string {
  const i = engine.info();
  return i.name ? `${i.name} (${i.path})` : i.path;
}

function slotOf(p: GenerateParams | WarmParams): { slot: GenerateParams["slot"]; document?: string } {
  return { slot: p.slot, document: p.document };
}
