// activate/deactivate: wiring only. Nothing here loads a model or starts the engine worker; the
// worker starts on the first request and the model loads on first need (Select Model File, or a
// feature asking for it), with progress. Activation time is measured and logged.
import * as vscode from "vscode";
import { join } from "node:path";
import { EngineClient, type ClientState } from "./client/engine-client.ts";
import { StatusBar } from "./commands/status-bar.ts";
import { ModelController, SELECT_MODEL, SHOW_LOG } from "./commands/model.ts";
import { OPEN_WALKTHROUGH, SHOW_ACTIONS, TOGGLE_COMPLETION, TRY_COMPLETION, openWalkthrough, showActions, toggleCompletion, tryCompletion } from "./commands/actions.ts";
import { MODEL_KEYS, SECTION, readSettings } from "./commands/settings.ts";
import { registerSuggestHint } from "./commands/suggest-hint.ts";
import { registerChat, type ChatApi } from "./chat/index.ts";
import { registerInlineCompletion, type CompletionController } from "./completion/index.ts";
import { registerModelCommands, type ModelsApi } from "./models/commands.ts";

/** What `activate` returns: for features in other modules and for the tests in a real VS Code. */
export interface HearthApi {
  readonly client: EngineClient;
  readonly models: ModelController;
  readonly chat: ChatApi;
  readonly completion: CompletionController;
  /** Download Model, the catalogue, the memory check (src/models). */
  readonly catalogue: ModelsApi;
  /** The status bar item's current text. */
  statusText(): string;
  /** Milliseconds `activate` took. */
  readonly activationMs: number;
}

let client: EngineClient | undefined;

export function activate(context: vscode.ExtensionContext): HearthApi {
  const started = performance.now();
  const log = vscode.window.createOutputChannel("Hearth", { log: true });
  client = new EngineClient({ workerPath: join(context.extensionPath, "dist", "worker.js"), log });
  const engine = client;
  const models = new ModelController(engine, log);
  const status = new StatusBar({ state: engine.state, tokensPerSecond: undefined, completionEnabled: readSettings().completionEnabled }, SHOW_ACTIONS);

  let previous: ClientState["kind"] = engine.state.kind;
  context.subscriptions.push(
    log,
    status,
    engine.onDidChangeState((state) => {
      status.update({ state });
      // A worker death is the one error nobody asked for: say what happened and what comes next.
      if (state.kind === "error" && previous !== "error" && /engine worker stopped/.test(state.message)) {
        void vscode.window.showWarningMessage(`Hearth: ${state.message}.`, "Show Log").then((c) => c && log.show());
      }
      previous = state.kind;
    }),
    // "reading file… n %" while a completion's prompt is evaluated (the cold case takes seconds).
    engine.onDidReadPrompt((r) => r.slot === "completion" && status.update({ reading: r.ended ? undefined : { done: r.done, total: r.total } })),
    engine.onDidFinishGeneration((s) => {
      if (s.generateMs > 0 && s.generatedTokens > 0) status.update({ tokensPerSecond: (s.generatedTokens / s.generateMs) * 1000 });
    }),
    vscode.commands.registerCommand(SELECT_MODEL, (arg?: string | vscode.Uri) => models.selectModelFile(arg)),
    vscode.commands.registerCommand(TOGGLE_COMPLETION, toggleCompletion),
    vscode.commands.registerCommand(SHOW_LOG, () => log.show()),
    vscode.commands.registerCommand(SHOW_ACTIONS, showActions),
    vscode.commands.registerCommand(OPEN_WALKTHROUGH, openWalkthrough),
    vscode.commands.registerCommand(TRY_COMPLETION, tryCompletion),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration(`${SECTION}.completion.enabled`)) status.update({ completionEnabled: readSettings().completionEnabled });
      if (MODEL_KEYS.some((k) => e.affectsConfiguration(k))) void models.onModelSettingsChanged();
    }),
  );

  // src/models: Download Model and the first-run prompt; selecting a model comes back here.
  const catalogue = registerModelCommands(context, {
    log,
    onModelSelected: (role, path) => models.useModel(role, path),
    currentModelSetting: (role) => (role === "completion" ? readSettings().completionModelPath : readSettings().chatModelPath),
  });
  models.resolver = {
    resolve: (value) => {
      const r = catalogue.resolve(value);
      if (r.kind === "file" || r.kind === "catalogue") return { path: r.path };
      if (r.kind === "needs-download") return { problem: `${r.entry.label} is not downloaded yet: run "Hearth: Download Model".` };
      return { problem: "no model is set: choose a GGUF model file first." };
    },
    checkMemory: (path, contextSize, threads) => catalogue.checkMemory(path, contextSize, { threads }),
  };

  const chat = registerChat(context, { client: engine, log, ensureModel: () => models.ensureLoaded() });
  const completion = registerInlineCompletion(context, {
    client: engine,
    log,
    status: (busy) => status.update({ completing: busy }),
    ensureModel: () => models.ensureLoaded(),
  });

  context.subscriptions.push(registerSuggestHint(context, () => engine.state.kind === "ready" && readSettings().completionEnabled));

  const activationMs = performance.now() - started;
  log.info(`Hearth activated in ${activationMs.toFixed(1)} ms (no model loaded; the engine starts on first use)`);
  return { client: engine, models, chat, completion, catalogue, statusText: () => status.text, activationMs };
}

export async function deactivate(): Promise<void> {
  await client?.dispose();
  client = undefined;
}
