// Choosing and loading the model: the "Select Model File" command (file picker, GGUF header
// checked before the setting is written), and loading under a cancellable progress notification.
// Failures go to the log and to a notification whose buttons are the next step.
import * as vscode from "vscode";
import { readGguf } from "../engine/gguf/reader.ts";
import { isAbort, type EngineClient, type ModelRequest } from "../client/engine-client.ts";
import { flagOf } from "../client/cancellation.ts";
import type { ModelInfo } from "../worker/protocol.ts";
import { SECTION, activeModelSetting, readSettings } from "./settings.ts";
import { plainModelProblem } from "../models/errors.ts";

export const SELECT_MODEL = "hearth.selectModelFile";
export const SHOW_LOG = "hearth.showLog";

/** What src/models adds: catalogue ids in the model settings, and the memory check. */
export interface ModelResolver {
  /** A model setting's value → the file to load, or why it cannot be loaded (yet). */
  resolve(value: string): { path: string } | { problem: string };
  /** Why the file would not fit in memory (a sentence for the user), or undefined. */
  checkMemory?(path: string, contextSize: number, threads: number): Promise<string | undefined>;
}

export class ModelController {
  private inflight: { key: string; promise: Promise<ModelInfo | undefined> } | undefined;
  /** Set once src/models is wired (activate); without it a setting's value is a path. */
  resolver: ModelResolver | undefined;
  /** An error notification of notifyError is open. */
  private errorShown = false;

  constructor(
    private readonly client: EngineClient,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  /** Points `role`'s setting at `path` (written to user settings) and loads the model. */
  async useModel(role: "completion" | "chat", path: string): Promise<void> {
    await vscode.workspace.getConfiguration(SECTION).update(`${role}.modelPath`, path, vscode.ConfigurationTarget.Global);
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
    const problem = await checkModelFile(path);
    if (problem) {
      this.log.error(`rejected model file: ${problem}`);
      void vscode.window.showErrorMessage(`Hearth: ${plainModelProblem(problem)} (${problem})`, "Choose Another File").then((choice) => {
        if (choice) void vscode.commands.executeCommand(SELECT_MODEL);
      });
      return false;
    }
    this.log.info(`model file selected: ${path}`);
    await vscode.workspace.getConfiguration(SECTION).update("completion.modelPath", path, vscode.ConfigurationTarget.Global);
    return (await this.ensureLoaded()) !== undefined;
  }

  /** Loads the configured model if the worker does not hold it (first need, settings change). */
  ensureLoaded(): Promise<ModelInfo | undefined> {
    const settings = readSettings();
    const value = activeModelSetting(settings);
    if (!value) {
      this.notifyError("no model file is set", "Hearth: choose a GGUF model file first.");
      return Promise.resolve(undefined);
    }
    const resolved = this.resolver ? this.resolver.resolve(value) : { path: value };
    if ("problem" in resolved) {
      this.notifyError(`cannot load "${value}": ${resolved.problem}`, `Hearth: ${resolved.problem}`);
      return Promise.resolve(undefined);
    }
    const req: ModelRequest = { path: resolved.path, threads: settings.threads, contextSize: settings.contextSize };
    const key = JSON.stringify(req);
    if (this.inflight?.key === key) return this.inflight.promise;
    const promise = this.loadWithProgress(req).finally(() => {
      if (this.inflight?.promise === promise) this.inflight = undefined;
    });
    this.inflight = { key, promise };
    return promise;
  }

  /** After a settings change: reload only if a model is loaded or wanted (loading stays lazy). */
  async onModelSettingsChanged(): Promise<void> {
    if (this.client.model) await this.ensureLoaded();
  }

  private async loadWithProgress(req: ModelRequest): Promise<ModelInfo | undefined> {
    const name = req.path.split(/[\\/]/).pop();
    try {
      // A model that cannot fit is refused before the worker allocates anything.
      const tooLarge = this.client.state.kind === "ready" ? undefined : await this.resolver?.checkMemory?.(req.path, req.contextSize ?? 2048, req.threads);
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
          return this.client.load(req, { cancel: flagOf(token), onProgress });
        },
      );
    } catch (err) {
      if (isAbort(err)) {
        this.log.info(`loading ${req.path} cancelled`);
        return undefined;
      }
      const detail = (err as Error).message;
      this.notifyError(`loading ${req.path} failed: ${detail}`, `Hearth could not load ${name}. ${plainModelProblem(detail)} (${detail})`);
      return undefined;
    }
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
      if (choice === "Select Model File") void vscode.commands.executeCommand(SELECT_MODEL);
      else if (choice === "Show Log") void vscode.commands.executeCommand(SHOW_LOG);
    });
  }
}

/** Reads the GGUF header; returns what is wrong in words, or undefined for a good file. */
export async function checkModelFile(path: string): Promise<string | undefined> {
  try {
    const f = await readGguf(path);
    if (!f.optString("general.architecture")) return `${path}: no general.architecture in the GGUF metadata`;
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
