// Writer → reader round trips: every metadata value type (edge values, nested arrays), tensors
// of several ggml types with their exact byte sizes, alignment, GGUF v2, and writer validation.

import { test } from "node:test";
import assert from "node:assert/strict";
import { GgufValueType, parseGguf, readGguf, readTensorData, type GgufTypedValue } from "../../src/engine/gguf/reader.ts";
import { arr, bool, buildGguf, f32, f64, i16, i32, i64, i8, str, tensorBytes, u16, u32, u64, u8, writeGguf } from "../reference/gguf-writer.ts";
import { GgmlType, assertSupported } from "../../src/engine/quant/types.ts";
import { makeTmpDir, seededBytes } from "../helpers/gguf-fixtures.ts";

const T = GgufValueType;

const METADATA: Record<string, GgufTypedValue> = {
  "general.architecture": str("llama"),
  "v.u8": u8(255),
  "v.i8": i8(-128),
  "v.u16": u16(65535),
  "v.i16": i16(-32768),
  "v.u32": u32(4294967295),
  "v.i32": i32(-2147483648),
  "v.f32": f32(Math.fround(1e-5)),
  "v.bool.true": bool(true),
  "v.bool.false": bool(false),
  "v.str.empty": str(""),
  "v.str.unicode": str("héllo ▁wörld 🔥 {% if x %}"),
  "v.u64.small": u64(5),
  "v.u64.max": u64((1n << 64n) - 1n),
  "v.i64.neg": i64(-5),
  "v.i64.min": i64(-(1n << 63n)),
  "v.f64": f64(Math.PI),
  "a.u8": arr(T.UINT8, [0, 1, 255]),
  "a.i8": arr(T.INT8, [-1, 127]),
  "a.u16": arr(T.UINT16, [1, 65535]),
  "a.i16": arr(T.INT16, [-2, 2]),
  "a.u32": arr(T.UINT32, [7, 4294967295]),
  "a.i32": arr(T.INT32, [-7, 7]),
  "a.f32": arr(T.FLOAT32, [0.5, -1.25, Math.fround(0.1)]),
  "a.bool": arr(T.BOOL, [true, false, true]),
  "a.str": arr(T.STRING, ["<unk>", "", "▁the"]),
  "a.u64": arr(T.UINT64, [1, 1n << 60n]),
  "a.i64": arr(T.INT64, [-1, -(1n << 62n)]),
  "a.f64": arr(T.FLOAT64, [1e300, -0.5]),
  "a.empty": arr(T.INT32, []),
  "a.nested": arr(T.ARRAY, [arr(T.INT32, [1, 2]), arr(T.STRING, ["a"]), arr(T.ARRAY, [arr(T.BOOL, [true])])]),
};

/** The values the reader should give back (u64/i64 as number when safe). */
function expected(v: GgufTypedValue["value"]): unknown {
  if (typeof v === "bigint" && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  if (typeof v === "object" && v !== null && "values" in v) return { elementType: v.elementType, values: v.values.map(expected) };
  return v;
}

test("every metadata value type round-trips, in order, with its type", () => {
  const f = parseGguf(buildGguf({ metadata: METADATA }), "meta.gguf");
  assert.equal(f.version, 3);
  assert.deepEqual([...f.metadata.keys()], Object.keys(METADATA));
  for (const [key, v] of Object.entries(METADATA)) {
    const e = f.entry(key);
    assert.ok(e, key);
    assert.equal(e.type, v.type, key);
    assert.deepEqual(e.value, expected(v.value), key);
  }
  assert.equal(typeof f.entry("v.u64.max")?.value, "bigint");
  assert.equal(f.getNumber("v.u64.small"), 5);
  assert.throws(() => f.getNumber("v.u64.max"), /does not fit a JavaScript number/);
  assert.equal(f.getBoolean("v.bool.true"), true);
  assert.deepEqual(f.getNumberArray("a.u16"), [1, 65535]);
  assert.deepEqual(f.getStringArray("a.str"), ["<unk>", "", "▁the"]);
  const nested = f.getArray("a.nested", T.ARRAY);
  assert.deepEqual(nested[2], { elementType: T.ARRAY, values: [{ elementType: T.BOOL, values: [true] }] });
});

test("tensors of several types round-trip with the right byte sizes and aligned offsets", async () => {
  const shapes: [string, GgmlType, number[], number][] = [
    ["f32", GgmlType.F32, [8, 3], 8 * 3 * 4],
    ["f16", GgmlType.F16, [16, 2], 16 * 2 * 2],
    ["bf16", GgmlType.BF16, [5], 10],
    ["q8_0", GgmlType.Q8_0, [64, 3], 2 * 34 * 3],
    ["q4_0", GgmlType.Q4_0, [32, 1, 2], 18 * 2],
    ["q4_k", GgmlType.Q4_K, [256, 2], 144 * 2],
    ["q5_k", GgmlType.Q5_K, [512, 1], 176 * 2],
    ["q6_k", GgmlType.Q6_K, [512], 210 * 2],
    ["iq2_xxs", GgmlType.IQ2_XXS, [256, 1, 1, 2], 66 * 2],
  ];
  const tensors = shapes.map(([name, type, dims, bytes], i) => {
    assert.equal(tensorBytes({ type, dims }), bytes, name);
    return { name, type, dims, data: seededBytes(bytes, i + 1) };
  });
  const tmp = await makeTmpDir();
  try {
    for (const alignment of [32, 64]) {
      const p = `${tmp.dir}/tensors-${alignment}.gguf`;
      await writeGguf(p, { alignment, metadata: { "general.architecture": str("llama") }, tensors });
      const f = await readGguf(p);
      assert.equal(f.alignment, alignment);
      assert.equal(f.optNumber("general.alignment"), alignment === 32 ? undefined : alignment);
      assert.equal(f.tensors.length, tensors.length);
      for (const [i, t] of f.tensors.entries()) {
        const [name, type, dims, bytes] = shapes[i];
        assert.equal(t.name, name);
        assert.equal(t.type, type);
        assert.deepEqual(t.dims, dims);
        assert.equal(t.byteSize, bytes);
        assert.equal(t.offset % alignment, 0);
        assert.deepEqual(await readTensorData(f, t), tensors[i].data, name);
      }
      // Known but unsupported types are readable; the loader refuses them by name.
      assert.throws(() => assertSupported(f.requireTensor("iq2_xxs").type, "iq2_xxs"), /IQ2_XXS is not supported/);
    }
  } finally {
    await tmp.cleanup();
  }
});

test("GGUF v2 files (same layout, version 2) are read", () => {
  const bytes = buildGguf({
    version: 2,
    metadata: { "general.architecture": str("llama"), "llama.block_count": u32(2) },
    tensors: [{ name: "w", type: GgmlType.F32, dims: [4], data: seededBytes(16) }],
  });
  const f = parseGguf(bytes, "v2.gguf");
  assert.equal(f.version, 2);
  assert.equal(f.getNumber("llama.block_count"), 2);
  assert.equal(f.tensors[0].byteSize, 16);
});

test("an explicit general.alignment entry sets the padding; metadata may be given as pairs", () => {
  const f = parseGguf(
    buildGguf({
      metadata: [
        ["general.alignment", u32(128)],
        ["k", str("v")],
      ],
      tensors: [
        { name: "a", type: GgmlType.F32, dims: [3], data: seededBytes(12) },
        { name: "b", type: GgmlType.F32, dims: [3], data: seededBytes(12) },
      ],
    }),
  );
  assert.equal(f.alignment, 128);
  assert.equal(f.dataOffset % 128, 0);
  assert.deepEqual(
    f.tensors.map((t) => t.relOffset),
    [0, 128],
  );
});

test("the writer refuses values that do not fit their type and tensors with wrong data", () => {
  assert.throws(() => buildGguf({ metadata: { x: u8(256) } }), /"x": 256 is not a valid u8/);
  assert.throws(() => buildGguf({ metadata: { x: i32(1.5) } }), /not a valid i32/);
  assert.throws(() => buildGguf({ metadata: { x: u64(-1) } }), /not a valid u64/);
  assert.throws(() => buildGguf({ metadata: { x: { type: T.STRING, value: 3 } } }), /not a valid str/);
  assert.throws(() => buildGguf({ metadata: { x: arr(T.UINT8, [1, 300]) } }), /not a valid u8/);
  assert.throws(
    () => buildGguf({ tensors: [{ name: "w", type: GgmlType.F32, dims: [4], data: new Uint8Array(15) }] }),
    /tensor "w" \(F32 \[4\]\): data is 15 bytes, expected 16/,
  );
  assert.throws(() => buildGguf({ tensors: [{ name: "q", type: GgmlType.Q4_K, dims: [100], data: new Uint8Array(0) }] }), /not a whole number of Q4_K blocks/);
  assert.throws(() => buildGguf({ alignment: 24 }), /not a power of two/);
});
