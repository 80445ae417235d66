// The prefix cache on disk, on real engines: a prefix written by one engine and restored by
// another (a fresh load of the same file, as after a window reload) gives logits identical to a
// cold evaluation of the same tokens — for smollm3 (NoPE layers), qwen2 (none) and the trained
// stories260K — and only the rest of the prompt is evaluated. Every kind of bad file (a flipped
// byte, a truncated file, another model's file, an older format) is deleted with a log line and
// the prompt is evaluated as if cold, with the same logits.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Engine } from "../../src/engine/engine.ts";
import { PrefixCache } from "../../src/engine/prefix-cache.ts";
import { modelIdentity } from "../../src/engine/model/identity.ts";
import { readGguf } from "../../src/engine/gguf/reader.ts";
import { makeModelFixture } from "../conformance/fixtures.ts";
import { STORIES_PATH } from "../helpers/gguf-fixtures.ts";

const root = mkdtempSync(join(tmpdir(), "hearth-prefix-cache-"));
const engines: Engine[] = [];
after(async () => {
  for (const e of engines) await e.dispose();
  rmSync(root, { recursive: true, force: true });
});

const MODELS = {
  smollm3: () => makeModelFixture({ arch: "smollm3", weights: "Q4_K_M" }).path,
  qwen2: () => makeModelFixture({ arch: "qwen2", weights: "Q4_K_M" }).path,
  stories260K: () => STORIES_PATH,
};

async function load(path: string, dir?: string, log: string[] = []): Promise<Engine> {
  // A batch of 16 so the prompt spans several batches, split differently in the two runs.
  const e = await Engine.load(path, { threads: 1, contextSize: 256, batchSize: 16 });
  engines.push(e);
  if (dir) await e.usePrefixCache({ dir, minTokens: 8, log: (level, m) => log.push(`${level}: ${m}`) });
  return e;
}

/** A prompt of `n` ids spread over the vocabulary (deterministic). */
function prompt(e: Engine, n: number): number[] {
  const v = e.tokenizer.vocabSize;
  return Array.from({ length: n }, (_, i) => (i * 7919 + 11) % v);
}

function entries(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((d) => readdirSync(join(dir, d)).map((f) => join(dir, d, f)));
}

for (const [name, path] of Object.entries(MODELS)) {
  test(`${name}: a prefix restored from disk gives the logits of a cold evaluation, and only the rest is evaluated`, async () => {
    const dir = join(root, `exact-${name}`);
    const cold = await load(path());
    const tokens = prompt(cold, 90);
    const reference = await cold.session.evaluate("completion", tokens);
    assert.equal(reference.evaluated, 90);

    const writer = await load(path(), dir);
    await writer.session.evaluate({ slot: "completion", document: "a.ts" }, tokens.slice(0, 70));
    assert.equal(await writer.session.savePrefix({ slot: "completion", document: "a.ts" }), true, "the prefix was written");
    assert.equal(await writer.session.savePrefix({ slot: "completion", document: "a.ts" }), false, "an entry covering it exists: nothing new to write");
    assert.equal(entries(dir).length, 1);

    const reader = await load(path(), dir); // a fresh engine, as after a reload
    const r = await reader.session.evaluate({ slot: "completion", document: "a.ts" }, tokens);
    assert.equal(r.restored, 70);
    assert.equal(r.reused, 0);
    assert.equal(r.evaluated, 20);
    assert.deepEqual(Array.from(r.logits), Array.from(reference.logits), "bit-identical logits");

    // The whole prompt stored: only its last token is evaluated again (its logits are needed).
    await reader.session.savePrefix({ slot: "completion", document: "a.ts" });
    const again = await load(path(), dir);
    const whole = await again.session.evaluate("completion", tokens);
    assert.equal(whole.restored, 89);
    assert.equal(whole.evaluated, 1);
    assert.deepEqual(Array.from(whole.logits), Array.from(reference.logits));
    assert.equal(entries(dir).length, 1, "the newer state of a.ts replaced the older entry");
  });
}

/** Writes one smollm3 entry with a fresh engine; returns its path, its prompt and the cold logits. */
async function oneEntry(dir: string): Promise<{ file: string; tokens: number[]; logits: number[] }> {
  const e = await load(MODELS.smollm3(), dir);
  const tokens = prompt(e, 60);
  const cold = await e.session.evaluate("completion", tokens);
  assert.equal(await e.session.savePrefix("completion"), true);
  const [file] = entries(dir);
  return { file, tokens, logits: Array.from(cold.logits) };
}

function edit(file: string, change: (b: Buffer) => void): void {
  const b = readFileSync(file);
  change(b);
  writeFileSync(file, b);
}

/** Each spoils the smollm3 entry `file` (or puts a bad one beside it) and returns the bad file. */
const BAD_FILES: Record<string, (file: string, tokens: number[]) => Promise<string>> = {
  "a flipped byte in the payload": async (file) => (edit(file, (b) => (b[b.length - 100] ^= 0x10)), file),
  "a flipped byte in the tokens": async (file) => (edit(file, (b) => (b[48 + b.readUInt32LE(12) + 4 * 10] ^= 0x01)), file),
  "a truncated file": async (file) => (truncateSync(file, Math.floor(readFileSync(file).length / 2)), file),
  "an older format version": async (file) => (edit(file, (b) => b.writeUInt32LE(0, 8)), file),
  "another model's file": async (file, tokens) => {
    // The qwen2 fixture's entry for the same token ids, moved to where smollm3's entries live.
    const dir = join(file, "..", "..");
    const q = await load(MODELS.qwen2(), join(dir, "..", `${file.split("/").at(-3)}-qwen2`));
    await q.session.evaluate("completion", tokens);
    await q.session.savePrefix("completion");
    const [theirs] = entries(join(dir, "..", `${file.split("/").at(-3)}-qwen2`));
    rmSync(file);
    const bad = join(file, "..", theirs.split("/").at(-1)!);
    renameSync(theirs, bad);
    return bad;
  },
};

for (const [what, spoil] of Object.entries(BAD_FILES)) {
  test(`${what} is skipped and deleted with a log line, and the output equals a cold run`, async () => {
    const dir = join(root, `bad-${what.replace(/\W+/g, "-")}`);
    const { file, tokens, logits } = await oneEntry(dir);
    const bad = await spoil(file, tokens);
    const log: string[] = [];
    const e = await load(MODELS.smollm3(), dir, log);
    const r = await e.session.evaluate("completion", tokens);
    assert.equal(r.restored, 0, "nothing restored");
    assert.equal(r.evaluated, tokens.length, "evaluated as if cold");
    assert.deepEqual(Array.from(r.logits), logits, "the logits of a cold run");
    assert.ok(!entries(dir).includes(bad), `${bad} was deleted`);
    assert.equal(log.filter((l) => /skipped and deleted/.test(l)).length, 1, log.join("\n"));
  });
}

test("the size cap deletes the least recently used entries (a restore counts as a use); clear() deletes everything", async () => {
  const dir = join(root, "cap");
  const w = await load(MODELS.stories260K(), dir);
  const docs = [1, 2, 3].map((d) => prompt(w, 40).map((t, i) => (i === 0 ? t : (t + d * 101) % w.tokenizer.vocabSize)));
  const cache = w.session.prefixCache!;
  for (const [i, tokens] of docs.slice(0, 2).entries()) {
    await w.session.evaluate({ slot: "completion", document: `d${i}` }, tokens);
    assert.equal(await w.session.savePrefix({ slot: "completion", document: `d${i}` }), true);
    await new Promise((r) => setTimeout(r, 20)); // distinct mtimes
  }
  const oneEntry = (await cache.usage()).bytes / 2;
  // Entry 0 is used (restored) after entry 1 was written: entry 1 is now the least recently used.
  const r = await load(MODELS.stories260K(), dir);
  assert.equal((await r.session.evaluate("completion", docs[0])).restored, 39);
  await new Promise((r) => setTimeout(r, 20));
  const capped = await load(MODELS.stories260K(), dir);
  const small = new PrefixCache(capped.model.kernels, capped.model.layout, {
    dir,
    model: await capped.model.identity(),
    maxBytes: Math.floor(oneEntry * 2.5),
    minTokens: 8,
  });
  capped.session.prefixCache = small;
  await capped.session.evaluate({ slot: "completion", document: "d2" }, docs[2]);
  assert.equal(await capped.session.savePrefix({ slot: "completion", document: "d2" }), true);
  const left = await load(MODELS.stories260K(), dir);
  const restored = [];
  for (const tokens of docs) {
    left.model.slot("completion").clear();
    restored.push((await left.session.evaluate("completion", tokens)).restored);
  }
  assert.deepEqual(restored, [39, 0, 39], "entry 1 (least recently used) was evicted");
  await small.clear();
  assert.deepEqual(await small.usage(), { bytes: 0, entries: 0 });
});

test("a save gives up when the slot is rewritten while it copies (no torn entries)", async () => {
  const dir = join(root, "torn");
  const e = await load(MODELS.smollm3(), dir);
  await e.session.evaluate("completion", prompt(e, 60));
  const slot = e.model.pool("completion").peek("")!;
  // The save copies one layer per event-loop turn: a request truncates the slot after the first.
  const k = e.model.kernels;
  const bytes = k.bytes.bind(k);
  k.bytes = (ptr, n) => {
    k.bytes = bytes;
    setImmediate(() => slot.truncate(10));
    return bytes(ptr, n);
  };
  assert.equal(await e.session.savePrefix("completion"), false);
  assert.deepEqual(entries(dir), []);
  await e.session.evaluate("completion", prompt(e, 60));
  assert.equal(await e.session.savePrefix("completion"), true, "undisturbed, the same save is written");
});

test("pre-warm (warm) evaluates every token without logits; interrupted, the slot keeps the finished batches", async () => {
  const e = await load(MODELS.stories260K());
  const tokens = prompt(e, 100);
  // Cancelled after the first batch (8 tokens, the pre-warm's batch): the abort runs between two batches.
  let stop = false;
  const warming = e.session.warm({ slot: "completion", document: "w" }, tokens, { get cancelled() { return stop; } });
  setImmediate(() => (stop = true));
  await assert.rejects(warming, { name: "AbortError" });
  const slot = e.model.pool("completion").peek("w")!;
  assert.equal(slot.tokens.length, 8, "the finished batch is kept");
  const rest = await e.session.warm({ slot: "completion", document: "w" }, tokens);
  assert.deepEqual([rest.reusedTokens, rest.restoredTokens, rest.evaluatedTokens], [8, 0, 92], "resumed where it stopped");
  assert.equal(slot.tokens.length, 100);
  const next = await e.session.evaluate({ slot: "completion", document: "w" }, [...tokens, 7]);
  assert.equal(next.evaluated, 1);
});

test("a model's identity is computed once per file state and differs between files", async () => {
  const ids = [];
  for (const p of [MODELS.smollm3(), MODELS.qwen2(), MODELS.smollm3()]) ids.push(await modelIdentity(p, (await readGguf(p)).dataOffset));
  assert.equal(ids[0], ids[2]);
  assert.notEqual(ids[0], ids[1]);
  assert.match(ids[0], /^[0-9a-f]{64}$/);
});
