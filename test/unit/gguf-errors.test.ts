// Every kind of bad GGUF gets a GgufError whose message names the file and the problem, from all
// three entry points (async, sync, in-memory) — never a crash, hang or huge allocation.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { GgufError, GgufValueType, parseGguf, readGguf, readGgufSync } from "../../src/engine/gguf/reader.ts";
import { buildGguf, str, u32 } from "../reference/gguf-writer.ts";
import { GgmlType } from "../../src/engine/quant/types.ts";
import { makeTmpDir, rawGguf, seededBytes } from "../helpers/gguf-fixtures.ts";

let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
before(async () => {
  tmp = await makeTmpDir();
});
after(async () => {
  await tmp.cleanup();
});

let n = 0;
/** Writes `bytes` to a file and checks every reader entry point fails with `problem`. */
async function expectBad(bytes: Uint8Array, problem: RegExp): Promise<void> {
  const p = await tmp.write(`bad-${++n}.gguf`, bytes);
  const check = (name: string) => (e: unknown) => {
    assert.ok(e instanceof GgufError, `expected GgufError, got ${String(e)}`);
    assert.ok(e.message.startsWith(`${name}: `), `message should name the file: ${e.message}`);
    assert.match(e.message, problem);
    return true;
  };
  await assert.rejects(readGguf(p), check(p));
  assert.throws(() => readGgufSync(p), check(p));
  assert.throws(() => parseGguf(bytes, "in-memory.gguf"), check("in-memory.gguf"));
}

const F32x16 = { name: "w", type: GgmlType.F32, dims: [16], data: seededBytes(64) };
const kvU32 = (key: string, type: number, v: number) => (w: import("../reference/gguf-writer.ts").ByteSink) => {
  w.str(key);
  w.u32(type);
  w.u32(v);
};

test("not a GGUF file (wrong magic), empty and tiny files", async () => {
  await expectBad(new TextEncoder().encode("#!/bin/sh\necho hello\n"), /not a GGUF file \(the first bytes are "23 21 2f 62"/);
  await expectBad(new Uint8Array(0), /not a GGUF file/);
  await expectBad(new Uint8Array([0x47, 0x47]), /not a GGUF file/);
});

test("unsupported versions: v1 and above 3", async () => {
  await expectBad(rawGguf({ version: 1 }), /unsupported GGUF version 1 \(supported: 2 and 3\)/);
  await expectBad(rawGguf({ version: 4 }), /unsupported GGUF version 4/);
});

test("big-endian GGUF is reported as such", async () => {
  await expectBad(rawGguf({ version: 0x03000000 }), /big-endian GGUF is not supported/);
  await expectBad(rawGguf({ version: 0x02000000 }), /big-endian GGUF is not supported/);
});

test("truncated header: the file ends inside the kv pairs, or inside the tensor infos", async () => {
  // A long first value, so the cut files still pass the up-front "counts fit the file" check.
  const good = buildGguf({ metadata: { "general.architecture": str("llama" + "x".repeat(200)), "k.two": u32(2) }, tensors: [F32x16] });
  const text = new TextDecoder("latin1").decode(good);
  await expectBad(good.subarray(0, text.indexOf("llama") + 100), /truncated or corrupt header: string length 205 at offset 56 \(in the metadata value of "general\.architecture"\) exceeds the 100 bytes left/);
  await expectBad(good.subarray(0, text.indexOf("k.two") - 4), /truncated header: .* ends inside metadata key #1/);
  await expectBad(good.subarray(0, text.indexOf("k.two") + 10), /truncated header: .* ends inside the metadata value of "k\.two"/);
  await expectBad(good.subarray(0, text.lastIndexOf("w") + 3), /truncated header: .* ends inside the tensor info of "w"/);
  await expectBad(good.subarray(0, 12), /truncated header: .* ends inside the counts/);
  // Cut so early that the declared counts cannot fit: caught before parsing the pairs.
  await expectBad(good.subarray(0, 40), /truncated or corrupt header: 2 metadata keys and 1 tensors need at least 50 bytes, only 16 are left/);
});

test("truncated tensor data: the data section is shorter than the tensors need", async () => {
  const good = buildGguf({ tensors: [F32x16] });
  await expectBad(good.subarray(0, good.length - 10), /truncated tensor data: tensor "w" needs bytes \d+\.\.\d+ but the file ends at \d+/);
});

test("a tensor starting past the end of the file", async () => {
  await expectBad(rawGguf({ tensors: [{ name: "far", dims: [16], type: GgmlType.F32, offset: 4096 }], dataBytes: 64 }), /tensor "far" starts at byte \d+, past the end of the file/);
});

test("overlapping tensors", async () => {
  const tensors = [
    { name: "a", dims: [16], type: GgmlType.F32, offset: 0 },
    { name: "b", dims: [16], type: GgmlType.F32, offset: 32 },
  ];
  await expectBad(rawGguf({ tensors, dataBytes: 128 }), /tensors "a" \(bytes \d+\.\.\d+\) and "b" \(from \d+\) overlap/);
});

test("misaligned tensor offsets", async () => {
  await expectBad(rawGguf({ tensors: [{ name: "m", dims: [16], type: GgmlType.F32, offset: 16 }], dataBytes: 128 }), /tensor "m" has offset 16 in the data section, not a multiple of the alignment 32/);
});

test("unknown tensor type ids", async () => {
  await expectBad(rawGguf({ tensors: [{ name: "u", dims: [32], type: 4, offset: 0 }], dataBytes: 128 }), /tensor "u" has unknown tensor type 4/);
  await expectBad(rawGguf({ tensors: [{ name: "u", dims: [32], type: 999, offset: 0 }], dataBytes: 128 }), /unknown tensor type 999/);
});

test("counts and lengths that cannot fit in the file fail fast without allocating", async () => {
  const mem0 = process.memoryUsage().arrayBuffers;
  const t0 = performance.now();
  await expectBad(rawGguf({ kvCount: 1n << 60n }), /truncated or corrupt header: 1152921504606846976 metadata keys and 0 tensors need at least \d+ bytes, only 8 are left/);
  await expectBad(rawGguf({ tensorCount: 1n << 62n }), /truncated or corrupt header: 0 metadata keys and 4611686018427387904 tensors/);
  await expectBad(rawGguf({ kvCount: 1, kvs: (w) => w.u64(1n << 40n), dataBytes: 64 }), /truncated or corrupt header: string length 1099511627776 at offset 24 \(in metadata key #0\) exceeds the \d+ bytes left in the file/);
  await expectBad(
    rawGguf({
      kvCount: 1,
      kvs: (w) => {
        w.str("tokenizer.ggml.tokens");
        w.u32(GgufValueType.ARRAY);
        w.u32(GgufValueType.STRING);
        w.u64(1n << 61n);
      },
      dataBytes: 1000,
    }),
    /metadata key "tokenizer\.ggml\.tokens": array of 2305843009213693952 str cannot fit in the \d+ bytes left/,
  );
  await expectBad(
    rawGguf({
      kvCount: 1,
      kvs: (w) => {
        w.str("a");
        w.u32(GgufValueType.ARRAY);
        w.u32(GgufValueType.UINT8);
        w.u64(0xffffffffffffffffn);
      },
    }),
    /array of 18446744073709551615 u8 cannot fit/,
  );
  const ms = performance.now() - t0;
  const grown = process.memoryUsage().arrayBuffers - mem0;
  assert.ok(ms < 1000, `took ${ms} ms`);
  assert.ok(grown < 8 << 20, `allocated ${grown} bytes`);
});

test("duplicate metadata keys and duplicate tensor names", async () => {
  await expectBad(rawGguf({ kvCount: 2, kvs: (w) => (kvU32("dup.key", GgufValueType.UINT32, 1)(w), kvU32("dup.key", GgufValueType.UINT32, 2)(w)) }), /duplicate metadata key "dup\.key"/);
  const tensors = [
    { name: "t", dims: [8], type: GgmlType.F32, offset: 0 },
    { name: "t", dims: [8], type: GgmlType.F32, offset: 32 },
  ];
  await expectBad(rawGguf({ tensors, dataBytes: 64 }), /duplicate tensor name "t"/);
});

test("more than 4 dimensions", async () => {
  await expectBad(rawGguf({ tensors: [{ name: "d5", dims: [1, 1, 1, 1, 1], type: GgmlType.F32, offset: 0 }], dataBytes: 32 }), /tensor "d5" has 5 dimensions \(at most 4\)/);
});

test("zero dims, negative (as int64) dims, and rows that are not whole blocks", async () => {
  await expectBad(rawGguf({ tensors: [{ name: "z", dims: [4, 0], type: GgmlType.F32, offset: 0 }], dataBytes: 32 }), /tensor "z" has dimension 1 equal to 0/);
  await expectBad(rawGguf({ tensors: [{ name: "neg", dims: [0xffffffffffffffffn], type: GgmlType.F32, offset: 0 }], dataBytes: 32 }), /tensor "neg" has impossible dimension 0 = -1/);
  await expectBad(
    rawGguf({ tensors: [{ name: "q", dims: [100, 2], type: GgmlType.Q4_K, offset: 0 }], dataBytes: 1024 }),
    /tensor "q" of type Q4_K: row length 100 is not a multiple of the block size 256/,
  );
  await expectBad(rawGguf({ tensors: [{ name: "huge", dims: [64, 64], type: GgmlType.F32, offset: 0 }], dataBytes: 32 }), /tensor "huge" \(F32 \[64, 64\]\) needs 16384 bytes, more than the file's/);
});

test("bad general.alignment: not a power of two, zero, wrong type", async () => {
  await expectBad(rawGguf({ kvCount: 1, kvs: kvU32("general.alignment", GgufValueType.UINT32, 48) }), /general\.alignment = 48 is not a non-zero power of two/);
  await expectBad(rawGguf({ kvCount: 1, kvs: kvU32("general.alignment", GgufValueType.UINT32, 0) }), /general\.alignment = 0 is not a non-zero power of two/);
  await expectBad(rawGguf({ kvCount: 1, kvs: kvU32("general.alignment", GgufValueType.INT32, 32) }), /general\.alignment must be a u32, found i32/);
});

test("unknown metadata value types (top level and array elements)", async () => {
  await expectBad(rawGguf({ kvCount: 1, kvs: kvU32("k", 13, 0) }), /metadata key "k" has unknown value type 13/);
  await expectBad(rawGguf({ kvCount: 1, kvs: kvU32("k", GgufValueType.ARRAY, 77) }), /metadata key "k": array of unknown value type 77/);
});
