// A window reload keeps what the completion prompts were cut with (prompt-memory.ts): a new
// controller on the same workspace state builds, at the same place, the very prompt the old one
// sent (same split, same window size, same token ratio: the prefix cache on disk covers it), and
// asks the tokenizer nothing. Without that
// memory the first FIM prompt after a reload is cut at a new split: the text typed since the old
// split moves in front of the suffix and every token after it differs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CancelFlag } from "../../src/client/cancellation.ts";
import { DeltaStream } from "../../src/client/stream.ts";
import { CompletionController, type CursorContext } from "../../src/completion/controller.ts";
import { DEFAULTS } from "../../src/completion/config.ts";
import { PromptBudget } from "../../src/completion/prompt-budget.ts";
import { PromptMemory, type Memento } from "../../src/completion/prompt-memory.ts";
import { mapMemento } from "../helpers/memento.ts";
import { linesOf } from "../../src/completion/window.ts";
import type { GenerateParams, GenerateStats, ModelInfo } from "../../src/worker/protocol.ts";

const STATS: GenerateStats = { promptTokens: 10, reusedTokens: 0, restoredTokens: 0, evaluatedTokens: 10, generatedTokens: 1, promptMs: 1, generateMs: 1, stopReason: "eog" };
const INFO = {
  path: "/coder.gguf",
  name: "coder",
  architecture: "qwen2",
  contextSize: 4096,
  fim: { prefix: "<|fim_prefix|>", suffix: "<|fim_suffix|>", middle: "<|fim_middle|>" },
} as unknown as ModelInfo;


/** A controller whose engine answers at once; `prompts` are what it was sent, `tokenizeCalls` how often it tokenised. */
function window(memory: Memento | undefined) {
  const prompts: string[] = [];
  let tokenizeCalls = 0;
  const client = {
    generate(params: GenerateParams) {
      prompts.push(params.prompt as string);
      const stream = new DeltaStream(() => {});
      stream.push("x\n");
      stream.end();
      return Object.assign(stream, { stats: Promise.resolve(STATS) });
    },
    async tokenize({ text }: { text: string }) {
      tokenizeCalls++;
      return Array.from({ length: Math.round(text.length / 3.6) }, () => 1);
    },
  };
  const controller = new CompletionController({
    client,
    model: async () => INFO,
    settings: () => ({ ...DEFAULTS, extraContextTokens: 0, debounceMs: 0, firstLineMs: 10_000 }),
    snippets: () => [],
    log: { debug() {}, info() {}, warn() {} },
    memory,
  });
  return { controller, prompts, tokenizeCalls: () => tokenizeCalls };
}

const HEAD = Array.from({ length: 120 }, (_, i) => `export const value${i} = compute(${i}, "item ${i}");`).join("\n") + "\n";
const TAIL = "\nexport function done(): void {\n  finish();\n}\n";

/** The cursor after HEAD + `typed`, with TAIL after it. */
function at(typed: string): CursorContext {
  const before = HEAD + typed;
  const lines = linesOf(before + TAIL);
  const line = lines.lineCount - 1 - TAIL.split("\n").length + 1;
  return { doc: "file:///src/values.ts", path: "src/values.ts", languageId: "typescript", lines, line, character: typed.length, before, explicit: true };
}

async function typeIn(controller: CompletionController, text: string): Promise<void> {
  for (let i = 1; i <= text.length; i++) await controller.provide(at(text.slice(0, i)), new CancelFlag());
}

test("after a reload the first prompt is cut as before: the same split and windows, no tokenizer call", async () => {
  const state = mapMemento();
  const before = window(state);
  await typeIn(before.controller, "export const next = ");
  const last = before.prompts.at(-1)!;
  // The split is where the first key's request was made; what was typed since follows the marker.
  assert.ok(last.endsWith("<|fim_middle|>xport const next = "), `the typed text follows the middle marker: …${JSON.stringify(last.slice(-120))}`);
  assert.equal(before.tokenizeCalls(), 1, "calibrated once");

  const after = window(state); // a reloaded window: a new controller, the same workspace state
  await after.controller.provide(at("export const next = "), new CancelFlag());
  assert.equal(after.prompts[0], last, "the prompt the saved KV was made of");
  assert.equal(after.tokenizeCalls(), 0, "the saved ratio is used");
});

test("without the memory (or when the text before the split changed) the reload's first prompt starts a new split", async () => {
  const state = mapMemento();
  const before = window(state);
  await typeIn(before.controller, "export const next = ");
  const last = before.prompts.at(-1)!;

  const forgetful = window(undefined);
  await forgetful.controller.provide(at("export const next = "), new CancelFlag());
  assert.notEqual(forgetful.prompts[0], last);
  assert.ok(forgetful.prompts[0].endsWith("<|fim_middle|>"), "a new split at the cursor: nothing typed after the marker");

  // Someone edited line 1 while the window was closed: the saved split no longer applies.
  const edited = window(state);
  const ctx = at("export const next = ");
  const changed = "// edited\n" + ctx.before;
  const lines = linesOf(changed + TAIL);
  await edited.controller.provide({ ...ctx, before: changed, lines, line: ctx.line + 1 }, new CancelFlag());
  assert.ok(edited.prompts[0].endsWith("<|fim_middle|>"), "a new split at the cursor");
});

test("the memory keeps the 16 most recent documents", async () => {
  const state = mapMemento();
  const w = window(state);
  for (let i = 0; i < 20; i++) await w.controller.provide({ ...at(""), doc: `file:///d${i}.ts` }, new CancelFlag());
  const splits = state.data.get("hearth.completion.splits") as Record<string, unknown>;
  assert.deepEqual(Object.keys(splits), Array.from({ length: 16 }, (_, i) => `file:///d${i + 4}.ts`));
});

test("a document's window (grown in idle pre-warms) is kept across a reload; a new document starts at the configured size", () => {
  const state = mapMemento();
  const before = new PromptBudget(new PromptMemory(state));
  before.speedOf({ path: "/coder.gguf" });
  before.filled("file:///a.ts", 256, "…");
  const after = new PromptBudget(new PromptMemory(state));
  after.speedOf({ path: "/coder.gguf" });
  assert.equal(after.granted("file:///a.ts", 1600), 256, "the window its KV on disk was made with");
  assert.equal(after.granted("file:///b.ts", 1600), 1600);
  assert.equal(new PromptBudget().granted("file:///a.ts", 1600), 1600, "without the memory: the configured size");
});
