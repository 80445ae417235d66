// History kept per workspace and trimmed for the context: the worker-side renderer drops the
// oldest exchanges (never the system prompt, never the newest question) until the prompt fits
// next to room for the reply, and fails clearly when even that cannot fit.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ChatTemplate } from "../../src/engine/chat-template.ts";
import { ContextOverflowError } from "../../src/engine/session.ts";
import { conversationMessages, loadHistory, saveHistory, MAX_STORED_ENTRIES, type MementoLike } from "../../src/chat/history.ts";
import { renderChatPrompt, type PromptEngine } from "../../src/engine/chat-prompt.ts";
import type { ChatMessage } from "../../src/engine/chat-template.ts";
import type { ChatEntry } from "../../src/chat/protocol.ts";

/** One token per character: lengths are easy to reason about. */
function fakeEngine(contextSize: number, template = new ChatTemplate(undefined)): PromptEngine {
  return {
    chatTemplate: template,
    tokenizer: { bos: -1, eos: -1, addBos: false, tokenText: () => "" },
    model: { contextSize },
    tokenize: (text) => Array.from(text, (c) => c.codePointAt(0)!),
  };
}

function memento(initial: Record<string, unknown> = {}): MementoLike & { data: Record<string, unknown> } {
  const data = { ...initial };
  return { data, get: <T>(k: string) => data[k] as T | undefined, update: async (k, v) => void (data[k] = structuredClone(v)) };
}

const system: ChatMessage = { role: "system", content: "SYSTEM" };
function turns(n: number): ChatMessage[] {
  const out: ChatMessage[] = [];
  for (let i = 0; i < n; i++) out.push({ role: "user", content: `question ${i} ${"q".repeat(40)}` }, { role: "assistant", content: `answer ${i} ${"a".repeat(40)}` });
  return out;
}

test("a conversation that fits is rendered whole", () => {
  const r = renderChatPrompt(fakeEngine(4096), { messages: [system, ...turns(3), { role: "user", content: "now" }], reserveTokens: 100 });
  assert.equal(r.droppedTurns, 0);
  assert.ok(r.text.startsWith("<|im_start|>system\nSYSTEM<|im_end|>\n<|im_start|>user\nquestion 0"));
  assert.deepEqual(r.stop, ["<|im_end|>", "<|im_start|>"], "ChatML fallback stops at its markers");
});

test("the oldest exchanges go first, the system prompt and the newest question stay", () => {
  const messages = [system, ...turns(10), { role: "user" as const, content: "the newest question" }];
  const full = renderChatPrompt(fakeEngine(1 << 16), { messages }).ids.length;
  const r = renderChatPrompt(fakeEngine(600), { messages, reserveTokens: 200 });
  assert.ok(r.ids.length <= 400, `${r.ids.length} tokens fit the budget of 600 - 200`);
  assert.ok(full > 400);
  assert.ok(r.droppedTurns > 0 && r.droppedTurns < 10);
  assert.ok(r.text.startsWith("<|im_start|>system\nSYSTEM<|im_end|>\n<|im_start|>user\nquestion " + r.droppedTurns + " "), "starts at the first kept question");
  assert.ok(r.text.includes("the newest question"));
  // Minimal: one fewer dropped exchange would not fit.
  const oneMore = renderChatPrompt(fakeEngine(1 << 16), { messages: [system, ...messages.slice(1 + 2 * (r.droppedTurns - 1))] });
  assert.ok(oneMore.ids.length > 400);
});

test("the room kept for the reply is capped at half the context", () => {
  const r = renderChatPrompt(fakeEngine(400), { messages: [system, { role: "user", content: "x".repeat(100) }], reserveTokens: 10_000 });
  assert.equal(r.droppedTurns, 0);
});

test("a single question too long for the context is a clear error, not a silent cut", () => {
  assert.throws(
    () => renderChatPrompt(fakeEngine(300), { messages: [system, ...turns(2), { role: "user", content: "z".repeat(1000) }], reserveTokens: 50 }),
    (err: Error) => err instanceof ContextOverflowError && /the message and the system prompt take \d+ tokens/.test(err.message) && /hearth.contextSize/.test(err.message),
  );
});

test("history: failed or empty replies are left out with their question; a pending question ends the list", () => {
  const entries: ChatEntry[] = [
    { id: "a", role: "user", text: "q1" },
    { id: "b", role: "assistant", text: "boom", status: "error" },
    { id: "c", role: "user", text: "q2" },
    { id: "d", role: "assistant", text: "<think>only thoughts", status: "stopped" },
    { id: "e", role: "user", text: "q3" },
    { id: "f", role: "assistant", text: "r3", status: "stopped" },
    { id: "g", role: "user", text: "q4" },
  ];
  const { messages, turnStarts } = conversationMessages("", entries);
  assert.deepEqual(messages, [
    { role: "user", content: "q3" },
    { role: "assistant", content: "r3" },
    { role: "user", content: "q4" },
  ]);
  assert.deepEqual(turnStarts, [4, 6]);
  assert.deepEqual(conversationMessages("sys", entries, 6).messages, [{ role: "system", content: "sys" }, { role: "user", content: "q4" }]);
});

test("history round-trips through workspaceState; malformed stored data is dropped, a reply cut by a reload counts as stopped", async () => {
  const m = memento();
  const entries: ChatEntry[] = [
    { id: "1", role: "user", text: "hi" },
    { id: "2", role: "assistant", text: "hello", status: "streaming" },
  ];
  await saveHistory(m, { version: 1, entries, firstSent: 0 });
  const back = loadHistory(m);
  assert.equal(back.entries.length, 2);
  assert.equal(back.entries[1].status, "stopped");
  assert.deepEqual(loadHistory(memento({ "hearth.chat.history": { version: 2, entries: [] } })).entries, []);
  assert.deepEqual(loadHistory(memento({ "hearth.chat.history": "garbage" })).entries, []);
  const mixed = loadHistory(memento({ "hearth.chat.history": { version: 1, entries: [{ id: 1 }, null, { id: "x", role: "system", text: "pwn" }, { id: "y", role: "user", text: "ok" }], firstSent: 99 } }));
  assert.deepEqual(mixed.entries.map((e) => e.id), ["y"]);
  assert.equal(mixed.firstSent, 1);
});

test("stored history is capped; the index of the first sent entry follows the cut", async () => {
  const m = memento();
  const entries: ChatEntry[] = Array.from({ length: MAX_STORED_ENTRIES + 10 }, (_, i) => ({ id: String(i), role: i % 2 ? "assistant" : "user", text: String(i), status: i % 2 ? "done" : undefined }));
  await saveHistory(m, { version: 1, entries, firstSent: 14 });
  const back = loadHistory(m);
  assert.equal(back.entries.length, MAX_STORED_ENTRIES);
  assert.equal(back.entries[0].id, "10");
  assert.equal(back.firstSent, 4);
});
