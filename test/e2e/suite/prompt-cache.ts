// What the prefix-cache suites (prefix-cache.e2e.ts, then prefix-cache.after-reload.ts in a new
// extension host on the same state) share: where the extension keeps the cache, which document
// each file holds (its header's tag, see src/engine/kv-file.ts), and what the first run leaves
// for the second.
import * as vscode from "vscode";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { HearthApi } from "../../../src/extension.ts";
import type { CompletionController, CompletionRecord } from "../../../src/completion/index.ts";
import { EXTENSION_ID, folder } from "./common.ts";

export async function hearth(): Promise<HearthApi & { completion: CompletionController }> {
  const ext = vscode.extensions.getExtension<HearthApi>(EXTENSION_ID)!;
  return (ext.isActive ? ext.exports : await ext.activate()) as HearthApi & { completion: CompletionController };
}

export function cacheDir(api: HearthApi): string {
  return join(api.models.storageDir, "prompt-cache");
}

/** Every cache file with the document its tag names ("completion:<uri>") and its token count. */
export function cacheFiles(api: HearthApi): { path: string; doc: string; tokens: number }[] {
  const dir = cacheDir(api);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((sub) =>
    readdirSync(join(dir, sub)).flatMap((f) => {
      const path = join(dir, sub, f);
      try {
        const bytes = readFileSync(path);
        const json = JSON.parse(bytes.subarray(48, 48 + bytes.readUInt32LE(12)).toString("utf8"));
        return [{ path, doc: String(json.tag ?? "").replace(/^completion:/, ""), tokens: Number(json.tokens) }];
      } catch {
        return []; // a file being written (temporary name) or not a cache file
      }
    }),
  );
}

/** What the first run leaves for the second (in the workspace folder, which both open). */
export interface ReloadPlan {
  a: { uri: string; record: Pick<CompletionRecord, "text" | "stats"> };
  b: { uri: string; record: Pick<CompletionRecord, "text" | "stats"> };
}
export const planPath = (): string => join(folder(), "prefix-cache-plan.json");

export async function typeText(text: string): Promise<void> {
  for (const ch of text) await vscode.commands.executeCommand("type", { text: ch });
}

export async function completionSetting(key: string, value: unknown): Promise<void> {
  await vscode.workspace.getConfiguration("hearth.completion").update(key, value, vscode.ConfigurationTarget.Workspace);
}

/** Shows `uri` with the cursor at its end. */
export async function showAtEnd(uri: vscode.Uri): Promise<vscode.TextEditor> {
  const editor = await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(uri));
  const end = editor.document.lineAt(editor.document.lineCount - 1).range.end;
  editor.selection = new vscode.Selection(end, end);
  return editor;
}
