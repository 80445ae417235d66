// activate/deactivate: wiring only. Nothing here loads a model or starts the engine worker; the
// worker starts on the first request and the model loads on first need (Select Model File, or a
// feature asking for it), with progress. Activation time is measured and logged.
import * as vscode from "vscode";
import { join } from "node:path";
import { EngineClient } from "./client/engine-client.ts";
import { flagOf } from "./client/cancellation.ts";
import type { ModelInfo } from "./worker/protocol.ts";
import { StatusBar } from "./commands/status-bar.ts";
import { COMMANDS } from "./commands/ids.ts";
import { openWalkthrough, showActions, toggleCompletion, tryCompletion } from "./commands/actions.ts";
import { MODEL_KEYS, SECTION, apiKeySecret, readNetSettings, readRemoteSettings, readSettings, remoteKeysOf } from "./commands/settings.ts";
import { setRemoteApiKey } from "./commands/api-key.ts";
import { RemoteRoles } from "./routing/remote-roles.ts";
import { ROLES } from "./worker/protocol.ts";
import { registerSuggestHint } from "./commands/suggest-hint.ts";
import { registerChat, type ChatApi } from "./chat/index.ts";
import { registerInlineCompletion, type CompletionController } from "./completion/index.ts";
import { ModelCommands, type LoadRequest } from "./models/commands.ts";

/** What `activate` returns: for features in other modules and for the tests in a real VS Code. */
export interface HearthApi {
  readonly client: EngineClient;
  /** Select Model File, Download Model, loading and the checks before it (src/models). */
  readonly models: ModelCommands<ModelInfo>;
  readonly chat: ChatApi;
  readonly completion: CompletionController;
  /** The roles a server serves (hearth.<role>.engine = "openai") and their states. */
  readonly remotes: RemoteRoles;
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
  // The models module reaches the engine through this adapter only (it imports no client code).
  const models = new ModelCommands<ModelInfo>(context, {
    stateOf: (role) => engine.stateOf(role),
    // What ModelCommands asked the client to load: its own LoadRequest, back.
    modelOf: (role) => engine.modelOf(role) as LoadRequest | undefined,
    load: (req, { roles, cancel, onProgress }) => engine.load(req, { roles, cancel: flagOf(cancel), onProgress }),
    inspect: (path) => engine.inspect(path),
  }, log);
  const roleStates = () => ({ completion: engine.stateOf("completion"), chat: engine.stateOf("chat") });
  const status = new StatusBar({ roles: roleStates(), tokensPerSecond: undefined, completionEnabled: readSettings().completionEnabled }, COMMANDS.showActions);

  // A role whose hearth.<role>.engine is "openai" is served by a server (src/routing): built from
  // its settings and its API key in SecretStorage, rebuilt when either changes (that role only).
  const remotes = new RemoteRoles({
    config: readRemoteSettings,
    apiKey: async (role) => (await context.secrets.get(apiKeySecret(role))) || undefined,
    net: () => {
      const n = readNetSettings();
      return { proxy: n.proxy, proxyAuthorization: n.proxyAuthorization, proxyStrictSSL: n.proxyStrictSSL };
    },
    log,
  });
  models.servedRemotely = (role) => remotes.isRemote(role);
  const remoteStates = () => ({ completion: remotes.stateOf("completion"), chat: remotes.stateOf("chat") });
  const reloadRemote = (role: (typeof ROLES)[number]) => {
    const was = remotes.isRemote(role);
    void remotes.reload(role);
    // A role moving to a server frees its local model (one the other role shares stays loaded).
    if (!was && remotes.isRemote(role) && engine.modelOf(role)) void engine.unload(role).catch(() => {});
  };
  context.subscriptions.push(
    { dispose: () => remotes.dispose() },
    remotes.onDidChangeState(() => status.update({ remote: remoteStates() })),
    vscode.workspace.onDidChangeConfiguration((e) => {
      for (const role of ROLES) if (remoteKeysOf(role).some((k) => e.affectsConfiguration(k))) reloadRemote(role);
    }),
    context.secrets.onDidChange((e) => {
      for (const role of ROLES) if (e.key === apiKeySecret(role) && remotes.isRemote(role)) void remotes.reload(role);
    }),
    vscode.commands.registerCommand(COMMANDS.setRemoteApiKey, (role?: unknown, key?: unknown) => setRemoteApiKey(context.secrets, role, key)),
  );
  for (const role of ROLES) void remotes.reload(role);

  let workerDied = false;
  context.subscriptions.push(
    log,
    status,
    engine.onDidChangeState((state) => {
      status.update({ roles: roleStates() });
      // A worker death is the one error nobody asked for: say what happened and what comes next (once, not per role).
      const died = state.kind === "error" && /engine worker stopped/.test(state.message);
      if (died && !workerDied) void vscode.window.showWarningMessage(`Hearth: ${state.message}.`, "Show Log").then((c) => c && log.show());
      workerDied = died || (workerDied && state.kind !== "ready" && state.kind !== "loading");
    }),
    // "reading file… n %" while a completion's prompt is evaluated (the cold case takes seconds).
    engine.onDidReadPrompt((r) => r.slot === "completion" && status.update({ reading: r.ended ? undefined : { done: r.done, total: r.total } })),
    engine.onDidFinishGeneration((s) => {
      if (s.generateMs > 0 && s.generatedTokens > 0) status.update({ tokensPerSecond: (s.generatedTokens / s.generateMs) * 1000 });
    }),
    vscode.commands.registerCommand(COMMANDS.toggleInlineCompletion, toggleCompletion),
    vscode.commands.registerCommand(COMMANDS.showLog, () => log.show()),
    vscode.commands.registerCommand(COMMANDS.showActions, showActions),
    vscode.commands.registerCommand(COMMANDS.openWalkthrough, openWalkthrough),
    vscode.commands.registerCommand(COMMANDS.tryCompletion, tryCompletion),
    // Deletes the prefix cache's files (src/engine/prefix-cache.ts) in the global storage.
    vscode.commands.registerCommand(COMMANDS.clearPromptCache, async () => {
      await engine.clearPromptCache(models.promptCacheDir);
      void vscode.window.showInformationMessage("Hearth: the prompt cache is cleared; the next suggestions evaluate their prompts again.");
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration(`${SECTION}.completion.enabled`)) status.update({ completionEnabled: readSettings().completionEnabled });
      // Each role whose model changed reloads; the other is not touched (the worker keeps it).
      if (MODEL_KEYS.some((k) => e.affectsConfiguration(k))) void models.onModelSettingsChanged();
    }),
  );

  // src/models: Select Model File, Download Model and the first-run prompt.
  models.register(ROLES.some((r) => remotes.isRemote(r)) ? { firstRunPrompt: false } : {});

  const chat = registerChat(context, { client: engine.forRole("chat"), log, ensureModel: () => models.ensureLoaded("chat"), remote: () => remotes.engineOf("chat") });
  const completion = registerInlineCompletion(context, {
    client: engine.forRole("completion"),
    log,
    status: (busy) => status.update({ completing: busy }),
    ensureModel: () => models.ensureLoaded("completion"),
    remote: () => remotes.engineOf("completion"),
  });

  const completionReady = () => engine.stateOf("completion").kind === "ready" || remotes.stateOf("completion")?.kind === "ready";
  context.subscriptions.push(registerSuggestHint(context, () => completionReady() && readSettings().completionEnabled));

  const activationMs = performance.now() - started;
  log.info(`Hearth activated in ${activationMs.toFixed(1)} ms (no model loaded; the engine starts on first use)`);
  return { client: engine, models, chat, completion, remotes, statusText: () => status.text, activationMs };
}

export async function deactivate(): Promise<void> {
  await client?.dispose();
  client = undefined;
}
