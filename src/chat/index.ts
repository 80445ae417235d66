// The chat feature's entry point for extension.ts: the sidebar view, its session (history in
// workspaceState), "Hearth: Explain Selection" and "Hearth: New Chat".
import * as vscode from "vscode";
import type { RoleEngine } from "../client/engine-client.ts";
import type { GenerateStats } from "../worker/protocol.ts";
import { explainRequest, lineTarget, type ExplainTarget } from "./explain.ts";
import type { ChatEntry } from "./protocol.ts";
import { ChatSession, type ChatGenerate } from "./session.ts";
import { remoteChatGenerate, type RemoteChatEngine } from "./remote.ts";
import { ChatViewProvider, VIEW_ID } from "./view.ts";
import { conversationMessages } from "./history.ts";
import { readChatSettings, readSettings } from "../commands/settings.ts";
import { COMMANDS } from "../commands/ids.ts";

export interface ChatDeps {
  /** The chat role's engine (its own model, or the one completion shares). */
  client: RoleEngine;
  log: vscode.LogOutputChannel;
  /** Loads the configured model with progress (ModelCommands.ensureLoaded); undefined = none. */
  ensureModel: () => Promise<unknown>;
  /** The server chat goes to when hearth.chat.engine is "openai" (asked per message); undefined: the local engine. */
  remote?: () => RemoteChatEngine | undefined;
}

export interface ChatApi {
  readonly session: ChatSession;
  /** What Explain Selection does (the command returns the same). */
  explainSelection(): Promise<{ request: ChatEntry; reply: ChatEntry } | undefined>;
}

export function registerChat(context: vscode.ExtensionContext, deps: ChatDeps): ChatApi {
  // The conversation goes to the worker as is; it is rendered there with the model's template.
  // A server renders it with its own (remote.ts fits the history to its context).
  const local: ChatGenerate = (params, cancel, onPromptProgress) => deps.client.generate(params, { cancel, onPromptProgress });
  const generate: ChatGenerate = (params, cancel, onPromptProgress) => {
    const remote = deps.remote?.();
    return remote ? remoteChatGenerate(remote)(params, cancel) : local(params, cancel, onPromptProgress);
  };
  const session = new ChatSession({
    generate,
    store: context.workspaceState,
    settings: readChatSettings,
    // A server needs no local model (its own problems show as the reply's error note).
    ensureModel: async () => deps.remote?.() !== undefined || deps.client.state.kind === "ready" || (await deps.ensureModel()) !== undefined,
    modelInfo: () => (!deps.remote?.() && deps.client.state.kind === "ready" ? deps.client.state.info : undefined),
    log: deps.log,
  });
  const provider = new ChatViewProvider(context.extensionUri, session, deps.log);
  // After a model load, the start every conversation shares (the system prompt as the template
  // writes it) is evaluated into chat's slot at idle priority: the first question evaluates only itself.
  context.subscriptions.push(
    deps.client.onDidChangeState((s) => {
      const { messages } = conversationMessages(readChatSettings().systemPrompt, []);
      if (s.kind !== "ready" || !readSettings().prewarm || messages.length === 0 || deps.remote?.()) return;
      deps.client.warm({ slot: "chat", prompt: { messages, enableThinking: session.thinking } }).catch((err: unknown) => deps.log.warn(`chat pre-warm failed: ${(err as Error).message}`));
    }),
  );

  const explainSelection = async () => {
    const target = explainTarget();
    if (!target) {
      void vscode.window.showInformationMessage("Hearth: select the code to explain (or put the cursor on a line that is not blank), then run Explain Selection.");
      return undefined;
    }
    await provider.reveal();
    const request = explainRequest(target);
    const reply = await session.ask(request, { enableThinking: readChatSettings().explainWithThinking });
    const entries = session.entries;
    return { request: entries[entries.indexOf(reply) - 1], reply };
  };

  context.subscriptions.push(
    provider,
    vscode.window.registerWebviewViewProvider(VIEW_ID, provider),
    vscode.commands.registerCommand(COMMANDS.explainSelection, explainSelection),
    vscode.commands.registerCommand(COMMANDS.newChat, async () => {
      await session.clear();
      await provider.reveal();
    }),
  );
  // Development and test runs only: streams the active editor's text through the reply path.
  if (context.extensionMode !== vscode.ExtensionMode.Production) {
    void vscode.commands.executeCommand("setContext", "hearth.devMode", true);
    context.subscriptions.push(
      vscode.commands.registerCommand(COMMANDS.chatDevReplay, async () => {
        const text = vscode.window.activeTextEditor?.document.getText() ?? "";
        await provider.reveal();
        return session.ask("(developer replay of the active editor's text)", { generate: replay(text), skipModel: true });
      }),
    );
  }
  return { session, explainSelection };
}

/** The selection, else the current line if it is not blank. */
function explainTarget(): ExplainTarget | undefined {
  const editor = vscode.window.activeTextEditor;
  if (!editor) return undefined;
  const doc = editor.document;
  const sel = editor.selection;
  const path = doc.isUntitled ? doc.uri.path : vscode.workspace.asRelativePath(doc.uri, false);
  if (!sel.isEmpty) {
    const code = doc.getText(sel);
    if (code.trim()) {
      const endLine = sel.end.character === 0 && sel.end.line > sel.start.line ? sel.end.line : sel.end.line + 1;
      return { code, languageId: doc.languageId, path, startLine: sel.start.line + 1, endLine, wholeLine: false };
    }
  }
  const line = lineTarget(doc.lineAt(sel.active.line).text);
  return line === undefined ? undefined : { code: line, languageId: doc.languageId, path, startLine: sel.active.line + 1, endLine: sel.active.line + 1, wholeLine: true };
}

/**
 * A stand-in generation streaming `text` in small pieces (the developer replay). Before the
 * text it reports a prompt evaluation of about a token per 4 characters over two seconds, as a
 * long prompt would (the tiny test model reads any prompt too fast to see it).
 */
function replay(text: string): ChatGenerate {
  return (_params, cancel, onPromptProgress) => {
    let settle: (s: GenerateStats) => void = () => {};
    const stats = new Promise<GenerateStats>((r) => (settle = r));
    const reading = Math.ceil(text.length / 4);
    const iterable = (async function* () {
      let n = 0;
      try {
        for (let step = 0; step < 20 && !cancel.cancelled; step++) {
          onPromptProgress?.(Math.floor((reading * step) / 20), reading);
          await new Promise((r) => setTimeout(r, 100));
        }
        for (const piece of text.match(/[\s\S]{1,7}/g) ?? []) {
          if (cancel.cancelled) break;
          n++;
          yield piece;
          await new Promise((r) => setTimeout(r, 5));
        }
      } finally {
        const stopReason = cancel.cancelled ? "cancelled" : "eog";
        settle({ promptTokens: 0, reusedTokens: 0, restoredTokens: 0, evaluatedTokens: 0, generatedTokens: n, promptMs: 0, generateMs: 0, stopReason });
      }
    })();
    return Object.assign(iterable, { stats });
  };
}
