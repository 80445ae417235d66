// The GGUF header parser (v2 and v3; both share one layout: u64 counts and string lengths).
// Layout: magic "GGUF", u32 version, u64 tensor_count, u64 kv_count, kv pairs, tensor infos,
// padding to `general.alignment`, data section. Follows ggml's gguf.cpp checks and adds a few
// (overlap, zero dims) so that a bad file fails here with a message, not later in the engine.

import { TYPE_INFO, rowBytes, typeName, type GgmlType } from "../quant/types.ts";
import { Cursor } from "./cursor.ts";
import {
  GgufValueType,
  isValueType,
  minValueBytes,
  valueTypeName,
  type GgufMetadataEntry,
  type GgufTensorInfo,
  type GgufValue,
} from "./types.ts";

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const DEFAULT_ALIGNMENT = 32;
const MAX_DIMS = 4;
/** Nesting limit for arrays: real files nest at most once; a bound keeps recursion off the stack limit. */
const MAX_ARRAY_DEPTH = 32;
/** Smallest possible kv pair (empty key, u32 type, 1-byte value) and tensor info (empty name, 0 dims). */
const MIN_KV_BYTES = 8 + 4 + 1;
const MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8;

export interface ParsedHeader {
  version: number;
  alignment: number;
  dataOffset: number;
  metadata: Map<string, GgufMetadataEntry>;
  tensors: GgufTensorInfo[];
}

/** Parses the header from `c.bytes` (a prefix of the file); may throw NeedMore or GgufError. */
export function parseHeader(c: Cursor): ParsedHeader {
  const { version, kvCount, tensorCount } = readPreamble(c);
  const metadata = readMetadata(c, kvCount);
  const alignment = readAlignment(c, metadata);
  const infos = readTensorInfos(c, tensorCount);
  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  return { version, alignment, dataOffset, metadata, tensors: placeTensors(c, infos, dataOffset, alignment) };
}

/** The magic, the version and the two counts (checked against the bytes left before any loop). */
function readPreamble(c: Cursor): { version: number; kvCount: number; tensorCount: number } {
  c.what = "the magic";
  if (c.fileSize < 4) c.fail(`not a GGUF file (only ${c.fileSize} bytes long)`);
  if (c.u32() !== GGUF_MAGIC) {
    const head = [...c.bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    c.fail(`not a GGUF file (the first bytes are "${head}", expected the magic "GGUF" = 47 47 55 46)`);
  }
  c.what = "the version";
  const version = c.u32();
  if (version === 0x01000000 || version === 0x02000000 || version === 0x03000000) {
    c.fail(`big-endian GGUF is not supported (version field reads ${version >>> 24} byte-swapped)`);
  }
  if (version !== 2 && version !== 3) {
    c.fail(`unsupported GGUF version ${version} (supported: 2 and 3)`);
  }
  c.what = "the counts";
  // Counts as bigint so messages show them exactly; compared with the file before any loop.
  const tensorCountBig = c.u64Big();
  const kvCountBig = c.u64Big();
  const minBytes = kvCountBig * BigInt(MIN_KV_BYTES) + tensorCountBig * BigInt(MIN_TENSOR_INFO_BYTES);
  if (minBytes > BigInt(c.remaining())) {
    c.fail(
      `truncated or corrupt header: ${kvCountBig} metadata keys and ${tensorCountBig} tensors need at least ${minBytes} bytes, ` +
        `only ${c.remaining()} are left in the file`,
    );
  }
  return { version, kvCount: Number(kvCountBig), tensorCount: Number(tensorCountBig) };
}

function readMetadata(c: Cursor, kvCount: number): Map<string, GgufMetadataEntry> {
  const metadata = new Map<string, GgufMetadataEntry>();
  for (let i = 0; i < kvCount; i++) {
    c.what = `metadata key #${i}`;
    const key = c.str();
    c.what = `the metadata value of "${key}"`;
    if (metadata.has(key)) c.fail(`duplicate metadata key "${key}"`);
    const type = c.u32();
    if (!isValueType(type)) c.fail(`metadata key "${key}" has unknown value type ${type}`);
    metadata.set(key, { key, type, value: readValue(c, type, key, 0) });
  }
  return metadata;
}

/** `general.alignment` (a u32 power of two), else the default. */
function readAlignment(c: Cursor, metadata: Map<string, GgufMetadataEntry>): number {
  const al = metadata.get("general.alignment");
  if (!al) return DEFAULT_ALIGNMENT;
  if (al.type !== GgufValueType.UINT32) {
    c.fail(`general.alignment must be a u32, found ${valueTypeName(al.type)}`);
  }
  const alignment = al.value as number;
  if (alignment === 0 || (alignment & (alignment - 1)) !== 0) {
    c.fail(`general.alignment = ${alignment} is not a non-zero power of two`);
  }
  return alignment;
}

function readTensorInfos(c: Cursor, tensorCount: number): { info: GgufTensorInfo; relOffset: number }[] {
  const infos: { info: GgufTensorInfo; relOffset: number }[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    c.what = `tensor info #${i}`;
    const name = c.str();
    c.what = `the tensor info of "${name}"`;
    if (names.has(name)) c.fail(`duplicate tensor name "${name}"`);
    names.add(name);
    infos.push(readTensorInfo(c, name));
  }
  return infos;
}

/** Tensors at their file offsets, each checked to be aligned, inside the file and apart from the others. */
function placeTensors(c: Cursor, infos: { info: GgufTensorInfo; relOffset: number }[], dataOffset: number, alignment: number): GgufTensorInfo[] {
  const placed = infos.map(({ info: t, relOffset: rel }) => {
    if (rel % alignment !== 0) {
      c.fail(`tensor "${t.name}" has offset ${rel} in the data section, not a multiple of the alignment ${alignment}`);
    }
    const offset = dataOffset + rel;
    const end = offset + t.byteSize;
    if (offset >= c.fileSize) {
      c.fail(`tensor "${t.name}" starts at byte ${offset}, past the end of the file (${c.fileSize} bytes)`);
    }
    if (end > c.fileSize) {
      c.fail(`truncated tensor data: tensor "${t.name}" needs bytes ${offset}..${end} but the file ends at ${c.fileSize}`);
    }
    return { ...t, offset, relOffset: rel };
  });

  // Overlap check over tensors sorted by offset: each must start at or after the previous end.
  const byOffset = [...placed].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1];
    const cur = byOffset[i];
    if (cur.offset < prev.offset + prev.byteSize) {
      c.fail(`tensors "${prev.name}" (bytes ${prev.offset}..${prev.offset + prev.byteSize}) and "${cur.name}" (from ${cur.offset}) overlap`);
    }
  }
  return placed;
}

function readValue(c: Cursor, type: GgufValueType, key: string, depth: number): GgufValue {
  switch (type) {
    case GgufValueType.UINT8:
      return c.u8();
    case GgufValueType.INT8:
      return c.i8();
    case GgufValueType.UINT16:
      return c.u16();
    case GgufValueType.INT16:
      return c.i16();
    case GgufValueType.UINT32:
      return c.u32();
    case GgufValueType.INT32:
      return c.i32();
    case GgufValueType.FLOAT32:
      return c.f32();
    case GgufValueType.BOOL:
      return c.u8() !== 0;
    case GgufValueType.STRING:
      return c.str();
    case GgufValueType.UINT64:
      return narrow(c.u64Big());
    case GgufValueType.INT64:
      return narrow(c.i64Big());
    case GgufValueType.FLOAT64:
      return c.f64();
    case GgufValueType.ARRAY:
      return readArray(c, key, depth);
  }
}

function readArray(c: Cursor, key: string, depth: number): GgufValue {
  if (depth >= MAX_ARRAY_DEPTH) c.fail(`metadata key "${key}": arrays nested deeper than ${MAX_ARRAY_DEPTH}`);
  const elementType = c.u32();
  if (!isValueType(elementType)) c.fail(`metadata key "${key}": array of unknown value type ${elementType}`);
  const countBig = c.u64Big();
  // Reject before allocating or looping: every element takes at least minValueBytes.
  if (countBig * BigInt(minValueBytes(elementType)) > BigInt(c.remaining())) {
    c.fail(`metadata key "${key}": array of ${countBig} ${valueTypeName(elementType)} cannot fit in the ${c.remaining()} bytes left in the file`);
  }
  const count = Number(countBig);
  const values: GgufValue[] = [];
  // Specialised loops for the big cases (vocabulary strings, scores, token types).
  if (elementType === GgufValueType.STRING) {
    for (let i = 0; i < count; i++) values.push(c.str());
  } else if (elementType === GgufValueType.FLOAT32) {
    for (let i = 0; i < count; i++) values.push(c.f32());
  } else if (elementType === GgufValueType.INT32) {
    for (let i = 0; i < count; i++) values.push(c.i32());
  } else {
    for (let i = 0; i < count; i++) values.push(readValue(c, elementType, key, depth + 1));
  }
  return { elementType, values };
}

function narrow(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function readTensorInfo(c: Cursor, name: string): { info: GgufTensorInfo; relOffset: number } {
  const nDims = c.u32();
  if (nDims > MAX_DIMS) c.fail(`tensor "${name}" has ${nDims} dimensions (at most ${MAX_DIMS})`);
  const dims: number[] = [];
  let nElements = 1;
  for (let d = 0; d < nDims; d++) {
    const big = c.u64Big();
    if (big === 0n) c.fail(`tensor "${name}" has dimension ${d} equal to 0`);
    if (big > BigInt(c.fileSize) * 8n) {
      // Covers "negative" int64 dims (>= 2^63 as u64) and any size no file this long can hold.
      c.fail(`tensor "${name}" has impossible dimension ${d} = ${BigInt.asIntN(64, big)}`);
    }
    dims.push(Number(big));
    nElements *= Number(big);
  }
  const type = c.u32();
  const info = TYPE_INFO.get(type);
  if (!info) c.fail(`tensor "${name}" has unknown tensor type ${type}`);
  const relOffset = c.u64();
  const row = dims.length > 0 ? dims[0] : 1;
  if (row % info.blockSize !== 0) {
    c.fail(`tensor "${name}" of type ${typeName(type)}: row length ${row} is not a multiple of the block size ${info.blockSize}`);
  }
  const byteSize = rowBytes(type, row) * (nElements / row);
  if (!Number.isSafeInteger(byteSize) || byteSize > c.fileSize) {
    c.fail(`tensor "${name}" (${typeName(type)} [${dims.join(", ")}]) needs ${byteSize} bytes, more than the file's ${c.fileSize}`);
  }
  return {
    info: { name, type: type as GgmlType, dims, nElements, offset: 0, relOffset, byteSize },
    relOffset,
  };
}
