// Context windows: cut at line boundaries within the budget, the prefix window's start stays put
// while typing (it moves on a coarse grid), the suffix window; token budgets: the estimator and
// fitting the budgets into the context.
import { test } from "node:test";
import assert from "node:assert/strict";
import { GRID_STEPS, linesOf, prefixWindow, suffixWindow } from "../../src/completion/window.ts";
import { TokenEstimator } from "../../src/completion/tokens.ts";
import { fitBudgets, languageEnabled, DEFAULTS } from "../../src/completion/config.ts";

const numbered = (n: number) => Array.from({ length: n }, (_, i) => `line ${String(i).padStart(3, "0")};`).join("\n"); // 13 chars + \n

test("a prefix that fits is the whole text before the cursor", () => {
  const doc = linesOf("a\nbc\ndef");
  assert.deepEqual(prefixWindow(doc, 2, 2, 100), { text: "a\nbc\nde", startLine: 0 });
});

test("the prefix window starts at a line start within the budget", () => {
  const doc = linesOf(numbered(100));
  const w = prefixWindow(doc, 90, 5, 200);
  assert.ok(w.text.length <= 200, `${w.text.length} chars`);
  assert.ok(w.text.length > 200 - 200 / GRID_STEPS - 14, "at most one grid step and a line are lost");
  assert.equal(w.text.split("\n")[0], doc.lineAt(w.startLine), "starts with a whole line");
  assert.ok(w.text.endsWith("\nline "), "ends at the cursor");
});

test("typing moves the prefix window's start only every budget/8 characters", () => {
  let text = numbered(60);
  const starts = new Set<number>();
  let moves = 0;
  let last = -1;
  for (let i = 0; i < 100; i++) {
    text += "x";
    const doc = linesOf(text);
    const line = doc.lineCount - 1;
    const w = prefixWindow(doc, line, doc.lineAt(line).length, 400);
    if (w.startLine !== last) moves++;
    last = w.startLine;
    starts.add(w.startLine);
    assert.ok(w.text.length <= 400);
  }
  // 100 characters typed, grid of 50: at most 3 distinct starts (instead of ~8 with a sliding start).
  assert.ok(moves <= 3, `${moves} moves`);
});

test("a cursor line longer than the budget is cut inside the line", () => {
  const long = "x".repeat(1000);
  const w = prefixWindow(linesOf(`a\n${long}`), 1, 900, 100);
  assert.equal(w.startLine, 1);
  assert.ok(w.text.length <= 100 && w.text.length > 80);
});

test("the suffix window is the rest of the line and whole lines within the budget", () => {
  const doc = linesOf("ab|cd\nline two\nline three");
  assert.equal(suffixWindow(doc, 0, 3, 100), "cd\nline two\nline three");
  assert.equal(suffixWindow(doc, 0, 3, 12), "cd\nline two");
  assert.equal(suffixWindow(doc, 0, 3, 1), "c");
  assert.equal(suffixWindow(doc, 0, 3, 0), "");
});

test("the token estimator learns the tokenizer's ratio, but ignores small drifts", () => {
  const e = new TokenEstimator(3);
  assert.equal(e.chars(100), 270); // 90% of 100 × 3
  e.observe(310, 100); // 3.1: within the hysteresis
  assert.equal(e.charsPerToken, 3);
  for (let i = 0; i < 10; i++) e.observe(1000, 1000); // a byte-level vocabulary
  assert.ok(e.charsPerToken < 1.5, `${e.charsPerToken}`);
  const settled = e.charsPerToken;
  e.observe(1050, 1000);
  assert.equal(e.charsPerToken, settled, "stable once settled: the windows do not move");
});

test("budgets shrink to fit the context: extra context first, then prefix and suffix", () => {
  assert.deepEqual(fitBudgets({ prefix: 1024, suffix: 128, extra: 512 }, 4000), { prefix: 1024, suffix: 128, extra: 512 });
  assert.deepEqual(fitBudgets({ prefix: 1024, suffix: 128, extra: 512 }, 1200), { prefix: 1024, suffix: 128, extra: 48 });
  assert.deepEqual(fitBudgets({ prefix: 1024, suffix: 0, extra: 512 }, 256), { prefix: 256, suffix: 0, extra: 0 });
});

test("languages can be turned off one by one, and all at once", () => {
  const s = { ...DEFAULTS, languages: { "*": true, markdown: false } };
  assert.equal(languageEnabled(s, "typescript"), true);
  assert.equal(languageEnabled(s, "markdown"), false);
  assert.equal(languageEnabled({ ...s, languages: { "*": false, python: true } }, "python"), true);
  assert.equal(languageEnabled({ ...s, languages: { "*": false, python: true } }, "go"), false);
  assert.equal(languageEnabled({ ...s, enabled: false }, "typescript"), false);
  assert.equal(languageEnabled(DEFAULTS, "scminput"), false);
});
