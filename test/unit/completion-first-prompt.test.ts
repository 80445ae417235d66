// The first suggestion in a newly opened file, through the real controller, engine client and
// engine worker (dist/worker.js) with the real stories260K model (issue 14 item 1). The machine is
// made slow the way the controller sees it: the worker's stats report 100 ms per evaluated prompt
// token (10 tok/s; the tiny model itself is fast). After one request has measured that, the first
// prompt in a long new file is small (what 10 tok/s evaluate in the target), keystrokes keep that
// window and evaluate ≤ 3 tokens, the idle pre-warm grows the window step by step to the
// configured budget, and the keystrokes after it use the grown window, still evaluating ≤ 3.
// A newer pre-warm stops an older one's growth; after a reload a prompt the prefix cache on disk
// holds is restored at its full window; a grown window whose slot went to other files is cut.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CancelFlag } from "../../src/client/cancellation.ts";
import { EngineClient, type RequestOptions } from "../../src/client/engine-client.ts";
import { CompletionController, type CompletionRecord, type CursorContext } from "../../src/completion/controller.ts";
import { DEFAULTS } from "../../src/completion/config.ts";
import { positionOf } from "../../src/completion/split-point.ts";
import { linesOf } from "../../src/completion/window.ts";
import { affordableTokens } from "../../src/completion/prompt-budget.ts";
import type { GenerateParams, WarmParams, WarmResult } from "../../src/worker/protocol.ts";

const ROOT = join(__dirname, "..", "..");
const WORKER = join(ROOT, "dist", "worker.js");
const MODEL = join(ROOT, "test", "fixtures", "stories260K.gguf");
if (!existsSync(WORKER)) throw new Error(`${WORKER} is missing: run npm run build first`);

/** ms per evaluated prompt token the stats report: a machine that evaluates 10 tok/s. */
const SLOW_MS_PER_TOKEN = 100;
const PREFIX_TOKENS = 384;

const SENTENCES = [
  "Once upon a time, there was a little girl named Lily.",
  "She loved to play outside in the park with her friends.",
  "One day, she saw a big red ball under a tree.",
  "Tom was sad because his dog ran away from home.",
  "The sun was hot and the birds sang in the sky.",
  "Mom said they could go to the beach after lunch.",
];
/** A long file: far more than the prefix budget. */
const LONG = Array.from({ length: 60 }, (_, i) => SENTENCES[i % SENTENCES.length]).join("\n") + "\n";

const client = new EngineClient({ workerPath: WORKER });
after(() => client.dispose());

/** The real client, with prompt times as a slow machine would report them; `beforeWarm` may hold a pre-warm back. */
function slowClient(beforeWarm: (params: WarmParams) => Promise<void>) {
  return {
    generate(params: GenerateParams, options?: RequestOptions) {
      const g = client.generate(params, options);
      return Object.assign(g, { stats: g.stats.then((s) => ({ ...s, promptMs: s.evaluatedTokens * SLOW_MS_PER_TOKEN })) });
    },
    tokenize: client.tokenize.bind(client),
    cached: client.cached.bind(client),
    async warm(params: WarmParams, options?: RequestOptions): Promise<WarmResult | undefined> {
      await beforeWarm(params);
      const r = await client.warm(params, options);
      return r && { ...r, promptMs: r.evaluatedTokens * SLOW_MS_PER_TOKEN };
    },
  };
}

/** A controller on the slow client, and `complete`: a new request at a place, until it ended. */
async function setup(beforeWarm: (params: WarmParams) => Promise<void> = async () => {}, promptCacheDir?: string, otherText = OTHER) {
  const info = await client.load({ path: MODEL, threads: 1, contextSize: 1024, promptCache: promptCacheDir ? { dir: promptCacheDir } : undefined });
  const controller = new CompletionController({
    client: slowClient(beforeWarm),
    model: async () => info,
    settings: () => ({ ...DEFAULTS, maxLines: 1, prefixTokens: PREFIX_TOKENS, extraContextTokens: 0, debounceMs: 0, adaptiveDebounce: false, firstLineMs: 60_000 }),
    snippets: () => [],
    log: { debug() {}, info() {}, warn: (m) => console.error(m) },
  });
  const records: CompletionRecord[] = [];
  controller.onDidFinish((r) => records.push(r));
  const complete = async (ctx: CursorContext): Promise<CompletionRecord> => {
    // A new request each time: not the suggestion cache, not the last generation's text.
    controller.cancelInflight();
    controller.cache.clear();
    const n = records.length;
    await controller.provide(ctx, new CancelFlag());
    while (records.length === n) await new Promise((r) => setTimeout(r, 5));
    return records[n];
  };
  // Another file first: its request measures the (slow) prompt speed.
  const other = await complete(at("other.txt", otherText));
  assert.ok(other.stats.evaluatedTokens >= 32, `${other.stats.evaluatedTokens} evaluated: enough to measure`);
  return { controller, complete };
}

/** What 10 tok/s evaluate within the target. */
const AFFORDABLE = affordableTokens(1000 / SLOW_MS_PER_TOKEN);
const OTHER = SENTENCES.join(" ").repeat(2);

function at(doc: string, text: string): CursorContext {
  const { line, character } = positionOf(text);
  return { doc, path: doc, languageId: "plaintext", lines: linesOf(text), line, character, before: text, explicit: true };
}

test("with a slow measured prompt speed, a new file's first prompt is small, keystrokes evaluate ≤ 3 tokens, and the pre-warm grows the window", async () => {
  const { controller, complete } = await setup();
  try {
    // The newly opened long file: its first prompt holds what 10 tok/s evaluate in the target.
    let text = LONG;
    const first = await complete(at("long.txt", text));
    assert.ok(first.stats.promptTokens <= AFFORDABLE + 8, `first prompt: ${first.stats.promptTokens} tokens (affordable ${AFFORDABLE})`);
    assert.equal(first.stats.reusedTokens, 0, "cold");

    // Typing keeps that window: only the new tokens are evaluated.
    for (const ch of "Lil") {
      text += ch;
      const r = await complete(at("long.txt", text));
      assert.ok(r.stats.evaluatedTokens <= 3, `keystroke '${ch}': ${r.stats.evaluatedTokens} evaluated of ${r.stats.promptTokens}`);
    }

    // A pause: the pre-warm grows the window to the configured budget, one cached step at a time.
    const warmed = await controller.prewarm(at("long.txt", text));
    assert.ok(warmed && warmed.promptTokens > 3 * first.stats.promptTokens, `grown to ${warmed?.promptTokens} tokens`);

    // The next keystrokes use the grown window, and it is cached.
    for (const ch of "y ") {
      text += ch;
      const r = await complete(at("long.txt", text));
      assert.ok(r.stats.promptTokens > 3 * first.stats.promptTokens, `keystroke '${ch}': a ${r.stats.promptTokens}-token prompt`);
      assert.ok(r.stats.evaluatedTokens <= 3, `keystroke '${ch}': ${r.stats.evaluatedTokens} evaluated of ${r.stats.promptTokens}`);
    }
  } finally {
    controller.dispose();
    await client.unload(); // the next test starts with empty slots
  }
});

test("a pre-warm for another editor stops the growth of the one left behind (the worker runs pre-warms oldest first)", async () => {
  let warmsOfLong = 0;
  let release: (() => void) | undefined;
  // The long file's second pre-warm (its first growth step) waits until the user has moved on.
  const { controller, complete } = await setup((p) => (p.document === "long.txt" && warmsOfLong++ === 1 ? new Promise<void>((r) => (release = r)) : Promise.resolve()));
  try {
    const left = controller.prewarm(at("long.txt", LONG));
    while (!release) await new Promise((r) => setTimeout(r, 5));
    await controller.prewarm(at("other.txt", OTHER)); // another editor became active
    release();
    const warmed = await left;
    assert.ok(warmed && warmed.promptTokens <= AFFORDABLE + 8, `the left-behind file was warmed at its first window only: ${warmed?.promptTokens} tokens`);
    assert.equal(warmsOfLong, 2, "no further growth steps");
    // Back in it: that window, cached.
    const r = await complete(at("long.txt", `${LONG}L`));
    assert.ok(r.stats.promptTokens <= AFFORDABLE + 8 && r.stats.evaluatedTokens <= 3, `${r.stats.evaluatedTokens} evaluated of ${r.stats.promptTokens}`);
  } finally {
    controller.dispose();
    await client.unload(); // the next test starts with empty slots
  }
});

test("after a window reload, the first request in a file whose prompt is in the prefix cache on disk keeps the full window (restored, not cut)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hearth-first-prompt-"));
  try {
    const before = await setup(undefined, dir);
    try {
      const warmed = await before.controller.prewarm(at("long.txt", LONG)); // grown to the full window
      assert.ok(warmed && warmed.promptTokens > 3 * AFFORDABLE, `${warmed?.promptTokens} tokens warmed`);
    } finally {
      before.controller.dispose();
      await client.unload(); // what a reload does: the worker writes its slots' prefixes to disk first
    }
    // A new extension host: nothing remembered. (Its speed is measured on text the disk does not hold.)
    const { controller, complete } = await setup(undefined, dir, [...SENTENCES].reverse().join(" ").repeat(2));
    try {
      const r = await complete(at("long.txt", LONG));
      assert.ok(r.stats.promptTokens > 3 * AFFORDABLE, `a ${r.stats.promptTokens}-token prompt (affordable ${AFFORDABLE})`);
      assert.ok(r.stats.restoredTokens > 3 * AFFORDABLE && r.stats.evaluatedTokens <= 3, `${r.stats.restoredTokens} restored, ${r.stats.evaluatedTokens} evaluated`);
    } finally {
      controller.dispose();
      await client.unload();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("back in a file with a grown window after two others took the worker's two slots: the worker is asked, and the prompt is cut instead of evaluated whole", async () => {
  const { controller, complete } = await setup(); // two completion slots (the default)
  try {
    const warmed = await controller.prewarm(at("long.txt", LONG));
    assert.ok(warmed && warmed.promptTokens > 3 * AFFORDABLE, `grown to ${warmed?.promptTokens} tokens`);
    await complete(at("b.txt", [...SENTENCES].reverse().join("\n").repeat(3)));
    await complete(at("c.txt", SENTENCES.map((x) => x.toUpperCase()).join("\n").repeat(3))); // long.txt's slot goes
    const back = await complete(at("long.txt", LONG));
    assert.ok(back.stats.promptTokens <= AFFORDABLE + 8, `back in long.txt: a ${back.stats.promptTokens}-token prompt, ${back.stats.evaluatedTokens} evaluated`);
  } finally {
    controller.dispose();
    await client.unload();
  }
});
