// The suggestion list (IntelliSense) hides inline suggestions while it is open, and in languages
// with a language server (TypeScript: 9 keys of 11 in a trial) it opens on almost every key, so
// the ghost text never shows. VS Code's `editor.inlineSuggest.suppressSuggestions` lets ghost
// text go first. Told once, when the user first types with a model loaded and the list would
// open on its own, with a button that applies the setting.
import * as vscode from "vscode";
import { needsSuggestHint } from "./suggest-list.ts";
import { readSuggestSettings, writeGhostTextFirst } from "./settings.ts";

const TOLD = "hearth.suggestHint.told";
export const APPLY = "Show Ghost Text First";

export function registerSuggestHint(context: vscode.ExtensionContext, ready: () => boolean): vscode.Disposable {
  let asking = false;
  const sub = vscode.workspace.onDidChangeTextDocument(async (e) => {
    if (asking || context.globalState.get<boolean>(TOLD) || !ready() || e.contentChanges.length === 0) return;
    if (vscode.window.activeTextEditor?.document !== e.document) return;
    if (!needsSuggestHint(readSuggestSettings(e.document))) return;
    asking = true;
    await context.globalState.update(TOLD, true);
    const choice = await vscode.window.showInformationMessage(
      "Hearth: the suggestion list hides ghost text while it is open. Show Hearth's ghost text first (editor.inlineSuggest.suppressSuggestions)?",
      APPLY,
      "Keep As Is",
    );
    if (choice === APPLY) await writeGhostTextFirst();
    sub.dispose();
  });
  return sub;
}
