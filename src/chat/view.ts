// The sidebar view: hosts the webview page, forwards its (validated) messages to the session
// and the session's updates to it. The session outlives the webview: when the view is hidden
// and shown again the page reloads, says "ready", and gets the whole state back.
import * as vscode from "vscode";
import { chatPage } from "./html.ts";
import { parseWebviewMessage } from "./protocol.ts";
import type { ChatSession } from "./session.ts";

export const VIEW_ID = "hearth.chat";

export class ChatViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  private view: vscode.WebviewView | undefined;
  private readonly subscriptions: vscode.Disposable[] = [];
  /** Resolves each time a page has said "ready" (tests and Explain Selection wait for it). */
  private readyWaiters: (() => void)[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly session: ChatSession,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.subscriptions.push(session.onMessage((m) => void this.view?.webview.postMessage(m)));
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    const dist = vscode.Uri.joinPath(this.extensionUri, "dist");
    view.webview.options = { enableScripts: true, localResourceRoots: [dist] };
    view.webview.html = chatPage({
      cspSource: view.webview.cspSource,
      script: view.webview.asWebviewUri(vscode.Uri.joinPath(dist, "chat.js")).toString(),
      style: view.webview.asWebviewUri(vscode.Uri.joinPath(dist, "chat.css")).toString(),
    });
    const sub = view.webview.onDidReceiveMessage((raw: unknown) => {
      const msg = parseWebviewMessage(raw);
      if (!msg) {
        this.log.warn(`chat view: ignored a malformed or unknown message`);
        return;
      }
      if (msg.type === "ready") for (const w of this.readyWaiters.splice(0)) w();
      if (msg.type === "copy") void vscode.env.clipboard.writeText(msg.code).then(() => vscode.window.setStatusBarMessage("Hearth: code copied", 2000));
      else if (msg.type === "insert") void insertAtCursor(msg.code);
      else void this.session.handle(msg);
    });
    view.onDidDispose(() => {
      sub.dispose();
      if (this.view === view) this.view = undefined;
    });
  }

  /** Opens (or reveals) the view and waits until its page is listening. */
  async reveal(): Promise<void> {
    const ready = new Promise<void>((resolve) => this.readyWaiters.push(resolve));
    await vscode.commands.executeCommand(`${VIEW_ID}.focus`);
    if (this.view?.visible) return; // already running page: state updates reach it
    await Promise.race([ready, new Promise((r) => setTimeout(r, 5000))]);
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
  }
}

async function insertAtCursor(code: string): Promise<void> {
  const editor = vscode.window.activeTextEditor ?? vscode.window.visibleTextEditors[0];
  if (!editor) {
    void vscode.window.showInformationMessage("Hearth: open a file to insert the code into.");
    return;
  }
  await editor.edit((b) => {
    for (const sel of editor.selections) b.replace(sel, code);
  });
  await vscode.window.showTextDocument(editor.document, editor.viewColumn);
}
