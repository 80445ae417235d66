// The vscode.InlineCompletionItemProvider: adapts documents and positions to the controller's
// plain-data CursorContext and its text back to InlineCompletionItems. Items insert at the
// cursor; VS Code's own accept-word / accept-line commands then work on them as on any item.
import * as vscode from "vscode";
import { flagOf } from "../client/cancellation.ts";
import type { CompletionController, CursorContext } from "./controller.ts";
import type { LineSource } from "./window.ts";

export class HearthInlineProvider implements vscode.InlineCompletionItemProvider {
  constructor(private readonly controller: CompletionController) {}

  async provideInlineCompletionItems(
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionItem[] | undefined> {
    // While the suggest widget is open, its item decides what an inline item must start with:
    // ours would be hidden or conflict. Leave that moment to IntelliSense.
    if (context.selectedCompletionInfo) return undefined;
    const text = await this.controller.provide(cursorContext(document, position, context.triggerKind === vscode.InlineCompletionTriggerKind.Invoke), flagOf(token));
    if (!text || token.isCancellationRequested) return undefined;
    return [new vscode.InlineCompletionItem(text, new vscode.Range(position, position))];
  }
}

export function cursorContext(document: vscode.TextDocument, position: vscode.Position, explicit: boolean): CursorContext {
  return {
    doc: document.uri.toString(),
    path: document.uri.scheme === "untitled" ? document.uri.path : vscode.workspace.asRelativePath(document.uri),
    languageId: document.languageId,
    lines: linesOfDocument(document),
    line: position.line,
    character: position.character,
    before: document.getText(new vscode.Range(new vscode.Position(0, 0), position)).replace(/\r\n/g, "\n"),
    explicit,
    version: document.version,
  };
}

function linesOfDocument(d: vscode.TextDocument): LineSource {
  return {
    lineCount: d.lineCount,
    lineAt: (i) => d.lineAt(i).text,
    offsetAt: (i) => d.offsetAt(new vscode.Position(i, 0)),
  };
}
