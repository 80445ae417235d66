// Chat view steps of the chat UI run (chat-ui.ts calls them with the chat's frame): what a user sees
// of the view itself, measured in the real webview —
//   - a model without a chat template (stories260K) is pointed out once, above its first reply;
//   - long unbroken words wrap, code blocks scroll sideways inside themselves and have the theme's
//     code-block colours (no per-line boxes from VS Code's default <code> style);
//   - a chat taller than the view follows a new question and its streaming reply; scrolling up
//     stops that and offers "Jump to latest", which follows again;
//   - while a reply's prompt is read, its placeholder says "Reading n of m tokens…", and Stop
//     works in that phase.
// Screenshots of the view go to ARTIFACTS (chat-*.png).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Frame, Page } from "playwright-core";
import { ARTIFACTS, openFile, runCommand } from "./server.ts";

type Step = (name: string, body: () => Promise<void>) => Promise<boolean>;

const LONG_WORD = "node_modules/" + "a_very_long_identifier_without_any_break_".repeat(8) + "end";
const LONG_CODE_LINE = "const table = [" + Array.from({ length: 60 }, (_, i) => `"item${i}"`).join(", ") + "];";
const LAYOUT = ["Layout test with a long word:", "", LONG_WORD, "", "```ts", LONG_CODE_LINE, "function f() {", "  return table;", "}", "```", "", "Inline `code` too."].join("\n");
const TALL = Array.from({ length: 80 }, (_, i) => `Paragraph ${i + 1} of a tall reply.`).join("\n\n");

export function writeChatViewFiles(workspace: string): void {
  writeFileSync(join(workspace, "layout.md"), LAYOUT + "\n");
  writeFileSync(join(workspace, "tall.md"), TALL + "\n");
}

const REPLAY = "Hearth: Developer: Stream Editor Text as Chat Reply";

/** The log's scroll geometry. */
function geometry(f: Frame) {
  return f.locator("#log").evaluate((el) => ({ top: el.scrollTop, height: el.scrollHeight, client: el.clientHeight, width: el.scrollWidth, clientWidth: el.clientWidth }));
}

async function atBottom(f: Frame): Promise<boolean> {
  const g = await geometry(f);
  return g.height - g.client - g.top <= 30;
}

/** Waits until the assistant entry `index` has finished (done or stopped). */
async function finished(page: Page, f: Frame, index: number, ms = 60_000): Promise<void> {
  const reply = f.locator("section.entry.assistant").nth(index);
  const end = Date.now() + ms;
  while (!/\b(done|stopped|error)\b/.test((await reply.getAttribute("class")) ?? "")) {
    if (Date.now() > end) throw new Error(`reply ${index} did not finish within ${ms / 1000} s: ${await reply.getAttribute("class")}`);
    await page.waitForTimeout(50);
  }
}

/** Streams a workspace file as a reply (the developer replay) and returns the reply's index. */
async function replay(page: Page, f: Frame, file: string): Promise<number> {
  await openFile(page, file);
  const index = await f.locator("section.entry.assistant").count();
  await runCommand(page, REPLAY);
  await f.locator("section.entry.assistant").nth(index).waitFor({ timeout: 10_000 });
  return index;
}

export async function chatViewSteps(page: Page, f: Frame, step: Step, say: (line: string) => void): Promise<void> {
  await step("UI chat: a model without a chat template is pointed out once, above its first reply", async () => {
    const notices = f.locator("section.entry.assistant .notice:visible");
    const count = await notices.count();
    if (count !== 1) throw new Error(`${count} notices shown (after ${await f.locator("section.entry.assistant").count()} replies)`);
    const first = f.locator("section.entry.assistant").first().locator(".notice");
    const text = (await first.textContent()) ?? "";
    if (!/not a chat model: its file has no chat template.*ChatML/.test(text)) throw new Error(`the first reply's notice: ${JSON.stringify(text)}`);
    say(`notice: ${text}`);
  });

  await step("UI chat: long words wrap; a code block scrolls sideways inside itself, in the theme's code-block colours", async () => {
    const index = await replay(page, f, "layout.md");
    await finished(page, f, index);
    const m = await f.locator("section.entry.assistant").nth(index).evaluate((entry) => {
      const log = document.getElementById("log")!;
      const pre = entry.querySelector("pre")!;
      const code = pre.querySelector("code")!;
      const para = Array.from(entry.querySelectorAll("p")).find((p) => (p.textContent ?? "").startsWith("node_modules/"))!;
      // What the theme's code-block background resolves to, through a probe styled from script.
      const probe = document.createElement("div");
      probe.style.background = "var(--vscode-textCodeBlock-background)";
      document.body.appendChild(probe);
      const themeBg = getComputedStyle(probe).backgroundColor;
      probe.remove();
      return {
        logWidth: log.clientWidth,
        logScrollWidth: log.scrollWidth,
        paraWidth: para.getBoundingClientRect().width,
        paraLines: Math.round(para.getBoundingClientRect().height / parseFloat(getComputedStyle(para).lineHeight)),
        preClient: pre.clientWidth,
        preScroll: pre.scrollWidth,
        preOverflow: getComputedStyle(pre).overflowX,
        preBg: getComputedStyle(pre).backgroundColor,
        codeBg: getComputedStyle(code).backgroundColor,
        themeBg,
      };
    });
    say(`layout: ${JSON.stringify(m)}`);
    if (m.logScrollWidth > m.logWidth) throw new Error(`the log is ${m.logScrollWidth} px wide in a ${m.logWidth} px view`);
    if (m.paraWidth > m.logWidth || m.paraLines < 2) throw new Error(`the long word did not wrap (${m.paraWidth} px, ${m.paraLines} lines)`);
    if (!(m.preScroll > m.preClient) || m.preOverflow !== "auto") throw new Error(`the code block does not scroll inside itself (${m.preScroll}/${m.preClient}, overflow-x ${m.preOverflow})`);
    if (m.codeBg !== "rgba(0, 0, 0, 0)") throw new Error(`code lines have a background of their own: ${m.codeBg}`);
    if (m.preBg !== m.themeBg) throw new Error(`the code block's background ${m.preBg} is not the theme's code-block colour ${m.themeBg}`);
    await f.locator("section.entry.assistant").nth(index).scrollIntoViewIfNeeded();
    await page.locator(".part.sidebar").screenshot({ path: join(ARTIFACTS, "chat-layout.png") });
  });

  await step("UI chat: in a chat taller than the view, a new question and its streaming reply are followed to the bottom", async () => {
    await finished(page, f, await replay(page, f, "tall.md"));
    await f.locator("#log").evaluate((el) => (el.scrollTop = 0));
    const g0 = await geometry(f);
    if (g0.height < 2 * g0.client) throw new Error(`the chat is not taller than the view (${g0.height} of ${g0.client} px)`);
    await f.locator("#input").fill("Tell me about a dog.");
    await f.locator("#input").press("Enter");
    const question = f.locator("section.entry.user", { hasText: "Tell me about a dog." });
    await question.waitFor({ timeout: 10_000 });
    const index = (await f.locator("section.entry.assistant").count()) - 1;
    await finished(page, f, index);
    if (!(await atBottom(f))) throw new Error(`not at the bottom after the reply: ${JSON.stringify(await geometry(f))}`);
    const seen = await question.evaluate((q) => {
      const log = document.getElementById("log")!.getBoundingClientRect();
      const r = q.getBoundingClientRect();
      return { top: r.top, bottom: r.bottom, logTop: log.top, logBottom: log.bottom };
    });
    // A short reply leaves the question in view; a long one at least scrolled past it.
    if (seen.top > seen.logBottom) throw new Error(`the question is below the view: ${JSON.stringify(seen)}`);
    await page.locator(".part.sidebar").screenshot({ path: join(ARTIFACTS, "chat-long-follows.png") });
  });

  await step("UI chat: scrolling up while a reply streams stops following and offers Jump to latest, which follows again", async () => {
    const index = await replay(page, f, "long.md");
    const reply = f.locator("section.entry.assistant").nth(index);
    await reply.locator(".body p").first().waitFor({ timeout: 10_000 });
    for (let i = 0; i < 3; i++) {
      await page.waitForTimeout(200);
      if (!(await atBottom(f))) throw new Error(`the streaming reply is not followed: ${JSON.stringify(await geometry(f))}`);
    }
    await f.locator("#log").hover();
    await page.mouse.wheel(0, -400);
    await f.locator("#jump").waitFor({ state: "visible", timeout: 10_000 });
    const held = (await geometry(f)).top;
    const before = ((await reply.textContent()) ?? "").length;
    await page.waitForTimeout(700);
    const after = await geometry(f);
    const grown = ((await reply.textContent()) ?? "").length;
    if (grown <= before) throw new Error("the reply stopped streaming before the check");
    if (Math.abs(after.top - held) > 2) throw new Error(`the view moved from ${held} to ${after.top} px while the user read above`);
    await page.locator(".part.sidebar").screenshot({ path: join(ARTIFACTS, "chat-jump-to-latest.png") });
    await f.locator("#jump").click();
    await page.waitForTimeout(300);
    if (!(await atBottom(f))) throw new Error(`Jump to latest did not reach the bottom: ${JSON.stringify(await geometry(f))}`);
    if (await f.locator("#jump").isVisible()) throw new Error("the jump button stayed after jumping");
    await page.waitForTimeout(400);
    if (!(await atBottom(f))) throw new Error("not following after the jump");
    if (await f.locator("#stop").isVisible()) await f.locator("#stop").click();
    await finished(page, f, index);
  });

  await step("UI chat: while the prompt is read the reply says 'Reading n of m tokens…'; Stop works in that phase", async () => {
    const index = await replay(page, f, "tall.md");
    const note = f.locator("section.entry.assistant").nth(index).locator(".note");
    await note.filter({ hasText: /Reading [\d,]+ of [\d,]+ tokens/ }).waitFor({ timeout: 10_000 });
    const shown = ((await note.textContent()) ?? "").trim();
    say(`placeholder: ${shown}`);
    await page.locator(".part.sidebar").screenshot({ path: join(ARTIFACTS, "chat-reading-prompt.png") });
    await f.locator("#stop").click();
    await finished(page, f, index, 10_000);
    const reply = f.locator("section.entry.assistant").nth(index);
    const body = ((await reply.locator(".body").textContent()) ?? "").trim();
    const after = ((await note.textContent()) ?? "").trim();
    if (body) throw new Error(`text arrived after Stop in the reading phase: ${JSON.stringify(body.slice(0, 80))}`);
    if (!/\bstopped\b/.test((await reply.getAttribute("class")) ?? "") || after !== "Stopped.") throw new Error(`the reply did not stop: ${await reply.getAttribute("class")}, ${JSON.stringify(after)}`);
  });
}
