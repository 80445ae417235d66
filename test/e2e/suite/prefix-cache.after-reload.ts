// Mocha suite of the second extension host on the same state folder (after-reload.ts): what a
// window reload keeps. The first completion in A restores its prefix from disk (written by
// prefix-cache.e2e.ts) and evaluates only the rest; B's cache file, corrupted between the two runs,
// is ignored: B's prompt is evaluated cold and the suggestion is the same as before.
/// <reference types="mocha" />
import * as vscode from "vscode";
import * as assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import type { CompletionRecord } from "../../../src/completion/index.ts";
import { config, waitFor } from "./common.ts";
import { cacheFiles, completionSetting, hearth, planPath, showAtEnd, type ReloadPlan } from "./prompt-cache.ts";

suite("Hearth after a window reload: prompt prefixes from disk", () => {
  const records: CompletionRecord[] = [];
  let plan: ReloadPlan;
  let corrupted: { path: string; bytes: Buffer };

  suiteSetup(async () => {
    const api = await hearth();
    api.completion.onDidFinish((r) => records.push(r));
    plan = JSON.parse(readFileSync(planPath(), "utf8"));
    // Requests alone (a pre-warm would restore first and the request would then reuse).
    await completionSetting("prewarm", false);
    await completionSetting("extraContextTokens", 0);
    await completionSetting("maxLines", 1);
    // Corrupt B's entry before anything reads it: a flipped byte in the middle of the payload.
    const b = cacheFiles(api).find((f) => f.doc === plan.b.uri);
    assert.ok(b, "B's prefix is on disk from the first run");
    const bytes = readFileSync(b.path);
    bytes[bytes.length >> 1] ^= 0xff;
    writeFileSync(b.path, bytes);
    corrupted = { path: b.path, bytes };
    assert.equal(await vscode.commands.executeCommand<boolean>("hearth.selectModelFile", vscode.Uri.file(config().model)), true);
  });

  suiteTeardown(async () => {
    for (const key of ["extraContextTokens", "maxLines", "prewarm"]) await completionSetting(key, undefined);
  });

  async function completeAtEnd(uri: string): Promise<CompletionRecord> {
    const editor = await showAtEnd(vscode.Uri.parse(uri));
    const before = editor.document.getText();
    let asked = 0;
    return waitFor(`a completion at the end of ${uri}`, () => {
      const r = records.find((x) => x.anchor.before === before && x.stats.stopReason !== "cancelled");
      // No keystroke here: ask the editor for a suggestion (again each second until one came).
      if (!r && Date.now() - asked > 1000) {
        asked = Date.now();
        void vscode.commands.executeCommand("editor.action.inlineSuggest.trigger");
      }
      return r;
    });
  }

  test("the first completion in A restores its prefix from disk and evaluates only the rest", async () => {
    const a = await completeAtEnd(plan.a.uri);
    console.log(`A after reload: prompt ${a.stats.promptTokens} tokens, restored ${a.stats.restoredTokens}, evaluated ${a.stats.evaluatedTokens}`);
    assert.ok(a.stats.restoredTokens >= a.stats.promptTokens - 3, `${a.stats.restoredTokens} of ${a.stats.promptTokens} restored`);
    assert.ok(a.stats.evaluatedTokens <= 3);
    assert.equal(a.text, plan.a.record.text, "the same suggestion as before the reload");
  });

  test("B's corrupted cache file is ignored: evaluated cold, the same suggestion", async () => {
    const b = await completeAtEnd(plan.b.uri);
    console.log(`B after reload (corrupted file): restored ${b.stats.restoredTokens}, evaluated ${b.stats.evaluatedTokens}`);
    assert.equal(b.stats.restoredTokens, 0);
    assert.equal(b.stats.evaluatedTokens, b.stats.promptTokens);
    assert.equal(b.text, plan.b.record.text);
    // Deleted when it was found bad (the idle saver may since have written B's prefix anew).
    assert.ok(!existsSync(corrupted.path) || !readFileSync(corrupted.path).equals(corrupted.bytes), "the corrupted file is gone");
  });
});
