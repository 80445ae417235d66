// Hearth: Download Model, the flow behind the command that src/models/commands.ts registers: the
// quick pick of the catalogue (size, roles, whether each is already here), the download under a
// cancellable progress notification (bytes, percentage, speed), and a failure notification whose
// buttons are the next step. Selecting the downloaded file is the caller's (`select`). The
// transfer itself is ./downloader.ts, which knows nothing of VS Code.
//
// Test hooks (environment of the extension host, read at each download): HEARTH_HUB_URL replaces
// the hub's address, HEARTH_ALLOW_HTTP_LOOPBACK=1 permits http:// to 127.0.0.1 only.
import * as vscode from "vscode";
import { existsSync } from "node:fs";
import { COMMANDS } from "../commands/ids.ts";
import { readNetSettings } from "../commands/settings.ts";
import { CATALOGUE, DEFAULT_HUB_URL, checkHubFile, findCatalogueEntry, modelPath, resolveUrl, type CatalogueEntry, type ModelRole } from "./catalogue.ts";
import { discardPartial, downloadFile, partialBytes, type DownloadProgress } from "./downloader.ts";
import { humanBytes } from "./bytes.ts";
import { DownloadError, downloadFailureText } from "./errors.ts";

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

/** What one download is: a catalogue entry, or an ad-hoc hub file. */
export interface Target {
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

export interface DownloadDeps {
  storageDir: string;
  log: vscode.LogOutputChannel;
  /** Throws when a downloaded file is not a usable model (the engine worker reads its header). */
  validate(path: string): Promise<void>;
  /** Selects `path` for the target's roles; returns the roles it was selected for. */
  select(target: Target, path: string): Promise<ModelRole[]>;
}

export class Downloads {
  private readonly inflight = new Map<string, Promise<DownloadOutcome>>();

  constructor(private readonly deps: DownloadDeps) {}

  async download(arg?: DownloadArg): Promise<DownloadOutcome> {
    const { deps, inflight } = this;
    const storageDir = deps.storageDir;
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
      await deps.select(target, dest);
      return { status: "present", path: dest, role: target.role, progressReports: 0 };
    }
    // One download per file: a second request joins the first.
    const running = inflight.get(dest);
    if (running) return running;
    const t = target;
    const p = this.downloadWithProgress(t, dest).finally(() => inflight.delete(dest));
    inflight.set(dest, p);
    return p;
  }

  private async downloadWithProgress(target: Target, dest: string): Promise<DownloadOutcome> {
    const deps = this.deps;
    const { hubUrl, ...net } = readNetSettings();
    const url = resolveUrl(target, hubUrl ?? DEFAULT_HUB_URL);
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
              ...net,
              validate: deps.validate,
            });
          } finally {
            sub.dispose();
          }
        },
      );
      deps.log.info(`downloaded ${target.label}: ${result.size} bytes, sha256 ${result.sha256}${result.resumedFrom ? `, resumed from byte ${result.resumedFrom}` : ""}`);
      const roles = await deps.select(target, dest);
      void vscode.window.showInformationMessage(`Hearth: ${target.label} is downloaded and selected for ${roles.join(" and ")}.`);
      return { status: "downloaded", path: dest, role: target.role, resumedFrom: result.resumedFrom, progressReports: reports };
    } catch (err) {
      return { ...(await this.reportFailure(target, dest, err)), progressReports: reports };
    }
  }

  private async reportFailure(target: Target, dest: string, err: unknown): Promise<Omit<DownloadOutcome, "progressReports">> {
    const deps = this.deps;
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
    const url = resolveUrl(target, readNetSettings().hubUrl ?? DEFAULT_HUB_URL);
    const { message: shown, actions } = downloadFailureText(target.label, url, err);
    void vscode.window.showErrorMessage(shown, ...actions).then((c) => {
      if (c === "Retry") void vscode.commands.executeCommand(COMMANDS.downloadModel, target.catalogueId ?? { ...target });
      else if (c === "Use a File on Disk…") void vscode.commands.executeCommand(COMMANDS.selectModelFile);
      else if (c === "Copy Link") void vscode.env.clipboard.writeText(url).then(() => vscode.window.setStatusBarMessage("Hearth: download link copied", 3000));
      else if (c === "Show Log") void vscode.commands.executeCommand(COMMANDS.showLog);
    });
    return { status: "failed", message, shown };
  }
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
    await vscode.commands.executeCommand(COMMANDS.selectModelFile);
    return undefined;
  }
  return picked?.entry ? targetFromEntry(picked.entry) : undefined;
}

function rolesText(e: CatalogueEntry): string {
  const roles = [e.role, ...(e.alsoGood ?? [])];
  return roles.map((r) => (r === "completion" ? (e.completionStyle === "fim" ? "completion (FIM)" : "completion") : r)).join(", ");
}

function progressText(p: DownloadProgress): string {
  const speed = p.bytesPerSecond > 0 ? ` · ${humanBytes(p.bytesPerSecond)}/s` : "";
  if (!p.total) return `${humanBytes(p.received)}${speed}`;
  const percent = Math.floor((p.received / p.total) * 100);
  return `${humanBytes(p.received)} of ${humanBytes(p.total)} (${percent}%)${speed}`;
}
