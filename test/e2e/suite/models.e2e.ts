// Mocha suite run inside a real VS Code extension host (see index.ts): "Hearth: Download Model"
// against a loopback server that behaves like the Hugging Face hub (redirect with LFS metadata,
// then the bytes, one dropped connection on the way). The hub's address comes from the
// HEARTH_HUB_URL environment variable, set here (the suite runs in the extension's own process),
// and HEARTH_ALLOW_HTTP_LOOPBACK=1 lets the downloader use plain HTTP to 127.0.0.1 only.
// The served model is stories260K, so the selected model really loads.
/// <reference types="mocha" />
import * as vscode from "vscode";
import * as assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { DownloadOutcome } from "../../../src/models/commands.ts";
import { EXTENSION_ID, config } from "./common.ts";
import { sha256Hex, startTestServer, type TestServer } from "../../helpers/http-server.ts";

const DOWNLOAD = "hearth.downloadModel";
const REPO = "hearth-test/stories-GGUF";

async function activate(): Promise<void> {
  const ext = vscode.extensions.getExtension(EXTENSION_ID);
  assert.ok(ext, `${EXTENSION_ID} is installed`);
  if (!ext.isActive) await ext.activate();
  const commands = await vscode.commands.getCommands(true);
  assert.ok(commands.includes(DOWNLOAD), `${DOWNLOAD} is registered (registerModelCommands wired in activate)`);
}

suite("Hearth models in a real VS Code", () => {
  let server: TestServer;
  let model: Uint8Array;
  /** The storage folder of REPO's files (from the first download). */
  let repoDir = "";

  suiteSetup(async () => {
    server = await startTestServer();
    process.env.HEARTH_HUB_URL = server.origin;
    process.env.HEARTH_ALLOW_HTTP_LOOPBACK = "1";
    model = new Uint8Array(readFileSync(config().model));
  });

  suiteTeardown(async () => {
    delete process.env.HEARTH_HUB_URL;
    delete process.env.HEARTH_ALLOW_HTTP_LOOPBACK;
    await server?.close();
  });

  test("Download Model downloads with progress (resuming after a dropped connection) and ends with the model selected", async () => {
    await activate();
    const half = Math.floor(model.length / 2);
    server.serve(REPO, "stories260K.gguf", { body: model, dropAfter: [half] });
    const outcome = await vscode.commands.executeCommand<DownloadOutcome>(DOWNLOAD, { repo: REPO, file: "stories260K.gguf", role: "completion" });
    console.log(`download outcome: ${JSON.stringify(outcome)}`);
    assert.equal(outcome.status, "downloaded", outcome.message);
    assert.ok(outcome.path, "a path");
    assert.ok(outcome.progressReports > 0, "progress was reported");
    // The client resumes from the bytes it received: at most what the server wrote before the
    // drop (bytes still in flight when the socket broke are lost, more of them on a loaded machine).
    const from = outcome.resumedFrom ?? 0;
    assert.ok(from > 0 && from <= half, `the second attempt resumed from byte ${from} (the server dropped after ${half})`);
    const resumed = server.requests.filter((r) => r.status === 206);
    assert.equal(resumed.length, 1, "one ranged request");
    assert.equal(resumed[0].range, `bytes=${from}-`);
    assert.equal(resumed[0].bodyBytes, model.length - from, "the bytes received before the drop were not sent again");
    assert.equal(sha256Hex(readFileSync(outcome.path)), sha256Hex(model));
    assert.deepEqual(readdirSync(dirname(outcome.path)), ["stories260K.gguf"], "no temporary files left");
    assert.equal(vscode.workspace.getConfiguration("hearth").get("completion.modelPath"), outcome.path, "the model is selected");
    repoDir = dirname(outcome.path);
  });

  test("Download Model of a file already downloaded selects it without downloading again", async () => {
    await activate();
    const before = server.requests.length;
    const outcome = await vscode.commands.executeCommand<DownloadOutcome>(DOWNLOAD, { repo: REPO, file: "stories260K.gguf", role: "completion" });
    assert.equal(outcome.status, "present");
    assert.equal(server.requests.length, before, "no request");
    assert.equal(vscode.workspace.getConfiguration("hearth").get("completion.modelPath"), outcome.path);
  });

  test("a wrong checksum fails with a clear message and leaves nothing in the storage", async () => {
    await activate();
    const selected = vscode.workspace.getConfiguration("hearth").get("completion.modelPath");
    server.serve(REPO, "corrupt.gguf", { body: model, linkedSha256: "0".repeat(64) });
    const outcome = await vscode.commands.executeCommand<DownloadOutcome>(DOWNLOAD, { repo: REPO, file: "corrupt.gguf", role: "completion" });
    assert.equal(outcome.status, "failed");
    assert.match(outcome.message ?? "", /wrong checksum.*temporary file was deleted/);
    assert.ok(repoDir, "the first test found the storage folder");
    const stored = readdirSync(repoDir);
    assert.ok(!stored.some((f) => f.startsWith("corrupt.gguf")), `nothing of corrupt.gguf left: ${stored}`);
    assert.equal(existsSync(join(repoDir, "corrupt.gguf")), false);
    assert.equal(vscode.workspace.getConfiguration("hearth").get("completion.modelPath"), selected, "the selection is unchanged");
  });

  test("offline (the hub's name does not resolve): fails at once, in plain words, with the link to download by hand", async () => {
    await activate();
    process.env.HEARTH_HUB_URL = "https://hub.invalid";
    try {
      const t0 = Date.now();
      const outcome = await vscode.commands.executeCommand<DownloadOutcome>(DOWNLOAD, { repo: REPO, file: "offline.gguf", role: "completion" });
      const ms = Date.now() - t0;
      assert.equal(outcome.status, "failed");
      assert.match(outcome.shown ?? "", /^Hearth could not download offline\.gguf: no internet connection, or hub\.invalid is blocked \(ENOTFOUND\)\./);
      assert.ok(outcome.shown?.includes(`https://hub.invalid/${REPO}/resolve/main/offline.gguf`), `the link to download by hand: ${outcome.shown}`);
      assert.ok(ms < 3000, `failed after ${ms} ms (no backoff retries on a name that does not resolve)`);
    } finally {
      process.env.HEARTH_HUB_URL = server.origin;
    }
  });

  test("an unknown catalogue id is refused without a request", async () => {
    await activate();
    const before = server.requests.length;
    const outcome = await vscode.commands.executeCommand<DownloadOutcome>(DOWNLOAD, "no-such-model");
    assert.equal(outcome.status, "failed");
    assert.match(outcome.message ?? "", /not a model in the catalogue/);
    assert.equal(server.requests.length, before);
  });
});
