// GGUF metadata value types and the shapes the reader returns and the writer accepts.
// Representation (kept deliberately plain):
//   UINT8..INT32, FLOAT32, FLOAT64 → number
//   UINT64, INT64                  → number when it is a safe integer, else bigint
//   BOOL                           → boolean
//   STRING                         → string (UTF-8 decoded)
//   ARRAY                          → GgufArray { elementType, values: GgufValue[] } (plain JS arrays,
//                                    so a 150k-token vocabulary is just string[]; arrays may nest)

import type { GgmlType } from "../quant/types.ts";

export enum GgufValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/** Short names as ggml prints them (gguf.cpp's GGUF_TYPE_NAME). */
const VALUE_TYPE_NAMES: readonly string[] = ["u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr", "u64", "i64", "f64"];

export function valueTypeName(type: number): string {
  return VALUE_TYPE_NAMES[type] ?? `unknown value type ${type}`;
}

export function isValueType(type: number): type is GgufValueType {
  return Number.isInteger(type) && type >= 0 && type < VALUE_TYPE_NAMES.length;
}

/** Bytes a value of this type takes at least (used to reject impossible counts before allocating). */
export function minValueBytes(type: GgufValueType): number {
  switch (type) {
    case GgufValueType.UINT8:
    case GgufValueType.INT8:
    case GgufValueType.BOOL:
      return 1;
    case GgufValueType.UINT16:
    case GgufValueType.INT16:
      return 2;
    case GgufValueType.UINT32:
    case GgufValueType.INT32:
    case GgufValueType.FLOAT32:
      return 4;
    case GgufValueType.UINT64:
    case GgufValueType.INT64:
    case GgufValueType.FLOAT64:
    case GgufValueType.STRING: // u64 length
      return 8;
    case GgufValueType.ARRAY: // u32 element type + u64 count
      return 12;
  }
}

export interface GgufArray {
  readonly elementType: GgufValueType;
  readonly values: readonly GgufValue[];
}

export type GgufValue = number | bigint | boolean | string | GgufArray;

/** A metadata entry as stored: key, GGUF value type, value. */
export interface GgufMetadataEntry {
  readonly key: string;
  readonly type: GgufValueType;
  readonly value: GgufValue;
}

/** A value with its explicit GGUF type (what the writer takes; see the u32()/str()/arr() helpers). */
export interface GgufTypedValue {
  readonly type: GgufValueType;
  readonly value: GgufValue;
}

export interface GgufTensorInfo {
  readonly name: string;
  readonly type: GgmlType;
  /** ggml order as stored: dims[0] is the row length (contiguous), dims[1] the row count, ... */
  readonly dims: readonly number[];
  readonly nElements: number;
  /** Absolute offset in the file: copy `byteSize` bytes from here. */
  readonly offset: number;
  /** Offset relative to the data section, as stored in the file. */
  readonly relOffset: number;
  readonly byteSize: number;
}

export function isGgufArray(v: GgufValue): v is GgufArray {
  return typeof v === "object" && v !== null && "elementType" in v && "values" in v;
}
