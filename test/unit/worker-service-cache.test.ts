// The worker's service with the real trained stories260K model, driven by the same messages the
// extension host sends: completion slots per document (switching back to a document evaluates only
// its new tokens; with 2 slots the least recently used of 3 documents is evicted), a pre-warm
// request (the next request evaluates only what follows it), and the prefix cache in a folder
// (after an unload — what a window reload does to the worker — a new service restores the prompt
// from disk and evaluates only its last token; a corrupted file is ignored and the text is the same).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EngineService } from "../../src/worker/service.ts";
import type { Event, GenerateStats, Methods, Method, WarmResult } from "../../src/worker/protocol.ts";
import { STORIES_PATH } from "../helpers/gguf-fixtures.ts";
import { CancelFlag } from "../../src/engine/cancel.ts";

const root = mkdtempSync(join(tmpdir(), "hearth-service-cache-"));
after(() => rmSync(root, { recursive: true, force: true }));

class Harness {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; text: string[]; onDelta?: () => void }>();
  readonly logs: string[] = [];
  readonly service = new EngineService((ev: Event) => this.onEvent(ev));

  call<M extends Method>(method: M, params: Methods[M]["params"], onDelta?: () => void): Promise<{ result: Methods[M]["result"]; text: string }> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const text: string[] = [];
      this.waiting.set(id, { resolve: (result) => resolve({ result: result as Methods[M]["result"], text: text.join("") }), reject, text, onDelta });
      this.service.handle({ kind: "request", id, method, params } as never);
    });
  }

  private onEvent(ev: Event): void {
    if (ev.kind === "log") return void this.logs.push(ev.message);
    const w = this.waiting.get(ev.id);
    if (!w) return;
    if (ev.kind === "delta") {
      w.text.push(ev.text);
      w.onDelta?.();
    }
    if (ev.kind === "done") w.resolve(ev.result);
    if (ev.kind === "error") w.reject(Object.assign(new Error(ev.error.message), { name: ev.error.name }));
    if (ev.kind === "done" || ev.kind === "error") this.waiting.delete(ev.id);
  }
}

const STORY = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. One day, she saw a big red ball under a tree. ";
const DOCS = { a: `${STORY}Lily ran to the ball and`, b: `${STORY.replace("Lily", "Tom")}Tom was sad because`, c: `${STORY.replace("park", "garden")}The sun was` };

async function loaded(dir: string | undefined, completionSlots = 2): Promise<Harness> {
  const h = new Harness();
  await h.call("load", { path: STORIES_PATH, threads: 1, contextSize: 256, completionSlots, promptCache: dir ? { dir } : undefined });
  return h;
}

async function complete(h: Harness, document: string, prompt: string): Promise<{ stats: GenerateStats; text: string }> {
  const { result, text } = await h.call("generate", { slot: "completion", document, prompt, maxTokens: 6, sampling: { temperature: 0 } });
  return { stats: result, text };
}

test("each document keeps its own slot: switching back evaluates only the new tokens; 2 slots for 3 documents evict the least recently used", async () => {
  const h = await loaded(undefined, 2);
  const a1 = await complete(h, "a", DOCS.a);
  assert.ok(a1.stats.evaluatedTokens > 30, "the first request in a document is cold");
  await complete(h, "b", DOCS.b);
  const a2 = await complete(h, "a", `${DOCS.a} said`);
  assert.ok(a2.stats.evaluatedTokens <= 3, `back in a: ${a2.stats.evaluatedTokens} tokens evaluated`);
  assert.equal(a2.stats.reusedTokens, a1.stats.promptTokens, "a's whole earlier prompt was still cached");
  await complete(h, "c", DOCS.c); // b is now the least recently used: its slot goes to c
  const b2 = await complete(h, "b", `${DOCS.b} he`);
  assert.ok(b2.stats.evaluatedTokens > 30, `b was evicted: ${b2.stats.evaluatedTokens} evaluated`);
  const c2 = await complete(h, "c", `${DOCS.c} hot`);
  assert.ok(c2.stats.evaluatedTokens <= 3, "c stayed: b took the slot of a, the least recently used then");
  const a3 = await complete(h, "a", `${DOCS.a} said`);
  assert.ok(a3.stats.evaluatedTokens > 30, "a was evicted for b");
  await h.service.dispose();
});

test("a pre-warm request evaluates a document's prompt; the next keystroke there evaluates ≤ 3 tokens, and the log says what was warmed", async () => {
  const h = await loaded(undefined);
  const { result } = await h.call("warm", { slot: "completion", document: "a", prompt: DOCS.a });
  const warm = result as WarmResult;
  assert.ok(warm.evaluatedTokens > 30);
  const next = await complete(h, "a", `${DOCS.a} said`);
  assert.ok(next.stats.evaluatedTokens <= 3, `${next.stats.evaluatedTokens} evaluated after the pre-warm`);
  assert.ok(h.logs.some((l) => /^pre-warmed completion \(a\): \d+ tokens .* in \d+ ms/.test(l)), h.logs.join("\n"));
  await h.service.dispose();
});

test("a pre-warm whose flag the host set stops in the worker (a newer pre-warm on the host replaces it there too)", async () => {
  const h = await loaded(undefined);
  const cancel = new CancelFlag();
  const warming = h.call("warm", { slot: "completion", document: "a", prompt: DOCS.a, cancelFlag: cancel.buffer });
  cancel.cancel(); // before the worker started on it: it must not evaluate the prompt at all
  await assert.rejects(warming, (err: Error) => err.name === "AbortError");
  const next = await complete(h, "a", DOCS.a);
  assert.equal(next.stats.reusedTokens, 0, "nothing of the cancelled pre-warm is in the slot");
  await h.service.dispose();
});

test("a completion cancelled before it started does not take the place of the prefix an earlier one left for the disk", async () => {
  const dir = join(root, "cancelled-before-start");
  const first = await loaded(dir);
  await complete(first, "a", DOCS.a);
  const cancel = new CancelFlag();
  cancel.cancel();
  const { result } = await first.call("generate", { slot: "completion", document: "a", prompt: `${DOCS.a} said`, maxTokens: 4, cancelFlag: cancel.buffer });
  assert.equal(result.stopReason, "cancelled");
  await first.call("unload", {});
  assert.ok(first.logs.some((l) => /prefix cache: saved \d+ tokens of completion \(a\)/.test(l)), first.logs.join("\n"));
  await first.service.dispose();
});

test("after an unload (a window reload), a new worker restores the prompt from disk; a corrupted cache file is ignored and the text is the same", async () => {
  const dir = join(root, "reload");
  const cold = await loaded(undefined);
  const reference = await complete(cold, "a", DOCS.a);
  await cold.service.dispose();

  const first = await loaded(dir);
  await complete(first, "a", DOCS.a);
  await first.call("unload", {}); // writes what the slots hold before they go
  assert.ok(first.logs.some((l) => /prefix cache: saved \d+ tokens of completion \(a\)/.test(l)), first.logs.join("\n"));
  await first.service.dispose();

  const second = await loaded(dir);
  const restored = await complete(second, "a", DOCS.a);
  assert.equal(restored.stats.restoredTokens, reference.stats.promptTokens - 1, "all but the last prompt token came from disk");
  assert.equal(restored.stats.evaluatedTokens, 1);
  assert.equal(restored.text, reference.text);
  await second.service.dispose();

  // Flip a byte in the middle of every stored file: each is deleted, the prompt evaluated cold.
  for (const sub of readdirSync(dir)) {
    for (const f of readdirSync(join(dir, sub))) {
      const p = join(dir, sub, f);
      const bytes = readFileSync(p);
      bytes[bytes.length >> 1] ^= 0xff;
      writeFileSync(p, bytes);
    }
  }
  const third = await loaded(dir);
  const afterCorruption = await complete(third, "a", DOCS.a);
  assert.equal(afterCorruption.stats.restoredTokens, 0);
  assert.equal(afterCorruption.stats.evaluatedTokens, reference.stats.promptTokens);
  assert.equal(afterCorruption.text, reference.text);
  await third.service.dispose();
});

test("a completion cancelled by the next keystroke after its first text still leaves its prompt for the disk", async () => {
  const dir = join(root, "cancelled");
  const first = await loaded(dir);
  const cancel = new CancelFlag();
  const params = { slot: "completion" as const, document: "a", prompt: DOCS.a, maxTokens: 64, sampling: { temperature: 0 }, cancelFlag: cancel.buffer };
  const { result } = await first.call("generate", params, () => cancel.cancel());
  assert.equal(result.stopReason, "cancelled");
  await first.call("unload", {});
  assert.ok(first.logs.some((l) => /prefix cache: saved \d+ tokens of completion \(a\)/.test(l)), first.logs.join("\n"));
  await first.service.dispose();

  const second = await loaded(dir);
  const restored = await complete(second, "a", DOCS.a);
  assert.equal(restored.stats.restoredTokens, restored.stats.promptTokens - 1, "all but the last prompt token came from disk");
  await second.service.dispose();
});

// The timeout only turns the old behaviour (no answer at all) into a failure instead of a hang.
test("a request the worker does not know is answered with an error naming it (not left waiting)", { timeout: 10_000 }, async () => {
  const h = new Harness();
  await assert.rejects(h.call("no-such-request" as Method, {} as never), /does not know the request "no-such-request"/);
  await h.service.dispose();
});

test("the clear-cache request empties the folder", async () => {
  const dir = join(root, "clear");
  const h = await loaded(dir);
  await complete(h, "a", DOCS.a);
  await h.call("unload", {});
  assert.ok(readdirSync(dir).length > 0);
  await h.call("clearPromptCache", { dir });
  assert.deepEqual(readdirSync(dir).flatMap((d) => readdirSync(join(dir, d))), []);
  await h.service.dispose();
});
