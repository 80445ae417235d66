// The status bar item: its actions (with no model the first ones are the ways to get one, as the
// tooltip promises; toggling completion comes after them; with a model, toggling comes first;
// every command named, and the walkthrough's, exists in package.json's contributions), and its
// tokens/s, which a model switch forgets.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ACTION_COMMANDS, actionItems } from "../../src/commands/action-items.ts";
import { nextStatusView, statusText, type StatusView } from "../../src/commands/status-text.ts";
import { findCatalogueEntry } from "../../src/models/catalogue.ts";

const manifest = JSON.parse(readFileSync(join(__dirname, "..", "..", "package.json"), "utf8"));
const plain = (label: string) => label.replace(/\$\([^)]*\)\s*/g, "");

/** The same state for both roles: one model serves both. */
const both = (s: StatusView["roles"]["chat"]): StatusView["roles"] => ({ completion: s, chat: s });

test("with no model the first actions get one: download, a file on disk, the walkthrough", () => {
  const items = actionItems({ modelConfigured: false, completionEnabled: true });
  assert.deepEqual(items.slice(0, 3).map((i) => plain(i.label)), ["Download a Model…", "Use a GGUF File on Disk…", "Get Started"]);
  const toggle = items.findIndex((i) => /Inline Completion/.test(i.label));
  assert.ok(toggle > 3, "toggling completion comes after the ways to get a model");
  assert.match(statusText({ roles: both({ kind: "none" }), tokensPerSecond: undefined, completionEnabled: true }).tooltip, /download a model or use a GGUF file/);
});

test("with a model, toggling completion is first and the chat is offered", () => {
  const items = actionItems({ modelConfigured: true, completionEnabled: false });
  assert.equal(plain(items[0].label), "Enable Inline Completion");
  assert.ok(items.some((i) => i.command === ACTION_COMMANDS.chat));
});

test("every action's command is contributed (or is the chat view's focus command)", () => {
  const contributed = new Set<string>(manifest.contributes.commands.map((c: { command: string }) => c.command));
  const views = manifest.contributes.views.hearth.map((v: { id: string }) => `${v.id}.focus`);
  for (const v of [true, false]) {
    for (const i of actionItems({ modelConfigured: v, completionEnabled: v })) {
      if (i.command) assert.ok(contributed.has(i.command) || views.includes(i.command), i.command);
    }
  }
});

test("the walkthrough's steps run contributed commands and name their catalogue models", () => {
  const [w] = manifest.contributes.walkthroughs;
  assert.equal(w.id, "firstRun");
  const contributed = new Set<string>(manifest.contributes.commands.map((c: { command: string }) => c.command));
  for (const step of w.steps) {
    for (const [, cmd, arg] of (step.description as string).matchAll(/\(command:([\w.]+)(?:\?([^)]*))?\)/g)) {
      assert.ok(contributed.has(cmd) || cmd === "hearth.chat.focus", `${step.id}: ${cmd}`);
      if (!arg) continue;
      const args = JSON.parse(decodeURIComponent(arg));
      assert.ok(Array.isArray(args), `${step.id}: ${arg} is a JSON argument list`);
      if (cmd === "hearth.downloadModel") assert.ok(findCatalogueEntry(args[0]), `${step.id}: ${args[0]} is in the catalogue`);
    }
  }
});

test("tokens/s of the last model is forgotten when another loads", () => {
  const info = { path: "/m/a.gguf", name: "a", architecture: "llama", contextSize: 512 } as unknown as Extract<StatusView["roles"]["chat"], { kind: "ready" }>["info"];
  let v: StatusView = { roles: both({ kind: "ready", info }), tokensPerSecond: 6.7, completionEnabled: true };
  assert.match(statusText(v).text, /6\.7 tok\/s/);
  v = nextStatusView(v, { completing: true });
  assert.equal(v.tokensPerSecond, 6.7, "other changes keep it");
  v = nextStatusView(v, { roles: both({ kind: "loading", path: "/m/b.gguf", fraction: 0 }) });
  v = nextStatusView(v, { roles: both({ kind: "ready", info: { ...info, path: "/m/b.gguf" } }) });
  assert.doesNotMatch(statusText(v).text, /tok\/s/);
});

test("while a completion's prompt is read the item says 'reading file… n%', with the token counts in the tooltip", () => {
  const info = { path: "/m/a.gguf", name: "a", architecture: "qwen2", contextSize: 2048 } as unknown as Extract<StatusView["roles"]["chat"], { kind: "ready" }>["info"];
  const base: StatusView = { roles: both({ kind: "ready", info }), tokensPerSecond: 6.7, completionEnabled: true };
  const reading = statusText({ ...base, reading: { done: 448, total: 1060 } });
  assert.equal(reading.text, "$(loading~spin) Hearth: reading file… 42%");
  assert.match(reading.tooltip, /448 of 1,060 tokens/);
  assert.match(statusText({ ...base, reading: { done: 1060, total: 1060 } }).text, /ready · 6\.7 tok\/s/, "done reading: ready again");
  assert.match(statusText({ ...base, reading: { done: 0, total: 5 } }).text, /ready/, "a few tokens (a keystroke) are not announced");
});

test("two models: the item says which role is loading or failed, and the tooltip lists each role's model", () => {
  const info = (path: string, name: string) => ({ path, name, architecture: "qwen2", contextSize: 2048 }) as unknown as Extract<StatusView["roles"]["chat"], { kind: "ready" }>["info"];
  const coder = { kind: "ready", info: info("/m/coder.gguf", "Qwen2.5-Coder") } as const;
  const smol = { kind: "ready", info: info("/m/smol.gguf", "SmolLM3") } as const;
  const ready = statusText({ roles: { completion: coder, chat: smol }, tokensPerSecond: undefined, completionEnabled: true });
  assert.equal(ready.text, "$(check) Hearth: ready");
  assert.match(ready.tooltip, /Completion: Qwen2\.5-Coder \(qwen2, context 2048\)\nChat: SmolLM3/);
  const loading = statusText({ roles: { completion: coder, chat: { kind: "loading", path: "/m/smol.gguf", fraction: 0.4 } }, tokensPerSecond: undefined, completionEnabled: true });
  assert.equal(loading.text, "$(sync~spin) Hearth: loading chat 40%");
  assert.match(loading.tooltip, /Completion: Qwen2\.5-Coder.*\nChat: loading \/m\/smol\.gguf \(40%\)/);
  const failed = statusText({ roles: { completion: coder, chat: { kind: "error", message: "cannot read /m/x.gguf" } }, tokensPerSecond: undefined, completionEnabled: true });
  assert.equal(failed.text, "$(error) Hearth: error (chat)");
  assert.equal(failed.error, true);
  assert.match(failed.tooltip, /Completion: Qwen2\.5-Coder.*\nChat: error: cannot read \/m\/x\.gguf/);
  // One model for both: said once, as before.
  assert.match(statusText({ roles: both(smol), tokensPerSecond: undefined, completionEnabled: true }).tooltip, /^Hearth: SmolLM3 .* for completion and chat$/);
  assert.equal(statusText({ roles: both({ kind: "loading", path: "/m/smol.gguf", fraction: 0.5 }), tokensPerSecond: undefined, completionEnabled: true }).text, "$(sync~spin) Hearth: loading 50%");
});

test("with a model, the actions offer a model file per role (the command gets the role)", () => {
  const items = actionItems({ modelConfigured: true, completionEnabled: true, models: { completion: "/m/coder.gguf", chat: "smollm3-3b-q4_k_m" } });
  const file = items.filter((i) => i.command === ACTION_COMMANDS.selectFile);
  assert.deepEqual(file.map((i) => [plain(i.label), i.args]), [["Select Completion Model File…", [null, "completion"]], ["Select Chat Model File…", [null, "chat"]]]);
  assert.deepEqual(file.map((i) => i.description), ["coder.gguf", "smollm3-3b-q4_k_m"]);
});
