// Engine level, with real GGUF files: the prompts the completion code builds keep the completion
// slot's KV useful. Typing one more character evaluates only the tokens after the first one that
// changed, which are the new ones at the end (FIM prompts too: the typed text follows the middle
// marker, see split-point.ts), and the suggestion equals the one a cold request (an empty slot) gives.
// qwen2 fixture: a vocabulary with Qwen's FIM tokens (FIM prompts); stories260K: prefix-only.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Engine } from "../../src/engine/engine.ts";
import { makeModelFixture } from "../conformance/fixtures.ts";
import { STORIES_PATH } from "../helpers/gguf-fixtures.ts";
import { buildPrompt, type PromptFormat } from "../../src/completion/prompt.ts";
import { positionOf } from "../../src/completion/split-point.ts";
import { linesOf, prefixWindow, suffixWindow } from "../../src/completion/window.ts";

const SOURCE = `import { readFileSync } from "node:fs";

export function add(a: number, b: number): number {
  return a + b;
}

export function total(values: number[]): number {
  let sum = 0;
  for (const v of values) sum = add(sum, v);
  return sum;
}

export function main(path: string): void {
  const values = readFileSync(path, "utf8").split("\\n").map(Number);
  console.log(total(values));
}
`;

/**
 * The prompt the controller builds while the user retypes SOURCE[split, end) at `split`: the
 * document holds what was typed so far (up to `offset`), then the rest of the file from `end` on.
 */
function promptAt(split: number, offset: number, end: number, format: PromptFormat): string {
  const text = SOURCE.slice(0, offset) + SOURCE.slice(end);
  const doc = linesOf(text);
  const s = positionOf(text.slice(0, split));
  const c = positionOf(text.slice(0, offset));
  return buildPrompt(
    {
      path: "src/total.ts",
      languageId: "typescript",
      prefix: prefixWindow(doc, s.line, s.character, 400).text,
      typed: SOURCE.slice(split, offset),
      suffix: format.kind === "fim" ? suffixWindow(doc, c.line, c.character, 60) : "",
      snippets: [{ path: "src/other.ts", languageId: "typescript", text: "export const LIMIT = 10;" }],
    },
    format,
  ).text;
}

async function run(engine: Engine, slot: string, prompt: string) {
  const g = engine.generate({ slot, prompt, maxTokens: 12, stop: ["\n\n"] });
  let text = "";
  for (;;) {
    const r = await g.next();
    if (r.done) return { text, stats: r.value };
    text += r.value.text;
  }
}

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

async function typeAlong(engine: Engine, format: PromptFormat): Promise<void> {
  const split = SOURCE.indexOf("let sum");
  const end = split + 13;
  let previous = promptAt(split, split, end, format);
  await run(engine, "completion", previous);
  let reusedTotal = 0;
  for (let offset = split + 1; offset <= end; offset++) {
    const prompt = promptAt(split, offset, end, format);
    const warm = await run(engine, "completion", prompt);
    const ids = engine.tokenize(prompt);
    const shared = commonPrefix(engine.tokenize(previous), ids);
    const s = warm.stats;
    assert.equal(s.promptTokens, ids.length);
    assert.equal(s.reusedTokens, Math.min(shared, ids.length - 1), `offset ${offset}: the slot kept the shared prefix`);
    assert.equal(s.evaluatedTokens, ids.length - s.reusedTokens, "only the rest was evaluated");
    // The changed token at the cursor (a merge may swallow the one before it) and the new one.
    assert.ok(s.evaluatedTokens <= 3, `offset ${offset}: ${s.evaluatedTokens} evaluated of ${ids.length}`);
    reusedTotal += s.reusedTokens;
    const cold = await run(engine, "chat", prompt); // another slot, cleared first: a cold request
    assert.equal(cold.stats.reusedTokens, 0);
    assert.equal(warm.text, cold.text, `offset ${offset}: the same suggestion as a cold request`);
    engine.model.slot("chat").clear();
    previous = prompt;
  }
  assert.ok(reusedTotal > 0);
}

test("FIM prompts (qwen2 fixture with <|fim_*|> tokens): a keystroke evaluates only the last token or two, not the suffix", async () => {
  const fx = makeModelFixture({ arch: "qwen2", weights: "Q8_0" });
  const engine = await Engine.load(fx.path, { threads: 1, contextSize: 512 });
  try {
    const fim = engine.info().fim;
    assert.deepEqual(fim, { prefix: "<|fim_prefix|>", suffix: "<|fim_suffix|>", middle: "<|fim_middle|>" });
    await typeAlong(engine, { kind: "fim", fim: fim! });
  } finally {
    await engine.dispose();
  }
});

test("prefix-only prompts (stories260K): a keystroke evaluates only the last token or two", async () => {
  const engine = await Engine.load(STORIES_PATH, { threads: 1, contextSize: 512 });
  try {
    assert.equal(engine.info().fim, undefined, "no FIM tokens: prefix-only");
    await typeAlong(engine, { kind: "prefix" });
  } finally {
    await engine.dispose();
  }
});
