// A parsed GGUF header: metadata (in file order) with typed accessors, and tensor placements.
// Accessors throw a GgufError naming the file and key; the `opt*` variants return undefined when
// the key is missing (but still throw on a wrong type: a wrong type is a broken file, not a default).

import { GgufError } from "./errors.ts";
import type { ParsedHeader } from "./parse.ts";
import {
  GgufValueType,
  isGgufArray,
  valueTypeName,
  type GgufArray,
  type GgufMetadataEntry,
  type GgufTensorInfo,
  type GgufValue,
} from "./types.ts";

const NUMERIC_TYPES: ReadonlySet<GgufValueType> = new Set([
  GgufValueType.UINT8,
  GgufValueType.INT8,
  GgufValueType.UINT16,
  GgufValueType.INT16,
  GgufValueType.UINT32,
  GgufValueType.INT32,
  GgufValueType.FLOAT32,
  GgufValueType.UINT64,
  GgufValueType.INT64,
  GgufValueType.FLOAT64,
]);

export class GgufFile {
  readonly version: number;
  readonly alignment: number;
  /** Absolute offset of the data section (header end rounded up to the alignment). */
  readonly dataOffset: number;
  /** Metadata in file order (a Map keeps insertion order). */
  readonly metadata: ReadonlyMap<string, GgufMetadataEntry>;
  /** Tensors in file order. */
  readonly tensors: readonly GgufTensorInfo[];
  private readonly byName: Map<string, GgufTensorInfo>;

  constructor(
    /** Path of the file (or the name given to parseGguf for in-memory bytes). */
    readonly path: string,
    readonly fileSize: number,
    header: ParsedHeader,
  ) {
    this.version = header.version;
    this.alignment = header.alignment;
    this.dataOffset = header.dataOffset;
    this.metadata = header.metadata;
    this.tensors = header.tensors;
    this.byName = new Map(header.tensors.map((t) => [t.name, t]));
  }

  /** `general.architecture`, or undefined for files without it (e.g. some vocab-only files). */
  get architecture(): string | undefined {
    return this.optString("general.architecture");
  }

  /** Sum of the tensors' byte sizes (without alignment padding). */
  get tensorBytes(): number {
    return this.tensors.reduce((s, t) => s + t.byteSize, 0);
  }

  has(key: string): boolean {
    return this.metadata.has(key);
  }

  entry(key: string): GgufMetadataEntry | undefined {
    return this.metadata.get(key);
  }

  tensor(name: string): GgufTensorInfo | undefined {
    return this.byName.get(name);
  }

  requireTensor(name: string): GgufTensorInfo {
    const t = this.byName.get(name);
    if (!t) throw new GgufError(this.path, `missing tensor "${name}"`);
    return t;
  }

  getString(key: string): string {
    return this.required(key, this.optString(key));
  }
  optString(key: string): string | undefined {
    const e = this.metadata.get(key);
    if (!e) return undefined;
    if (e.type !== GgufValueType.STRING) this.wrongType(e, "a string");
    return e.value as string;
  }

  /** Any numeric type; a 64-bit integer beyond 2^53 is an error (use `entry()` for the bigint). */
  getNumber(key: string): number {
    return this.required(key, this.optNumber(key));
  }
  optNumber(key: string): number | undefined {
    const e = this.metadata.get(key);
    if (!e) return undefined;
    if (!NUMERIC_TYPES.has(e.type)) this.wrongType(e, "a number");
    if (typeof e.value === "bigint") {
      throw new GgufError(this.path, `metadata key "${key}" = ${e.value} does not fit a JavaScript number`);
    }
    return e.value as number;
  }

  getBoolean(key: string): boolean {
    return this.required(key, this.optBoolean(key));
  }
  optBoolean(key: string): boolean | undefined {
    const e = this.metadata.get(key);
    if (!e) return undefined;
    if (e.type !== GgufValueType.BOOL) this.wrongType(e, "a bool");
    return e.value as boolean;
  }

  /** The array's values; with `elementType`, also checks the element type. */
  getArray(key: string, elementType?: GgufValueType): readonly GgufValue[] {
    return this.required(key, this.optArray(key, elementType));
  }
  optArray(key: string, elementType?: GgufValueType): readonly GgufValue[] | undefined {
    const e = this.metadata.get(key);
    if (!e) return undefined;
    if (e.type !== GgufValueType.ARRAY || !isGgufArray(e.value)) this.wrongType(e, "an array");
    const a = e.value as GgufArray;
    if (elementType !== undefined && a.elementType !== elementType) {
      throw new GgufError(
        this.path,
        `metadata key "${key}" is an array of ${valueTypeName(a.elementType)}, expected an array of ${valueTypeName(elementType)}`,
      );
    }
    return a.values;
  }

  getStringArray(key: string): readonly string[] {
    return this.getArray(key, GgufValueType.STRING) as readonly string[];
  }
  optStringArray(key: string): readonly string[] | undefined {
    return this.optArray(key, GgufValueType.STRING) as readonly string[] | undefined;
  }

  /** An array of any numeric element type (scores, token types, per-layer head counts). */
  getNumberArray(key: string): readonly number[] {
    return this.required(key, this.optNumberArray(key));
  }
  optNumberArray(key: string): readonly number[] | undefined {
    const e = this.metadata.get(key);
    if (!e) return undefined;
    const values = this.optArray(key) as readonly GgufValue[];
    const a = e.value as GgufArray;
    if (!NUMERIC_TYPES.has(a.elementType) || values.some((v) => typeof v !== "number")) {
      throw new GgufError(this.path, `metadata key "${key}" is an array of ${valueTypeName(a.elementType)}, expected an array of numbers`);
    }
    return values as readonly number[];
  }

  private required<T>(key: string, v: T | undefined): T {
    if (v === undefined) throw new GgufError(this.path, `missing metadata key "${key}"`);
    return v;
  }

  private wrongType(e: GgufMetadataEntry, expected: string): never {
    throw new GgufError(this.path, `metadata key "${e.key}" is ${valueTypeName(e.type)}, expected ${expected}`);
  }
}
