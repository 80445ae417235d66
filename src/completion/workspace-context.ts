// Where extra context comes from in VS Code: the other open text documents and a short history
// of edits made in them. Only the text documents of files (and untitled ones) count: output
// channels, git views and the like are documents too but are not the user's code.
import * as vscode from "vscode";
import type { Snippet } from "./prompt.ts";
import { chooseSnippets, type EditSpot, type OpenFile } from "./snippets.ts";

const SCHEMES = new Set(["file", "untitled", "vscode-remote"]);
const MAX_DOC_CHARS = 500_000;
const MAX_EDITS = 4;

interface EditRecord {
  uri: string;
  line: number;
}

export class WorkspaceContext implements vscode.Disposable {
  private readonly edits: EditRecord[] = [];
  private readonly sub: vscode.Disposable;

  constructor() {
    this.sub = vscode.workspace.onDidChangeTextDocument((e) => this.recordEdit(e));
  }

  private recordEdit(e: vscode.TextDocumentChangeEvent): void {
    if (!SCHEMES.has(e.document.uri.scheme) || e.contentChanges.length === 0) return;
    const uri = e.document.uri.toString();
    const line = e.contentChanges[0].range.start.line;
    // Consecutive edits near the same place are one edit (typing a word is not four edits).
    const last = this.edits[this.edits.length - 1];
    if (last && last.uri === uri && Math.abs(last.line - line) <= 3) {
      last.line = line;
      return;
    }
    this.edits.push({ uri, line });
    if (this.edits.length > MAX_EDITS) this.edits.shift();
  }

  /** Snippets for a completion in `doc` (its own text is the prompt's local part, so it is left out). */
  snippets(doc: string, budgetChars: number, languageId: string): Snippet[] {
    const files: OpenFile[] = [];
    const byUri = new Map<string, vscode.TextDocument>();
    for (const d of vscode.workspace.textDocuments) {
      const uri = d.uri.toString();
      if (uri === doc || !SCHEMES.has(d.uri.scheme) || d.isClosed) continue;
      byUri.set(uri, d);
      const text = d.getText();
      if (text.length > MAX_DOC_CHARS) continue;
      files.push({ path: vscode.workspace.asRelativePath(d.uri), languageId: d.languageId, text });
    }
    const edits: EditSpot[] = [];
    for (const e of this.edits) {
      const d = byUri.get(e.uri);
      if (!d || e.line >= d.lineCount) continue;
      edits.push({ path: vscode.workspace.asRelativePath(d.uri), languageId: d.languageId, text: d.getText(), line: e.line });
    }
    return chooseSnippets(files, edits, budgetChars, languageId);
  }

  dispose(): void {
    this.sub.dispose();
  }
}
