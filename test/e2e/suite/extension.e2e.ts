// Mocha suites run inside a real VS Code extension host (code-server here, or test-electron):
// the extension activates cheaply, its status bar item and commands exist, Select Model File
// rejects a bad file and loads stories260K through the engine worker, a generation streams the
// engine's own text, cancellation works, and a worker killed mid-generation is survived.
/// <reference types="mocha" />
import * as vscode from "vscode";
import * as assert from "node:assert/strict";
import type { HearthApi } from "../../../src/extension.ts";
import type { ClientState } from "../../../src/client/engine-client.ts";
import { flagOf } from "../../../src/client/cancellation.ts";
import { EXTENSION_ID, config, waitFor } from "./common.ts";

async function api(): Promise<HearthApi> {
  const ext = vscode.extensions.getExtension<HearthApi>(EXTENSION_ID);
  assert.ok(ext, `${EXTENSION_ID} is installed`);
  return ext.isActive ? ext.exports : await ext.activate();
}

async function generate(hearth: HearthApi, prompt: string, maxTokens: number, token?: vscode.CancellationToken) {
  const g = hearth.client.generate({ slot: "completion", prompt, maxTokens }, { cancel: token && flagOf(token) });
  const deltas: string[] = [];
  for await (const d of g) deltas.push(d);
  return { deltas, text: deltas.join(""), stats: await g.stats };
}

suite("Hearth in a real VS Code", () => {
  test("activates without starting the engine or loading a model", async () => {
    const hearth = await api();
    console.log(`activation took ${hearth.activationMs.toFixed(1)} ms`);
    assert.ok(hearth.activationMs < 1000, `activation took ${hearth.activationMs} ms`);
    assert.equal(hearth.client.workerRunning, false, "no worker at activation");
    assert.equal(hearth.client.stateOf("completion").kind, "none");
    const commands = await vscode.commands.getCommands(true);
    for (const c of ["hearth.selectModelFile", "hearth.toggleInlineCompletion", "hearth.showLog", "hearth.showActions"]) {
      assert.ok(commands.includes(c), `command ${c} registered`);
    }
  });

  test("the status bar item shows the model state", async () => {
    const hearth = await api();
    assert.match(hearth.statusText(), /Hearth: no model/);
  });

  test("Select Model File rejects a file that is not GGUF and keeps the setting", async () => {
    const hearth = await api();
    const accepted = await vscode.commands.executeCommand<boolean>("hearth.selectModelFile", config().badFile);
    assert.equal(accepted, false);
    assert.equal(vscode.workspace.getConfiguration("hearth").get("completion.modelPath"), "");
    // The header is read in the engine worker (the inspect request), never on the extension host's thread.
    assert.equal(hearth.client.workerRunning, true, "the worker read the header");
    assert.equal(hearth.client.stateOf("completion").kind, "none", "and loaded nothing");
  });

  test("Select Model File loads stories260K through the worker, with progress, and the status says ready", async () => {
    const hearth = await api();
    const seen: ClientState[] = [];
    const sub = hearth.client.onDidChangeState((s) => seen.push(s));
    try {
      const accepted = await vscode.commands.executeCommand<boolean>("hearth.selectModelFile", vscode.Uri.file(config().model));
      assert.equal(accepted, true);
    } finally {
      sub.dispose();
    }
    assert.ok(seen.some((s) => s.kind === "loading" && s.fraction > 0 && s.fraction < 1), `progress states: ${seen.map((s) => s.kind).join(",")}`);
    assert.equal(hearth.client.stateOf("completion").kind, "ready");
    assert.equal(hearth.client.workerRunning, true);
    assert.equal(vscode.workspace.getConfiguration("hearth").get("completion.modelPath"), config().model);
    assert.match(hearth.statusText(), /Hearth: ready/);
    const info = await hearth.client.info();
    assert.equal(info?.architecture, "llama");
  });

  test("a generation streams the engine's text and the status bar shows tokens/s", async () => {
    const hearth = await api();
    const { prompt, maxTokens, expected } = config();
    const source = new vscode.CancellationTokenSource();
    const r = await generate(hearth, prompt, maxTokens, source.token);
    console.log(`generated ${JSON.stringify(r.text)} in ${r.deltas.length} deltas`);
    assert.equal(r.text, expected);
    assert.ok(r.deltas.length > 5, "streamed in pieces");
    assert.equal(r.stats.generatedTokens, maxTokens);
    assert.match(hearth.statusText(), /Hearth: ready · [\d.]+ tok\/s/);
  });

  test("a VS Code CancellationToken stops a generation between tokens", async () => {
    const hearth = await api();
    const source = new vscode.CancellationTokenSource();
    const g = hearth.client.generate({ slot: "chat", prompt: "The cat", maxTokens: 400 }, { cancel: flagOf(source.token) });
    let n = 0;
    for await (const d of g) if (d !== undefined && ++n === 3) source.cancel();
    assert.equal(n, 3);
    assert.equal((await g.stats).stopReason, "cancelled");
  });

  test("killing the worker mid-generation fails the request clearly; the next request works again", async () => {
    const hearth = await api();
    const { prompt, maxTokens, expected } = config();
    let n = 0;
    await assert.rejects(
      (async () => {
        for await (const d of hearth.client.generate({ slot: "chat", prompt: "The cat", maxTokens: 100_000 })) {
          if (d !== undefined && ++n === 5) hearth.client.crashWorker("exit");
        }
      })(),
      (err: Error) => err.name === "WorkerDiedError" && /engine worker stopped unexpectedly/.test(err.message),
    );
    await waitFor("the status bar to say error", () => /Hearth: error/.test(hearth.statusText()));
    const r = await generate(hearth, prompt, maxTokens);
    assert.equal(r.text, expected, "the restarted worker reloaded the same model");
    assert.equal(hearth.client.workerStarts, 2);
    assert.match(hearth.statusText(), /Hearth: ready/);
    // Terminated from outside (as the OS would on out-of-memory) is survived the same way.
    n = 0;
    await assert.rejects(
      (async () => {
        for await (const d of hearth.client.generate({ slot: "chat", prompt: "The cat", maxTokens: 100_000 })) {
          if (d !== undefined && ++n === 5) void hearth.client.terminateWorker();
        }
      })(),
      (err: Error) => err.name === "WorkerDiedError",
    );
    assert.equal((await generate(hearth, prompt, maxTokens)).text, expected);
    assert.equal(hearth.client.workerStarts, 3);
  });

  test("Toggle Inline Completion flips the setting and the status bar says so", async () => {
    const hearth = await api();
    const get = () => vscode.workspace.getConfiguration("hearth").get<boolean>("completion.enabled");
    assert.equal(get(), true);
    await vscode.commands.executeCommand("hearth.toggleInlineCompletion");
    assert.equal(get(), false);
    await waitFor("the status bar to say completion off", () => hearth.statusText().includes("(completion off)"));
    await vscode.commands.executeCommand("hearth.toggleInlineCompletion");
    assert.equal(get(), true);
    await waitFor("the status bar to drop completion off", () => !hearth.statusText().includes("(completion off)"));
  });
});
