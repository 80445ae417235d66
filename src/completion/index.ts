// Inline completion in VS Code: registers the provider for every document, keeps the extra
// context and the controller in step with the editor (cursor moves and edits cancel a generation
// that no longer fits, settings and model changes reset the cache), and reports "computing" to
// whoever shows it (the status bar). extension.ts calls registerInlineCompletion once.
import * as vscode from "vscode";
import type { RoleEngine } from "../client/engine-client.ts";
import type { ModelInfo } from "../worker/protocol.ts";
import { CompletionController, type CursorContext } from "./controller.ts";
import type { RemoteCompletionEngine } from "./remote-request.ts";
import { HearthInlineProvider, cursorContext } from "./provider.ts";
import { WorkspaceContext } from "./workspace-context.ts";
import { typedSince, type Anchor } from "./anchor.ts";
import { anyModelSet, COMPLETION_SECTION, readCompletionSettings, readSettings } from "../commands/settings.ts";

export { CompletionController } from "./controller.ts";
export type { CompletionRecord } from "./controller.ts";

export interface InlineCompletionDeps {
  /** The completion role's engine (its own model, or the one chat shares). */
  client: RoleEngine;
  log: vscode.LogOutputChannel;
  /** Called with true while a completion is being computed, false when not. */
  status?: (busy: boolean) => void;
  /**
   * Loads the configured model with progress (ModelCommands.ensureLoaded). Called once when a
   * completion is wanted, a model file is set and none is loaded yet (activation stays lazy).
   */
  ensureModel?: () => Promise<unknown>;
  /** The server completion goes to when hearth.completion.engine is "openai"; undefined: the local engine. */
  remote?: () => RemoteCompletionEngine | undefined;
}

export function registerInlineCompletion(context: vscode.ExtensionContext, deps: InlineCompletionDeps): CompletionController {
  const { client, log } = deps;
  const workspace = new WorkspaceContext();
  let askedToLoad = false;
  const controller = new CompletionController({
    client,
    log,
    settings: readCompletionSettings,
    // Split points, window sizes and the token ratio survive a window reload, so its first
    // prompts are cut as before and the prefix cache on disk covers them.
    memory: context.workspaceState,
    snippets: (doc, budget, languageId) => workspace.snippets(doc, budget, languageId),
    remote: deps.remote,
    model: async (): Promise<ModelInfo | undefined> => {
      const state = client.state;
      if (state.kind === "ready") return state.info;
      if (state.kind === "loading") return undefined;
      if (client.model) return (await client.info().catch(() => null)) ?? undefined; // a restarted worker reloads it
      if (!askedToLoad && deps.ensureModel && modelFileSet()) {
        askedToLoad = true;
        void deps.ensureModel();
      }
      return undefined;
    },
    refresh: (anchor) => {
      const now = activeAnchor();
      if (now && typedSince(anchor, now) !== undefined) void vscode.commands.executeCommand("editor.action.inlineSuggest.trigger");
    },
  });
  const prewarm = new Prewarmer(controller, client, log);
  context.subscriptions.push(
    workspace,
    { dispose: () => controller.dispose() },
    vscode.languages.registerInlineCompletionItemProvider({ pattern: "**" }, new HearthInlineProvider(controller)),
    controller.onDidChangeBusy((busy) => deps.status?.(busy)),
    // Moving the cursor away or typing something else stops the generation in the worker now,
    // not when VS Code next asks the provider.
    vscode.window.onDidChangeTextEditorSelection((e) => {
      if (controller.busy) controller.onEdit(anchorOf(e.textEditor));
      // A pre-warm growing the window at the old place stops; one starts where the cursor rests.
      if (e.textEditor === vscode.window.activeTextEditor && controller.stopPrewarm()) prewarm.schedule(PAUSE_WARM_MS);
    }),
    vscode.window.onDidChangeActiveTextEditor(() => {
      if (controller.busy) controller.onEdit(activeAnchor());
      prewarm.schedule(ACTIVATE_WARM_MS);
    }),
    vscode.workspace.onDidChangeTextDocument((e) => e.document === vscode.window.activeTextEditor?.document && prewarm.schedule(PAUSE_WARM_MS)),
    prewarm,
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration(COMPLETION_SECTION)) {
        controller.cancelInflight();
        controller.cache.clear();
        // A new model file, or the role coming back from a server: load on the next need again.
        if (e.affectsConfiguration(`${COMPLETION_SECTION}.modelPath`) || e.affectsConfiguration(`${COMPLETION_SECTION}.engine`)) askedToLoad = false;
      }
      if (e.affectsConfiguration("hearth.chat.modelPath")) askedToLoad = false;
    }),
    client.onDidChangeState((s) => {
      if (deps.remote?.()) return; // the local model is not this role's engine now
      if (s.kind === "ready") prewarm.schedule(ACTIVATE_WARM_MS);
      if (s.kind !== "ready") {
        controller.cancelInflight();
        controller.cache.clear();
      }
    }),
  );
  return controller;
}

/** After an editor becomes active: long enough for a quick flip through tabs to start nothing. */
const ACTIVATE_WARM_MS = 300;
/** A pause in typing (longer than the debounce, so a completion request comes first). */
const PAUSE_WARM_MS = 1500;

/**
 * Pre-warm of the active editor's completion prompt (hearth.completion.prewarm): when an editor
 * becomes active and when typing pauses, with a model ready and no completion running. The
 * worker runs it at idle priority; the log says what was warmed (the worker's line).
 */
class Prewarmer {
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly controller: CompletionController,
    private readonly client: RoleEngine,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.run(), ms);
  }

  private async run(): Promise<void> {
    this.timer = undefined;
    const editor = vscode.window.activeTextEditor;
    if (!editor || !editor.selection.isEmpty || !readSettings().prewarm || this.client.state.kind !== "ready" || this.controller.busy) return;
    if (editor.document.uri.scheme === "output") return;
    try {
      await this.controller.prewarm(cursorContext(editor.document, editor.selection.active, false));
    } catch (err) {
      this.log.warn(`pre-warm failed: ${(err as Error).message}`);
    }
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}

function modelFileSet(): boolean {
  return anyModelSet(readSettings());
}

function activeAnchor(): Anchor | undefined {
  const e = vscode.window.activeTextEditor;
  return e && anchorOf(e);
}

function anchorOf(editor: vscode.TextEditor): Anchor | undefined {
  const sel = editor.selection;
  if (!sel.isEmpty) return undefined;
  const ctx: CursorContext = cursorContext(editor.document, sel.active, false);
  return { doc: ctx.doc, before: ctx.before, lineAfter: ctx.lines.lineAt(ctx.line).slice(ctx.character) };
}
