// Small commands: toggle inline completion, show the log, and the quick pick of actions that the
// status bar item opens.
import * as vscode from "vscode";
import { SECTION, readSettings } from "./settings.ts";
import { SELECT_MODEL, SHOW_LOG } from "./model.ts";

export const TOGGLE_COMPLETION = "hearth.toggleInlineCompletion";
export const SHOW_ACTIONS = "hearth.showActions";

/** Flips `hearth.completion.enabled` (user settings) and returns the new value. */
export async function toggleCompletion(): Promise<boolean> {
  const enabled = !readSettings().completionEnabled;
  await vscode.workspace.getConfiguration(SECTION).update("completion.enabled", enabled, vscode.ConfigurationTarget.Global);
  void vscode.window.setStatusBarMessage(`Hearth: inline completion ${enabled ? "on" : "off"}`, 3000);
  return enabled;
}

export async function showActions(): Promise<void> {
  const enabled = readSettings().completionEnabled;
  const items: (vscode.QuickPickItem & { command: string })[] = [
    { label: enabled ? "$(circle-slash) Disable Inline Completion" : "$(check) Enable Inline Completion", command: TOGGLE_COMPLETION },
    { label: "$(file) Select Model File…", command: SELECT_MODEL },
    { label: "$(cloud-download) Download Model…", command: "hearth.downloadModel" },
    { label: "$(output) Show Log", command: SHOW_LOG },
  ];
  const picked = await vscode.window.showQuickPick(items, { title: "Hearth", placeHolder: "Choose an action" });
  if (picked) await vscode.commands.executeCommand(picked.command);
}
