// `hearth inspect` end to end: spawns the bundled CLI (dist/cli.js).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { GgufValueType } from "../../src/engine/gguf/reader.ts";
import { arr, buildGguf, str, u32, u64 } from "../reference/gguf-writer.ts";
import { GgmlType } from "../../src/engine/quant/types.ts";
import { join } from "node:path";
import { STORIES_PATH, makeTmpDir, seededBytes } from "../helpers/gguf-fixtures.ts";
import { ensureCliBuilt, hearth as run } from "../helpers/cli.ts";

let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
before(async () => {
  ensureCliBuilt();
  tmp = await makeTmpDir();
});
after(async () => {
  await tmp.cleanup();
});

function hearth(...args: string[]): ReturnType<typeof run> {
  return run(args);
}

test("inspect stories260K (text): architecture, version, metadata, tensors, totals", () => {
  const r = hearth("inspect", STORIES_PATH);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /architecture: llama/);
  assert.match(r.stdout, /GGUF version: 3/);
  assert.match(r.stdout, /metadata \(19 keys\)/);
  assert.match(r.stdout, /tokenizer\.ggml\.tokens\s+arr\[str\]\s+\[str × 512\] "<unk>", "<s>", "<\/s>", …/);
  assert.match(r.stdout, /llama\.block_count\s+u32\s+5\n/);
  assert.match(r.stdout, /layer_norm_rms_epsilon\s+f32\s+0\.00001\n/);
  assert.match(r.stdout, /tensors \(48, 1171200 bytes = 1\.12 MiB\)/);
  assert.match(r.stdout, /token_embd\.weight\s+F32\s+\[64, 512\]\s+128\.00 KiB/);
  assert.equal(r.stderr, "");
});

test("inspect stories260K --json: one JSON object", () => {
  const r = hearth("inspect", STORIES_PATH, "--json");
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.architecture, "llama");
  assert.equal(j.version, 3);
  assert.equal(j.tensorCount, 48);
  assert.equal(j.tensors.length, 48);
  assert.equal(j.tensorBytes, 1171200);
  assert.deepEqual(j.metadata["llama.block_count"], { type: "u32", value: 5 });
  assert.deepEqual(j.metadata["tokenizer.ggml.tokens"], { type: "arr[str]", value: { type: "str", length: 512, head: ["<unk>", "<s>", "</s>"] } });
  assert.deepEqual(j.tensors[0], { name: "token_embd.weight", type: "F32", dims: [64, 512], offset: j.tensors[0].offset, byteSize: 131072 });
});

test("inspect a generated fixture: long strings shortened, bigints, quantised and unsupported types", async () => {
  const template = "{% for message in messages %}" + "x".repeat(500) + "{% endfor %}";
  const p = await tmp.write(
    "gen.gguf",
    buildGguf({
      metadata: {
        "general.architecture": str("qwen2"),
        "tokenizer.chat_template": str(template),
        "big.u64": u64((1n << 64n) - 1n),
        "short.arr": arr(GgufValueType.UINT32, [1, 2, 3]),
        "nested.arr": arr(GgufValueType.ARRAY, [arr(GgufValueType.INT32, [1]), arr(GgufValueType.STRING, ["a", "b"])]),
        "qwen2.block_count": u32(1),
      },
      tensors: [
        { name: "blk.0.ffn_down.weight", type: GgmlType.Q4_K, dims: [256, 4], data: seededBytes(144 * 4) },
        { name: "blk.0.odd.weight", type: GgmlType.IQ2_XXS, dims: [256], data: seededBytes(66) },
      ],
    }),
  );
  const t = hearth("inspect", p);
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stdout, /architecture: qwen2/);
  assert.match(t.stdout, /tokenizer\.chat_template\s+str\s+"\{% for message in messages %\}x+…" \(541 chars\)/);
  assert.ok(!t.stdout.includes("{% endfor %}"), "long strings are shortened in text mode");
  assert.match(t.stdout, /big\.u64\s+u64\s+18446744073709551615/);
  assert.match(t.stdout, /blk\.0\.ffn_down\.weight\s+Q4_K\s+\[256, 4\]\s+576 bytes/);
  assert.match(t.stdout, /blk\.0\.odd\.weight\s+IQ2_XXS\s+\[256\]/);

  const j = JSON.parse(hearth("inspect", "--json", p).stdout);
  assert.equal(j.metadata["big.u64"].value, "18446744073709551615");
  assert.equal(j.metadata["tokenizer.chat_template"].value, template);
  assert.deepEqual(j.metadata["short.arr"].value, [1, 2, 3]);
  assert.deepEqual(j.metadata["nested.arr"].value, [[1], ["a", "b"]]);
  assert.deepEqual(
    j.tensors.map((x: { type: string; byteSize: number }) => [x.type, x.byteSize]),
    [
      ["Q4_K", 576],
      ["IQ2_XXS", 66],
    ],
  );
});

test("a bad file: exit 1, one-line message on stderr naming the file, no stack trace", async () => {
  const p = await tmp.write("not-a-model.gguf", new TextEncoder().encode("hello world, not a model"));
  const r = hearth("inspect", p);
  assert.equal(r.status, 1);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, new RegExp(`${p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: not a GGUF file`));
  assert.doesNotMatch(r.stderr, /\n\s+at /);

  const missing = hearth("inspect", join(tmp.dir, "missing.gguf"));
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /missing\.gguf: cannot open/);
});

test("usage errors exit 2 with usage on stderr", () => {
  for (const args of [[], ["frobnicate"], ["inspect"], ["inspect", "a.gguf", "b.gguf"], ["inspect", "--yaml", STORIES_PATH]]) {
    const r = hearth(...args);
    assert.equal(r.status, 2, `args ${JSON.stringify(args)}`);
    assert.match(r.stderr, /usage: hearth/);
    assert.equal(r.stdout, "");
  }
  const help = hearth("--help");
  assert.equal(help.status, 0);
  assert.match(help.stdout, /hearth inspect <file\.gguf> \[--json\]/);
});
