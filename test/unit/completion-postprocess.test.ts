// Post-processing of the model's text, as it streams and at the end.
import { test } from "node:test";
import assert from "node:assert/strict";
import { postProcess, type PostContext } from "../../src/completion/postprocess.ts";

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
