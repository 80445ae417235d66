// Small commands: toggle inline completion, show the log, the quick pick of actions that the
// status bar item opens (its items: action-items.ts), the walkthrough and a scratch file to try
// ghost text in.
import * as vscode from "vscode";
import { anyModelSet, modelSetting, readRemoteSettings, readSettings, writeCompletionEnabled } from "./settings.ts";
import { actionItems } from "./action-items.ts";

/** contributes.walkthroughs[0], as `<publisher>.<name>#<id>`. */
export const WALKTHROUGH_ID = "hearth-dev.hearth#firstRun";

/** Flips `hearth.completion.enabled` (user settings) and returns the new value. */
export async function toggleCompletion(): Promise<boolean> {
  const enabled = !readSettings().completionEnabled;
  await writeCompletionEnabled(enabled);
  void vscode.window.setStatusBarMessage(`Hearth: inline completion ${enabled ? "on" : "off"}`, 3000);
  return enabled;
}

export async function showActions(): Promise<void> {
  const settings = readSettings();
  const items: (vscode.QuickPickItem & { command?: string; args?: unknown[] })[] = actionItems({
    modelConfigured: anyModelSet(settings),
    completionEnabled: settings.completionEnabled,
    models: { completion: modelSetting(settings, "completion"), chat: modelSetting(settings, "chat") },
    remoteRoles: (["completion", "chat"] as const).filter((r) => readRemoteSettings(r).engine === "openai"),
  }).map((i) => (i.command ? i : { label: "", kind: vscode.QuickPickItemKind.Separator }));
  const picked = await vscode.window.showQuickPick(items, { title: "Hearth", placeHolder: "Choose an action" });
  if (picked?.command) await vscode.commands.executeCommand(picked.command, ...(picked.args ?? []));
}

export function openWalkthrough(): Thenable<unknown> {
  return vscode.commands.executeCommand("workbench.action.openWalkthrough", WALKTHROUGH_ID, false);
}

/** An untitled TypeScript file with a start to complete: where the walkthrough's ghost-text step sends the user. */
export async function tryCompletion(): Promise<void> {
  const content = "// Type below: Hearth's suggestion appears as grey text. Tab accepts it.\nfunction fibonacci(n: number): number {\n  ";
  const doc = await vscode.workspace.openTextDocument({ language: "typescript", content });
  const editor = await vscode.window.showTextDocument(doc);
  const end = doc.positionAt(content.length);
  editor.selection = new vscode.Selection(end, end);
  await vscode.commands.executeCommand("editor.action.inlineSuggest.trigger");
}
