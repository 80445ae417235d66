// Memory estimate before loading: weights from the tensor sizes, the KV cache exactly as the
// engine allocates it, scratch; refusals above wasm32's 4 GiB and above the machine's free memory.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseGguf, readGguf } from "../../src/engine/gguf/reader.ts";
import { buildGguf, str, u32 } from "../reference/gguf-writer.ts";
import { GgmlType } from "../../src/engine/quant/types.ts";
import { kvCacheBytes } from "../../src/engine/kv-cache.ts";
import { readHParams } from "../../src/engine/model/hparams.ts";
import { modelShape } from "../../src/engine/model/shape.ts";
import { MAX_MEMORY_BYTES } from "../../src/engine/wasm/arena.ts";
import { assertModelFits, checkModelFits, checkPairFits, estimateModelMemory, ModelTooLargeError, planCompletionSlots } from "../../src/models/memory.ts";
import { STORIES_PATH } from "../helpers/gguf-fixtures.ts";

/** A header with SmolLM3-3B's shape (36 layers, 4 KV heads of 128) and one small tensor. */
function smollm3Shaped() {
  return modelShape(parseGguf(
    buildGguf({
      metadata: {
        "general.architecture": str("smollm3"),
        "smollm3.block_count": u32(36),
        "smollm3.embedding_length": u32(2048),
        "smollm3.feed_forward_length": u32(11008),
        "smollm3.attention.head_count": u32(16),
        "smollm3.attention.head_count_kv": u32(4),
        "smollm3.vocab_size": u32(128256),
      },
      tensors: [{ name: "output_norm.weight", type: GgmlType.F32, dims: [100], data: new Uint8Array(400) }],
    }),
    "smollm3-shaped.gguf",
  ));
}

test("KV cache: (2 completion slots + chat's) × 2 (K and V) × n_layer × ctx × n_head_kv × head_dim × 2 bytes (f16)", () => {
  const e = estimateModelMemory(smollm3Shaped(), 4096);
  assert.equal(e.kvCache, 3 * 2 * 36 * 4096 * 4 * 128 * 2); // 864 MiB
  assert.equal(e.kvBytesPerToken, 2 * 36 * 4 * 128 * 2); // 72 KiB
  assert.equal(estimateModelMemory(smollm3Shaped(), 4096, { completionSlots: 5 }).kvCache, 6 * 4096 * e.kvBytesPerToken);
  assert.equal(e.weights, 448, "400 bytes rounded up to 64");
  assert.ok(e.scratch > 0);
  assert.equal(e.total, e.weights + e.kvCache + e.scratch);
  assert.equal(e.contextSize, 4096);
});

test("the estimate matches the engine's own accounting for stories260K", async () => {
  const file = await readGguf(STORIES_PATH);
  const hp = readHParams(file);
  const ctx = 512;
  const e = estimateModelMemory(modelShape(file), ctx);
  const layout = { nLayer: hp.nLayer, nCtx: ctx, nHeadKV: hp.nHeadKV, kDim: hp.nHeadKV * hp.headDimK, vDim: hp.nHeadKV * hp.headDimV };
  assert.equal(e.kvCache, kvCacheBytes(layout, 3));
  assert.ok(e.weights >= file.tensorBytes && e.weights < file.tensorBytes + 64 * file.tensors.length);
  assert.ok(checkModelFits(e, { freeMemory: 1 << 30 }).ok);
});

test("refused above the 4 GiB a wasm32 engine can address, with a clear next step", () => {
  const file = smollm3Shaped();
  const r = checkModelFits(estimateModelMemory(file, 131072), { freeMemory: 64 * 2 ** 30 });
  assert.equal(r.ok, false);
  assert.ok(!r.ok && r.reason === "engine");
  assert.match(!r.ok ? r.message : "", /more than the 4\.00 GiB the WebAssembly engine can address/);
  assert.match(!r.ok ? r.message : "", /Lower hearth\.contextSize/);
  assert.throws(() => assertModelFits(file, 131072, { freeMemory: 64 * 2 ** 30 }), (e: ModelTooLargeError) => e.reason === "engine" && e.message.startsWith("smollm3-shaped.gguf: "));
  assert.equal(MAX_MEMORY_BYTES, 4 * 2 ** 30);
});

test("refused above the machine's free memory; memory the loaded model gives back counts", () => {
  const e = estimateModelMemory(smollm3Shaped(), 4096);
  const tight = checkModelFits(e, { freeMemory: e.total - 1, totalMemory: 8 * 2 ** 30 });
  assert.ok(!tight.ok && tight.reason === "machine");
  assert.match(!tight.ok ? tight.message : "", /only .* of this machine's 8\.00 GiB is free/);
  assert.ok(checkModelFits(e, { freeMemory: e.total - 1, released: 1 << 20 }).ok);
  assert.ok(checkModelFits(e, { freeMemory: e.total }).ok);
});

test("defaults: head_count_kv falls back to head_count, head_dim to embedding / heads", () => {
  const f = modelShape(parseGguf(
    buildGguf({
      metadata: { "general.architecture": str("llama"), "llama.block_count": u32(2), "llama.embedding_length": u32(64), "llama.attention.head_count": u32(4) },
    }),
  ));
  assert.equal(estimateModelMemory(f, 100).kvCache, 3 * 2 * 2 * 100 * 4 * 16 * 2);
});

test("completion slots follow the memory budget: the setting, else a quarter of free memory (≤ 1 GiB); at least 2, at most 8, inside wasm32's 4 GiB", () => {
  const f = smollm3Shaped(); // 72 KiB per token: a 2048-token slot is 144 MiB
  const slot = 72 * 1024 * 2048;
  const plan = (o: Parameters<typeof planCompletionSlots>[2]) => planCompletionSlots(f, 2048, o).completionSlots;
  assert.equal(plan({ budgetBytes: 3 * slot }), 3);
  assert.equal(plan({ budgetBytes: slot }), 2, "never fewer than 2");
  assert.equal(plan({ budgetBytes: 100 * slot }), 8, "never more than 8");
  assert.equal(plan({ freeMemory: 24 * 2 ** 30 }), 7, "automatic: 1 GiB / 144 MiB");
  assert.equal(plan({ freeMemory: 2 * 2 ** 30 }), 3, "automatic: a quarter of 2 GiB / 144 MiB");
  assert.equal(plan({ budgetBytes: 100 * slot, engineLimit: 5 * slot }), 3, "what the engine can address after one slot for chat and scratch");
  const p = planCompletionSlots(f, 2048, { budgetBytes: 3 * slot });
  assert.deepEqual([p.kvBytesPerToken, p.slotBytes], [72 * 1024, slot]);
});

test("two models, one per role: each counts only its role's KV slots, and the pair is checked against the machine together", () => {
  const shape = smollm3Shaped();
  const chatOnly = estimateModelMemory(shape, 2048, { roles: ["chat"] });
  const completionOnly = estimateModelMemory(shape, 2048, { roles: ["completion"], completionSlots: 4 });
  assert.equal(chatOnly.slots, 1);
  assert.equal(chatOnly.kvCache, 2048 * chatOnly.kvBytesPerToken);
  assert.equal(completionOnly.slots, 4);
  const chat = { roles: ["chat"] as const, estimate: chatOnly, name: "SmolLM3.gguf" };
  const completion = { roles: ["completion"] as const, estimate: completionOnly, name: "coder.gguf" };
  // Each fits alone; together they do not.
  const free = completionOnly.total + chatOnly.total - 1;
  assert.ok(checkPairFits(chat, undefined, { freeMemory: free }).ok);
  const r = checkPairFits(chat, completion, { freeMemory: free, totalMemory: 8 * 2 ** 30 });
  assert.ok(!r.ok && r.both);
  assert.match(!r.ok ? r.message : "", /^the chat model SmolLM3\.gguf needs about \d+ MiB \(weights .*, KV cache 144 MiB\) and the completion model coder\.gguf needs about \d+ MiB \(weights .*, KV cache 576 MiB\): \d+ MiB together, but only \d+ MiB of this machine's 8\.00 GiB is free\. Use one model for both roles/);
  // Memory the replaced model gives back counts as free.
  assert.ok(checkPairFits(chat, completion, { freeMemory: free, released: 1 }).ok);
  // A model too large for the engine is that model's problem, not the pair's.
  const huge = checkPairFits({ ...chat, estimate: estimateModelMemory(shape, 131072, { roles: ["chat"], completionSlots: 8 }) }, completion, { freeMemory: 2 ** 40 });
  assert.ok(!huge.ok && !huge.both && /WebAssembly engine can address/.test(huge.message));
});
