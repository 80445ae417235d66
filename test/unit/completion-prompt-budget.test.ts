// The completion prompt sized to the machine (issue 14 item 1), as pure rules: the speed
// estimate (assumed from the model's shape, then measured), what a request may newly evaluate
// within the target, the window a request keeps or shrinks to, and the pre-warm's growth steps.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  affordableTokens,
  budgetsWithin,
  foregroundWindow,
  grownWindow,
  MIN_PROMPT_TOKENS,
  PromptBudget,
  PromptSpeed,
  TARGET_MS,
  totalOf,
} from "../../src/completion/prompt-budget.ts";

const CONFIGURED = { prefix: 1024, suffix: 64, extra: 512 };
const FULL = totalOf(CONFIGURED);
/** Qwen2.5-Coder-0.5B's blocks: 24 layers of 896 wide, 14 query and 2 key/value heads of 64, feed-forward 4864. */
const QWEN_05B_MACS = 24 * 896 * (2 * 14 * 64 + 2 * 2 * 64 + 3 * 4864);

test("before any measurement the speed is assumed from the model's shape: a 0.5B model gets a first prompt of a few seconds, not 1,600 tokens", () => {
  const speed = PromptSpeed.forModel({ macsPerToken: QWEN_05B_MACS });
  assert.equal(speed.isMeasured, false);
  assert.ok(speed.tokensPerSecond > 10 && speed.tokensPerSecond < 40, `${speed.tokensPerSecond} tok/s`);
  const first = foregroundWindow(FULL, FULL, 1060, affordableTokens(speed.tokensPerSecond));
  assert.ok(first <= 96, `a ${first}-token first window`);
  assert.ok((first / speed.tokensPerSecond) * 1000 <= TARGET_MS + 1000, "evaluated within about the target");
  // A model six times the size is assumed six times slower: its window is the minimum.
  const big = PromptSpeed.forModel({ macsPerToken: 6 * QWEN_05B_MACS });
  assert.equal(affordableTokens(big.tokensPerSecond), MIN_PROMPT_TOKENS);
});

test("the measured speed replaces the assumption; samples of a few tokens (fixed costs) and cancelled prompts (no time) are ignored", () => {
  const speed = PromptSpeed.forModel({});
  speed.observe(3, 200); // a keystroke: 15 tok/s, but mostly the request's fixed cost
  speed.observe(500, 0); // cancelled during its prompt: no time reported
  assert.equal(speed.isMeasured, false);
  speed.observe(300, 1000);
  assert.equal(speed.tokensPerSecond, 300);
  speed.observe(100, 1000); // the machine got busy: followed, smoothed
  assert.ok(speed.tokensPerSecond < 300 && speed.tokensPerSecond > 100, `${speed.tokensPerSecond}`);
});

test("affordable tokens: speed × target, on a 32-token grid (close estimates give the same window), never below the minimum", () => {
  assert.equal(affordableTokens(100, 2500), 224);
  assert.equal(affordableTokens(101, 2500), 224);
  assert.equal(affordableTokens(1, 2500), MIN_PROMPT_TOKENS);
  assert.equal(affordableTokens(10_000, 2500), 24_992);
});

test("a request keeps its document's window while what it evaluates anew fits; a cold prompt shrinks to what fits", () => {
  // A keystroke in a window that is cached: kept, even if it is bigger than a cold request could afford.
  assert.equal(foregroundWindow(FULL, 1024, 2, 64), 1024);
  // A newly opened file (nothing cached): the whole window must fit the target.
  assert.equal(foregroundWindow(FULL, FULL, 1200, 64), 64);
  // A small file fits as it is: the configured window, no shrinking needed.
  assert.equal(foregroundWindow(FULL, FULL, 40, 64), FULL);
  // A fast machine: nothing to shrink.
  assert.equal(foregroundWindow(FULL, FULL, 1200, 5000), FULL);
  // A lowered setting applies at once.
  assert.equal(foregroundWindow(512, 1024, 2, 64), 512);
});

test("the pre-warm grows a window in steps of at most double (or one request's worth) up to the configured size, then stops", () => {
  const steps: number[] = [];
  for (let w: number | undefined = 64; w !== undefined; w = grownWindow(FULL, w, 64)) steps.push(w);
  assert.deepEqual(steps, [64, 128, 256, 512, 1024, FULL]);
  assert.equal(grownWindow(FULL, 32, 200), 232, "a window smaller than one request's worth grows by that");
});

test("budgets within a window: the prefix first, the suffix at most a quarter, other files' context only with what is left", () => {
  assert.deepEqual(budgetsWithin(CONFIGURED, 64), { prefix: 48, suffix: 16, extra: 0 });
  assert.deepEqual(budgetsWithin(CONFIGURED, 1024), { prefix: 960, suffix: 64, extra: 0 });
  assert.deepEqual(budgetsWithin(CONFIGURED, 1280), { prefix: 1024, suffix: 64, extra: 192 });
  assert.deepEqual(budgetsWithin(CONFIGURED, 5000), CONFIGURED);
});

test("per document: a keystroke's prompt is mostly cached (the window stays), a slid window is not (it shrinks); another model forgets the windows", async () => {
  const b = new PromptBudget();
  const speed = b.speedOf({ path: "/a.gguf" });
  speed.observe(640, 32_000); // 20 tok/s: 50 tokens in 2.5 s, so the minimum of 64
  const text = "x".repeat(3000);
  const compose = (budgets: { prefix: number }) => ({ text: `<head>${text.slice(Math.max(0, text.length - budgets.prefix * 3))}` });
  const first = await b.size("doc", speed, CONFIGURED, 3, compose);
  assert.equal(first.window, 64, "a new document's big prompt shrank");
  assert.equal(first.changed, true);
  b.filled("doc", first.window, first.prompt.text);
  const next = await b.size("doc", speed, CONFIGURED, 3, (bu) => ({ text: `${compose(bu).text}y` }));
  assert.deepEqual([next.window, next.changed], [64, false], "one more character: the same window");
  const grown = b.grow("doc", speed, CONFIGURED, compose)!;
  assert.equal(grown.window, 128);
  b.filled("doc", grown.window, grown.prompt.text);
  assert.equal((await b.size("doc", speed, CONFIGURED, 3, compose)).window, 128, "the grown window, cached, is used");
  const slid = await b.size("doc", speed, CONFIGURED, 3, (bu) => ({ text: `<head>${"z".repeat(bu.prefix * 3)}` }));
  assert.equal(slid.window, 64, "everything after the header is new: back to what fits");
  // Believed cold, but the worker says it holds all but 10 tokens (its prefix cache on disk): kept.
  const restorable = await b.size("new", speed, CONFIGURED, 3, compose, async () => 10);
  assert.deepEqual([restorable.window, restorable.changed], [FULL, false]);
  // It holds too little, or cannot say: cut.
  assert.equal((await b.size("new", speed, CONFIGURED, 3, compose, async () => 900)).window, 64);
  assert.equal((await b.size("new", speed, CONFIGURED, 3, compose, async () => undefined)).window, 64);
  // Back in "doc" (window 128) after "new" was filled: its slot may be gone, so the worker is asked.
  b.filled("new", 64, "elsewhere");
  let asked = 0;
  const back = await b.size("doc", speed, CONFIGURED, 3, compose, async () => (asked++, 128));
  assert.deepEqual([asked, back.window], [1, 64], "evicted: cut");
  b.filled("doc", back.window, back.prompt.text);
  await b.size("doc", speed, CONFIGURED, 3, (bu) => ({ text: `${compose(bu).text}y` }), async () => (asked++, 0));
  assert.equal(asked, 1, "a keystroke in the document filled last: no question");
  b.speedOf({ path: "/other.gguf" });
  assert.equal(b.grow("doc", speed, CONFIGURED, compose), undefined, "a document the model has not seen has no window to grow");
});
