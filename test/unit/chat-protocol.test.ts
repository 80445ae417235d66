// The webview → extension messages are untrusted: every field is checked, anything unknown or
// malformed is dropped (parseWebviewMessage returns undefined and the view ignores it).
import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_TEXT, parseWebviewMessage } from "../../src/chat/protocol.ts";

test("well-formed messages pass with exactly their known fields", () => {
  assert.deepEqual(parseWebviewMessage({ type: "ready" }), { type: "ready" });
  assert.deepEqual(parseWebviewMessage({ type: "stop", extra: 1 }), { type: "stop" });
  assert.deepEqual(parseWebviewMessage({ type: "newChat" }), { type: "newChat" });
  assert.deepEqual(parseWebviewMessage({ type: "send", text: "hi", evil: "<script>" }), { type: "send", text: "hi" });
  assert.deepEqual(parseWebviewMessage({ type: "setThinking", enabled: true }), { type: "setThinking", enabled: true });
  assert.deepEqual(parseWebviewMessage({ type: "copy", code: "" }), { type: "copy", code: "" });
  assert.deepEqual(parseWebviewMessage({ type: "insert", code: "x = 1\n" }), { type: "insert", code: "x = 1\n" });
});

test("unknown types and non-objects are ignored", () => {
  for (const raw of [undefined, null, 42, "send", [], [{ type: "send", text: "x" }], {}, { type: "runCommand", command: "workbench.action.terminal.new" }, { type: "__proto__" }, { type: "toString" }, { type: "SEND", text: "x" }]) {
    assert.equal(parseWebviewMessage(raw), undefined, JSON.stringify(raw));
  }
});

test("known types with missing, mistyped or oversized fields are ignored", () => {
  const bad = [
    { type: "send" },
    { type: "send", text: 5 },
    { type: "send", text: "   " },
    { type: "send", text: "x".repeat(MAX_TEXT + 1) },
    { type: "setThinking", enabled: "true" },
    { type: "setThinking" },
    { type: "copy", code: { toString: () => "x" } },
    { type: "insert" },
    { type: "insert", code: "y".repeat(MAX_TEXT + 1) },
  ];
  for (const raw of bad) assert.equal(parseWebviewMessage(raw), undefined, JSON.stringify(raw).slice(0, 80));
});
