// Mocha suite in a real VS Code extension host: the chat against the real engine (stories260K).
// Named z-… so it runs after extension.e2e (whose first test needs a host with no model loaded).
// Explain Selection (the command the palette and context menu run) sends a request naming the
// file, language, lines and code, and the reply streams from the engine; Stop cancels the
// generation in the worker; the second turn reuses the chat slot; history is kept; New Chat.
/// <reference types="mocha" />
import * as vscode from "vscode";
import * as assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { HearthApi } from "../../../src/extension.ts";
import type { ChatApi } from "../../../src/chat/index.ts";
import type { HostMessage } from "../../../src/chat/protocol.ts";
import { EXTENSION_ID, folder, config } from "./common.ts";

/** HearthApi plus `chat` (registerChat's result, returned by activate once extension.ts wires it). */
type Api = HearthApi & { chat?: ChatApi };

async function api(): Promise<Api & { chat: ChatApi }> {
  const ext = vscode.extensions.getExtension<Api>(EXTENSION_ID);
  assert.ok(ext, `${EXTENSION_ID} is installed`);
  const hearth = ext.isActive ? ext.exports : await ext.activate();
  assert.ok(hearth.chat, "activate() returns the chat API (registerChat wired in extension.ts)");
  return hearth as Api & { chat: ChatApi };
}

suite("Hearth chat in a real VS Code", () => {
  suiteSetup(async function () {
    const ext = vscode.extensions.getExtension<Api>(EXTENSION_ID);
    const exports = ext?.isActive ? ext.exports : await ext?.activate();
    if (!exports?.chat) {
      // Until the chat is wired into extension.ts (see the issue-6 report) there is nothing to test.
      console.log("chat suite skipped: activate() returns no chat API yet");
      this.skip();
    }
    const hearth = await api();
    if (hearth.client.stateOf("chat").kind !== "ready") assert.equal(await vscode.commands.executeCommand("hearth.selectModelFile", config().model), true);
    const c = vscode.workspace.getConfiguration("hearth.chat");
    await c.update("temperature", 0, vscode.ConfigurationTarget.Workspace);
    await c.update("maxTokens", 32, vscode.ConfigurationTarget.Workspace);
    await vscode.commands.executeCommand("hearth.newChat");
  });

  test("the chat commands are registered", async () => {
    const commands = await vscode.commands.getCommands(true);
    for (const c of ["hearth.explainSelection", "hearth.newChat", "hearth.chat.focus"]) assert.ok(commands.includes(c), c);
  });

  test("Explain Selection asks about the selected code (language, path, lines) and the engine's reply streams into the chat", async () => {
    const file = join(folder(), "explain-me.py");
    writeFileSync(file, "import math\n\ndef area(r):\n    return math.pi * r * r\n");
    const editor = await vscode.window.showTextDocument(vscode.Uri.file(file));
    editor.selection = new vscode.Selection(2, 0, 3, 27);
    const r = await vscode.commands.executeCommand<{ request: { text: string }; reply: { text: string; status: string; note?: string } }>("hearth.explainSelection");
    assert.ok(r, "the command returns the exchange");
    console.log(`request: ${JSON.stringify(r.request.text)}\nreply: ${JSON.stringify(r.reply.text.slice(0, 100))} (${r.reply.status}; ${r.reply.note ?? ""})`);
    assert.match(r.request.text, /^Explain this python code from `explain-me\.py` \(lines 3–4\)/);
    assert.ok(r.request.text.includes("```python\ndef area(r):\n    return math.pi * r * r\n```"));
    assert.ok(!r.request.text.includes("import math"), "only the selection");
    assert.ok(r.reply.status === "done", `reply ${r.reply.status}: ${r.reply.note}`);
    assert.ok(r.reply.text.length > 5);
  });

  test("with no selection the current line is explained; on a blank line nothing is sent", async () => {
    const hearth = await api();
    const editor = vscode.window.activeTextEditor!;
    editor.selection = new vscode.Selection(0, 3, 0, 3);
    const r = await vscode.commands.executeCommand<{ request: { text: string } }>("hearth.explainSelection");
    assert.match(r.request.text, /\(line 1, the line under the cursor\)/);
    assert.ok(r.request.text.includes("```python\nimport math\n```"));
    const before = hearth.chat.session.entries.length;
    editor.selection = new vscode.Selection(1, 0, 1, 0);
    assert.equal(await vscode.commands.executeCommand("hearth.explainSelection"), undefined);
    assert.equal(hearth.chat.session.entries.length, before, "nothing sent");
  });

  test("a reply hears how far the engine has read its prompt before its first text", async () => {
    const s = (await api()).chat.session;
    const seen: HostMessage[] = [];
    const sub = s.onMessage((m: HostMessage) => (m.type === "progress" || m.type === "delta") && seen.push(m));
    try {
      const reply = await s.ask("Tell me about the dog and the cat who played in the park all day long. ".repeat(4));
      const progress = seen.filter((m) => m.type === "progress");
      assert.ok(progress.length >= 2, `progress messages: ${JSON.stringify(progress)}`);
      assert.ok(progress.every((m) => m.id === reply.id), "for the reply");
      const last = progress.at(-1)!;
      assert.ok(last.done === last.total && last.total > 0, `ends with the whole prompt: ${JSON.stringify(last)}`);
      const firstDelta = seen.findIndex((m) => m.type === "delta");
      assert.ok(firstDelta < 0 || firstDelta > seen.indexOf(last), "progress comes before the text");
    } finally {
      sub.dispose();
    }
  });

  test("Stop cancels the generation in the worker; the next turn reuses the chat slot's prefix", async () => {
    const hearth = await api();
    await vscode.workspace.getConfiguration("hearth.chat").update("maxTokens", 400, vscode.ConfigurationTarget.Workspace);
    const stats: { reusedTokens: number; promptTokens: number; stopReason: string }[] = [];
    const sub = hearth.client.onDidFinishGeneration((s) => stats.push(s));
    try {
      const s = hearth.chat.session;
      // Stop as the first token arrives (the tiny model is fast enough to finish otherwise).
      let stopping: Promise<void> | undefined;
      const onDelta = s.onMessage((m: HostMessage) => {
        if (m.type === "delta" && !stopping) stopping = s.stop();
      });
      const reply = await s.ask("Tell me a very long story.");
      onDelta.dispose();
      await stopping;
      assert.equal(reply.status, "stopped");
      const n = reply.text.length;
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(reply.text.length, n, "no more text after Stop");
      await vscode.workspace.getConfiguration("hearth.chat").update("maxTokens", 16, vscode.ConfigurationTarget.Workspace);
      const next = await s.ask("And then?");
      assert.equal(next.status, "done");
      const last = stats.at(-1)!;
      console.log(`turn after stop: prompt ${last.promptTokens} tokens, ${last.reusedTokens} reused`);
      assert.ok(last.reusedTokens > last.promptTokens / 2, `reused ${last.reusedTokens} of ${last.promptTokens}`);
    } finally {
      sub.dispose();
    }
  });

  test("the conversation is kept in workspace state; New Chat clears it", async () => {
    const hearth = await api();
    assert.ok(hearth.chat.session.entries.length >= 6);
    await vscode.commands.executeCommand("hearth.newChat");
    assert.equal(hearth.chat.session.entries.length, 0);
  });
});
