// Reader on the real stories260K fixture, the three entry points agreeing, large headers read in
// several chunks, and a big sparse file whose data is never loaded.

import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { open, readFile } from "node:fs/promises";
import { GgufValueType, parseGguf, readGguf, readGgufSync, readTensorData, GgufError } from "../../src/engine/gguf/reader.ts";
import { arr, buildGguf, str, u32 } from "../reference/gguf-writer.ts";
import { GgmlType } from "../../src/engine/quant/types.ts";
import { STORIES_PATH, makeTmpDir, rawGguf } from "../helpers/gguf-fixtures.ts";

test("stories260K fixture has the documented sha256", async () => {
  const bytes = await readFile(STORIES_PATH);
  assert.equal(bytes.length, 1185376);
  assert.equal(createHash("sha256").update(bytes).digest("hex"), "270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d");
});

test("reads stories260K: architecture, hyper-parameters, vocabulary, tensors", async () => {
  const f = await readGguf(STORIES_PATH);
  assert.equal(f.path, STORIES_PATH);
  assert.equal(f.version, 3);
  assert.equal(f.fileSize, 1185376);
  assert.equal(f.alignment, 32);
  assert.equal(f.architecture, "llama");
  assert.equal(f.getString("general.architecture"), "llama");
  assert.equal(f.getNumber("llama.block_count"), 5);
  assert.equal(f.getNumber("llama.embedding_length"), 64);
  assert.equal(f.getNumber("llama.attention.head_count"), 8);
  assert.equal(f.getNumber("llama.attention.head_count_kv"), 4);
  assert.equal(f.getNumber("llama.feed_forward_length"), 172);
  assert.equal(f.getNumber("llama.attention.layer_norm_rms_epsilon"), Math.fround(1e-5));
  assert.equal(f.entry("llama.block_count")?.type, GgufValueType.UINT32);
  assert.equal(f.optNumber("llama.rope.freq_base"), undefined);

  const tokens = f.getStringArray("tokenizer.ggml.tokens");
  assert.equal(tokens.length, 512);
  assert.deepEqual(tokens.slice(0, 3), ["<unk>", "<s>", "</s>"]);
  assert.equal(tokens[3], "<0x00>");
  assert.equal(f.getNumberArray("tokenizer.ggml.scores").length, 512);
  assert.equal(f.getArray("tokenizer.ggml.token_type", GgufValueType.INT32).length, 512);

  assert.equal(f.tensors.length, 48);
  assert.ok(f.tensors.every((t) => t.type === GgmlType.F32));
  assert.ok(f.dataOffset % 32 === 0 && f.dataOffset > 0);
  for (const t of f.tensors) {
    assert.equal(t.offset % f.alignment, 0, t.name);
    assert.equal(t.offset, f.dataOffset + t.relOffset);
    assert.ok(t.offset + t.byteSize <= f.fileSize, t.name);
    assert.equal(t.byteSize, t.nElements * 4);
  }
  const emb = f.requireTensor("token_embd.weight");
  assert.deepEqual(emb.dims, [64, 512]);
  assert.deepEqual(f.requireTensor("blk.4.ffn_down.weight").dims, [172, 64]);
  assert.ok(f.tensor("output.weight"));
  assert.equal(f.tensor("nope"), undefined);
});

test("typed accessors give clear errors for missing keys and wrong types", async () => {
  const f = await readGguf(STORIES_PATH);
  assert.throws(() => f.getNumber("llama.rope.freq_base"), (e: unknown) => e instanceof GgufError && /stories260K\.gguf: missing metadata key "llama\.rope\.freq_base"/.test(e.message));
  assert.throws(() => f.getString("llama.block_count"), /"llama\.block_count" is u32, expected a string/);
  assert.throws(() => f.getNumber("general.name"), /is str, expected a number/);
  assert.throws(() => f.getBoolean("general.name"), /expected a bool/);
  assert.throws(() => f.getStringArray("tokenizer.ggml.scores"), /array of f32, expected an array of str/);
  assert.throws(() => f.getNumberArray("tokenizer.ggml.tokens"), /expected an array of numbers/);
  assert.throws(() => f.getArray("general.name"), /expected an array/);
  assert.throws(() => f.requireTensor("missing.weight"), /missing tensor "missing\.weight"/);
});

test("readTensorData returns the tensor's bytes; sync and in-memory parses agree with async", async () => {
  const f = await readGguf(STORIES_PATH);
  const norm = f.requireTensor("output_norm.weight");
  const data = await readTensorData(f, norm);
  assert.equal(data.length, 64 * 4);
  const whole = await readFile(STORIES_PATH);
  assert.deepEqual(data, new Uint8Array(whole.subarray(norm.offset, norm.offset + norm.byteSize)));
  const floats = new Float32Array(data.buffer, data.byteOffset, 64);
  assert.ok(floats.every((x) => Number.isFinite(x)));

  const s = readGgufSync(STORIES_PATH);
  const m = parseGguf(whole, "mem");
  for (const g of [s, m]) {
    assert.deepEqual([...g.metadata.values()], [...f.metadata.values()]);
    assert.deepEqual(g.tensors, f.tensors);
    assert.equal(g.dataOffset, f.dataOffset);
  }
  assert.equal(m.path, "mem");
});

test("a header of several MiB (200k strings) is read in chunks and matches the in-memory parse", async () => {
  const tokens = Array.from({ length: 200_000 }, (_, i) => `tok_${i}_${"x".repeat(i % 7)}`);
  const bytes = buildGguf({
    metadata: { "general.architecture": str("llama"), "tokenizer.ggml.tokens": arr(GgufValueType.STRING, tokens), "after.key": u32(7) },
  });
  assert.ok(bytes.length > 3 << 20, "header must exceed the first 1 MiB chunk");
  const tmp = await makeTmpDir();
  try {
    const p = await tmp.write("big-vocab.gguf", bytes);
    const t0 = performance.now();
    const f = await readGguf(p);
    const ms = performance.now() - t0;
    assert.deepEqual(f.getStringArray("tokenizer.ggml.tokens"), tokens);
    assert.equal(f.getNumber("after.key"), 7);
    assert.deepEqual(readGgufSync(p).getStringArray("tokenizer.ggml.tokens"), tokens);
    assert.ok(ms < 2000, `took ${ms} ms`);
  } finally {
    await tmp.cleanup();
  }
});

test("tensor data is not loaded: a 256 MiB sparse file reads fast with little memory", async () => {
  const rows = 1 << 16; // F32 [1024, 65536] = 256 MiB
  const head = rawGguf({ tensors: [{ name: "big.weight", dims: [1024, rows], type: GgmlType.F32, offset: 0 }] });
  const size = head.length + 1024 * rows * 4;
  const tmp = await makeTmpDir();
  try {
    const p = await tmp.write("sparse.gguf", head);
    const fh = await open(p, "r+");
    await fh.truncate(size);
    await fh.close();
    const before = process.memoryUsage().arrayBuffers;
    const f = await readGguf(p);
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.equal(f.tensors[0].byteSize, 256 << 20);
    assert.equal(f.tensors[0].offset + f.tensors[0].byteSize, size);
    assert.ok(grown < 16 << 20, `reader held ${grown} bytes`);
  } finally {
    await tmp.cleanup();
  }
});
