// A fresh state folder for one e2e run: a workspace with settings that keep runs deterministic
// and an e2e.json telling the suites which model to use and which text the engine itself
// produces for the test prompt (computed here, in-process, so "streamed text came from the
// engine" is checked exactly).
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Engine } from "../../src/engine/engine.ts";

export interface E2eConfig {
  model: string;
  badFile: string;
  prompt: string;
  maxTokens: number;
  /** The engine's greedy continuation of `prompt` (contextSize as the extension's settings). */
  expected: string;
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
  const config: E2eConfig = { model, badFile, prompt, maxTokens, expected };
  writeFileSync(join(workspace, "e2e.json"), JSON.stringify(config, null, 2));
  return { base, workspace, config };
}
