// The chat session with a fake engine client: streaming into the view, Stop cancelling the
// request, New Chat, history restored by a new session (the view reopening, the window reloading),
// the thinking switch, the note when older turns were dropped, and no model.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { CancelFlag } from "../../src/client/cancellation.ts";
import type { GenerateStats } from "../../src/engine/session.ts";
import { ChatSession, NO_MODEL_NOTE, type ChatGenerate, type ChatRequestParams } from "../../src/chat/session.ts";
import type { HostMessage } from "../../src/chat/protocol.ts";
import type { ChatGenerateStats } from "../../src/engine/chat-prompt.ts";
import type { MementoLike } from "../../src/chat/history.ts";

function memento(): MementoLike & { data: Record<string, unknown> } {
  const data: Record<string, unknown> = {};
  return { data, get: <T>(k: string) => data[k] as T | undefined, update: async (k, v) => void (data[k] = structuredClone(v)) };
}

const STATS: GenerateStats = { promptTokens: 10, reusedTokens: 0, restoredTokens: 0, evaluatedTokens: 10, generatedTokens: 3, promptMs: 1, generateMs: 1, stopReason: "eog" };

/** A fake EngineClient.generate: yields `pieces` (or forever), honours the cancel flag like the real one. */
function fakeGenerate(pieces: string[] | "forever", extra: Partial<ChatGenerateStats> = {}) {
  const calls: ChatRequestParams[] = [];
  const generate: ChatGenerate = (params, cancel: CancelFlag) => {
    calls.push(params);
    let settle: (s: GenerateStats) => void = () => {};
    const stats = new Promise<GenerateStats>((r) => (settle = r));
    const it = (async function* () {
      let n = 0;
      try {
        for (let i = 0; pieces === "forever" || i < pieces.length; i++) {
          if (cancel.cancelled) break;
          n++;
          yield pieces === "forever" ? "tok " : pieces[i];
          await new Promise((r) => setTimeout(r, 1));
        }
      } finally {
        settle({ ...STATS, generatedTokens: n, stopReason: cancel.cancelled ? "cancelled" : "eog", ...extra });
      }
    })();
    return Object.assign(it, { stats });
  };
  return { generate, calls };
}

function session(gen: ChatGenerate, store = memento(), ensureModel = async () => true) {
  const s = new ChatSession({ generate: gen, store, settings: () => ({ systemPrompt: "SYS", maxTokens: 64, temperature: 0 }), ensureModel });
  const posted: HostMessage[] = [];
  s.onMessage((m) => posted.push(m));
  return { s, posted, store };
}

test("a message streams its reply to the view as deltas and is saved with the history", async () => {
  const { generate, calls } = fakeGenerate(["Hel", "lo", "!"]);
  const { s, posted, store } = session(generate);
  await s.handle({ type: "send", text: "hi" });
  const deltas = posted.filter((m) => m.type === "delta");
  assert.deepEqual(deltas.map((d) => d.type === "delta" && d.text), ["Hel", "lo", "!"]);
  assert.equal(s.entries[1].text, "Hello!");
  assert.equal(s.entries[1].status, "done");
  assert.equal(calls[0].slot, "chat");
  assert.deepEqual(calls[0].prompt.messages, [{ role: "system", content: "SYS" }, { role: "user", content: "hi" }]);
  assert.equal(calls[0].prompt.enableThinking, false);
  assert.equal(calls[0].prompt.reserveTokens, 64);
  const last = posted.at(-1)!;
  assert.ok(last.type === "state" && !last.state.busy);
  const restored = new ChatSession({ generate, store, settings: () => ({ systemPrompt: "", maxTokens: 1, temperature: 0 }), ensureModel: async () => true });
  assert.deepEqual(restored.viewState().entries.map((e) => e.text), ["hi", "Hello!"], "a new session (view reopened) has the history");
});

test("Stop cancels the generation through its token and marks the reply stopped", async () => {
  const { generate } = fakeGenerate("forever");
  const { s } = session(generate);
  const asked = s.ask("go on forever");
  while (!s.entries[1]?.text.includes("tok tok")) await new Promise((r) => setTimeout(r, 1));
  assert.equal(s.busy, true);
  await s.handle({ type: "stop" });
  const reply = await asked;
  assert.equal(reply.status, "stopped");
  assert.match(reply.note ?? "", /Stopped/);
  assert.equal(s.busy, false);
});

test("a new message while one streams stops the first; New Chat clears everything, saved", async () => {
  const { generate } = fakeGenerate("forever");
  const { s, store } = session(generate);
  const first = s.ask("one");
  while (!s.entries[1]?.text) await new Promise((r) => setTimeout(r, 1));
  const { generate: g2 } = fakeGenerate(["two"]);
  const second = s.ask("again", { generate: g2 });
  assert.equal((await first).status, "stopped");
  assert.equal((await second).text, "two");
  await s.handle({ type: "newChat" });
  assert.equal(s.entries.length, 0);
  assert.deepEqual((store.data["hearth.chat.history"] as { entries: unknown[] }).entries, []);
});

test("the thinking switch is kept per workspace and sent as enableThinking; thinking text is not sent back", async () => {
  const { generate, calls } = fakeGenerate(["<think>hmm</think>", "\n\nAnswer."]);
  const { s, store } = session(generate);
  await s.handle({ type: "setThinking", enabled: true });
  await s.handle({ type: "send", text: "q1" });
  await s.handle({ type: "send", text: "q2" });
  assert.equal(calls[0].prompt.enableThinking, true);
  assert.deepEqual(calls[1].prompt.messages.slice(1), [
    { role: "user", content: "q1" },
    { role: "assistant", content: "Answer." },
    { role: "user", content: "q2" },
  ]);
  assert.equal(store.data["hearth.chat.thinking"], true);
  assert.equal(s.viewState().thinking, true);
  // An explicit choice (Explain Selection: off) wins over the switch.
  await s.ask("q3", { enableThinking: false });
  assert.equal(calls[2].prompt.enableThinking, false);
});

test("dropped turns are reported under the reply and later turns start after them", async () => {
  const { generate } = fakeGenerate(["ok"]);
  const { s } = session(generate);
  await s.ask("q1");
  await s.ask("q2");
  const { generate: dropping, calls } = fakeGenerate(["ok"], { droppedTurns: 1 });
  const reply = await s.ask("q3", { generate: dropping });
  assert.match(reply.note ?? "", /1 earlier exchange was left out to fit the model's context/);
  assert.equal(s.viewState().firstSent, 2, "the entry index of q2");
  assert.equal(calls[0].prompt.messages.length, 1 + 5);
  const { generate: next, calls: nextCalls } = fakeGenerate(["ok"]);
  await s.ask("q4", { generate: next });
  assert.deepEqual(nextCalls[0].prompt.messages.map((m) => m.content), ["SYS", "q2", "ok", "q3", "ok", "q4"]);
});

test("with no model the reply says what to do and nothing is generated", async () => {
  const { generate, calls } = fakeGenerate(["x"]);
  const { s } = session(generate, memento(), async () => false);
  const reply = await s.ask("hello?");
  assert.equal(reply.status, "error");
  assert.equal(reply.note, NO_MODEL_NOTE);
  assert.equal(calls.length, 0);
});

test("an engine error is shown on the reply, not thrown", async () => {
  const failing: ChatGenerate = () => {
    const err = Object.assign(new Error("the message and the system prompt take 900 tokens"), { name: "ContextOverflowError" });
    const stats = Promise.reject(err);
    stats.catch(() => {});
    const it: AsyncIterable<string> = { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(err) }) };
    return Object.assign(it, { stats });
  };
  const { s } = session(failing);
  const reply = await s.ask("too long");
  assert.equal(reply.status, "error");
  assert.match(reply.note ?? "", /The engine failed: the message and the system prompt take 900 tokens/);
});

test("prompt-evaluation progress reaches the view as progress messages for the reply", async () => {
  const generate: ChatGenerate = (_params, _token, onPromptProgress) => {
    const it = (async function* () {
      onPromptProgress?.(64, 300);
      onPromptProgress?.(300, 300);
      yield "done";
    })();
    return Object.assign(it, { stats: Promise.resolve(STATS) });
  };
  const { s, posted } = session(generate);
  const reply = await s.ask("a long question");
  const progress = posted.filter((m) => m.type === "progress");
  assert.deepEqual(progress, [
    { type: "progress", id: reply.id, done: 64, total: 300 },
    { type: "progress", id: reply.id, done: 300, total: 300 },
  ]);
});

test("a model without a chat template is pointed out once, in the chat and the log", async () => {
  const { generate } = fakeGenerate(["Once upon a time"]);
  const logged: string[] = [];
  let model = { path: "/m/stories260K.gguf", name: "stories260K", chatTemplate: undefined as string | undefined };
  const s = new ChatSession({
    generate,
    store: memento(),
    settings: () => ({ systemPrompt: "", maxTokens: 8, temperature: 0 }),
    ensureModel: async () => true,
    modelInfo: () => model,
    log: { info: (m) => logged.push(m), warn: (m) => logged.push(m) },
  });
  const first = await s.ask("hi");
  assert.match(first.notice ?? "", /^stories260K.gguf is not a chat model: its file has no chat template.*ChatML/);
  const second = await s.ask("again");
  assert.equal(second.notice, undefined, "said once");
  assert.equal(logged.filter((l) => /no chat template/.test(l)).length, 1);
  model = { path: "/m/smollm3.gguf", name: "SmolLM3", chatTemplate: "{{ messages }}" };
  assert.equal((await s.ask("and now?")).notice, undefined, "a model with a template gets none");
});
