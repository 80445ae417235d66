// The bundled extension (dist/extension.js) activated in plain node against a small fake of the
// `vscode` API: activation is fast (measured: loading the bundle plus activate), starts no worker
// and loads no model, registers exactly the commands package.json contributes, shows the status
// bar item; Select Model File refuses a bad file without touching the setting, and loads a good
// one through the real worker under withProgress. The status texts are checked case by case.
// (The same behaviour in a real VS Code: test/e2e.)
import { test, after } from "node:test";
import assert from "node:assert/strict";
import Module from "node:module";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { statusText, type StatusView } from "../../src/commands/status-text.ts";
import type { ModelInfo, Role } from "../../src/worker/protocol.ts";
import type { HearthApi } from "../../src/extension.ts";
import { makeModelFixture } from "../conformance/fixtures.ts";

const ROOT = join(__dirname, "..", "..");
const MODEL = join(ROOT, "test", "fixtures", "stories260K.gguf");
const manifest = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));

// ---- a fake of the parts of `vscode` the extension uses ----
const commands = new Map<string, (...args: unknown[]) => unknown>();
const statusItems: { id: string; text: string; shown: boolean; command?: string }[] = [];
const logLines: string[] = [];
const messages: string[] = [];
const settings = new Map<string, unknown>([["threads", 1], ["contextSize", 256]]);
let progressReports = 0;
const disposable = { dispose() {} };
const fakeVscode = {
  StatusBarAlignment: { Left: 1, Right: 2 },
  ProgressLocation: { Notification: 15 },
  ConfigurationTarget: { Global: 1 },
  ExtensionMode: { Production: 1, Development: 2, Test: 3 },
  ThemeColor: class {
    constructor(readonly id: string) {}
  },
  window: {
    createOutputChannel: (_name: string, opts: unknown) => {
      assert.deepEqual(opts, { log: true }, "a LogOutputChannel");
      const line = (level: string) => (m: string) => logLines.push(`${level} ${m}`);
      return { info: line("info"), warn: line("warn"), error: line("error"), show() {}, dispose() {} };
    },
    createStatusBarItem: (id: string) => {
      const item = { id, text: "", shown: false, show() { item.shown = true; }, dispose() {} };
      statusItems.push(item);
      return item;
    },
    showErrorMessage: (m: string) => (messages.push(`error: ${m}`), Promise.resolve(undefined)),
    showWarningMessage: (m: string) => (messages.push(`warning: ${m}`), Promise.resolve(undefined)),
    showInformationMessage: (m: string) => (messages.push(`info: ${m}`), Promise.resolve(undefined)),
    setStatusBarMessage: () => disposable,
    registerWebviewViewProvider: () => disposable,
    onDidChangeTextEditorSelection: () => disposable,
    onDidChangeActiveTextEditor: () => disposable,
    withProgress: async (_o: unknown, task: (p: unknown, t: unknown) => Promise<unknown>) =>
      task({ report: () => progressReports++ }, { isCancellationRequested: false, onCancellationRequested: () => disposable }),
  },
  commands: {
    registerCommand: (id: string, fn: (...args: unknown[]) => unknown) => (commands.set(id, fn), disposable),
    executeCommand: (id: string, ...args: unknown[]) => commands.get(id)?.(...args),
  },
  workspace: {
    getConfiguration: () => ({
      get: (k: string, d: unknown) => (settings.has(k) ? settings.get(k) : d),
      update: async (k: string, v: unknown) => void settings.set(k, v),
    }),
    onDidChangeConfiguration: () => disposable,
    onDidChangeTextDocument: () => disposable,
  },
  languages: {
    registerInlineCompletionItemProvider: () => disposable,
  },
};
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const M = Module as any;
const originalLoad = M._load;
M._load = function (request: string, ...rest: unknown[]) {
  return request === "vscode" ? fakeVscode : originalLoad.call(this, request, ...rest);
};

// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = () => require(join(ROOT, "dist", "extension.js"));
let ext: ReturnType<typeof load>;
/** What activate returned (the first test activates). */
let hearth: HearthApi;
after(async () => {
  await ext?.deactivate();
  M._load = originalLoad;
});

/** The same state for both roles: one model serves both. */
const both = (s: StatusView["roles"]["chat"]): StatusView["roles"] => ({ completion: s, chat: s });

test("activation is fast, only wires, and registers the contributed commands", (t) => {
  const context = {
    subscriptions: [] as unknown[],
    extensionPath: ROOT,
    extensionMode: 3, // Test: no first-run prompt
    globalStorageUri: { fsPath: mkdtempSync(join(tmpdir(), "hearth-storage-")) },
    globalState: { get: () => undefined, update: async () => {} },
    secrets: { get: async () => undefined, store: async () => {}, delete: async () => {}, onDidChange: () => ({ dispose() {} }) },
  };
  const t0 = performance.now();
  ext = load();
  const loaded = performance.now();
  const api = ext.activate(context);
  hearth = api;
  const done = performance.now();
  t.diagnostic(`require(dist/extension.js): ${(loaded - t0).toFixed(1)} ms, activate: ${(done - loaded).toFixed(1)} ms`);
  assert.ok(done - t0 < 500, `activation took ${done - t0} ms`);
  assert.equal(api.client.workerRunning, false, "no worker");
  assert.equal(api.client.stateOf("completion").kind, "none", "no model");
  assert.deepEqual([...commands.keys()].sort(), manifest.contributes.commands.map((c: { command: string }) => c.command).sort());
  assert.ok(manifest.contributes.commands.every((c: { category: string }) => c.category === "Hearth"));
  assert.equal(statusItems.length, 1);
  assert.equal(statusItems[0].shown, true);
  assert.equal(statusItems[0].command, "hearth.showActions");
  assert.match(statusItems[0].text, /Hearth: no model/);
  assert.ok(logLines.some((l) => /^info Hearth activated in [\d.]+ ms/.test(l)), logLines.join("\n"));
  assert.ok(context.subscriptions.length >= 6, "everything is disposed with the extension");
  assert.ok(!manifest.activationEvents.includes("*"), "no eager activation");
});

test("Select Model File refuses a bad file, then loads stories260K through the worker with progress", async () => {
  const bad = join(mkdtempSync(join(tmpdir(), "hearth-ext-")), "bad.gguf");
  writeFileSync(bad, "GGUF but not really");
  const select = commands.get("hearth.selectModelFile")!;
  assert.equal(await select(bad), false);
  assert.equal(settings.get("completion.modelPath"), undefined, "the setting is untouched");
  assert.ok(messages.some((m) => m.startsWith("error: Hearth: This GGUF file is damaged or of a format version Hearth cannot read. (") && m.includes(bad)), messages.join("\n"));
  assert.equal(await select(MODEL), true);
  assert.equal(settings.get("completion.modelPath"), MODEL);
  assert.ok(progressReports > 0, "progress reported");
  assert.match(statusItems[0].text, /Hearth: ready/);
});

test("status texts: none, loading n%, ready with tokens/s, error, completion off", () => {
  const info = { name: "m", path: "/m.gguf", architecture: "llama", contextSize: 512 } as ModelInfo;
  assert.equal(statusText({ roles: both({ kind: "none" }), tokensPerSecond: undefined, completionEnabled: true }).text, "$(circle-slash) Hearth: no model");
  assert.equal(statusText({ roles: both({ kind: "loading", path: "/m.gguf", fraction: 0.426 }), tokensPerSecond: undefined, completionEnabled: true }).text, "$(sync~spin) Hearth: loading 42%");
  assert.equal(statusText({ roles: both({ kind: "ready", info }), tokensPerSecond: 123.45, completionEnabled: true }).text, "$(check) Hearth: ready · 123.5 tok/s");
  assert.equal(statusText({ roles: both({ kind: "ready", info }), tokensPerSecond: undefined, completionEnabled: false }).text, "$(check) Hearth: ready (completion off)");
  const err = statusText({ roles: both({ kind: "error", message: "the engine worker stopped" }), tokensPerSecond: 5, completionEnabled: true });
  assert.equal(err.text, "$(error) Hearth: error");
  assert.equal(err.error, true);
  assert.match(err.tooltip, /the engine worker stopped/);
});

test("two models: chat's own file loads next to completion's without touching it; a pair that does not fit is refused, naming both, and nothing is lost", async () => {
  const fim = makeModelFixture({ arch: "qwen2", weights: "Q8_0" }).path;
  // Bigger than `fim` (7 MB against 1.4 MB): it cannot take the place of the one it replaces in 1 MiB of free memory.
  const other = makeModelFixture({ arch: "qwen3", weights: "F32" }).path;
  const changes: Record<Role, string[]> = { completion: [], chat: [] };
  const sub = hearth.client.onDidChangeState((s, role) => changes[role].push(s.kind));
  try {
    // Completion has stories260K (the test before); chat gets a file of its own.
    settings.set("chat.modelPath", fim);
    await hearth.models.onModelSettingsChanged();
    const chat = hearth.client.stateOf("chat");
    const completion = hearth.client.stateOf("completion");
    assert.ok(chat.kind === "ready" && chat.info.path === fim, JSON.stringify(chat));
    assert.ok(completion.kind === "ready" && completion.info.path === MODEL, JSON.stringify(completion));
    assert.deepEqual(changes.completion, [], "completion's model was not touched");
    assert.match(statusItems[0].text, /Hearth: ready/);

    // Too little memory for the pair: refused before the worker is asked, the message names both models.
    changes.chat.length = 0;
    messages.length = 0;
    process.env.HEARTH_FREE_MEMORY_BYTES = String(1 << 20);
    settings.set("chat.modelPath", other);
    assert.equal(await hearth.models.ensureLoaded("chat"), undefined);
    const refusal = messages.find((m) => m.startsWith("error: Hearth: the chat model"));
    assert.ok(refusal, messages.join("\n"));
    assert.match(refusal, /the chat model .*\.gguf needs about \d+ MiB .* and the completion model stories260K\.gguf needs about \d+ MiB .*: \d+ MiB together, but only \d+ MiB of this machine's .* is free\. Use one model for both roles/);
    assert.ok(logLines.some((l) => l.startsWith(`error not loading ${other} for chat: `)), logLines.join("\n"));
    // Nothing lost: both models still loaded and answering, the setting as the user left it.
    assert.deepEqual(changes, { completion: [], chat: [] });
    assert.equal((await hearth.client.info("chat"))?.path, fim);
    assert.equal((await hearth.client.info("completion"))?.path, MODEL);
    assert.equal(settings.get("chat.modelPath"), other);

    // With the memory there, the same request loads it (only chat).
    delete process.env.HEARTH_FREE_MEMORY_BYTES;
    assert.ok(await hearth.models.ensureLoaded("chat"));
    assert.equal((await hearth.client.info("chat"))?.path, other);
    assert.deepEqual(changes.completion, []);
  } finally {
    delete process.env.HEARTH_FREE_MEMORY_BYTES;
    sub.dispose();
  }
});
