// The chat path through the real engine, as the worker runs it (withChatPrompts around Engine,
// driven by the worker's Scheduler), on a generated qwen2 model whose GGUF carries a ChatML
// template: the conversation is rendered and tokenised in the worker, turn 2 reuses the chat
// slot's cached prefix and evaluates only its new tokens, a cancel stops the generation, and
// dropped turns are reported in the stats.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Engine } from "../../src/engine/engine.ts";
import type { ChatMessage } from "../../src/engine/chat-template.ts";
import { Scheduler } from "../../src/worker/scheduler.ts";
import { CancelFlag } from "../../src/engine/cancel.ts";
import type { GenerateParams } from "../../src/worker/protocol.ts";
import { renderChatPrompt, withChatPrompts, type ChatGenerateStats, type ChatPrompt } from "../../src/engine/chat-prompt.ts";
import { makeModelFixture } from "../conformance/fixtures.ts";

let engine: Engine;
before(async () => {
  const fx = makeModelFixture({ arch: "qwen2", weights: "Q8_0" });
  engine = await Engine.load(fx.path, { threads: 1, contextSize: 512 });
});
after(async () => engine?.dispose());

async function run(prompt: ChatPrompt, maxTokens = 6): Promise<{ text: string; stats: ChatGenerateStats }> {
  const gen = withChatPrompts(engine).generate({ slot: "chat", prompt, maxTokens });
  let text = "";
  for (let r = await gen.next(); ; r = await gen.next()) {
    if (r.done) return { text, stats: r.value };
    text += r.value.text;
  }
}

test("the model's own template renders the conversation in the worker", () => {
  assert.equal(engine.chatTemplate.isFallback, false);
  const r = renderChatPrompt(engine, { messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "hello" }] });
  assert.equal(r.text, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n");
  assert.deepEqual(r.ids, engine.tokenize(r.text));
  assert.deepEqual(r.stop, [], "no extra stops when the model has its own template");
  assert.ok(r.ids.includes(engine.tokenizer.tokenId("<|im_start|>")!), "special tokens parsed, not spelled out");
});

test("turn 2 reuses the chat slot's prefix: only the new tokens are evaluated", async () => {
  const messages: ChatMessage[] = [{ role: "system", content: "You are a helpful assistant." }, { role: "user", content: "What is a variable?" }];
  const one = await run({ messages });
  assert.equal(one.stats.reusedTokens, 0);
  assert.equal(one.stats.evaluatedTokens, one.stats.promptTokens);
  const next: ChatMessage[] = [...messages, { role: "assistant", content: one.text }, { role: "user", content: "And a constant?" }];
  const two = await run({ messages: next });
  const fullTwo = renderChatPrompt(engine, { messages: next }).ids.length;
  assert.equal(two.stats.promptTokens, fullTwo);
  assert.ok(two.stats.reusedTokens >= one.stats.promptTokens, `reused ${two.stats.reusedTokens} ≥ turn 1's prompt ${one.stats.promptTokens}`);
  assert.equal(two.stats.evaluatedTokens, two.stats.promptTokens - two.stats.reusedTokens);
  console.log(`turn 1: ${one.stats.promptTokens} prompt tokens evaluated; turn 2: ${two.stats.promptTokens} prompt tokens, ${two.stats.reusedTokens} reused, ${two.stats.evaluatedTokens} evaluated`);
});

test("through the worker's scheduler: a chat prompt streams, and a cancel stops it between tokens", async () => {
  const scheduler = new Scheduler(withChatPrompts(engine));
  const params = { slot: "chat", prompt: { messages: [{ role: "user", content: "Tell me a long story." }] }, maxTokens: 200 } as unknown as GenerateParams;
  let deltas = 0;
  const stats = await new Promise<ChatGenerateStats>((resolve, reject) => {
    const cancel = new CancelFlag();
    scheduler.submit(params, {
      delta: () => {
        if (++deltas === 3) cancel.cancel();
      },
      done: resolve,
      error: reject,
    }, cancel);
  });
  assert.equal(stats.stopReason, "cancelled");
  assert.ok(deltas >= 3 && deltas <= 4, `${deltas} deltas`);
});

test("a conversation longer than the context loses its oldest turns, and the stats say how many", async () => {
  const messages: ChatMessage[] = [{ role: "system", content: "sys" }];
  for (let i = 0; i < 12; i++) messages.push({ role: "user", content: `question number ${i} about code `.repeat(3) }, { role: "assistant", content: `answer ${i} `.repeat(10) });
  messages.push({ role: "user", content: "last question" });
  const r = await run({ messages, reserveTokens: 128 }, 2);
  assert.ok((r.stats.droppedTurns ?? 0) > 0, `dropped ${r.stats.droppedTurns}`);
  assert.ok(r.stats.promptTokens <= 512 - 128);
  await assert.rejects(run({ messages: [{ role: "user", content: "word ".repeat(600) }] }), /take \d+ tokens/);
});
