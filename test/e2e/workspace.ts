// A fresh state folder for one e2e run: a workspace with settings that keep runs deterministic
// and an e2e.json telling the suites which model to use and which text the engine itself
// produces for the test prompt (computed here, in-process, so "streamed text came from the
// engine" is checked exactly).
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Engine } from "../../src/engine/engine.ts";
import { withChatPrompts } from "../../src/engine/chat-prompt.ts";
import { makeModelFixture } from "../conformance/fixtures.ts";

export interface E2eConfig {
  model: string;
  badFile: string;
  prompt: string;
  maxTokens: number;
  /** The engine's greedy continuation of `prompt` (contextSize as the extension's settings). */
  expected: string;
  /** Two models at once (two-models.e2e.ts): completion on a FIM fixture, chat on `model`. */
  twoModels: {
    /** A generated qwen2 file with Qwen's FIM tokens (test/conformance/fixtures.ts). */
    fim: string;
    /** Another generated file (llama, Q4_K): what chat is switched to. */
    other: string;
    system: string;
    question: string;
    maxTokens: number;
    /** stories260K's greedy reply to `question` under `system`, as the chat would ask it. */
    chatExpected: string;
  };
}

export const CONTEXT_SIZE = 512;

export async function makeWorkspace(root: string): Promise<{ base: string; workspace: string; config: E2eConfig }> {
  const base = mkdtempSync(join(tmpdir(), "hearth-e2e-"));
  const workspace = join(base, "workspace");
  mkdirSync(join(workspace, ".vscode"), { recursive: true });
  const settings = {
    "editor.quickSuggestions": { other: false, comments: false, strings: false },
    "editor.suggestOnTriggerCharacters": false,
    "workbench.startupEditor": "none",
    "files.autoSave": "off",
    "telemetry.telemetryLevel": "off",
    "git.enabled": false,
    "extensions.autoUpdate": false,
    "workbench.tips.enabled": false,
    "hearth.threads": 1,
    "hearth.contextSize": CONTEXT_SIZE,
  };
  writeFileSync(join(workspace, ".vscode", "settings.json"), JSON.stringify(settings, null, 2));
  writeFileSync(join(workspace, "hello.txt"), "Once upon a time\n");
  const badFile = join(workspace, "not-a-model.gguf");
  writeFileSync(badFile, "this is not a GGUF file\n");
  const model = join(root, "test", "fixtures", "stories260K.gguf");
  const prompt = "Once upon a time";
  const maxTokens = 24;
  const engine = await Engine.load(model, { threads: 1, contextSize: CONTEXT_SIZE });
  let expected = "";
  try {
    for await (const c of engine.generate({ slot: "completion", prompt, maxTokens })) expected += c.text;
  } finally {
    await engine.dispose();
  }
  const config: E2eConfig = { model, badFile, prompt, maxTokens, expected, twoModels: await twoModels(model) };
  writeFileSync(join(workspace, "e2e.json"), JSON.stringify(config, null, 2));
  return { base, workspace, config };
}

/** The two-model suite's files and the chat reply stories260K gives (computed in-process, as `expected`). */
async function twoModels(model: string): Promise<E2eConfig["twoModels"]> {
  const system = "You tell short stories.";
  const question = "Tell me about a cat.";
  const maxTokens = 24;
  const engine = await Engine.load(model, { threads: 1, contextSize: CONTEXT_SIZE });
  let chatExpected = "";
  try {
    const messages = [
      { role: "system" as const, content: system },
      { role: "user" as const, content: question },
    ];
    // As the chat session asks: the conversation rendered in the engine, room kept for the reply, greedy.
    for await (const c of withChatPrompts(engine).generate({ slot: "chat", prompt: { messages, enableThinking: false, reserveTokens: maxTokens }, maxTokens })) chatExpected += c.text;
  } finally {
    await engine.dispose();
  }
  return {
    fim: makeModelFixture({ arch: "qwen2", weights: "Q8_0" }).path,
    other: makeModelFixture({ arch: "llama", weights: "Q4_K" }).path,
    system,
    question,
    maxTokens,
    chatExpected,
  };
}
