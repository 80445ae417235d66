// `npm run test:e2e`: the extension in a real VS Code (code-server from npm, driven by Debian's
// Chromium through playwright-core; see shared/E2E.md).
//   1. The mocha suites (test/e2e/suite) run in code-server's extension host with this checkout as
//      the development extension (page URL payload); then the *.after-reload suites in a new
//      extension host on the same state folder (a window reload: global storage survives).
//   2. The packaged .vsix is installed into a second, fresh code-server, and Playwright drives the
//      UI: the first-run notification (two whole buttons) and the walkthrough it opens, the status
//      bar item and its quick pick of actions (with no model: the ways to get one first), the log (activation time), toggling
//      completion, and "Hearth: Select Model File" through the command palette and VS Code's own
//      file dialog: a bad file is refused with a notification, stories260K loads, status ready.
// Every run starts from fresh state folders; screenshots of failed UI steps and the servers' logs
// go to .vscode-test/artifacts/. Ends with a "N passed, N failed" line and a matching exit code.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, rmSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { format } from "node:util";
import type { Page } from "playwright-core";
import { makeWorkspace, type E2eConfig } from "./workspace.ts";
import { ARTIFACTS, installExtension, killAllServers, launchBrowser, openFile, runCommand, startServer, uiStep, type Server, type UiResult } from "./server.ts";
import { benchModelFile } from "../bench/model-files.ts";
import { chatUiRun } from "./chat-ui.ts";
import { checkRemoteRequests, startRemoteServer } from "./remote-server.ts";

const ROOT = join(__dirname, "..", "..");
const SUITES = join(ROOT, ".vscode-test", "suites");
const WATCHDOG_MS = 420_000;

const results: UiResult[] = [];
let mochaCounts = { passed: 0, failed: 0 };

function say(line: string): void {
  process.stdout.write(`[e2e] ${line}\n`);
}

function step(page: Page, name: string, body: () => Promise<void>): Promise<boolean> {
  return uiStep(results, page, name, body, say);
}

const statusItem = (page: Page, text: RegExp) => page.locator("#workbench\\.parts\\.statusbar .statusbar-item", { hasText: text }).first();

/**
 * Phase 1: mocha suites in the extension host, run from the bundle `entry` (index.js; then
 * after-reload.js on the same state, as after a window reload). (The host stops when the suites
 * end, so the UI checks are in phase 2, where the extension stays.)
 */
async function devExtensionRun(base: string, workspace: string, entry: string): Promise<void> {
  const server = await startServer(join(base, "dev"), workspace);
  const context = await launchBrowser(join(base, "chromium-dev")).catch(async (err) => {
    await server.stop();
    throw err;
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    let exited: (code: number) => void = () => {};
    const exit = new Promise<number>((resolve) => (exited = resolve));
    let counts = { passed: 0, failed: 0 };
    await page.exposeFunction("codeAutomationExit", (code: number) => exited(code));
    await page.exposeFunction("codeAutomationLog", (_type: string, args: unknown[]) => {
      const line = format(...(Array.isArray(args) ? args : [args]));
      const m = /^mocha: (\d+) passed, (\d+) failed$/m.exec(line);
      if (m) counts = { passed: Number(m[1]), failed: Number(m[2]) };
      for (const l of line.split("\n")) process.stdout.write(`  [host] ${l}\n`);
    });
    const remote = (p: string) => `vscode-remote://127.0.0.1:${server.port}${p}`;
    const payload = [
      ["extensionDevelopmentPath", remote(ROOT)],
      ["extensionTestsPath", remote(join(SUITES, entry))],
    ];
    say(`mocha suites of ${entry} in code-server's extension host (${server.url})`);
    await page.goto(`${server.url}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`);
    const code = await Promise.race([exit, new Promise<number>((r) => setTimeout(() => r(-1), 150_000))]);
    if (code === -1) say("✖ the mocha run did not finish within 150 s");
    if (code !== 0 && counts.failed === 0) counts.failed = 1;
    mochaCounts = { passed: mochaCounts.passed + counts.passed, failed: mochaCounts.failed + counts.failed };
    if (code !== 0) await page.screenshot({ path: join(ARTIFACTS, `mocha-run-${entry.replace(/\.js$/, "")}.png`) }).catch(() => {});

  } finally {
    await context.close().catch(() => {});
    await server.stop();
    copyFileSync(server.log, join(ARTIFACTS, `code-server-dev-${entry.replace(/\.js$/, "")}.log`));
  }
}

/** Phase 2: the packaged extension, installed from its .vsix, driven only through the UI. */
async function packagedRun(base: string, workspace: string, config: E2eConfig): Promise<void> {
  const vsix = join(base, "hearth.vsix");
  const r = spawnSync(join(ROOT, "node_modules", ".bin", "vsce"), ["package", "--no-dependencies", "--out", vsix], { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`vsce package failed: ${r.stdout}${r.stderr}`);
  const state = join(base, "vsix");
  installExtension(state, vsix);
  let server: Server | undefined;
  const context = await launchBrowser(join(base, "chromium-vsix"));
  try {
    server = await startServer(state, workspace);
    const page = context.pages()[0] ?? (await context.newPage());
    say(`packaged extension in code-server (${server.url})`);
    await page.goto(`${server.url}/?folder=${encodeURIComponent(workspace)}`);
    await page.locator(".monaco-workbench").waitFor({ timeout: 60_000 });
    const ok = await step(page, "UI (vsix): the installed extension activates and its status bar item says no model", async () => {
      await statusItem(page, /Hearth: no model/).waitFor({ state: "visible", timeout: 30_000 });
    });
    if (!ok) return;
    await step(page, "UI (vsix): the welcome notification offers two whole choices; Get Started opens the walkthrough", async () => {
      const toast = page.locator(".notifications-toasts .notification-toast", { hasText: "needs one to start" }).first();
      await toast.waitFor({ timeout: 20_000 });
      const buttons = await toast.locator(".monaco-button").evaluateAll((els) => els.map((b) => ({ text: (b.textContent ?? "").trim(), cut: b.scrollWidth > b.clientWidth + 1 })));
      say(`welcome: ${JSON.stringify(((await toast.locator(".notification-list-item-message").textContent()) ?? "").trim())}, buttons ${JSON.stringify(buttons)}`);
      if (buttons.map((b) => b.text).join(" | ") !== "Get Started | Use a File on Disk…") throw new Error(`buttons: ${JSON.stringify(buttons)}`);
      if (buttons.some((b) => b.cut)) throw new Error(`a button's label is cut off: ${JSON.stringify(buttons)}`);
      await page.screenshot({ path: join(ARTIFACTS, "first-run-welcome.png") });
      await toast.locator(".monaco-button", { hasText: "Get Started" }).click();
      const walkthrough = page.locator(".gettingStartedContainer", { hasText: "Get Started with Hearth" }).first();
      const opened = await walkthrough.waitFor({ timeout: 15_000 }).then(() => true, () => false);
      if (!opened) {
        // VS Code for the Web opens its own "Setup VS Code Web" walkthrough on a first start, and
        // it can replace ours in the one Welcome editor: ask once more through the palette.
        say(`walkthrough shown after Get Started: ${JSON.stringify(await page.locator(".tab.active").first().textContent())}; closing it and opening ours with Hearth: Get Started`);
        await runCommand(page, "View: Close All Editors");
        await page.locator(".tab.active").waitFor({ state: "detached", timeout: 10_000 }).catch(() => {});
        await runCommand(page, "Hearth: Get Started");
        await walkthrough.waitFor({ timeout: 15_000 });
      }
      for (const title of ["Get a model", "Try ghost text", "Open the chat"]) await walkthrough.locator(".getting-started-step", { hasText: title }).first().waitFor({ timeout: 10_000 });
      const links = walkthrough.locator(".getting-started-step.expanded").locator(".monaco-button, .button-link");
      await links.filter({ hasText: "Download SmolLM3 3B" }).first().waitFor({ timeout: 10_000 });
      const cut = await links.evaluateAll((els) => els.filter((b) => b.scrollWidth > b.clientWidth + 1 || b.getBoundingClientRect().right > (b.closest(".getting-started-step")?.getBoundingClientRect().right ?? Infinity)).map((b) => b.textContent));
      if (cut.length) throw new Error(`walkthrough buttons cut off: ${JSON.stringify(cut)}`);
      await page.waitForTimeout(500); // the step's page (markdown) fades in
      await page.screenshot({ path: join(ARTIFACTS, "first-run-walkthrough.png") });
      await runCommand(page, "View: Close All Editors");
    });
    await step(page, "UI (vsix): with no model, the status bar's actions start with the ways to get one; Show Log shows the activation time", async () => {
      await statusItem(page, /Hearth:/).click();
      const rows = page.locator(".quick-input-widget .monaco-list-row");
      for (const label of ["Download a Model", "Use a GGUF File on Disk", "Disable Inline Completion", "Show Log"]) await rows.filter({ hasText: label }).first().waitFor({ timeout: 10_000 });
      const labels = (await rows.locator(".label-name").allTextContents()).map((l) => l.trim());
      say(`actions with no model: ${JSON.stringify(labels)}`);
      if (!/^Download a Model/.test(labels[0] ?? "") || !/^Use a GGUF File on Disk/.test(labels[1] ?? "")) throw new Error(`the first actions are ${JSON.stringify(labels.slice(0, 2))}`);
      await page.screenshot({ path: join(ARTIFACTS, "first-run-actions.png") });
      await rows.filter({ hasText: "Show Log" }).first().click();
      const line = page.locator(".part.panel .view-line", { hasText: "Hearth activated in" }).first();
      await line.waitFor({ timeout: 10_000 });
      const text = ((await line.textContent()) ?? "").replace(/\u00a0/g, " ");
      say(`log of the packaged extension: ${text.trim()}`);
    });
    await step(page, "UI (vsix): Disable Inline Completion from the status bar's actions; the item says so", async () => {
      await statusItem(page, /Hearth:/).click();
      await page.locator(".quick-input-widget .monaco-list-row", { hasText: "Disable Inline Completion" }).first().click();
      await statusItem(page, /\(completion off\)/).waitFor({ state: "visible", timeout: 10_000 });
      await runCommand(page, "Hearth: Toggle Inline Completion");
      await statusItem(page, /Hearth: no model$/).waitFor({ state: "visible", timeout: 10_000 });
    });
    const chooseInDialog = async (path: string) => {
      await runCommand(page, "Hearth: Select Model File");
      // VS Code's own (simple) file dialog: a quick input holding a path.
      const input = page.locator(".quick-input-widget .quick-input-box input");
      await page.locator(".quick-input-widget", { hasText: "choose a GGUF model file" }).waitFor({ timeout: 10_000 });
      // Wait until it has listed the folder: it fills in the folder's path then, over our text.
      await page.locator(".quick-input-widget .monaco-list-row", { hasText: "hello.txt" }).first().waitFor({ timeout: 10_000 });
      await input.fill(path);
      await page.waitForTimeout(300); // the dialog completes the path as you type
      await input.press("Enter");
    };
    await step(page, "UI (vsix): Select Model File refuses a file that is not GGUF, with a notification", async () => {
      await chooseInDialog(config.badFile);
      // A plain sentence first, the reader's exact message after it.
      await page.locator(".notifications-toasts", { hasText: "Hearth: This is not a GGUF model file. (" }).first().waitFor({ timeout: 15_000 });
      await page.locator(".notifications-toasts .monaco-button", { hasText: "Choose Another File" }).first().waitFor({ timeout: 5_000 });
      await page.keyboard.press("Escape");
    });
    await step(page, "UI (vsix): Select Model File with stories260K loads it and the status bar says ready", async () => {
      await chooseInDialog(config.model);
      await statusItem(page, /Hearth: ready/).waitFor({ state: "visible", timeout: 30_000 });
    });
    await step(page, "UI (vsix): a cold completion on a Qwen2.5-Coder-0.5B-shaped model shows 'reading file… n%' in the status bar", async () => {
      // The bench's random-weight file of that shape (written once into the bench cache): its
      // prompt speed makes the cold case take seconds, as a user's first suggestion does.
      const model = benchModelFile("qwen2.5-coder-0.5b", say);
      // The file ends in the line being written: one key then asks for the first suggestion. (Typing
      // the whole line instead let the keys' own cancelled requests read most of the window first,
      // on a fast enough machine: the last request then had too little left to announce.)
      writeFileSync(join(workspace, "cold.ts"), Array.from({ length: 200 }, (_, i) => `export const value${i} = compute(${i}, "item ${i}");`).join("\n") + "\nexport const next =");
      // The cold case is the subject: with pre-warm on, a quiet machine reads the opened file's
      // first window before the first key (then the key evaluates a token or two and there is
      // nothing to show), a busy one does not; this step wants the key to read it.
      const settingsFile = join(workspace, ".vscode", "settings.json");
      writeFileSync(settingsFile, JSON.stringify({ ...JSON.parse(readFileSync(settingsFile, "utf8")), "hearth.completion.prewarm": false }, null, 2));
      await chooseInDialog(model);
      // stories260K (the step before) is ready until this model's load starts: wait for the load.
      // Two CI runs of nine saw no "loading" here within 30 s (the cause not seen): say what the
      // status bar shows then and go on (a model that never loads fails the steps below).
      const loading = await statusItem(page, /Hearth: loading/).waitFor({ state: "visible", timeout: 30_000 }).then(() => true, () => false);
      if (!loading) {
        const items = await page.locator("#workbench\\.parts\\.statusbar .statusbar-item").allTextContents();
        say(`no "loading" in the status bar 30 s after choosing ${model}; its items: ${JSON.stringify(items.map((t) => t.trim()).filter(Boolean))}`);
      }
      await statusItem(page, /Hearth: ready/).waitFor({ state: "visible", timeout: 60_000 });
      await openFile(page, "cold.ts");
      await page.locator(".editor-instance .monaco-editor textarea").first().focus();
      await page.keyboard.press("Control+End");
      // Keys typed the moment the editor opens reach it before VS Code's inline-suggest controller
      // is attached, and no provider is asked (the extension-host suites saw it 3 runs of 3).
      await page.waitForTimeout(1000);
      await page.keyboard.type(" ");
      const reading = statusItem(page, /Hearth: reading file… \d+%/);
      // On a loaded machine the editor may attach its inline-suggest controller after the keys
      // (then no provider is asked): after 5 s ask for a suggestion explicitly, as the suites do.
      if (!(await reading.waitFor({ state: "visible", timeout: 5_000 }).then(() => true, () => false))) {
        say("no request 5 s after typing: Trigger Inline Suggestion");
        await runCommand(page, "Trigger Inline Suggestion");
        await reading.waitFor({ state: "visible", timeout: 30_000 });
      }
      // What the item says, at once: the first prompt of a file is sized to a few seconds of this
      // machine (often one batch), so the reading may end soon after it shows.
      const text = await reading.textContent({ timeout: 2_000 }).catch(() => "(the reading had ended)");
      const label = await reading.getAttribute("aria-label", { timeout: 2_000 }).catch(() => "");
      await page.screenshot({ path: join(ARTIFACTS, "status-bar-cold-completion.png") });
      await page.locator("#workbench\\.parts\\.statusbar").screenshot({ path: join(ARTIFACTS, "status-bar-cold-completion-bar.png") });
      say(`status bar during the cold completion: ${JSON.stringify((text ?? "").trim())} (${label})`);
      const tip = await reading.hover({ timeout: 2_000 }).then(
        async () => {
          const tooltip = page.locator(".monaco-hover, .workbench-hover", { hasText: "tokens" }).first(); // its tooltip has the token counts
          return tooltip.waitFor({ timeout: 5_000 }).then(async () => (await tooltip.textContent()) ?? "", () => "(no tooltip shown)");
        },
        () => "(the reading ended before the hover)",
      );
      say(`its tooltip: ${JSON.stringify(tip.trim())}`);
      await page.keyboard.press("Escape");
    });
  } finally {
    await context.close().catch(() => {});
    if (server) {
      await server.stop();
      copyFileSync(server.log, join(ARTIFACTS, "code-server-vsix.log"));
    }
  }
}

async function main(): Promise<number> {
  const started = Date.now();
  rmSync(ARTIFACTS, { recursive: true, force: true });
  mkdirSync(ARTIFACTS, { recursive: true });
  if (!existsSync(join(SUITES, "index.js"))) throw new Error("e2e suites are not built: run npm run build:e2e");
  if (!existsSync(join(ROOT, "dist", "extension.js"))) throw new Error("the extension is not built: run npm run build");
  const { base, workspace, config } = await makeWorkspace(ROOT);
  say(`state folder ${base}`);
  // The server of the remote-engine suite (remote.e2e.ts), here outside the extension host.
  const { server: inference, remote } = await startRemoteServer(config.model);
  writeFileSync(join(workspace, "e2e.json"), JSON.stringify({ ...JSON.parse(readFileSync(join(workspace, "e2e.json"), "utf8")), remote }, null, 2));
  say(`inference server for the remote-engine suite: ${remote.url} (stories260K, OpenAI-style routes)`);
  try {
    await devExtensionRun(base, workspace, "index.js");
    const t0 = Date.now();
    try {
      for (const line of checkRemoteRequests(inference, remote)) say(line);
      results.push({ name: "remote engine: the server got the remote roles' requests only", ok: true, ms: Date.now() - t0 });
    } catch (err) {
      say(`✖ remote engine: ${(err as Error).message}`);
      results.push({ name: "remote engine: the server got the remote roles' requests only", ok: false, ms: Date.now() - t0 });
    }
    await devExtensionRun(base, workspace, "after-reload.js");
    // HEARTH_E2E_ONLY=mocha: the extension-host suites alone (quicker while working on them).
    if (process.env.HEARTH_E2E_ONLY !== "mocha") {
      await packagedRun(base, workspace, config);
      results.push(...(await chatUiRun(base, workspace, config)));
    }
  } finally {
    await inference.close().catch(() => {});
    rmSync(base, { recursive: true, force: true });
  }
  const passed = mochaCounts.passed + results.filter((r) => r.ok).length;
  const failed = mochaCounts.failed + results.filter((r) => !r.ok).length;
  say(`done in ${((Date.now() - started) / 1000).toFixed(1)} s (mocha in the extension host: ${mochaCounts.passed} passed, ${mochaCounts.failed} failed; UI steps: ${results.length})`);
  if (failed > 0) say(`artefacts: ${ARTIFACTS}`);
  process.stdout.write(`e2e: ${passed} passed, ${failed} failed\n`);
  return failed === 0 && passed > 0 ? 0 : 1;
}

const watchdog = setTimeout(() => {
  say(`✖ the e2e run took longer than ${WATCHDOG_MS / 1000} s: giving up`);
  killAllServers();
  process.stdout.write("e2e: 0 passed, 1 failed\n");
  process.exit(1);
}, WATCHDOG_MS);
watchdog.unref();
// code-server runs in its own process group: stop it too if this runner is interrupted.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    killAllServers();
    process.exit(130);
  });
}

main().then(
  (code) => process.exit(code),
  (err) => {
    say(`✖ ${(err as Error).stack ?? err}`);
    process.stdout.write("e2e: 0 passed, 1 failed\n");
    process.exit(1);
  },
);
