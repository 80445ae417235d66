// The chat in a real VS Code (code-server + Debian's Chromium, see shared/E2E.md), driven only
// through the UI: the Hearth activity-bar view streams a reply from the real engine
// (stories260K), Explain Selection from the command palette puts a request naming the file,
// language and code in the chat and streams the answer, the Stop button halts a streaming reply,
// hostile markdown streamed through the reply path stays inert (nothing injected, nothing runs),
// and a screenshot of the view goes to /tmp/hearth-chat.png.
// The extension runs from this checkout as the development extension (page URL payload), so its
// developer-only replay command exists. Run: node --import tsx test/e2e/chat-ui.ts (after
// npm run build); `chatUiRun` is what a larger runner calls.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Frame, Page } from "playwright-core";
import { makeWorkspace, type E2eConfig } from "./workspace.ts";
import { ARTIFACTS, killAllServers, launchBrowser, openFile, runCommand, startServer, uiStep, type UiResult } from "./server.ts";
import { chatViewSteps, writeChatViewFiles } from "./chat-view-ui.ts";

const ROOT = join(__dirname, "..", "..");
export const SCREENSHOT = "/tmp/hearth-chat.png";
const EXT = "hearth-dev.hearth";

const HOSTILE = [
  "Hostile reply test.",
  "",
  `<img src=x onerror="window.__pwned = 'img'">`,
  "",
  `<script>window.__pwned = 'script'</script>`,
  "",
  `[click me](javascript:window.__pwned='link') and <a href="javascript:window.__pwned='a'">raw link</a>`,
  "",
  `<iframe src="https://evil.example"></iframe> <b onmouseover="window.__pwned='b'">bold?</b>`,
  "",
  "![pixel](https://evil.example/p.png)",
  "",
  "```html",
  `<img src=y onerror="window.__pwned='fence'">`,
  "```",
].join("\n");

function say(line: string): void {
  process.stdout.write(`[e2e chat] ${line}\n`);
}

/** The chat page's frame (webview → #active-frame), once it is there. */
async function chatFrame(page: Page): Promise<Frame> {
  const outer = page.locator(`iframe.webview.ready[src*="extensionId=${EXT}"]`).first();
  await outer.waitFor({ state: "attached", timeout: 30_000 });
  const outerFrame = await (await outer.elementHandle())!.contentFrame();
  const inner = outerFrame!.locator("#active-frame");
  await inner.waitFor({ state: "attached", timeout: 30_000 });
  const frame = await (await inner.elementHandle())!.contentFrame();
  await frame!.locator("#input").waitFor({ timeout: 30_000 });
  return frame!;
}

const lastReply = (f: Frame) => f.locator("section.entry.assistant").last();
const text = async (f: Frame, sel = "section.entry.assistant") => ((await f.locator(sel).last().locator(".body").textContent()) ?? "").trim();

export async function chatUiRun(base: string, workspace: string, config: E2eConfig): Promise<UiResult[]> {
  const results: UiResult[] = [];
  const state = join(base, "chat-ui");
  // The model is a machine-scoped setting: user settings, as "Select Model File" would write.
  mkdirSync(join(state, "user-data", "User"), { recursive: true });
  writeFileSync(join(state, "user-data", "User", "settings.json"), JSON.stringify({ "hearth.completion.modelPath": config.model, "hearth.completion.enabled": false }));
  const settingsPath = join(workspace, ".vscode", "settings.json");
  const settings = JSON.parse(readFileSync(settingsPath, "utf8"));
  writeFileSync(settingsPath, JSON.stringify({ ...settings, "hearth.chat.temperature": 0, "hearth.chat.maxTokens": 200 }, null, 2));
  writeFileSync(join(workspace, "sample.ts"), "export function add(a: number, b: number): number {\n  return a + b;\n}\n");
  writeFileSync(join(workspace, "hostile.md"), HOSTILE + "\n");
  writeFileSync(join(workspace, "long.md"), "This reply goes on and on. ".repeat(400) + "\n");
  writeChatViewFiles(workspace);

  const server = await startServer(state, workspace);
  const context = await launchBrowser(join(base, "chromium-chat"));
  const page = context.pages()[0] ?? (await context.newPage());
  const step = (name: string, body: () => Promise<void>): Promise<boolean> => uiStep(results, page, name, body, say, "chat-");

  try {
    const payload = [["extensionDevelopmentPath", `vscode-remote://127.0.0.1:${server.port}${ROOT}`]];
    await page.goto(`${server.url}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`);
    await page.locator(".monaco-workbench").waitFor({ timeout: 60_000 });
    let frame: Frame | undefined;
    const opened = await step("UI chat: the Hearth activity-bar item opens the chat view", async () => {
      await page.locator('.activitybar .action-item a[aria-label="Hearth"], .activitybar .action-label[aria-label="Hearth"]').first().click({ timeout: 30_000 });
      frame = await chatFrame(page);
      await frame.locator(".empty").waitFor({ timeout: 10_000 });
    });
    if (!opened || !frame) return results;
    const f = frame;

    await step("UI chat: a message streams a reply from the real engine", async () => {
      // Every change of the reply's text, as the page saw it: streaming means many, not one.
      await f.evaluate(() => {
        const w = window as unknown as { __lengths: number[] };
        w.__lengths = [];
        new MutationObserver(() => {
          const replies = document.querySelectorAll("section.entry.assistant .body");
          const last = replies[replies.length - 1];
          if (last) w.__lengths.push((last.textContent ?? "").length);
        }).observe(document.getElementById("log")!, { subtree: true, childList: true, characterData: true });
      });
      await f.locator("#input").fill("Tell me a story about a cat.");
      await f.locator("#input").press("Enter");
      await f.locator("section.entry.user .body", { hasText: "Tell me a story about a cat." }).waitFor({ timeout: 10_000 });
      // Streaming: the reply shows text before it has finished (Stop button visible meanwhile).
      const lengths: number[] = [];
      const end = Date.now() + 60_000;
      while (Date.now() < end) {
        lengths.push((await text(f)).length);
        const cls = (await lastReply(f).getAttribute("class")) ?? "";
        if (/\b(done|stopped|error)\b/.test(cls)) break;
        await page.waitForTimeout(30);
      }
      const cls = (await lastReply(f).getAttribute("class")) ?? "";
      const final = await text(f);
      const seen = await f.evaluate(() => [...new Set((window as unknown as { __lengths: number[] }).__lengths)].filter((n) => n > 0));
      say(`reply (${cls}): ${JSON.stringify(final.slice(0, 120))}; the page showed ${seen.length} growing lengths of it: ${seen.slice(0, 12).join(", ")}…`);
      if (seen.length < 3) throw new Error(`the reply did not stream (lengths shown: ${seen.join(", ")})`);
      if (!/\bdone\b/.test(cls)) throw new Error(`the reply ended as "${cls}": ${await lastReply(f).locator(".note").textContent()}`);
      if (final.length < 10) throw new Error(`reply too short: ${JSON.stringify(final)}`);
      if (!(await f.locator("#send").isVisible())) throw new Error("Send is back after the reply");
    });

    await step("UI chat: Explain Selection from the palette asks about the selected code and streams an answer", async () => {
      await openFile(page, "sample.ts");
      await page.locator(".editor-instance .monaco-editor .view-lines").first().click();
      await page.keyboard.press("Control+A");
      await runCommand(page, "Hearth: Explain Selection");
      const request = f.locator("section.entry.user").last();
      await request.locator(".body", { hasText: "sample.ts" }).waitFor({ timeout: 15_000 });
      const body = (await request.locator(".body").textContent()) ?? "";
      for (const needle of ["Explain this typescript code", "sample.ts", "lines 1–3", "export function add(a: number, b: number): number", "return a + b;"]) {
        if (!body.includes(needle)) throw new Error(`the request lacks ${JSON.stringify(needle)}: ${body}`);
      }
      const answerEntry = f.locator("section.entry.assistant").nth(1);
      const until = Date.now() + 60_000;
      while (!/\b(done|stopped)\b/.test((await answerEntry.getAttribute("class")) ?? "")) {
        if (Date.now() > until) throw new Error(`no finished answer: ${await answerEntry.getAttribute("class")}`);
        await page.waitForTimeout(50);
      }
      const answer = await text(f);
      if (answer.length < 10) throw new Error(`no answer: ${JSON.stringify(answer)}`);
      say(`explain answer: ${JSON.stringify(answer.slice(0, 100))}`);
      await page.locator(".part.sidebar").screenshot({ path: SCREENSHOT });
      say(`screenshot of the view: ${SCREENSHOT}`);
    });

    await step("UI chat: the Stop button halts a streaming reply", async () => {
      await openFile(page, "long.md");
      const before = await f.locator("section.entry.assistant").count();
      await runCommand(page, "Hearth: Developer: Stream Editor Text as Chat Reply");
      await f.locator("section.entry.assistant").nth(before).waitFor({ timeout: 10_000 });
      await f.locator("#stop").waitFor({ state: "visible", timeout: 10_000 });
      await page.waitForTimeout(300);
      await f.locator("#stop").click();
      await f.locator("section.entry.assistant.stopped").last().waitFor({ timeout: 10_000 });
      const stopped = (await text(f)).length;
      await page.waitForTimeout(500);
      if ((await text(f)).length !== stopped) throw new Error("text kept coming after Stop");
      if (stopped >= ("This reply goes on and on. ".repeat(400)).trim().length) throw new Error("the reply had already finished");
      if (!(await f.locator("#send").isVisible())) throw new Error("Send is back after Stop");
    });

    await step("UI chat: hostile markdown in a reply is inert (no script, no handler, no image, no javascript: link)", async () => {
      await openFile(page, "hostile.md");
      // The replay reads the extension host's active editor, which follows the tab a moment later
      // (seen once: an empty replay, the editor not yet known): wait until the editor shows the
      // file and has the focus.
      await page.locator(".editor-instance .monaco-editor .view-lines", { hasText: "Hostile reply test." }).first().click();
      await page.waitForTimeout(300);
      const before = await f.locator("section.entry.assistant").count();
      await runCommand(page, "Hearth: Developer: Stream Editor Text as Chat Reply");
      const reply = f.locator("section.entry.assistant").nth(before);
      await reply.waitFor({ timeout: 10_000 });
      const end = Date.now() + 20_000;
      while (!/\bdone\b/.test((await reply.getAttribute("class")) ?? "")) {
        if (Date.now() > end) throw new Error(`the replay did not finish: ${await reply.getAttribute("class")}`);
        await page.waitForTimeout(50);
      }
      // Hovering only gives a smuggled onmouseover a chance to run; the checks below are what
      // count (seen once: the hover timed out in CI), so a failed hover is logged, not fatal.
      await reply.hover({ timeout: 5_000 }).catch((err: Error) => say(`hover over the reply failed: ${err.message.split("\n")[0]}`));
      await reply.locator("text=bold?").hover({ timeout: 5_000 }).catch(() => {});
      await page.waitForTimeout(300);
      const report = await f.evaluate(() => {
        const log = document.getElementById("log")!;
        const all = Array.from(log.querySelectorAll("*"));
        return {
          pwned: (window as unknown as { __pwned?: string }).__pwned ?? null,
          bad: all.filter((e) => ["SCRIPT", "IMG", "IFRAME", "OBJECT", "EMBED", "SVG", "STYLE", "FORM", "INPUT"].includes(e.tagName)).map((e) => e.tagName),
          handlers: all.flatMap((e) => Array.from(e.attributes).filter((a) => /^on/i.test(a.name)).map((a) => `${e.tagName}.${a.name}`)),
          links: Array.from(log.querySelectorAll("a")).map((a) => a.getAttribute("href")),
          // VS Code adds its own script to every webview page; ours is the one from dist/chat.js.
          scripts: Array.from(document.scripts).filter((x) => x.src.endsWith("/chat.js")).length,
          text: log.querySelectorAll("section.entry.assistant")[log.querySelectorAll("section.entry.assistant").length - 1].textContent,
        };
      });
      say(`hostile check: ${JSON.stringify({ ...report, text: report.text?.slice(0, 160) })}`);
      if (report.pwned) throw new Error(`hostile code ran: ${report.pwned}`);
      if (report.bad.length) throw new Error(`injected elements: ${report.bad.join(", ")}`);
      if (report.handlers.length) throw new Error(`event handlers: ${report.handlers.join(", ")}`);
      if (report.links.some((h) => !/^(https?:|mailto:)/i.test(h ?? ""))) throw new Error(`unsafe links: ${report.links.join(", ")}`);
      if (report.scripts !== 1) throw new Error(`${report.scripts} copies of our script in the page`);
      if (!report.text?.includes(`<img src=x onerror="window.__pwned = 'img'">`)) throw new Error("the hostile HTML is not shown as text");
    });

    await chatViewSteps(page, f, step, say);

    await step("UI chat: New Chat clears the view; the history survives a reload of the window", async () => {
      const count = await f.locator("section.entry").count();
      // The browser's storage writes workspaceState to IndexedDB shortly after an update; a reload
      // at once can race the last one (the previous step's reply ends just now).
      await page.waitForTimeout(2000);
      await page.reload();
      await page.locator(".monaco-workbench").waitFor({ timeout: 60_000 });
      const again = await chatFrame(page).catch(async () => {
        await page.locator('.activitybar .action-item a[aria-label="Hearth"], .activitybar .action-label[aria-label="Hearth"]').first().click({ timeout: 30_000 });
        return chatFrame(page);
      });
      await again.locator("section.entry").nth(count - 1).waitFor({ timeout: 20_000 });
      if ((await again.locator("section.entry").count()) !== count) throw new Error("history not restored whole");
      await again.locator("#new-chat").click();
      await again.locator(".empty").waitFor({ timeout: 10_000 });
    });
  } finally {
    await context.close().catch(() => {});
    await server.stop();
  }
  return results;
}

async function main(): Promise<number> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const { base, workspace, config } = await makeWorkspace(ROOT);
  try {
    const results = await chatUiRun(base, workspace, config);
    const failed = results.filter((r) => !r.ok).length;
    process.stdout.write(`e2e chat UI: ${results.length - failed} passed, ${failed} failed\n`);
    return failed === 0 && results.length > 0 ? 0 : 1;
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const watchdog = setTimeout(() => {
    say("✖ took longer than 300 s: giving up");
    killAllServers();
    process.exit(1);
  }, 300_000);
  watchdog.unref();
  main().then(
    (code) => process.exit(code),
    (err) => {
      say(`✖ ${(err as Error).stack ?? err}`);
      killAllServers();
      process.exit(1);
    },
  );
}
