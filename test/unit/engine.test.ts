// The engine as a user of it sees it: clear refusals (unknown architecture, a model that cannot fit,
// unsupported tensor types) before anything is allocated; text generation with BOS as the model
// says, stop strings and end-of-generation tokens; cancellation in the middle of a long prompt.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Engine } from "../../src/engine/engine.ts";
import { CancelFlag } from "../../src/engine/cancel.ts";
import { Model } from "../../src/engine/model/model.ts";
import { parseGguf } from "../../src/engine/gguf/reader.ts";
import { buildGguf, str, tensorBytes } from "../reference/gguf-writer.ts";
import type { GgufTypedValue } from "../../src/engine/gguf/types.ts";
import { GgmlType } from "../../src/engine/quant/types.ts";
import { makeModelFixture } from "../conformance/fixtures.ts";
import { makeTmpDir, STORIES_PATH } from "../helpers/gguf-fixtures.ts";

const reference = JSON.parse(readFileSync(join(__dirname, "..", "fixtures", "stories260K.greedy-reference.json"), "utf8"));

const tmp = makeTmpDir();
after(async () => (await tmp).cleanup());

/** A copy of a model file with some metadata replaced and some tensors' types relabelled. */
async function variantOf(source: string, name: string, edit: { metadata?: Record<string, GgufTypedValue>; retype?: Record<string, GgmlType> }): Promise<string> {
  const bytes = readFileSync(source);
  const f = parseGguf(bytes, source);
  const metadata: Record<string, GgufTypedValue> = {};
  for (const [k, e] of f.metadata) metadata[k] = { type: e.type, value: e.value };
  Object.assign(metadata, edit.metadata ?? {});
  const tensors = f.tensors.map((t) => {
    const type = edit.retype?.[t.name] ?? t.type;
    const data = bytes.subarray(t.offset, t.offset + t.byteSize);
    // A relabelled tensor gets (zero) bytes of its new type's size.
    return type === t.type ? { name: t.name, type, dims: t.dims, data } : { name: t.name, type, dims: t.dims, data: new Uint8Array(tensorBytes({ type, dims: t.dims })) };
  });
  return (await tmp).write(name, buildGguf({ version: 3, metadata, tensors }));
}

test("an unknown architecture is refused, naming it and the supported ones", async () => {
  const path = await variantOf(STORIES_PATH, "gptj.gguf", { metadata: { "general.architecture": str("gptj") } });
  await assert.rejects(Model.load(path), /architecture "gptj" is not supported \(supported: llama, smollm3, qwen2, qwen3\)/);
});

test("an unsupported tensor type is refused, naming the tensor and the type", async () => {
  // Rows of 256 (a generated file): IQ2_XXS blocks hold 256 elements.
  const path = await variantOf(makeModelFixture({ arch: "llama", weights: "Q8_0" }).path, "iq2.gguf", { retype: { "blk.0.ffn_up.weight": GgmlType.IQ2_XXS } });
  await assert.rejects(Engine.load(path), /blk\.0\.ffn_up\.weight.*IQ2_XXS is not supported/);
});

test("a model that cannot fit the engine's 4 GiB is refused before anything is allocated", async () => {
  // qwen3 fixture: 2 layers × 2 KV heads × 128 per head: a million positions in the default three
  // slots (two for completion, one for chat) ≈ 6 GiB of KV cache, and 1 GiB of attention scratch
  // (one KV head's K and V in f32 over the context).
  const fx = makeModelFixture({ arch: "qwen3", weights: "Q8_0" });
  const before = process.memoryUsage().rss;
  await assert.rejects(Model.load(fx.path, { contextSize: 1 << 20 }), /needs 7\.\d+ GiB of engine memory.*wasm32/);
  assert.ok(process.memoryUsage().rss - before < 256 * 2 ** 20, "memory was allocated before refusing");
});

test("generate from text: BOS as the model asks, streamed text equals the reference story", async () => {
  const engine = await Engine.load(STORIES_PATH, { threads: 1, contextSize: 256 });
  try {
    assert.deepEqual(engine.tokenize("Once upon a time"), reference["Once upon a time"].input_ids_with_bos);
    let text = "";
    const ids: number[] = [];
    for await (const chunk of engine.generate({ slot: "completion", prompt: "Once upon a time", maxTokens: 40 })) {
      text += chunk.text;
      if (chunk.token >= 0) ids.push(chunk.token);
    }
    assert.deepEqual(ids, reference["Once upon a time"].greedy_ids.slice(0, 40));
    assert.ok(reference["Once upon a time"].greedy_text.startsWith(text), `streamed ${JSON.stringify(text)}`);
    const info = engine.info();
    assert.equal(info.architecture, "llama");
    assert.equal(info.addBos, true);
    assert.equal(info.bos, 1);
  } finally {
    await engine.dispose();
  }
});

test("a stop string ends generation without being emitted; EOS ends it too", async () => {
  const engine = await Engine.load(STORIES_PATH, { threads: 1, contextSize: 512 });
  try {
    let text = "";
    const gen = engine.generate({ slot: "completion", prompt: "Once upon a time", maxTokens: 64, stop: ["Lily"] });
    let r = await gen.next();
    for (; !r.done; r = await gen.next()) text += r.value.text;
    assert.equal(r.value.stopReason, "stop");
    assert.equal(text, ", there was a little girl named ");
    // The BOS-only story ends with EOS somewhere after its first 256 tokens, or runs to the limit.
    const all = engine.generate({ slot: "chat", prompt: [1], maxTokens: 400 });
    let s = await all.next();
    let n = 0;
    for (; !s.done; s = await all.next()) if (s.value.token >= 0) n++;
    assert.ok(s.value.stopReason === "eog" || s.value.stopReason === "length");
    if (s.value.stopReason === "eog") assert.ok(n < 400);
  } finally {
    await engine.dispose();
  }
});

test("a cancel flag in shared memory stops a token's forward pass between layers; the slot keeps only finished tokens", async () => {
  const engine = await Engine.load(STORIES_PATH, { threads: 1, contextSize: 512 });
  try {
    const prompt = [1, ...reference["<BOS only>"].greedy_ids.slice(0, 20)];
    const cancel = new CancelFlag();
    const gen = engine.generate({ slot: "completion", prompt, maxTokens: 50, cancel });
    const first = await gen.next();
    assert.equal(first.done, false);
    // What the client does from the extension host's thread: set the flag through its own view of
    // the buffer (this side's object is not told; only the shared memory changes).
    new CancelFlag(cancel.buffer).cancel();
    const r = await gen.next();
    assert.equal(r.done, true);
    assert.equal((r.value as { stopReason: string; generatedTokens: number }).stopReason, "cancelled");
    assert.equal((r.value as { generatedTokens: number }).generatedTokens, 1);
    assert.deepEqual(engine.model.slot("completion").tokens, prompt, "the sampled token's forward did not finish: not in the slot");
    const ids: number[] = [];
    const again = engine.generate({ slot: "completion", prompt, maxTokens: 4 });
    let s = await again.next();
    for (; !s.done; s = await again.next()) ids.push(s.value.token);
    assert.equal(s.value.reusedTokens, prompt.length - 1);
    assert.deepEqual(ids, reference["<BOS only>"].greedy_ids.slice(20, 24), "the cold-run answer");
  } finally {
    await engine.dispose();
  }
});

test("cancelling during a long prompt stops between batches and leaves the slot consistent", async () => {
  const engine = await Engine.load(STORIES_PATH, { threads: 1, contextSize: 512, batchSize: 8 });
  try {
    const prompt = [1, ...reference["<BOS only>"].greedy_ids.slice(0, 200)];
    const cancel = new CancelFlag();
    const gen = engine.generate({ slot: "completion", prompt, maxTokens: 4, cancel });
    const next = gen.next();
    setImmediate(() => cancel.cancel()); // after the first batch, before the prompt is done
    const r = await next;
    assert.equal(r.done, true);
    assert.equal((r.value as { stopReason: string }).stopReason, "cancelled");
    const slot = engine.model.slot("completion");
    const evaluated = slot.tokens.length;
    assert.ok(evaluated > 0 && evaluated < prompt.length, `slot holds ${evaluated} tokens`);
    assert.deepEqual(slot.tokens, prompt.slice(0, evaluated));
    // The next request reuses what was evaluated and gives the cold-run answer.
    const ids: number[] = [];
    const again = engine.generate({ slot: "completion", prompt, maxTokens: 4 });
    let s = await again.next();
    for (; !s.done; s = await again.next()) ids.push(s.value.token);
    assert.equal(s.value.reusedTokens, evaluated);
    assert.deepEqual(ids, reference["<BOS only>"].greedy_ids.slice(200, 204));
  } finally {
    await engine.dispose();
  }
});
