// Mocha suite inside a real VS Code extension host (see index.ts): inline completion with
// stories260K as the model. Typing in a file shows a suggestion that came from the engine (it
// equals the engine's own greedy continuation, computed in-process by workspace.ts), VS Code's
// accept-next-word and accept (Tab's command) insert it, and a keystroke during a generation
// cancels that generation in the worker (its stats say "cancelled").
/// <reference types="mocha" />
import * as vscode from "vscode";
import * as assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { HearthApi } from "../../../src/extension.ts";
import type { CompletionController, CompletionRecord } from "../../../src/completion/index.ts";
import { EXTENSION_ID, folder, config, waitFor } from "./common.ts";

async function completion(): Promise<{ hearth: HearthApi; controller: CompletionController }> {
  const ext = vscode.extensions.getExtension<HearthApi>(EXTENSION_ID);
  assert.ok(ext, `${EXTENSION_ID} is installed`);
  const hearth = ext.isActive ? ext.exports : await ext.activate();
  const controller = (hearth as HearthApi & { completion?: CompletionController }).completion;
  assert.ok(controller, "activate() returns the inline completion controller as `completion` (registerInlineCompletion wired in extension.ts)");
  return { hearth, controller };
}

async function typeText(text: string): Promise<void> {
  for (const ch of text) await vscode.commands.executeCommand("type", { text: ch });
}

async function setting(key: string, value: unknown): Promise<void> {
  await vscode.workspace.getConfiguration("hearth.completion").update(key, value, vscode.ConfigurationTarget.Workspace);
}

/** A fresh file in the workspace, opened in an editor, with the cursor at its end. */
async function openFresh(name: string, text = ""): Promise<vscode.TextEditor> {
  const path = join(folder(), name);
  writeFileSync(path, text);
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(path));
  const editor = await vscode.window.showTextDocument(doc);
  const end = doc.lineAt(doc.lineCount - 1).range.end;
  editor.selection = new vscode.Selection(end, end);
  return editor;
}

const me = suite("Hearth inline completion in a real VS Code", () => {
  const records: CompletionRecord[] = [];
  let sub: { dispose(): void } | undefined;

  suiteSetup(async () => {
    const { controller } = await completion();
    sub = controller.onDidFinish((r) => records.push(r));
    // Deterministic prompts: no other files' text in them.
    await setting("extraContextTokens", 0);
    const accepted = await vscode.commands.executeCommand<boolean>("hearth.selectModelFile", vscode.Uri.file(config().model));
    assert.equal(accepted, true, "stories260K loads");
  });

  suiteTeardown(async () => {
    sub?.dispose();
    for (const key of ["extraContextTokens", "maxLines"]) await setting(key, undefined);
    await vscode.commands.executeCommand("workbench.action.closeAllEditors");
  });

  test("typing shows the engine's suggestion; accept-next-word then accept (Tab) insert it", async () => {
    const { controller } = await completion();
    await setting("maxLines", 1);
    const editor = await openFresh("story.txt");
    const { prompt, expected } = config();
    records.length = 0;
    await typeText(prompt);
    const record = await waitFor("a finished completion at the end of the typed text", () => records.find((r) => r.anchor.before === prompt && r.stats.stopReason !== "cancelled"));
    console.log(`suggestion ${JSON.stringify(record.text)}; prompt ${record.stats.promptTokens} tokens (reused ${record.stats.reusedTokens}, evaluated ${record.stats.evaluatedTokens}), first text after ${record.firstTextMs} ms`);
    assert.equal(record.prompt, prompt, "plain text with a prefix-only model: the prompt is the text itself");
    // The engine's greedy continuation (workspace.ts ran the engine in-process on the same prompt), up to the line's end.
    const firstLine = expected.split("\n")[0].trimEnd();
    if (expected.includes("\n")) assert.equal(record.text, firstLine);
    else assert.ok(record.text.startsWith(firstLine), `${JSON.stringify(record.text)} continues ${JSON.stringify(firstLine)}`);
    assert.ok(controller.counters.requests < prompt.length, `${controller.counters.requests} requests for ${prompt.length} keystrokes`);

    const doc = editor.document;
    // Awaited one at a time: firing the command again before the previous one has applied could
    // accept two words (the suggestion may not be shown yet the first times, so it is retried).
    const end = Date.now() + 10_000;
    while (doc.getText() === prompt) {
      assert.ok(Date.now() < end, "timed out waiting for the partial accept of one word");
      await vscode.commands.executeCommand("editor.action.inlineSuggest.acceptNextWord");
      if (doc.getText() === prompt) await new Promise((r) => setTimeout(r, 25));
    }
    const accepted = doc.getText().slice(prompt.length);
    assert.ok(record.text.startsWith(accepted) && /^\s*\S+\s*$/.test(accepted), `accept-next-word inserted the first word: ${JSON.stringify(accepted)}`);
    await waitFor("accepting the rest", () => {
      if (doc.getText() === prompt + record.text) return true;
      void vscode.commands.executeCommand("editor.action.inlineSuggest.trigger").then(() => vscode.commands.executeCommand("editor.action.inlineSuggest.commit"));
      return false;
    }, 10_000);
    assert.equal(doc.getText(), prompt + record.text, "the whole suggestion is in the document");
  });

  test("a keystroke during a generation cancels it in the worker", async () => {
    const { controller } = await completion();
    await setting("maxLines", 40);
    await openFresh("long.txt");
    records.length = 0;
    const before = controller.counters.cancelled;
    const text = "Once upon a time there was a little girl";
    await typeText(text);
    // The generation for the end of the text starts after the debounce: catch it running.
    if (!controller.busy) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no generation started")), 10_000);
        const s = controller.onDidChangeBusy((busy) => busy && (s.dispose(), clearTimeout(timer), resolve()));
      });
    }
    await typeText("Q");
    const cancelled = await waitFor("the generation to end as cancelled", () => records.find((r) => r.anchor.before === text && r.stats.stopReason === "cancelled"));
    console.log(`cancelled after ${cancelled.stats.generatedTokens} generated tokens (${JSON.stringify(cancelled.text)} so far)`);
    assert.ok(controller.counters.cancelled > before);
    assert.ok(cancelled.stats.generatedTokens < 512, "stopped before its token limit");
  });
});

// index.ts runs the suites in file order, and extension.e2e.ts expects a fresh host (no engine
// worker, no model set): run this suite after the others, whatever its file name.
suiteSetup(() => {
  const root = me.parent;
  if (!root) return;
  root.suites.splice(root.suites.indexOf(me), 1);
  root.suites.push(me);
});
