// Which models Hearth runs, on the VS Code side, in one module: the commands Select Model File and
// Download Model (the download's own flow is ./download-command.ts), the first-run prompt, the
// model settings turned into the file to load for each role (paths or catalogue ids:
// ./resolve.ts; a role without its own setting uses the other's, and one file set for both is
// loaded once for both), the checks before loading (GGUF header, memory of both models), and
// loading under a cancellable progress notification. Failures go to the log and to a
// notification whose buttons are the next step.
//
// GGUF headers are read by the engine worker (`engine.inspect`), never parsed on the extension
// host's thread. Nothing here imports the engine or its client: extension.ts hands the client
// over as a ModelEngine.
import * as vscode from "vscode";
import { join } from "node:path";
import { COMMANDS } from "../commands/ids.ts";
import { anyModelSet, modelSetting, readSettings, writeModelSetting, type Settings } from "../commands/settings.ts";
import type { ModelRole } from "./catalogue.ts";
import { Downloads, type DownloadArg, type DownloadOutcome, type Target } from "./download-command.ts";
import { isAbortError, plainModelProblem } from "./errors.ts";
import { checkPairFits, estimateModelMemory, MIN_COMPLETION_SLOTS, planCompletionSlots, type MemoryEstimate, type ModelShape } from "./memory.ts";
import { resolveModelSetting } from "./resolve.ts";

export type { DownloadArg, DownloadOutcome };

const FIRST_RUN_DISMISSED = "hearth.models.firstRunDismissed";
export const FIRST_RUN_MESSAGE = "Hearth runs a language model in the editor and needs one to start.";
export const FIRST_RUN_CHOICES = ["Get Started", "Use a File on Disk…"] as const;

/** What the worker is asked to load. */
export interface LoadRequest {
  path: string;
  threads: number;
  contextSize: number;
  completionSlots: number;
  promptCache?: { dir: string; maxBytes: number };
}

const ROLES: readonly ModelRole[] = ["completion", "chat"];
const other = (role: ModelRole): ModelRole => (role === "completion" ? "chat" : "completion");

/** What this module needs of the engine: the EngineClient, adapted in extension.ts. */
export interface ModelEngine<Info> {
  /** "ready" while `role`'s model is loaded. */
  stateOf(role: ModelRole): { readonly kind: string };
  /** The model wanted for `role` (loaded or loading); undefined before its first load. */
  modelOf(role: ModelRole): LoadRequest | undefined;
  /** Loads `req` for `roles`; the other role's model is not touched. */
  load(req: LoadRequest, opts: { roles: readonly ModelRole[]; cancel: vscode.CancellationToken; onProgress(fraction: number): void }): Promise<Info>;
  /** The memory check's numbers from the file's GGUF header, read in the worker; rejects with the reader's message for a bad file. */
  inspect(path: string): Promise<ModelShape>;
}

export class ModelCommands<Info> {
  /** The extension's global storage; downloaded models are under `<storageDir>/models/`. */
  readonly storageDir: string;
  /** Where the prefix cache lives (src/engine/prefix-cache.ts, written by the worker). */
  readonly promptCacheDir: string;
  private readonly downloads: Downloads;
  /** The load in progress per role (the same promise for both when one model serves both). */
  private readonly inflight = new Map<ModelRole, { key: string; promise: Promise<Info | undefined> }>();
  /** An error notification of notifyError is open. */
  private errorShown = false;
  /** Slot counts by file and settings, planned once: free memory moves, the loaded model must not. */
  private readonly slotPlans = new Map<string, Promise<number>>();

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly engine: ModelEngine<Info>,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.storageDir = context.globalStorageUri.fsPath;
    this.promptCacheDir = join(this.storageDir, "prompt-cache");
    this.downloads = new Downloads({
      storageDir: this.storageDir,
      log,
      validate: async (path) => {
        if (!(await engine.inspect(path)).architecture) throw new Error("no general.architecture in its metadata");
      },
      select: (target, path) => this.selectDownloaded(target, path),
    });
  }

  /** Registers Select Model File and Download Model; asks the first-run question unless testing. */
  register(opts: { firstRunPrompt?: boolean } = {}): void {
    this.context.subscriptions.push(
      vscode.commands.registerCommand(COMMANDS.selectModelFile, (arg?: string | vscode.Uri, role?: ModelRole) => this.selectModelFile(arg || undefined, role)),
      vscode.commands.registerCommand(COMMANDS.downloadModel, (arg?: DownloadArg) => this.download(arg)),
    );
    if (opts.firstRunPrompt ?? this.context.extensionMode !== vscode.ExtensionMode.Test) void this.promptFirstRun();
  }

  /** Hearth: Download Model. `arg` (a catalogue id or a hub file) skips the quick pick. */
  download(arg?: DownloadArg): Promise<DownloadOutcome> {
    return this.downloads.download(arg);
  }

  /** Points `role`'s setting at `path` (written to user settings) and loads the model. */
  async useModel(role: ModelRole, path: string): Promise<void> {
    await writeModelSetting(role, path);
    await this.ensureLoaded(role);
  }

  /**
   * Hearth: Select Model File. `arg` (a path or Uri) skips the picker: for tests and for other
   * commands. `role` (default: asked when the two roles have different models, else completion,
   * which chat then follows unless it has its own) says whose model it is. Resolves true when
   * the file was accepted and loaded.
   */
  async selectModelFile(arg?: string | vscode.Uri, role?: ModelRole): Promise<boolean> {
    role ??= await this.pickRole();
    if (!role) return false;
    let path = typeof arg === "string" ? arg : arg?.fsPath;
    if (!path) {
      const picked = await vscode.window.showOpenDialog({
        canSelectMany: false,
        canSelectFolders: false,
        filters: { "GGUF models": ["gguf"], "All files": ["*"] },
        title: `Hearth: choose a GGUF model file for ${role}`,
        openLabel: "Use This Model",
      });
      if (!picked?.length) return false;
      path = picked[0].fsPath;
    }
    const problem = await this.checkModelFile(path);
    if (problem) {
      this.log.error(`rejected model file: ${problem}`);
      void vscode.window.showErrorMessage(`Hearth: ${plainModelProblem(problem)} (${problem})`, "Choose Another File").then((choice) => {
        if (choice) void vscode.commands.executeCommand(COMMANDS.selectModelFile);
      });
      return false;
    }
    this.log.info(`model file selected for ${role}: ${path}`);
    await writeModelSetting(role, path);
    return (await this.ensureLoaded(role)) !== undefined;
  }

  /** Which role a file is for: asked only when the roles have models of their own. */
  private async pickRole(): Promise<ModelRole | undefined> {
    const s = readSettings();
    if (!s.chatModelPath || !s.completionModelPath || s.chatModelPath === s.completionModelPath) return "completion";
    const picked = await vscode.window.showQuickPick(
      [
        { label: "Completion", description: s.completionModelPath, role: "completion" as const },
        { label: "Chat", description: s.chatModelPath, role: "chat" as const },
      ],
      { title: "Hearth: choose a model file for…" },
    );
    return picked?.role;
  }

  /** Reads the GGUF header (in the worker); returns what is wrong in words, or undefined for a good file. */
  async checkModelFile(path: string): Promise<string | undefined> {
    try {
      const shape = await this.engine.inspect(path);
      return shape.architecture ? undefined : `${path}: no general.architecture in the GGUF metadata`;
    } catch (err) {
      return (err as Error).message;
    }
  }

  /**
   * Loads `role`'s configured model if the worker does not hold it (first need, settings change):
   * one load for both roles when they name the same file. The other role's model is untouched.
   */
  ensureLoaded(role: ModelRole = "completion"): Promise<Info | undefined> {
    const settings = readSettings();
    const value = modelSetting(settings, role);
    if (!value) {
      this.notifyError("no model file is set", "Hearth: choose a GGUF model file first.");
      return Promise.resolve(undefined);
    }
    const resolved = this.resolve(value);
    if ("problem" in resolved) {
      this.notifyError(`cannot load "${value}" for ${role}: ${resolved.problem}`, `Hearth: ${resolved.problem}`);
      return Promise.resolve(undefined);
    }
    const roles = this.rolesOf(resolved.path, role, settings);
    const base = { path: resolved.path, threads: settings.threads, contextSize: settings.contextSize };
    const promptCache = settings.promptCacheBytes > 0 ? { dir: this.promptCacheDir, maxBytes: settings.promptCacheBytes } : undefined;
    const key = JSON.stringify([roles, base, promptCache, settings.completionCacheBytes]);
    const inflight = this.inflight.get(role);
    if (inflight?.key === key) return inflight.promise;
    // Only a model that serves completion has completion slots; the count does not change a chat-only load.
    const slots = roles.includes("completion") ? this.planSlots(base.path, base.contextSize, base.threads, settings.completionCacheBytes) : Promise.resolve(0);
    const promise = slots
      .then((completionSlots) => this.loadWithProgress({ ...base, completionSlots, promptCache }, roles))
      .finally(() => {
        for (const r of roles) if (this.inflight.get(r)?.promise === promise) this.inflight.delete(r);
      });
    for (const r of roles) this.inflight.set(r, { key, promise });
    return promise;
  }

  /**
   * Whether a role is served by a server (hearth.<role>.engine; extension.ts sets this once its
   * remote roles exist): such a role loads no local model and shares none.
   */
  servedRemotely: (role: ModelRole) => boolean = () => false;

  /** `role` and, when it resolves to the same file (and is local), the other role: they share one model. */
  private rolesOf(path: string, role: ModelRole, settings: Settings): ModelRole[] {
    if (this.servedRemotely(other(role))) return [role];
    const theirs = modelSetting(settings, other(role));
    const resolved = theirs ? this.resolve(theirs) : undefined;
    return resolved && "path" in resolved && resolved.path === path ? [...ROLES] : [role];
  }

  /** A model setting's value (a path or a catalogue id) → the file to load, or why it cannot be loaded yet. */
  resolve(value: string): { path: string } | { problem: string } {
    const r = resolveModelSetting(value, this.storageDir);
    if (r.kind === "file" || r.kind === "catalogue") return { path: r.path };
    if (r.kind === "needs-download") return { problem: `${r.entry.label} is not downloaded yet: run "Hearth: Download Model".` };
    return { problem: "no model is set: choose a GGUF model file first." };
  }

  /**
   * Why `req` for `roles` cannot load next to the other role's model (a sentence naming both
   * models' numbers), or undefined. The models Hearth holds now count as free: the worker frees
   * the one this load replaces, and the other one is counted in the need.
   */
  async checkBothFit(req: LoadRequest, roles: readonly ModelRole[]): Promise<{ message: string; both: boolean } | undefined> {
    // Each file's header is read once (in the worker) however many of the estimates below need it.
    const shapes = new Map<string, Promise<ModelShape>>();
    const shape = (path: string): Promise<ModelShape> => {
      if (!shapes.has(path)) shapes.set(path, this.engine.inspect(path));
      return shapes.get(path)!;
    };
    const estimate = async (r: LoadRequest, rs: readonly ModelRole[]): Promise<MemoryEstimate> =>
      estimateModelMemory(await shape(r.path), r.contextSize, { threads: r.threads, completionSlots: r.completionSlots, roles: rs });
    const mine = await estimate(req, roles);
    const rest = ROLES.filter((r) => !roles.includes(r));
    const theirs = rest.length === 1 ? this.engine.modelOf(rest[0]) : undefined;
    const kept = theirs && theirs.path !== req.path && this.engine.stateOf(rest[0]).kind !== "none" ? { role: rest[0], estimate: await estimate(theirs, rest) } : undefined;
    // What Hearth holds now (each loaded model once): given back or already counted in the need.
    const held = new Map<string, Promise<MemoryEstimate>>();
    for (const r of ROLES) {
      const m = this.engine.modelOf(r);
      if (m && this.engine.stateOf(r).kind === "ready" && !held.has(m.path)) held.set(m.path, estimate(m, ROLES.filter((x) => this.engine.modelOf(x)?.path === m.path)));
    }
    const released = (await Promise.all(held.values())).reduce((sum, e) => sum + e.total, 0);
    const r = checkPairFits({ roles, estimate: mine, name: fileName(req.path) }, kept && { roles: [kept.role], estimate: kept.estimate, name: fileName(theirs!.path) }, { released });
    return r.ok ? undefined : { message: r.message, both: r.both };
  }

  /** After a settings change: reloads each role whose model changed, if it is loaded or wanted (loading stays lazy). */
  async onModelSettingsChanged(): Promise<void> {
    await Promise.all(ROLES.filter((r) => this.engine.modelOf(r)).map((r) => this.ensureLoaded(r)));
  }

  /**
   * Log line plus a notification offering the next steps. At most one is open at a time: errors
   * while it is (a retry failing again, a second feature asking) go to the log only, instead of
   * stacking over the load's progress.
   */
  notifyError(logLine: string, message: string): void {
    if (logLine) this.log.error(logLine);
    if (this.errorShown) return;
    this.errorShown = true;
    void vscode.window.showErrorMessage(message, "Select Model File", "Show Log").then((choice) => {
      this.errorShown = false;
      if (choice === "Select Model File") void vscode.commands.executeCommand(COMMANDS.selectModelFile);
      else if (choice === "Show Log") void vscode.commands.executeCommand(COMMANDS.showLog);
    });
  }

  /**
   * `role`'s model does not fit next to the other role's: the message names both, and a button
   * points `role` at the other role's model, which is loaded already (one model then serves both;
   * nothing new is loaded). Without a click nothing changes.
   */
  private async offerOneModel(message: string, role: ModelRole): Promise<void> {
    const value = modelSetting(readSettings(), other(role));
    const use = `Use ${fileName(this.resolvePath(value))} for Both`;
    const choice = await vscode.window.showErrorMessage(`Hearth: ${message}`, use, "Show Log");
    if (choice === use) {
      await writeModelSetting(role, value);
      await this.ensureLoaded(role);
    } else if (choice === "Show Log") void vscode.commands.executeCommand(COMMANDS.showLog);
  }

  private resolvePath(value: string): string {
    const r = this.resolve(value);
    return "path" in r ? r.path : value;
  }

  /**
   * Two short choices that fit a notification: the walkthrough (a model per role, ghost text,
   * chat; it stays in the Welcome page) or a file the user already has. Asked at each start
   * until a model is set or one of them is chosen: a notification can vanish unread.
   */
  async promptFirstRun(): Promise<void> {
    const configured = anyModelSet(readSettings());
    if (configured || this.context.globalState.get<boolean>(FIRST_RUN_DISMISSED)) return;
    const choice = await vscode.window.showInformationMessage(FIRST_RUN_MESSAGE, ...FIRST_RUN_CHOICES);
    if (choice) await this.context.globalState.update(FIRST_RUN_DISMISSED, true);
    if (choice === FIRST_RUN_CHOICES[0]) await vscode.commands.executeCommand(COMMANDS.openWalkthrough);
    else if (choice === FIRST_RUN_CHOICES[1]) await vscode.commands.executeCommand(COMMANDS.selectModelFile);
  }

  /** Selects a downloaded file for the entry's role, and for its other good roles when those are empty. */
  private async selectDownloaded(target: Target, path: string): Promise<ModelRole[]> {
    const settings = readSettings();
    const current = { completion: settings.completionModelPath, chat: settings.chatModelPath };
    const roles = [target.role, ...target.alsoGood.filter((r) => r !== target.role && !current[r])];
    for (const role of roles) await writeModelSetting(role, path);
    await Promise.all(roles.map((role) => this.ensureLoaded(role)));
    return roles;
  }

  /** Completion KV slots (one per recent document) the memory budget buys for `path` (memory.ts planCompletionSlots). */
  private planSlots(path: string, contextSize: number, threads: number, budgetBytes: number): Promise<number> {
    const key = JSON.stringify([path, contextSize, threads, budgetBytes]);
    let plan = this.slotPlans.get(key);
    if (!plan) {
      plan = this.engine
        .inspect(path)
        .then((shape) => planCompletionSlots(shape, contextSize, { threads, budgetBytes }).completionSlots)
        .catch(() => MIN_COMPLETION_SLOTS);
      this.slotPlans.set(key, plan);
    }
    return plan;
  }

  private async loadWithProgress(req: LoadRequest, roles: readonly ModelRole[]): Promise<Info | undefined> {
    const name = fileName(req.path);
    const forWhom = roles.length === 2 ? "" : ` for ${roles[0]}`;
    try {
      // A model that cannot fit (itself, or next to the other role's) is refused before the worker allocates anything.
      const loaded = roles.every((r) => this.engine.stateOf(r).kind === "ready" && this.engine.modelOf(r)?.path === req.path);
      const tooLarge = loaded ? undefined : await this.checkBothFit(req, roles);
      if (tooLarge) {
        this.log.error(`not loading ${req.path}${forWhom}: ${tooLarge.message}`);
        // Nothing is unloaded and no setting changes; when two models are the problem, one can serve both.
        if (!tooLarge.both || roles.length === 2) this.notifyError("", `Hearth: ${tooLarge.message}`);
        else void this.offerOneModel(tooLarge.message, roles[0]);
        return undefined;
      }
      return await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Hearth: loading ${name}${forWhom}`, cancellable: true },
        async (progress, token) => {
          let reported = 0;
          const onProgress = (fraction: number) => {
            const percent = Math.floor(fraction * 100);
            if (percent > reported) progress.report({ increment: percent - reported, message: `${percent}%` });
            reported = Math.max(reported, percent);
          };
          const slots = roles.includes("completion") ? `${req.completionSlots} completion slots (one per recent document)` : "chat's slot";
          this.log.info(`loading ${name} for ${roles.join(" and ")}: ${slots}${req.promptCache ? `, prefix cache up to ${Math.round(req.promptCache.maxBytes / 2 ** 20)} MiB in ${req.promptCache.dir}` : ""}`);
          return this.engine.load(req, { roles, cancel: token, onProgress });
        },
      );
    } catch (err) {
      if (isAbortError(err)) {
        this.log.info(`loading ${req.path} cancelled`);
        return undefined;
      }
      const detail = (err as Error).message;
      this.notifyError(`loading ${req.path} failed: ${detail}`, `Hearth could not load ${name}. ${plainModelProblem(detail)} (${detail})`);
      return undefined;
    }
  }
}

function fileName(path: string): string {
  return path.split(/[\\/]/).pop() ?? path;
}
