// Post-processing of the model's text, as it streams and at the end.
import { test } from "node:test";
import assert from "node:assert/strict";
import { SuggestionStream, type PostContext, type Processed } from "../../src/completion/postprocess.ts";

/** The rules' result on the whole text at once. */
function postProcess(raw: string, ctx: PostContext, opts: { final: boolean; partial?: boolean }): Processed {
  const s = new SuggestionStream(ctx);
  s.push(raw);
  return s.view(opts);
}

const at = (lineBefore: string, lineAfter = "", nextLines: string[] = [], maxLines = 8): PostContext => ({ lineBefore, lineAfter, nextLines, maxLines });
const done = (raw: string, ctx: PostContext) => postProcess(raw, ctx, { final: true });
const streaming = (raw: string, ctx: PostContext, partial = false) => postProcess(raw, ctx, { final: false, partial });

test("text after the cursor on its line: one line only, ended by the newline", () => {
  const ctx = at("foo(", ")");
  assert.deepEqual(streaming("a, b", ctx), { text: "", stopped: false }, "nothing until the line is complete");
  assert.deepEqual(streaming("a, b", ctx, true), { text: "a, b", stopped: false }, "partial once the time budget ran out");
  assert.deepEqual(streaming("a, b\nmore", ctx), { text: "a, b", stopped: true });
});

test("a closing bracket the line already has is not suggested again", () => {
  assert.deepEqual(done("a, b);", at("foo(", ")")), { text: "a, b", stopped: true });
  assert.deepEqual(done("x];", at("const a = [", "];")), { text: "x", stopped: true });
  assert.deepEqual(done('"(") + 1', at("f(", ")")), { text: '"("', stopped: true }, "brackets in strings do not count");
});

test("the rest of the line repeated at the end of a suggestion is dropped", () => {
  assert.equal(done("b + c;", at("a = ", ";")).text, "b + c");
});

test("multi-line: ends at a blank line", () => {
  const r = done("\n  return 1;\n\nfunction g() {}", at("function f() {"));
  assert.deepEqual(r, { text: "\n  return 1;", stopped: true });
});

test("multi-line: a block opened on the cursor's line ends with its closing line", () => {
  const r = done("\n  if (x) {\n    y();\n  }\n}\nconst after = 1;", at("function f() {"));
  assert.equal(r.text, "\n  if (x) {\n    y();\n  }\n}");
  assert.equal(r.stopped, true);
});

test("multi-line: a line that leaves the cursor's indentation scope ends it", () => {
  const r = done("a();\n    b();\n}\nfunction g() {", at("    "));
  assert.equal(r.text, "a();\n    b();");
});

test("multi-line: text that repeats the next line of the file ends it", () => {
  const r = done("\n  const y = 2;\n  return y;", at("  const x = 1;", "", ["", "  return y;", "}"]));
  assert.equal(r.text, "\n  const y = 2;");
  assert.equal(done("return y;", at("  ", "", ["  return y;"])).text, "", "retyping the next line is no suggestion");
});

test("multi-line: at most maxLines, and the generation may stop there", () => {
  const ctx = at("", "", [], 2);
  assert.deepEqual(streaming("a\nb\nc", ctx), { text: "a\nb", stopped: true });
  assert.deepEqual(streaming("a\nb", ctx), { text: "a", stopped: false });
});

test("while streaming only complete lines show; the unterminated one when the generation ended", () => {
  const ctx = at("x = ");
  assert.equal(streaming("1\ny = ", ctx).text, "1");
  assert.equal(done("1\ny = 2", ctx).text, "1\ny = 2");
});

test("trailing whitespace is trimmed; whitespace alone is no suggestion", () => {
  assert.equal(done("foo   \n  bar  \n", at("")).text, "foo\n  bar");
  assert.deepEqual(done("   \n  ", at("")), { text: "", stopped: true });
  assert.equal(done("   ", at("a", "b")).text, "");
  assert.equal(done("\r\n  x();\r\n", at("if (a) {")).text, "\n  x();", "CRLF from the model");
});

// The generated texts of the cases above (and a few more), each with its cursor.
const CASES: [string, PostContext][] = [
  ["a, b\nmore", at("foo(", ")")],
  ["a, b);", at("foo(", ")")],
  ["x];", at("const a = [", "];")],
  ['"(") + 1', at("f(", ")")],
  ["b + c;", at("a = ", ";")],
  ["\n  return 1;\n\nfunction g() {}", at("function f() {")],
  ["\n  if (x) {\n    y();\n  }\n}\nconst after = 1;", at("function f() {")],
  ["a();\n    b();\n}\nfunction g() {", at("    ")],
  ["\n  const y = 2;\n  return y;", at("  const x = 1;", "", ["", "  return y;", "}"])],
  ["return y;\nz", at("  ", "", ["  return y;"])],
  ["a\nb\nc", at("", "", [], 2)],
  ["1\ny = 2", at("x = ")],
  ["foo   \n  bar  \n", at("")],
  ["   \n  ", at("")],
  ["\r\n  x();\r\n\r\n}", at("if (a) {")],
  ["\r\r\n\ra\r", at("")],
  ["\t(a,\n\t b)\n)", at("\tf(")],
];

/** Feeds `raw` in pieces cut at random places; returns the views after each piece and at the end. */
function streamed(raw: string, ctx: PostContext, random: () => number): { views: [string, Processed, Processed][]; final: Processed } {
  const s = new SuggestionStream(ctx);
  const views: [string, Processed, Processed][] = [];
  let at = 0;
  while (at < raw.length) {
    const next = Math.min(raw.length, at + 1 + Math.floor(random() * 6));
    s.push(raw.slice(at, next));
    at = next;
    views.push([raw.slice(0, at), s.view({ final: false }), s.view({ final: false, partial: true })]);
  }
  return { views, final: s.view({ final: true }) };
}

test("fed in deltas, split anywhere, the rules give what they give on the whole text at every step", () => {
  let seed = 7;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  for (const [raw, ctx] of CASES) {
    for (let split = 0; split < 25; split++) {
      const { views, final } = streamed(raw, ctx, random);
      for (const [sofar, view, partial] of views) {
        assert.deepEqual(view, postProcess(sofar, ctx, { final: false }), `${JSON.stringify(sofar)} while streaming`);
        assert.deepEqual(partial, postProcess(sofar, ctx, { final: false, partial: true }), `${JSON.stringify(sofar)} partial`);
      }
      assert.deepEqual(final, postProcess(raw, ctx, { final: true }), `${JSON.stringify(raw)} at the end`);
    }
  }
});

test("a CR at the end of one delta and its LF at the start of the next are one line end", () => {
  const s = new SuggestionStream(at("if (a) {"));
  for (const d of ["\r", "\n  x();\r", "\n", "\n"]) s.push(d);
  assert.equal(s.text, "\n  x();\n\n");
  assert.deepEqual(s.view({ final: false }), { text: "\n  x();", stopped: true }, "the blank line ended it");
});

test("a line is judged once, when its newline arrives: later deltas do not re-run the rules on earlier lines", () => {
  let calls = 0;
  const counting = { name: "count", initial: undefined, check: (l: { text: string }) => (calls++, { verdict: { kind: "keep" as const, text: l.text }, state: undefined }) };
  const s = new SuggestionStream(at(""), [counting]);
  for (let i = 0; i < 50; i++) s.push(i % 5 === 4 ? "x\n" : "x");
  s.view({ final: false });
  assert.equal(calls, 10, "ten lines, ten checks");
});
