// Which model Hearth runs, on the VS Code side, in one module: the commands Select Model File and
// Download Model (the download's own flow is ./download-command.ts), the first-run prompt, the
// model settings turned into the file to load (paths or catalogue ids: ./resolve.ts), the checks
// before loading (GGUF header, memory), and loading under a cancellable progress notification.
// Failures go to the log and to a notification whose buttons are the next step.
//
// GGUF headers are read by the engine worker (`engine.inspect`), never parsed on the extension
// host's thread. Nothing here imports the engine or its client: extension.ts hands the client
// over as a ModelEngine.
import * as vscode from "vscode";
import { join } from "node:path";
import { COMMANDS } from "../commands/ids.ts";
import { activeModelSetting, readSettings, writeModelSetting } from "../commands/settings.ts";
import type { ModelRole } from "./catalogue.ts";
import { Downloads, type DownloadArg, type DownloadOutcome, type Target } from "./download-command.ts";
import { isAbortError, plainModelProblem } from "./errors.ts";
import { checkModelFits, estimateModelMemory, MIN_COMPLETION_SLOTS, planCompletionSlots, type ModelShape } from "./memory.ts";
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

/** What this module needs of the engine: the EngineClient, adapted in extension.ts. */
export interface ModelEngine<Info> {
  /** "ready" while a model is loaded. */
  readonly state: { readonly kind: string };
  /** The model wanted (loaded or loading); undefined before the first load. */
  readonly model: unknown;
  load(req: LoadRequest, opts: { cancel: vscode.CancellationToken; onProgress(fraction: number): void }): Promise<Info>;
  /** The memory check's numbers from the file's GGUF header, read in the worker; rejects with the reader's message for a bad file. */
  inspect(path: string): Promise<ModelShape>;
}

export class ModelCommands<Info> {
  /** The extension's global storage; downloaded models are under `<storageDir>/models/`. */
  readonly storageDir: string;
  /** Where the prefix cache lives (src/engine/prefix-cache.ts, written by the worker). */
  readonly promptCacheDir: string;
  private readonly downloads: Downloads;
  private inflight: { key: string; promise: Promise<Info | undefined> } | undefined;
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
      vscode.commands.registerCommand(COMMANDS.selectModelFile, (arg?: string | vscode.Uri) => this.selectModelFile(arg)),
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
    await this.ensureLoaded();
  }

  /**
   * Hearth: Select Model File. `arg` (a path or Uri) skips the picker: for tests and for other
   * commands. Resolves true when the file was accepted and loaded.
   */
  async selectModelFile(arg?: string | vscode.Uri): Promise<boolean> {
    let path = typeof arg === "string" ? arg : arg?.fsPath;
    if (!path) {
      const picked = await vscode.window.showOpenDialog({
        canSelectMany: false,
        canSelectFolders: false,
        filters: { "GGUF models": ["gguf"], "All files": ["*"] },
        title: "Hearth: choose a GGUF model file",
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
    this.log.info(`model file selected: ${path}`);
    await writeModelSetting("completion", path);
    return (await this.ensureLoaded()) !== undefined;
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

  /** Loads the configured model if the worker does not hold it (first need, settings change). */
  ensureLoaded(): Promise<Info | undefined> {
    const settings = readSettings();
    const value = activeModelSetting(settings);
    if (!value) {
      this.notifyError("no model file is set", "Hearth: choose a GGUF model file first.");
      return Promise.resolve(undefined);
    }
    const resolved = this.resolve(value);
    if ("problem" in resolved) {
      this.notifyError(`cannot load "${value}": ${resolved.problem}`, `Hearth: ${resolved.problem}`);
      return Promise.resolve(undefined);
    }
    const base = { path: resolved.path, threads: settings.threads, contextSize: settings.contextSize };
    const promptCache = settings.promptCacheBytes > 0 ? { dir: this.promptCacheDir, maxBytes: settings.promptCacheBytes } : undefined;
    const key = JSON.stringify([base, promptCache, settings.completionCacheBytes]);
    if (this.inflight?.key === key) return this.inflight.promise;
    const promise = this.planSlots(base.path, base.contextSize, base.threads, settings.completionCacheBytes)
      .then((completionSlots) => this.loadWithProgress({ ...base, completionSlots, promptCache }))
      .finally(() => {
        if (this.inflight?.promise === promise) this.inflight = undefined;
      });
    this.inflight = { key, promise };
    return promise;
  }

  /** A model setting's value (a path or a catalogue id) → the file to load, or why it cannot be loaded yet. */
  resolve(value: string): { path: string } | { problem: string } {
    const r = resolveModelSetting(value, this.storageDir);
    if (r.kind === "file" || r.kind === "catalogue") return { path: r.path };
    if (r.kind === "needs-download") return { problem: `${r.entry.label} is not downloaded yet: run "Hearth: Download Model".` };
    return { problem: "no model is set: choose a GGUF model file first." };
  }

  /** Why the file would not fit in memory with `completionSlots` (a sentence for the user), or undefined. */
  async checkMemory(path: string, contextSize: number, opts: { threads?: number; released?: number; completionSlots?: number } = {}): Promise<string | undefined> {
    const estimate = estimateModelMemory(await this.engine.inspect(path), contextSize, opts);
    const r = checkModelFits(estimate, { released: opts.released });
    return r.ok ? undefined : r.message;
  }

  /** After a settings change: reload only if a model is loaded or wanted (loading stays lazy). */
  async onModelSettingsChanged(): Promise<void> {
    if (this.engine.model) await this.ensureLoaded();
  }

  /**
   * Log line plus a notification offering the next steps. At most one is open at a time: errors
   * while it is (a retry failing again, a second feature asking) go to the log only, instead of
   * stacking over the load's progress.
   */
  notifyError(logLine: string, message: string): void {
    this.log.error(logLine);
    if (this.errorShown) return;
    this.errorShown = true;
    void vscode.window.showErrorMessage(message, "Select Model File", "Show Log").then((choice) => {
      this.errorShown = false;
      if (choice === "Select Model File") void vscode.commands.executeCommand(COMMANDS.selectModelFile);
      else if (choice === "Show Log") void vscode.commands.executeCommand(COMMANDS.showLog);
    });
  }

  /**
   * Two short choices that fit a notification: the walkthrough (a model per role, ghost text,
   * chat; it stays in the Welcome page) or a file the user already has. Asked at each start
   * until a model is set or one of them is chosen: a notification can vanish unread.
   */
  async promptFirstRun(): Promise<void> {
    const configured = activeModelSetting(readSettings()) !== "";
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
    for (const role of roles) await this.useModel(role, path);
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

  private async loadWithProgress(req: LoadRequest): Promise<Info | undefined> {
    const name = req.path.split(/[\\/]/).pop();
    try {
      // A model that cannot fit is refused before the worker allocates anything.
      const tooLarge = this.engine.state.kind === "ready" ? undefined : await this.checkMemory(req.path, req.contextSize, req);
      if (tooLarge) {
        this.notifyError(`not loading ${req.path}: ${tooLarge}`, `Hearth: ${tooLarge}`);
        return undefined;
      }
      return await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Hearth: loading ${name}`, cancellable: true },
        async (progress, token) => {
          let reported = 0;
          const onProgress = (fraction: number) => {
            const percent = Math.floor(fraction * 100);
            if (percent > reported) progress.report({ increment: percent - reported, message: `${percent}%` });
            reported = Math.max(reported, percent);
          };
          this.log.info(`loading ${name}: ${req.completionSlots} completion slots (one per recent document)${req.promptCache ? `, prefix cache up to ${Math.round(req.promptCache.maxBytes / 2 ** 20)} MiB in ${req.promptCache.dir}` : ""}`);
          return this.engine.load(req, { cancel: token, onProgress });
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
