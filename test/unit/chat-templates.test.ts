// The chat prompt on the real templates of SmolLM3 and Qwen3 (test/fixtures/chat-templates,
// provenance in its README), rendered by the engine's ChatTemplate as the worker does: system
// prompt, multi-turn, thinking on/off, and thinking never sent back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ChatTemplate } from "../../src/engine/chat-template.ts";
import { conversationMessages } from "../../src/chat/history.ts";
import type { ChatEntry } from "../../src/chat/protocol.ts";

const dir = join(__dirname, "..", "fixtures", "chat-templates");
const smollm3 = new ChatTemplate(readFileSync(join(dir, "smollm3.jinja"), "utf8"));
const qwen3 = new ChatTemplate(readFileSync(join(dir, "qwen3.jinja"), "utf8"));

const entries: ChatEntry[] = [
  { id: "1", role: "user", text: "What is a closure?" },
  { id: "2", role: "assistant", text: "<think>\nThe user wants a definition.\n</think>\n\nA function with its environment.", status: "done" },
  { id: "3", role: "user", text: "Show one in JS." },
];
const { messages } = conversationMessages("You are Hearth, a coding assistant.", entries);

test("the conversation sent to the model has no thinking text", () => {
  assert.deepEqual(messages, [
    { role: "system", content: "You are Hearth, a coding assistant." },
    { role: "user", content: "What is a closure?" },
    { role: "assistant", content: "A function with its environment." },
    { role: "user", content: "Show one in JS." },
  ]);
});

test("SmolLM3: system prompt as custom instructions, /no_think and an empty think block when thinking is off", () => {
  const text = smollm3.render(messages, { enableThinking: false });
  assert.match(text, /^<\|im_start\|>system\n## Metadata\n\nKnowledge Cutoff Date: June 2025\nToday Date: \d{2} \w+ \d{4}\nReasoning Mode: \/no_think\n\n## Custom Instructions\n\nYou are Hearth, a coding assistant\.\n\n/);
  assert.ok(text.includes("<|im_start|>user\nWhat is a closure?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\nA function with its environment.<|im_end|>\n<|im_start|>user\nShow one in JS.<|im_end|>\n"));
  assert.ok(text.endsWith("<|im_start|>assistant\n<think>\n\n</think>\n"), "the answer starts right away");
  assert.doesNotMatch(text, /The user wants a definition/);
});

test("SmolLM3: thinking on gives /think and leaves the reply open for reasoning", () => {
  const text = smollm3.render(messages, { enableThinking: true });
  assert.match(text, /Reasoning Mode: \/think\n/);
  assert.ok(text.includes("<|im_start|>assistant\nA function with its environment.<|im_end|>\n"));
  assert.ok(text.endsWith("<|im_start|>user\nShow one in JS.<|im_end|>\n<|im_start|>assistant\n"));
  assert.doesNotMatch(text, /The user wants a definition/);
});

test("SmolLM3: /no_think in the system prompt overrides the switch; without a system prompt its default instructions appear", () => {
  const forced = smollm3.render([{ role: "system", content: "Be brief. /no_think" }, { role: "user", content: "hi" }], { enableThinking: true });
  assert.match(forced, /Reasoning Mode: \/no_think/);
  assert.match(forced, /## Custom Instructions\n\nBe brief\.\n\n/);
  const none = smollm3.render([{ role: "user", content: "hi" }], { enableThinking: false });
  assert.match(none, /You are a helpful AI assistant named SmolLM, trained by Hugging Face\./);
});

test("Qwen3: system, multi-turn ChatML; thinking off closes an empty think block, on leaves it to the model", () => {
  const off = qwen3.render(messages, { enableThinking: false });
  assert.equal(
    off,
    "<|im_start|>system\nYou are Hearth, a coding assistant.<|im_end|>\n" +
      "<|im_start|>user\nWhat is a closure?<|im_end|>\n" +
      "<|im_start|>assistant\nA function with its environment.<|im_end|>\n" +
      "<|im_start|>user\nShow one in JS.<|im_end|>\n" +
      "<|im_start|>assistant\n<think>\n\n</think>\n\n",
  );
  const on = qwen3.render(messages, { enableThinking: true });
  assert.ok(on.endsWith("<|im_start|>user\nShow one in JS.<|im_end|>\n<|im_start|>assistant\n"));
});

test("Qwen3 drops earlier reasoning itself, so sending it or not gives the same prompt", () => {
  const withThinking = [...messages];
  withThinking[2] = { role: "assistant", content: entries[1].text };
  assert.equal(qwen3.render(withThinking, { enableThinking: true }), qwen3.render(messages, { enableThinking: true }));
});

test("the prompt of turn 2 extends the prompt of turn 1 up to the new reply (so the KV prefix is reusable)", () => {
  for (const [name, t] of [["qwen3", qwen3], ["smollm3", smollm3]] as const) {
    const first = t.render(messages.slice(0, 2), { enableThinking: false });
    const second = t.render(messages, { enableThinking: false });
    const firstNoGen = t.render(messages.slice(0, 2), { enableThinking: false, addGenerationPrompt: false });
    assert.ok(second.startsWith(firstNoGen), `${name}: turn 2 starts with turn 1's text`);
    assert.ok(first.length > 0);
  }
});
