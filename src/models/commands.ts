// The VS Code side of models: "Hearth: Download Model" (quick pick of the catalogue showing size
// and whether each is already here), the download under a cancellable progress notification
// (bytes, percentage, speed), the first-run prompt when no model is configured, and the memory
// check before loading. Selecting a model is the caller's business (`onModelSelected`), so the
// settings and the loading stay in one place (src/commands). The download itself is
// ./downloader.ts, which knows nothing of VS Code.
//
// Test hooks (environment of the extension host, read at each download): HEARTH_HUB_URL replaces
// the hub's address, HEARTH_ALLOW_HTTP_LOOPBACK=1 permits http:// to 127.0.0.1 only.
import * as vscode from "vscode";
import { existsSync } from "node:fs";
import { readGguf } from "../engine/gguf/reader.ts";
import { CATALOGUE, DEFAULT_HUB_URL, checkHubFile, findCatalogueEntry, modelPath, resolveUrl, type CatalogueEntry, type ModelRole } from "./catalogue.ts";
import { discardPartial, downloadFile, partialBytes, type DownloadProgress } from "./downloader.ts";
import { DownloadError, downloadFailureText } from "./errors.ts";
import { checkModelFits, estimateModelMemory } from "./memory.ts";
import { resolveModelSetting, type ResolvedModel } from "./resolve.ts";

export const DOWNLOAD_MODEL = "hearth.downloadModel";
const SELECT_MODEL_FILE = "hearth.selectModelFile";
const SHOW_LOG = "hearth.showLog";
const OPEN_WALKTHROUGH = "hearth.openWalkthrough";
const FIRST_RUN_DISMISSED = "hearth.models.firstRunDismissed";
export const FIRST_RUN_MESSAGE = "Hearth runs a language model in the editor and needs one to start.";
export const FIRST_RUN_CHOICES = ["Get Started", "Use a File on Disk…"] as const;

export interface ModelCommandDeps {
  log: vscode.LogOutputChannel;
  /** Point `role` at the file (write the setting, load it). `catalogueId` is set for catalogue models. */
  onModelSelected(role: ModelRole, path: string, info: { catalogueId?: string }): Promise<void> | void;
  /** The role's current model setting ("" when none): decides the first-run prompt and empty roles. */
  currentModelSetting?(role: ModelRole): string;
  /** Show the first-run prompt when no model is configured (default: yes, except in test mode). */
  firstRunPrompt?: boolean;
}

/** The command's argument: a catalogue id, or any GGUF file of a public hub repository. */
export type DownloadArg =
  | string
  | { id: string; role?: ModelRole }
  | { repo: string; file: string; revision?: string; sha256?: string; role?: ModelRole };

export interface DownloadOutcome {
  status: "downloaded" | "present" | "cancelled" | "failed" | "dismissed";
  path?: string;
  role?: ModelRole;
  message?: string;
  /** What the failure notification said (plain words first, then the details). */
  shown?: string;
  /** Bytes the download resumed from (0: from the start). */
  resumedFrom?: number;
  /** Progress reports made to the notification (tests check there were some). */
  progressReports: number;
}

export interface ModelsApi {
  /** The extension's global storage; models are under `<storageDir>/models/`. */
  readonly storageDir: string;
  download(arg?: DownloadArg): Promise<DownloadOutcome>;
  /** A model setting's value → what to load (see resolve.ts). */
  resolve(value: string): ResolvedModel;
  /**
   * Reads the GGUF header of `path` and returns why it would not fit (a sentence for the user),
   * or undefined when it fits. `released`: bytes the loaded model frees before this one loads.
   */
  checkMemory(path: string, contextSize: number, opts?: { threads?: number; released?: number }): Promise<string | undefined>;
  promptFirstRun(): Promise<void>;
}

/** What one download is: a catalogue entry, or an ad-hoc hub file. */
interface Target {
  label: string;
  repo: string;
  file: string;
  revision: string;
  sha256?: string;
  sizeBytes?: number;
  approxBytes?: number;
  role: ModelRole;
  alsoGood: readonly ModelRole[];
  catalogueId?: string;
}

export function registerModelCommands(context: vscode.ExtensionContext, deps: ModelCommandDeps): ModelsApi {
  const storageDir = context.globalStorageUri.fsPath;
  const inflight = new Map<string, Promise<DownloadOutcome>>();

  const download = async (arg?: DownloadArg): Promise<DownloadOutcome> => {
    let target: Target | undefined;
    try {
      target = arg === undefined ? await pickTarget(storageDir) : targetFromArg(arg);
    } catch (err) {
      const message = (err as Error).message;
      deps.log.error(`download model: ${message}`);
      void vscode.window.showErrorMessage(`Hearth: ${message}`);
      return { status: "failed", message, progressReports: 0 };
    }
    if (!target) return { status: "dismissed", progressReports: 0 };
    const dest = modelPath(storageDir, target);
    if (existsSync(dest)) {
      deps.log.info(`${target.label} is already downloaded: ${dest}`);
      await select(target, dest);
      return { status: "present", path: dest, role: target.role, progressReports: 0 };
    }
    // One download per file: a second request joins the first.
    const running = inflight.get(dest);
    if (running) return running;
    const t = target;
    const p = downloadWithProgress(t, dest).finally(() => inflight.delete(dest));
    inflight.set(dest, p);
    return p;
  };

  const downloadWithProgress = async (target: Target, dest: string): Promise<DownloadOutcome> => {
    const url = resolveUrl(target, hubUrl());
    deps.log.info(`downloading ${target.label} from ${url} to ${dest}`);
    let reports = 0;
    try {
      const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Hearth: downloading ${target.label}`, cancellable: true },
        async (progress, token) => {
          const abort = new AbortController();
          const sub = token.onCancellationRequested(() => abort.abort());
          let shown = 0; // percent already reported (withProgress adds increments)
          // Said at once: the first byte can take seconds (name lookup, TLS, the hub's redirect).
          progress.report({ message: `connecting to ${new URL(url).host}…` });
          try {
            return await downloadFile({
              url,
              dest,
              sha256: target.sha256,
              size: target.sizeBytes,
              approxSize: target.approxBytes,
              signal: abort.signal,
              onLog: (m) => deps.log.info(m),
              onProgress: (p) => {
                const percent = p.total ? Math.floor((p.received / p.total) * 100) : 0;
                progress.report({ increment: Math.max(0, percent - shown), message: progressText(p) });
                shown = Math.max(shown, percent);
                reports++;
              },
              ...netOptions(),
            });
          } finally {
            sub.dispose();
          }
        },
      );
      deps.log.info(`downloaded ${target.label}: ${result.size} bytes, sha256 ${result.sha256}${result.resumedFrom ? `, resumed from byte ${result.resumedFrom}` : ""}`);
      const roles = await select(target, dest);
      void vscode.window.showInformationMessage(`Hearth: ${target.label} is downloaded and selected for ${roles.join(" and ")}.`);
      return { status: "downloaded", path: dest, role: target.role, resumedFrom: result.resumedFrom, progressReports: reports };
    } catch (err) {
      return { ...(await reportFailure(target, dest, err)), progressReports: reports };
    }
  };

  /** Selects the file for the entry's role, and for its other good roles when those are empty. */
  const select = async (target: Target, path: string): Promise<ModelRole[]> => {
    const roles = [target.role, ...target.alsoGood.filter((r) => r !== target.role && !deps.currentModelSetting?.(r))];
    for (const role of roles) await deps.onModelSelected(role, path, { catalogueId: target.catalogueId });
    return roles;
  };

  const reportFailure = async (target: Target, dest: string, err: unknown): Promise<Omit<DownloadOutcome, "progressReports">> => {
    const message = (err as Error).message;
    if (err instanceof DownloadError && err.kind === "cancelled") {
      const kept = await partialBytes(dest);
      deps.log.info(`download of ${target.label} cancelled (${kept} bytes kept for resuming)`);
      if (kept > 0) {
        void vscode.window
          .showInformationMessage(`Hearth: download cancelled. ${humanBytes(kept)} are kept and the next download of ${target.label} resumes from there.`, "Discard Them")
          .then((c) => c && discardPartial(dest));
      }
      return { status: "cancelled", message };
    }
    deps.log.error(`downloading ${target.label} failed: ${message}`);
    const url = resolveUrl(target, hubUrl());
    const { message: shown, actions } = downloadFailureText(target.label, url, err);
    void vscode.window.showErrorMessage(shown, ...actions).then((c) => {
      if (c === "Retry") void vscode.commands.executeCommand(DOWNLOAD_MODEL, target.catalogueId ?? { ...target });
      else if (c === "Use a File on Disk…") void vscode.commands.executeCommand(SELECT_MODEL_FILE);
      else if (c === "Copy Link") void vscode.env.clipboard.writeText(url).then(() => vscode.window.setStatusBarMessage("Hearth: download link copied", 3000));
      else if (c === "Show Log") void vscode.commands.executeCommand(SHOW_LOG);
    });
    return { status: "failed", message, shown };
  };

  // Two short choices that fit a notification: the walkthrough (a model per role, ghost text,
  // chat; it stays in the Welcome page) or a file the user already has. Asked at each start
  // until a model is set or one of them is chosen: a notification can vanish unread.
  const promptFirstRun = async (): Promise<void> => {
    const configured = (["completion", "chat"] as const).some((r) => deps.currentModelSetting?.(r));
    if (configured || context.globalState.get<boolean>(FIRST_RUN_DISMISSED)) return;
    const choice = await vscode.window.showInformationMessage(FIRST_RUN_MESSAGE, ...FIRST_RUN_CHOICES);
    if (choice) await context.globalState.update(FIRST_RUN_DISMISSED, true);
    if (choice === FIRST_RUN_CHOICES[0]) await vscode.commands.executeCommand(OPEN_WALKTHROUGH);
    else if (choice === FIRST_RUN_CHOICES[1]) await vscode.commands.executeCommand(SELECT_MODEL_FILE);
  };

  context.subscriptions.push(vscode.commands.registerCommand(DOWNLOAD_MODEL, (arg?: DownloadArg) => download(arg)));
  const wantPrompt = deps.firstRunPrompt ?? context.extensionMode !== vscode.ExtensionMode.Test;
  if (wantPrompt) void promptFirstRun();

  return {
    storageDir,
    download,
    resolve: (value) => resolveModelSetting(value, storageDir),
    checkMemory: async (path, contextSize, opts = {}) => {
      const r = checkModelFits(estimateModelMemory(await readGguf(path), contextSize, { threads: opts.threads }), { released: opts.released });
      return r.ok ? undefined : r.message;
    },
    promptFirstRun,
  };
}

function targetFromArg(arg: DownloadArg): Target {
  const id = typeof arg === "string" ? arg : "id" in arg ? arg.id : undefined;
  if (id !== undefined) {
    const entry = findCatalogueEntry(id);
    if (!entry) throw new Error(`"${id}" is not a model in the catalogue (${CATALOGUE.map((e) => e.id).join(", ")})`);
    const t = targetFromEntry(entry);
    return typeof arg === "object" && arg.role ? { ...t, role: arg.role, alsoGood: [] } : t;
  }
  const spec = arg as Exclude<DownloadArg, string | { id: string }>;
  const problem = checkHubFile(spec.repo, spec.file);
  if (problem) throw new Error(problem);
  return {
    label: spec.file.split("/").pop() ?? spec.file,
    repo: spec.repo,
    file: spec.file,
    revision: spec.revision ?? "main",
    sha256: spec.sha256,
    role: spec.role ?? "completion",
    alsoGood: [],
  };
}

function targetFromEntry(e: CatalogueEntry): Target {
  return {
    label: e.label,
    repo: e.repo,
    file: e.file,
    revision: e.revision,
    sha256: e.sha256,
    sizeBytes: e.sizeBytes,
    approxBytes: e.approxBytes,
    role: e.role,
    alsoGood: e.alsoGood ?? [],
    catalogueId: e.id,
  };
}

interface PickItem extends vscode.QuickPickItem {
  entry?: CatalogueEntry;
  fromDisk?: boolean;
}

async function pickTarget(storageDir: string): Promise<Target | undefined> {
  const items: PickItem[] = [];
  for (const e of CATALOGUE) {
    const dest = modelPath(storageDir, e);
    const present = existsSync(dest);
    const partial = present ? 0 : await partialBytes(dest);
    const state = present ? "$(check) downloaded" : partial > 0 ? `$(debug-pause) ${humanBytes(partial)} downloaded, resumes` : "";
    items.push({
      label: `${present ? "$(check)" : "$(cloud-download)"} ${e.label}`,
      description: [`${present ? "" : "~"}${humanBytes(e.sizeBytes ?? e.approxBytes)}`, rolesText(e), e.licence].join(" · "),
      detail: [e.purpose, `${e.repo} · ${e.file}`, state].filter(Boolean).join(" — "),
      entry: e,
    });
  }
  items.push({ label: "", kind: vscode.QuickPickItemKind.Separator }, { label: "$(file) Use a GGUF File on Disk…", fromDisk: true });
  const picked = await vscode.window.showQuickPick(items, {
    title: "Hearth: Download Model",
    placeHolder: "Choose a model to download (downloaded models are selected without downloading again)",
    matchOnDescription: true,
    matchOnDetail: true,
  });
  if (picked?.fromDisk) {
    await vscode.commands.executeCommand(SELECT_MODEL_FILE);
    return undefined;
  }
  return picked?.entry ? targetFromEntry(picked.entry) : undefined;
}

function rolesText(e: CatalogueEntry): string {
  const roles = [e.role, ...(e.alsoGood ?? [])];
  return roles.map((r) => (r === "completion" ? (e.completionStyle === "fim" ? "completion (FIM)" : "completion") : r)).join(", ");
}

function hubUrl(): string {
  return process.env.HEARTH_HUB_URL || vscode.workspace.getConfiguration("hearth").get<string>("models.hubUrl") || DEFAULT_HUB_URL;
}

/** VS Code's proxy settings; an empty `http.proxy` leaves HTTPS_PROXY & co. to decide. */
function netOptions(): { proxy?: string; proxyStrictSSL?: boolean; proxyAuthorization?: string; allowHttpLoopback: boolean } {
  const http = vscode.workspace.getConfiguration("http");
  return {
    proxy: http.get<string>("proxy") || undefined,
    proxyStrictSSL: http.get<boolean>("proxyStrictSSL", true),
    proxyAuthorization: http.get<string | null>("proxyAuthorization") ?? undefined,
    allowHttpLoopback: process.env.HEARTH_ALLOW_HTTP_LOOPBACK === "1",
  };
}

function progressText(p: DownloadProgress): string {
  const speed = p.bytesPerSecond > 0 ? ` · ${humanBytes(p.bytesPerSecond)}/s` : "";
  if (!p.total) return `${humanBytes(p.received)}${speed}`;
  const percent = Math.floor((p.received / p.total) * 100);
  return `${humanBytes(p.received)} of ${humanBytes(p.total)} (${percent}%)${speed}`;
}

/** Decimal units, as the hub shows sizes ("1.92 GB"). */
export function humanBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e8 ? 0 : 1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)} kB`;
  return `${Math.round(n)} bytes`;
}
