// Human- and machine-readable summaries of a GGUF header, for `hearth inspect`.
// Long arrays (vocabularies, merges, scores) and long strings (chat templates) are summarised so
// the output stays readable; --json keeps short arrays whole and long ones as {type, length, head}.

import { typeName } from "../quant/types.ts";
import type { GgufFile } from "./file.ts";
import { GgufValueType, isGgufArray, valueTypeName, type GgufValue } from "./types.ts";

/** Arrays longer than this are summarised; this many elements are shown. */
const ARRAY_LIMIT = 8;
const ARRAY_HEAD = 3;
/** Strings longer than this are shortened in text mode. */
const STRING_LIMIT = 80;

export function formatBytes(n: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} bytes` : `${v.toFixed(2)} ${units[u]}`;
}

/** "1185376 bytes (1.13 MiB)"; just "352 bytes" when a unit would add nothing. */
function bytesWithUnit(n: number, open: string, close: string): string {
  return n < 1024 ? `${n} bytes` : `${n} bytes${open}${formatBytes(n)}${close}`;
}

function quote(s: string, limit: number): string {
  const short = s.length > limit ? `${s.slice(0, limit)}…` : s;
  const q = JSON.stringify(short);
  return s.length > limit ? `${q} (${s.length} chars)` : q;
}

/** The shortest decimal that reads back as the same float32 (1e-5, not 0.000009999999747378752). */
export function formatF32(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  for (let p = 1; p <= 9; p++) {
    const s = v.toPrecision(p);
    if (Math.fround(Number(s)) === v) return String(Number(s));
  }
  return String(v);
}

/** One value as text: strings quoted (shortened), arrays summarised as `[str × 512] "a", "b", …`. */
export function formatValue(v: GgufValue, type?: GgufValueType, stringLimit = STRING_LIMIT): string {
  if (typeof v === "string") return quote(v, stringLimit);
  if (typeof v === "number" && type === GgufValueType.FLOAT32) return formatF32(v);
  if (typeof v === "bigint" || typeof v === "number" || typeof v === "boolean") return String(v);
  if (isGgufArray(v)) {
    const n = v.values.length;
    const shown = n > ARRAY_LIMIT ? v.values.slice(0, ARRAY_HEAD) : v.values;
    const items = shown.map((x) => formatValue(x, v.elementType, 40)).join(", ");
    return `[${valueTypeName(v.elementType)} × ${n}] ${items}${n > shown.length ? ", …" : ""}`;
  }
  return String(v);
}

function typeLabel(type: GgufValueType, v: GgufValue): string {
  if (type === GgufValueType.ARRAY && isGgufArray(v)) return `arr[${valueTypeName(v.elementType)}]`;
  return valueTypeName(type);
}

export function describeText(f: GgufFile): string {
  const out: string[] = [];
  out.push(`file:         ${f.path}`);
  out.push(`architecture: ${f.architecture ?? "(none)"}`);
  out.push(`GGUF version: ${f.version}`);
  out.push(`file size:    ${bytesWithUnit(f.fileSize, " (", ")")}`);
  out.push(`alignment:    ${f.alignment}, data section at byte ${f.dataOffset}`);
  out.push("");
  out.push(`metadata (${f.metadata.size} keys):`);
  const keyWidth = Math.max(0, ...[...f.metadata.keys()].map((k) => k.length));
  for (const e of f.metadata.values()) {
    out.push(`  ${e.key.padEnd(keyWidth)}  ${typeLabel(e.type, e.value).padEnd(8)}  ${formatValue(e.value, e.type)}`);
  }
  out.push("");
  out.push(`tensors (${f.tensors.length}, ${bytesWithUnit(f.tensorBytes, " = ", "")}):`);
  const nameWidth = Math.max(0, ...f.tensors.map((t) => t.name.length));
  for (const t of f.tensors) {
    const shape = `[${t.dims.join(", ")}]`;
    out.push(`  ${t.name.padEnd(nameWidth)}  ${typeName(t.type).padEnd(7)}  ${shape.padEnd(18)}  ${formatBytes(t.byteSize)}`);
  }
  return out.join("\n") + "\n";
}

type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

function jsonValue(v: GgufValue): JsonValue {
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number") return Number.isFinite(v) ? v : String(v); // NaN/Infinity are not JSON
  if (typeof v === "string" || typeof v === "boolean") return v;
  if (v.values.length > ARRAY_LIMIT) {
    return { type: valueTypeName(v.elementType), length: v.values.length, head: v.values.slice(0, ARRAY_HEAD).map(jsonValue) };
  }
  return v.values.map(jsonValue);
}

/** One JSON-serialisable object describing the file (bigints as strings, long arrays summarised). */
export function describeJson(f: GgufFile): { [k: string]: JsonValue } {
  const metadata: { [k: string]: JsonValue } = {};
  for (const e of f.metadata.values()) {
    metadata[e.key] = { type: typeLabel(e.type, e.value), value: jsonValue(e.value) };
  }
  return {
    file: f.path,
    architecture: f.architecture ?? null,
    version: f.version,
    fileSize: f.fileSize,
    alignment: f.alignment,
    dataOffset: f.dataOffset,
    metadata,
    tensors: f.tensors.map((t) => ({
      name: t.name,
      type: typeName(t.type),
      dims: [...t.dims],
      offset: t.offset,
      byteSize: t.byteSize,
    })),
    tensorCount: f.tensors.length,
    tensorBytes: f.tensorBytes,
  };
}
