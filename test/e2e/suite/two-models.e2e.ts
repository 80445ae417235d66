// Mocha suite in a real VS Code extension host: two models at once, one per role (issue 16).
// Completion's model is a generated qwen2 file with Qwen's FIM tokens, chat's is stories260K.
// Ghost text comes from the first (a fill-in-the-middle prompt, which only a model with FIM tokens
// gets, and the same text a single-model run of that file gives for it) and a chat reply from the
// second (stories260K's own greedy reply, computed in-process by workspace.ts), in the same
// window with no load between them; then the chat model setting changes and only chat reloads.
/// <reference types="mocha" />
import * as vscode from "vscode";
import * as assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { HearthApi } from "../../../src/extension.ts";
import type { CompletionRecord } from "../../../src/completion/index.ts";
import { EngineClient, type ClientState, type Role } from "../../../src/client/engine-client.ts";
import { EXTENSION_ID, folder, config, waitFor } from "./common.ts";

async function api(): Promise<HearthApi> {
  const ext = vscode.extensions.getExtension<HearthApi>(EXTENSION_ID);
  assert.ok(ext, `${EXTENSION_ID} is installed`);
  return ext.isActive ? ext.exports : await ext.activate();
}

const hearthConfig = () => vscode.workspace.getConfiguration("hearth");

/** Opens a fresh file, waits as a person would (VS Code attaches its inline-suggest controller), types one key. */
async function typeInFresh(name: string, text: string, key: string): Promise<void> {
  const path = join(folder(), name);
  writeFileSync(path, text);
  const editor = await vscode.window.showTextDocument(vscode.Uri.file(path));
  const end = editor.document.lineAt(editor.document.lineCount - 1).range.end;
  editor.selection = new vscode.Selection(end, end);
  await new Promise((r) => setTimeout(r, 1000));
  await vscode.commands.executeCommand("type", { text: key });
}

/** The next finished (not cancelled) completion whose text before the cursor ends with `before`; triggers the editor if it has not asked. */
async function nextSuggestion(records: CompletionRecord[], before: string): Promise<CompletionRecord> {
  const found = () => records.find((r) => r.anchor.before.endsWith(before) && r.stats.stopReason !== "cancelled");
  const t0 = Date.now();
  return waitFor(
    `a finished completion after ${JSON.stringify(before)}`,
    () => {
      if (!found() && Date.now() - t0 > 3000 && records.length === 0) void vscode.commands.executeCommand("editor.action.inlineSuggest.trigger");
      return found();
    },
    30_000,
  );
}

suite("Two models at once in a real VS Code: completion and chat each from its own", () => {
  const records: CompletionRecord[] = [];
  const changes: Record<Role, ClientState["kind"][]> = { completion: [], chat: [] };
  const subs: { dispose(): void }[] = [];

  suiteSetup(async () => {
    const hearth = await api();
    subs.push(hearth.completion.onDidFinish((r) => records.push(r)));
    const c = vscode.workspace.getConfiguration("hearth.completion");
    await c.update("extraContextTokens", 0, vscode.ConfigurationTarget.Workspace);
    await c.update("maxLines", 1, vscode.ConfigurationTarget.Workspace);
    const chat = vscode.workspace.getConfiguration("hearth.chat");
    await chat.update("temperature", 0, vscode.ConfigurationTarget.Workspace);
    await chat.update("maxTokens", config().twoModels.maxTokens, vscode.ConfigurationTarget.Workspace);
    await chat.update("systemPrompt", config().twoModels.system, vscode.ConfigurationTarget.Workspace);
    await vscode.commands.executeCommand("hearth.newChat");
  });

  suiteTeardown(async () => {
    for (const s of subs) s.dispose();
    for (const k of ["extraContextTokens", "maxLines"]) await vscode.workspace.getConfiguration("hearth.completion").update(k, undefined, vscode.ConfigurationTarget.Workspace);
    for (const k of ["temperature", "maxTokens", "systemPrompt"]) await vscode.workspace.getConfiguration("hearth.chat").update(k, undefined, vscode.ConfigurationTarget.Workspace);
    // Back to one model for both roles (stories260K), as the suites after this one expect.
    await hearthConfig().update("chat.modelPath", undefined, vscode.ConfigurationTarget.Global);
    assert.equal(await vscode.commands.executeCommand("hearth.selectModelFile", vscode.Uri.file(config().model), "completion"), true);
    await vscode.commands.executeCommand("hearth.newChat");
    await vscode.commands.executeCommand("workbench.action.closeAllEditors");
  });

  test("ghost text from the FIM model and a chat reply from stories260K, with no load between them", async () => {
    const hearth = await api();
    const { twoModels, model } = config();
    assert.equal(await vscode.commands.executeCommand("hearth.selectModelFile", vscode.Uri.file(twoModels.fim), "completion"), true);
    assert.equal(await vscode.commands.executeCommand("hearth.selectModelFile", vscode.Uri.file(model), "chat"), true);
    const completion = hearth.client.stateOf("completion");
    const chat = hearth.client.stateOf("chat");
    assert.ok(completion.kind === "ready" && completion.info.path === twoModels.fim, `completion: ${JSON.stringify(completion)}`);
    assert.ok(chat.kind === "ready" && chat.info.path === model, `chat: ${JSON.stringify(chat)}`);
    console.log(`status bar: ${hearth.statusText()}`);
    subs.push(hearth.client.onDidChangeState((s, role) => changes[role].push(s.kind)));

    // Ghost text: a FIM prompt (the completion model has the tokens; stories260K has none).
    records.length = 0;
    await typeInFresh("two.py", "def add(a, b):\n    return", " ");
    const record = await nextSuggestion(records, "return ");
    console.log(`ghost text ${JSON.stringify(record.text)} from prompt ${JSON.stringify(record.prompt)} (${record.stats.promptTokens} tokens)`);
    assert.ok(record.prompt.startsWith("<|fim_prefix|>") && record.prompt.includes("<|fim_middle|>"), "a fill-in-the-middle prompt");
    // The same text a single-model run of the FIM file gives for that prompt (a fresh worker, that file alone).
    const alone = new EngineClient({ workerPath: join(vscode.extensions.getExtension(EXTENSION_ID)!.extensionPath, "dist", "worker.js") });
    try {
      await alone.load({ path: twoModels.fim, threads: 1, contextSize: 512 }, { roles: ["completion"] });
      let text = "";
      for await (const d of alone.generate({ slot: "completion", prompt: record.prompt, maxTokens: Math.max(1, record.stats.generatedTokens), stop: ["\n"], sampling: { temperature: 0 } })) text += d;
      console.log(`single-model run of the FIM file: ${JSON.stringify(text)}`);
      assert.ok(record.text.length > 0 && text.startsWith(record.text.trimEnd()), `ghost text ${JSON.stringify(record.text)} is the FIM model's ${JSON.stringify(text)}`);
    } finally {
      await alone.dispose();
    }

    // Chat: stories260K's reply (the FIM model could not write it).
    const reply = await hearth.chat.session.ask(twoModels.question);
    console.log(`chat reply ${JSON.stringify(reply.text)} (${reply.status}); expected ${JSON.stringify(twoModels.chatExpected)}`);
    assert.equal(reply.status, "done", reply.note);
    assert.equal(reply.text.trim(), twoModels.chatExpected.trim());

    // Back to typing: a suggestion again, from the FIM model, and nothing was loaded or unloaded meanwhile.
    records.length = 0;
    await vscode.commands.executeCommand("type", { text: "a" });
    const again = await nextSuggestion(records, "return a");
    assert.ok(again.prompt.startsWith("<|fim_prefix|>"));
    assert.deepEqual(changes, { completion: [], chat: [] }, "no state change (no load) for either role");
    console.log(`after the chat: ghost text ${JSON.stringify(again.text)}; prompt ${again.stats.promptTokens} tokens, reused ${again.stats.reusedTokens}`);
  });

  test("changing the chat model setting reloads only chat", async () => {
    const hearth = await api();
    const { twoModels } = config();
    changes.completion.length = 0;
    changes.chat.length = 0;
    await hearthConfig().update("chat.modelPath", twoModels.other, vscode.ConfigurationTarget.Global);
    await waitFor("chat's new model", () => {
      const s = hearth.client.stateOf("chat");
      return s.kind === "ready" && s.info.path === twoModels.other;
    }, 30_000);
    console.log(`chat states: ${changes.chat.join(" → ")}; completion states: ${changes.completion.join(" → ") || "(none)"}`);
    assert.ok(changes.chat.includes("loading"), "chat reloaded");
    assert.deepEqual(changes.completion, [], "completion's model was not touched");
    const completion = hearth.client.stateOf("completion");
    assert.ok(completion.kind === "ready" && completion.info.path === twoModels.fim);
    // Completion still answers from its model.
    records.length = 0;
    await vscode.commands.executeCommand("type", { text: "+" });
    const record = await nextSuggestion(records, "return a+");
    assert.ok(record.prompt.startsWith("<|fim_prefix|>"));
  });
});
