// GGUF writer (v3 by default, v2 on request): makes test fixtures of any shape and, later, tools'
// output. Metadata values carry explicit GGUF types (u32(5), f32(1e-5), str("llama"),
// arr(GgufValueType.STRING, [...])) so a fixture states exactly what a converter would write.
// Layout as ggml writes it: header, kv pairs, tensor infos, padding to the alignment, then each
// tensor's data padded to the alignment (offsets relative to the data section).

import { writeFile } from "node:fs/promises";
import { TYPE_INFO, rowBytes, typeName, type GgmlType } from "../../src/engine/quant/types.ts";
import { DEFAULT_ALIGNMENT, GGUF_MAGIC } from "../../src/engine/gguf/parse.ts";
import { GgufValueType, isGgufArray, valueTypeName, type GgufArray, type GgufTypedValue, type GgufValue } from "../../src/engine/gguf/types.ts";

export interface GgufTensorInput {
  readonly name: string;
  readonly type: GgmlType | number;
  /** ggml order: dims[0] is the row length. */
  readonly dims: readonly number[];
  /** Exactly the tensor's byte size (rowBytes(type, dims[0]) × the other dims). */
  readonly data: Uint8Array;
}

export interface GgufWriteOptions {
  /** 3 (default) or 2: the same layout, only the version field differs. */
  readonly version?: 2 | 3;
  /** Data alignment; when not the default 32, `general.alignment` (u32) is written for it. */
  readonly alignment?: number;
  /** Metadata in order: an object (insertion order) or [key, value] pairs. */
  readonly metadata?: Readonly<Record<string, GgufTypedValue>> | Iterable<readonly [string, GgufTypedValue]>;
  readonly tensors?: readonly GgufTensorInput[];
}

// Helpers for typed values.
export const u8 = (v: number): GgufTypedValue => ({ type: GgufValueType.UINT8, value: v });
export const i8 = (v: number): GgufTypedValue => ({ type: GgufValueType.INT8, value: v });
export const u16 = (v: number): GgufTypedValue => ({ type: GgufValueType.UINT16, value: v });
export const i16 = (v: number): GgufTypedValue => ({ type: GgufValueType.INT16, value: v });
export const u32 = (v: number): GgufTypedValue => ({ type: GgufValueType.UINT32, value: v });
export const i32 = (v: number): GgufTypedValue => ({ type: GgufValueType.INT32, value: v });
export const f32 = (v: number): GgufTypedValue => ({ type: GgufValueType.FLOAT32, value: v });
export const f64 = (v: number): GgufTypedValue => ({ type: GgufValueType.FLOAT64, value: v });
export const u64 = (v: number | bigint): GgufTypedValue => ({ type: GgufValueType.UINT64, value: v });
export const i64 = (v: number | bigint): GgufTypedValue => ({ type: GgufValueType.INT64, value: v });
export const bool = (v: boolean): GgufTypedValue => ({ type: GgufValueType.BOOL, value: v });
export const str = (v: string): GgufTypedValue => ({ type: GgufValueType.STRING, value: v });
/**
 * An array value. For nested arrays use elementType ARRAY and pass inner arr(...) results
 * (or bare GgufArray objects): arr(GgufValueType.ARRAY, [arr(GgufValueType.INT32, [1, 2])]).
 */
export function arr(elementType: GgufValueType, values: readonly (GgufValue | GgufTypedValue)[]): GgufTypedValue {
  const inner = values.map((v) => (elementType === GgufValueType.ARRAY && isTypedArrayValue(v) ? v.value : (v as GgufValue)));
  return { type: GgufValueType.ARRAY, value: { elementType, values: inner } };
}

function isTypedArrayValue(v: GgufValue | GgufTypedValue): v is GgufTypedValue {
  return typeof v === "object" && v !== null && "type" in v && "value" in v && v.type === GgufValueType.ARRAY;
}

/** Builds a GGUF file in memory. Throws Error on values that do not fit their type or bad tensors. */
export function buildGguf(opts: GgufWriteOptions): Uint8Array {
  const version = opts.version ?? 3;
  const entries: [string, GgufTypedValue][] = opts.metadata
    ? Symbol.iterator in opts.metadata
      ? [...(opts.metadata as Iterable<readonly [string, GgufTypedValue]>)].map(([k, v]) => [k, v])
      : Object.entries(opts.metadata as Record<string, GgufTypedValue>)
    : [];
  let alignment = opts.alignment ?? DEFAULT_ALIGNMENT;
  const explicit = entries.find(([k]) => k === "general.alignment");
  if (explicit) {
    const [, v] = explicit;
    if (v.type !== GgufValueType.UINT32 || typeof v.value !== "number") throw new Error("general.alignment must be u32");
    if (opts.alignment !== undefined && opts.alignment !== v.value) {
      throw new Error(`alignment option ${opts.alignment} disagrees with general.alignment ${v.value}`);
    }
    alignment = v.value;
  } else if (alignment !== DEFAULT_ALIGNMENT) {
    entries.push(["general.alignment", u32(alignment)]);
  }
  if (alignment <= 0 || (alignment & (alignment - 1)) !== 0) throw new Error(`alignment ${alignment} is not a power of two`);

  const tensors = opts.tensors ?? [];
  const w = new ByteSink();
  w.u32(GGUF_MAGIC);
  w.u32(version);
  w.u64(tensors.length);
  w.u64(entries.length);
  for (const [key, v] of entries) {
    w.str(key);
    w.u32(v.type);
    writeValue(w, v.type, v.value, key);
  }

  let rel = 0;
  const placed = tensors.map((t) => {
    const size = tensorBytes(t);
    if (t.data.length !== size) {
      throw new Error(`tensor "${t.name}" (${typeName(t.type)} [${t.dims.join(", ")}]): data is ${t.data.length} bytes, expected ${size}`);
    }
    w.str(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(t.type);
    w.u64(rel);
    const at = rel;
    rel = alignUp(rel + size, alignment);
    return at;
  });

  w.padTo(alignment);
  const dataStart = w.length;
  tensors.forEach((t, i) => {
    w.padTo(alignment, dataStart + placed[i]);
    w.bytes(t.data);
  });
  w.padTo(alignment);
  return w.finish();
}

/** Writes a GGUF file to `path` (see buildGguf). */
export async function writeGguf(path: string, opts: GgufWriteOptions): Promise<void> {
  await writeFile(path, buildGguf(opts));
}

/** Byte size of a tensor of this type and shape (throws for unknown types or partial blocks). */
export function tensorBytes(t: { readonly type: number; readonly dims: readonly number[] }): number {
  if (!TYPE_INFO.has(t.type)) throw new Error(`unknown tensor type ${t.type}`);
  if (t.dims.length > 4 || t.dims.some((d) => !Number.isSafeInteger(d) || d <= 0)) {
    throw new Error(`bad tensor shape [${t.dims.join(", ")}]`);
  }
  const row = t.dims[0] ?? 1;
  return rowBytes(t.type, row) * t.dims.slice(1).reduce((a, b) => a * b, 1);
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

const INT_RANGES: Partial<Record<GgufValueType, [number, number]>> = {
  [GgufValueType.UINT8]: [0, 0xff],
  [GgufValueType.INT8]: [-0x80, 0x7f],
  [GgufValueType.UINT16]: [0, 0xffff],
  [GgufValueType.INT16]: [-0x8000, 0x7fff],
  [GgufValueType.UINT32]: [0, 0xffffffff],
  [GgufValueType.INT32]: [-0x80000000, 0x7fffffff],
};

function writeValue(w: ByteSink, type: GgufValueType, v: GgufValue, key: string): void {
  const bad = (): never => {
    throw new Error(`metadata "${key}": ${String(v)} is not a valid ${valueTypeName(type)}`);
  };
  const range = INT_RANGES[type];
  if (range) {
    if (typeof v !== "number" || !Number.isInteger(v) || v < range[0] || v > range[1]) bad();
  }
  switch (type) {
    case GgufValueType.UINT8:
    case GgufValueType.INT8:
      return w.u8((v as number) & 0xff);
    case GgufValueType.UINT16:
    case GgufValueType.INT16:
      return w.u16((v as number) & 0xffff);
    case GgufValueType.UINT32:
    case GgufValueType.INT32:
      return w.u32((v as number) >>> 0);
    case GgufValueType.FLOAT32:
      if (typeof v !== "number") bad();
      return w.f32(v as number);
    case GgufValueType.FLOAT64:
      if (typeof v !== "number") bad();
      return w.f64(v as number);
    case GgufValueType.BOOL:
      if (typeof v !== "boolean") bad();
      return w.u8(v ? 1 : 0);
    case GgufValueType.STRING:
      if (typeof v !== "string") bad();
      return w.str(v as string);
    case GgufValueType.UINT64:
    case GgufValueType.INT64: {
      if (typeof v !== "bigint" && !(typeof v === "number" && Number.isSafeInteger(v))) bad();
      const b = BigInt(v as number | bigint);
      const ok = type === GgufValueType.UINT64 ? b >= 0n && b < 1n << 64n : b >= -(1n << 63n) && b < 1n << 63n;
      if (!ok) bad();
      return w.u64(BigInt.asUintN(64, b));
    }
    case GgufValueType.ARRAY: {
      if (!isGgufArray(v)) bad();
      const a = v as GgufArray;
      w.u32(a.elementType);
      w.u64(a.values.length);
      for (const x of a.values) writeValue(w, a.elementType, x, key);
      return;
    }
    default:
      throw new Error(`metadata "${key}": unknown value type ${type as number}`);
  }
}

/**
 * A growable little-endian byte buffer. Exported so tests can hand-craft malformed headers
 * (wrong counts, bad offsets) that the validating writer refuses to produce.
 */
export class ByteSink {
  private buf = new Uint8Array(1024);
  private view = new DataView(this.buf.buffer);
  length = 0;
  private static readonly encoder = new TextEncoder();

  /** Appends n bytes and returns their offset. Call it before touching buf/view: it may replace them. */
  private reserve(n: number): number {
    const at = this.length;
    if (at + n > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, at + n));
      next.set(this.buf.subarray(0, at));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    this.length += n;
    return at;
  }
  u8(v: number): void {
    const at = this.reserve(1);
    this.view.setUint8(at, v);
  }
  u16(v: number): void {
    const at = this.reserve(2);
    this.view.setUint16(at, v, true);
  }
  u32(v: number): void {
    const at = this.reserve(4);
    this.view.setUint32(at, v, true);
  }
  i32(v: number): void {
    const at = this.reserve(4);
    this.view.setInt32(at, v, true);
  }
  f32(v: number): void {
    const at = this.reserve(4);
    this.view.setFloat32(at, v, true);
  }
  f64(v: number): void {
    const at = this.reserve(8);
    this.view.setFloat64(at, v, true);
  }
  u64(v: number | bigint): void {
    const at = this.reserve(8);
    this.view.setBigUint64(at, BigInt(v), true);
  }
  str(s: string): void {
    const b = ByteSink.encoder.encode(s);
    this.u64(b.length);
    this.bytes(b);
  }
  bytes(b: Uint8Array): void {
    const at = this.reserve(b.length);
    this.buf.set(b, at);
  }
  /** Zero-pads to `target` (default: the next multiple of `alignment`). */
  padTo(alignment: number, target = alignUp(this.length, alignment)): void {
    if (target > this.length) this.reserve(target - this.length);
  }
  finish(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}
