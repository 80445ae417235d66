// The request a completion sends, built without a controller: budgets within the model's context,
// one line (stop at the newline) when text follows the cursor, what the rules are told.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULTS } from "../../src/completion/config.ts";
import { buildRequest, planRequest, type CursorContext } from "../../src/completion/request.ts";
import { linesOf } from "../../src/completion/window.ts";

const FIM = { kind: "fim", fim: { prefix: "<P>", suffix: "<S>", middle: "<M>" } } as const;
const chars = (tokens: number) => tokens * 3;

function cursor(text: string, line: number, character: number): CursorContext {
  const lines = linesOf(text);
  return { doc: "file:///a.ts", path: "a.ts", languageId: "plaintext", lines, line, character, before: text.slice(0, lines.offsetAt(line) + character), explicit: false };
}

test("text after the cursor: one line, 64 tokens, the engine stops at the newline; else lines up to a blank line", () => {
  const mid = cursor("foo(x)\n", 0, 4);
  const single = planRequest(mid, FIM, DEFAULTS, 4096, chars);
  assert.deepEqual([single.single, single.maxTokens], [true, 64]);
  const r = buildRequest({ ctx: mid, format: FIM, settings: DEFAULTS, plan: single, split: { line: 0, character: 4, typed: "" }, snippets: [] });
  assert.equal(r.params.prompt, "<P>foo(<S>x)\n<M>");
  assert.deepEqual(r.params.stop, ["<P>", "<S>", "<M>", "\n"]);
  assert.deepEqual(r.post, { lineBefore: "foo(", lineAfter: "x)", nextLines: [""], maxLines: DEFAULTS.maxLines });
  const end = cursor("a\nb\nc\nd\ne\nf\ng\nh\n", 0, 1);
  const multi = planRequest(end, FIM, DEFAULTS, 4096, chars);
  assert.equal(multi.single, false);
  const m = buildRequest({ ctx: end, format: FIM, settings: DEFAULTS, plan: multi, split: { line: 0, character: 1, typed: "" }, snippets: [] });
  assert.equal(m.params.stop?.at(-1), "\n\n");
  assert.deepEqual(m.post.nextLines, ["b", "c", "d", "e", "f"], "five lines are enough for the rules");
});

test("a small context: extra context gives way first, prefix-only prompts spend nothing on a suffix", () => {
  const ctx = cursor("x", 0, 1);
  const s = { ...DEFAULTS, prefixTokens: 1000, suffixTokens: 100, extraContextTokens: 500 };
  const fim = planRequest(ctx, FIM, s, 1500, chars);
  // 1500 - 384 generated (8 lines) - 16 markers = 1100 for prefix + suffix; none left for the rest.
  assert.deepEqual([fim.prefixChars, fim.suffixChars, fim.extraChars], [3000, 300, 0]);
  const prefix = planRequest(ctx, { kind: "prefix" }, s, 1500, chars);
  assert.deepEqual([prefix.prefixChars, prefix.suffixChars, prefix.extraChars], [3000, 0, 300]);
});
