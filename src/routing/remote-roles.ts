// Which roles a server serves, and their remote engines. A role whose `hearth.<role>.engine` is
// "openai" gets a RemoteEngine built from that role's settings and API key; "local" (the
// default) gets none, and nothing is ever sent anywhere for it. A change of one role's settings
// or key rebuilds that role's engine only. Each remote role has a state the status bar shows:
// connecting (the probe runs), ready (endpoint, model), error (the message, whose last sentence
// is the next step). The probe runs when the engine is built, so a wrong URL or a missing key
// shows at once rather than at the first keystroke; later requests move the state too (a
// failure to error, a success back to ready).
//
// Features get a role's engine as a handle whose complete/chat return a Generation at once (the
// API key comes from SecretStorage, asynchronously; the handle waits for it inside the stream),
// so the completion controller and the chat session use it exactly as they use the local
// client's generations. No `vscode` import: extension.ts passes the settings, the key and the
// proxy settings in, and the unit tests pass fakes.
import { DeltaStream } from "../client/stream.ts";
import type { CancelFlag } from "../engine/cancel.ts";
import { isAbort } from "../engine/cancel.ts";
import { RemoteConfigError, RemoteEngine, type Generation, type RemoteChatRequest } from "../remote/index.ts";
import type { RemoteApi, RemoteCompleteRequest, RemoteEngineOptions, RemoteInfo, RemoteLogger, RemoteNetOptions } from "../remote/index.ts";
import type { Role } from "../worker/protocol.ts";

export type { Generation };

/** A role's remote settings (settings.ts reads them: RemoteRoleSettings). */
export interface RemoteRoleConfig {
  engine: "local" | "openai";
  endpoint: string;
  model: string;
  api: RemoteApi;
}

/** What the status bar shows of a remote role. */
export interface RemoteRoleState {
  kind: "connecting" | "ready" | "error";
  /** The endpoint as configured (origin and path: no secret in it). */
  endpoint: string;
  /** The model in use (after a probe), else the configured name (may be empty). */
  model: string;
  /** kind "error": what went wrong and the next step. */
  message?: string;
}

/** The part of RemoteEngine a role uses (tests pass fakes). */
export interface RemoteEngineLike {
  readonly endpoint: string;
  probe(options?: { refresh?: boolean }): Promise<RemoteInfo>;
  complete(req: RemoteCompleteRequest, options?: { cancel?: CancelFlag }): Generation;
  chat(req: RemoteChatRequest, options?: { cancel?: CancelFlag }): Generation;
}

/** A feature's view of its role's server. */
export interface RemoteRoleEngine {
  readonly role: Role;
  /** "http://gpu-box:8080 (qwen2.5-coder-7b)": for logs and messages. */
  readonly label: string;
  /** What the last successful probe found (the server's context size, when it says). */
  readonly info: RemoteInfo | undefined;
  complete(req: RemoteCompleteRequest, options?: { cancel?: CancelFlag }): Generation;
  chat(req: RemoteChatRequest, options?: { cancel?: CancelFlag }): Generation;
}

export interface RemoteRolesDeps {
  config(role: Role): RemoteRoleConfig;
  /** The role's API key from SecretStorage (undefined: none). */
  apiKey(role: Role): Promise<string | undefined>;
  /** VS Code's proxy settings (http.proxy, http.proxyAuthorization, http.proxyStrictSSL). */
  net(): RemoteNetOptions;
  log?: RemoteLogger;
  /** Builds the engine (default: a RemoteEngine); throws for an unusable endpoint. */
  create?(options: RemoteEngineOptions): RemoteEngineLike;
}

interface Slot {
  engine: Promise<RemoteEngineLike>;
  handle: RemoteRoleEngine;
  state: RemoteRoleState;
  info: RemoteInfo | undefined;
}

export class RemoteRoles {
  private readonly slots: Partial<Record<Role, Slot>> = {};
  private readonly listeners = new Set<(role: Role, state: RemoteRoleState | undefined) => void>();

  constructor(private readonly deps: RemoteRolesDeps) {}

  /** Whether `role` is configured to use a server (known without waiting for anything). */
  isRemote(role: Role): boolean {
    return this.slots[role] !== undefined;
  }

  /** `role`'s server, or undefined when the role is local. */
  engineOf(role: Role): RemoteRoleEngine | undefined {
    return this.slots[role]?.handle;
  }

  /** `role`'s state, or undefined when the role is local. */
  stateOf(role: Role): RemoteRoleState | undefined {
    return this.slots[role]?.state;
  }

  onDidChangeState(listener: (role: Role, state: RemoteRoleState | undefined) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  /**
   * (Re)builds `role`'s engine from its settings and key (at activation, after a change of its
   * settings or key). Resolves when the probe has settled (its outcome is in the state).
   */
  async reload(role: Role): Promise<void> {
    const config = this.deps.config(role);
    if (config.engine !== "openai") {
      if (this.slots[role]) {
        delete this.slots[role];
        this.emit(role);
      }
      return;
    }
    const endpoint = config.endpoint;
    const state: RemoteRoleState = { kind: "connecting", endpoint, model: config.model };
    if (!endpoint) {
      state.kind = "error";
      state.message = `hearth.${role}.engine is "openai" but no server is set: set hearth.${role}.endpoint to its URL (e.g. http://gpu-box:8080), or set hearth.${role}.engine back to "local".`;
    }
    const engine = endpoint ? this.build(role, config) : Promise.reject(new RemoteConfigError("config", state.message!));
    engine.catch(() => {}); // reported through the state and by each request
    const slot: Slot = { engine, state, info: undefined, handle: undefined as unknown as RemoteRoleEngine };
    slot.handle = this.handleOf(role, slot);
    this.slots[role] = slot;
    this.emit(role);
    if (!endpoint) return;
    try {
      const info = await (await engine).probe({ refresh: true });
      if (this.slots[role] !== slot) return;
      slot.info = info;
      this.setState(role, slot, { kind: "ready", endpoint, model: info.model });
    } catch (err) {
      if (this.slots[role] !== slot) return;
      this.setState(role, slot, { kind: "error", endpoint, model: config.model, message: (err as Error).message });
    }
  }

  dispose(): void {
    this.listeners.clear();
  }

  private async build(role: Role, config: RemoteRoleConfig): Promise<RemoteEngineLike> {
    const apiKey = await this.deps.apiKey(role);
    const options: RemoteEngineOptions = { role, endpoint: config.endpoint, model: config.model, api: config.api, apiKey, net: this.deps.net(), log: this.deps.log };
    return this.deps.create ? this.deps.create(options) : new RemoteEngine(options);
  }

  private handleOf(role: Role, slot: Slot): RemoteRoleEngine {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the handle's methods report to the roles
    const roles = this;
    const track = (start: (e: RemoteEngineLike) => Generation, cancel: CancelFlag | undefined): Generation =>
      roles.tracked(role, slot, lazyGeneration(slot.engine.then(start), cancel));
    return {
      role,
      get label() {
        const model = slot.info?.model || slot.state.model;
        return `${slot.state.endpoint}${model ? ` (${model})` : ""}`;
      },
      get info() {
        return slot.info;
      },
      complete: (req, options) => track((e) => e.complete(req, options), options?.cancel),
      chat: (req, options) => track((e) => e.chat(req, options), options?.cancel),
    };
  }

  /** A request's outcome moves the role's state: a failure to error, a success back to ready. */
  private tracked(role: Role, slot: Slot, gen: Generation): Generation {
    gen.stats.then(
      (stats) => {
        if (stats.stopReason !== "cancelled" && slot.state.kind !== "ready" && this.slots[role] === slot) {
          void slot.engine
            .then((e) => e.probe())
            .then((info) => {
              slot.info = info;
              this.setState(role, slot, { kind: "ready", endpoint: slot.state.endpoint, model: info.model });
            }, () => {});
        }
      },
      (err: unknown) => {
        if (!isAbort(err) && this.slots[role] === slot) this.setState(role, slot, { ...slot.state, kind: "error", message: (err as Error).message });
      },
    );
    return gen;
  }

  private setState(role: Role, slot: Slot, state: RemoteRoleState): void {
    if (this.slots[role] !== slot) return;
    slot.state = state;
    this.emit(role);
  }

  private emit(role: Role): void {
    const s = this.slots[role]?.state;
    for (const l of [...this.listeners]) l(role, s);
  }
}

/**
 * A Generation available at once for one that comes later (after the engine is built). Leaving
 * the loop early cancels the request as a direct generation would; a cancel before the engine
 * exists reaches it with the request (a cancelled flag ends it at once, "cancelled").
 */
export function lazyGeneration(later: Promise<Generation>, cancel: CancelFlag | undefined): Generation {
  const stream = new DeltaStream(() => cancel?.cancel());
  const stats = later.then((g) => g.stats);
  void (async () => {
    try {
      for await (const delta of await later) stream.push(delta);
      stream.end();
    } catch (err) {
      stream.fail(err);
    }
  })();
  // A consumer that stops iterating on a failure does not also await stats.
  stats.catch(() => {});
  return Object.assign(stream, { stats });
}
