// Mocha suite inside a real VS Code extension host (see index.ts): a server as one role's engine
// (issue 17), the other role local. The server is test/e2e/remote-server.ts (llama.cpp behind
// OpenAI-style routes, started by the runner outside this host; its URL and what its model
// produces are in e2e.json's `remote`).
// 1. hearth.completion.engine = "openai": the ghost text at the end of a typed line equals the
//    server's text, and Tab's command inserts it, while the chat answers from the local model.
// 2. The reverse: hearth.chat.engine = "openai": the chat's reply equals the server's, while the
//    ghost text comes from the local engine.
// The runner then checks the server's log: the local roles' text never reached it.
/// <reference types="mocha" />
import * as vscode from "vscode";
import * as assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { HearthApi } from "../../../src/extension.ts";
import type { CompletionRecord } from "../../../src/completion/index.ts";
import type { RemoteE2e } from "../remote-server.ts";
import { EXTENSION_ID, folder, config, waitFor } from "./common.ts";

async function hearth(): Promise<HearthApi> {
  const ext = vscode.extensions.getExtension<HearthApi>(EXTENSION_ID);
  assert.ok(ext, `${EXTENSION_ID} is installed`);
  return ext.isActive ? ext.exports : await ext.activate();
}

function remote(): RemoteE2e {
  const r = (config() as { remote?: RemoteE2e }).remote;
  assert.ok(r, "e2e.json has the runner's server (remote)");
  return r;
}

const SETTINGS = ["completion.engine", "completion.endpoint", "completion.remoteModel", "completion.remoteApi", "chat.engine", "chat.endpoint", "chat.remoteModel", "chat.remoteApi", "completion.maxLines", "completion.extraContextTokens", "chat.systemPrompt", "chat.maxTokens", "chat.temperature"];

async function set(key: string, value: unknown): Promise<void> {
  // The endpoint is machine-scoped (a workspace cannot send your code somewhere): user settings.
  const target = key.endsWith(".endpoint") ? vscode.ConfigurationTarget.Global : vscode.ConfigurationTarget.Workspace;
  await vscode.workspace.getConfiguration("hearth").update(key, value, target);
}

/** Points `role` at the runner's server, and waits until the probe says ready. */
async function useServer(api: HearthApi, role: "completion" | "chat"): Promise<void> {
  const r = remote();
  await set(`${role}.remoteApi`, "openai");
  await set(`${role}.remoteModel`, r.model);
  await set(`${role}.endpoint`, r.url);
  await set(`${role}.engine`, "openai");
  const state = await waitFor(`the ${role} server's probe`, () => {
    const s = api.remotes.stateOf(role);
    return s && s.kind !== "connecting" && s;
  });
  assert.equal(state.kind, "ready", `probe: ${JSON.stringify(state)}`);
  console.log(`${role} → server: status bar ${JSON.stringify(api.statusText())}, ${role} state ${JSON.stringify(state)}`);
}

/** Types `text` at the end of a fresh plain-text file, asks for a suggestion and returns the finished request's record. */
async function ghostText(api: HearthApi, name: string, text: string): Promise<{ record: CompletionRecord; editor: vscode.TextEditor }> {
  const path = join(folder(), name);
  writeFileSync(path, "");
  const editor = await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(vscode.Uri.file(path)));
  const records: CompletionRecord[] = [];
  const sub = api.completion.onDidFinish((r) => records.push(r));
  try {
    // One edit, then an explicit trigger: one request at exactly this place.
    await editor.edit((e) => e.insert(new vscode.Position(0, 0), text));
    const end = editor.document.lineAt(0).range.end;
    editor.selection = new vscode.Selection(end, end);
    await vscode.commands.executeCommand("editor.action.inlineSuggest.trigger");
    const record = await waitFor("a finished completion at the end of the text", () => records.find((r) => r.anchor.before === text && r.stats.stopReason !== "cancelled"), 30_000);
    return { record, editor };
  } finally {
    sub.dispose();
  }
}

/** Accepts the shown suggestion with Tab's command (retried until the editor shows it) and returns the line. */
async function accept(editor: vscode.TextEditor, text: string): Promise<string> {
  const doc = editor.document;
  await waitFor("the suggestion accepted", () => {
    if (doc.getText() !== text) return true;
    void vscode.commands.executeCommand("editor.action.inlineSuggest.trigger").then(() => vscode.commands.executeCommand("editor.action.inlineSuggest.commit"));
    return false;
  }, 15_000);
  await new Promise((r) => setTimeout(r, 200));
  return doc.getText();
}

suite("Hearth with a server as one role's engine (OpenAI-compatible)", () => {
  suiteSetup(async () => {
    const api = await hearth();
    remote();
    await set("completion.maxLines", 1);
    await set("completion.extraContextTokens", 0);
    await set("chat.maxTokens", remote().chatMaxTokens);
    await set("chat.temperature", 0);
    await set("chat.systemPrompt", remote().chatSystem);
    const accepted = await vscode.commands.executeCommand<boolean>("hearth.selectModelFile", vscode.Uri.file(config().model));
    assert.equal(accepted, true, "stories260K loads for the local role");
    void api;
  });

  suiteTeardown(async () => {
    for (const key of SETTINGS) await set(key, undefined);
    await vscode.commands.executeCommand("workbench.action.closeAllEditors");
  });

  test("completion from the server while chat stays local: the ghost text is the server's text", async () => {
    const api = await hearth();
    await useServer(api, "completion");
    assert.equal(api.remotes.isRemote("chat"), false);
    const r = remote();
    const { record, editor } = await ghostText(api, "remote-completion.txt", r.completionPrompt);
    console.log(`remote ghost text ${JSON.stringify(record.text)} (the server's text ${JSON.stringify(r.completionExpected)}); prompt ${JSON.stringify(record.prompt)}, first text after ${record.firstTextMs} ms`);
    assert.equal(record.prompt, r.completionPrompt, "the text before the cursor, as sent");
    assert.equal(record.text, r.completionExpected.split("\n")[0].trimEnd(), "the suggestion is the server's text");
    const line = await accept(editor, r.completionPrompt);
    console.log(`accepted: ${JSON.stringify(line)}`);
    assert.equal(line, r.completionPrompt + record.text);

    await api.chat.session.clear();
    const reply = await api.chat.session.ask(r.localChatQuestion);
    console.log(`local chat reply while completion is remote: ${JSON.stringify(reply.text)} (${reply.status}); status bar ${JSON.stringify(api.statusText())}`);
    assert.equal(reply.status, "done", reply.note);
    assert.ok(reply.text.length > 0);
    assert.equal(api.client.stateOf("chat").kind, "ready", "the chat's local model served it");
    await set("completion.engine", undefined);
    await waitFor("completion back to local", () => !api.remotes.isRemote("completion"));
  });

  test("chat from the server while completion stays local: the reply is the server's, the ghost text the local engine's", async () => {
    const api = await hearth();
    await useServer(api, "chat");
    assert.equal(api.remotes.isRemote("completion"), false);
    const r = remote();
    await api.chat.session.clear();
    const reply = await api.chat.session.ask(r.chatQuestion);
    console.log(`remote chat reply ${JSON.stringify(reply.text)} (${reply.status}; the server's text ${JSON.stringify(r.chatExpected)})`);
    assert.equal(reply.status, "done", reply.note);
    assert.equal(reply.text, r.chatExpected, "the reply is the server's text");
    assert.deepEqual(api.chat.session.entries.map((e) => e.role), ["user", "assistant"]);

    const { prompt, expected } = config();
    // Completion came back from the server in the first test (its local model was let go then): loaded on need.
    assert.ok(await api.models.ensureLoaded("completion"), "the local completion model loads");
    const { record } = await ghostText(api, "local-completion.txt", prompt);
    console.log(`local ghost text while chat is remote: ${JSON.stringify(record.text)} (the local engine's ${JSON.stringify(expected)}); status bar ${JSON.stringify(api.statusText())}`);
    assert.equal(record.prompt, prompt, "the local engine's prompt (prefix-only model: the text itself)");
    const firstLine = expected.split("\n")[0].trimEnd();
    if (expected.includes("\n")) assert.equal(record.text, firstLine);
    else assert.ok(record.text.startsWith(firstLine), `${JSON.stringify(record.text)} continues ${JSON.stringify(firstLine)}`);
    await api.chat.session.clear();
  });
});
