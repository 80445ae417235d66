// ggml tensor types: ids as stored in GGUF tensor infos, with ggml's block geometry.
// Every type ggml knows is listed so that a file using one we cannot compute is reported by name;
// `SUPPORTED_TYPES` lists the ones the engine computes with.

export enum GgmlType {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
}

export interface TypeInfo {
  readonly name: string;
  /** Elements per block (1 for plain scalar types). */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly typeSize: number;
}

/** Block geometry from ggml's type traits (ggml/src/ggml.c). */
export const TYPE_INFO: ReadonlyMap<number, TypeInfo> = new Map<number, TypeInfo>([
  [GgmlType.F32, { name: "F32", blockSize: 1, typeSize: 4 }],
  [GgmlType.F16, { name: "F16", blockSize: 1, typeSize: 2 }],
  [GgmlType.Q4_0, { name: "Q4_0", blockSize: 32, typeSize: 18 }],
  [GgmlType.Q4_1, { name: "Q4_1", blockSize: 32, typeSize: 20 }],
  [GgmlType.Q5_0, { name: "Q5_0", blockSize: 32, typeSize: 22 }],
  [GgmlType.Q5_1, { name: "Q5_1", blockSize: 32, typeSize: 24 }],
  [GgmlType.Q8_0, { name: "Q8_0", blockSize: 32, typeSize: 34 }],
  [GgmlType.Q8_1, { name: "Q8_1", blockSize: 32, typeSize: 36 }],
  [GgmlType.Q2_K, { name: "Q2_K", blockSize: 256, typeSize: 84 }],
  [GgmlType.Q3_K, { name: "Q3_K", blockSize: 256, typeSize: 110 }],
  [GgmlType.Q4_K, { name: "Q4_K", blockSize: 256, typeSize: 144 }],
  [GgmlType.Q5_K, { name: "Q5_K", blockSize: 256, typeSize: 176 }],
  [GgmlType.Q6_K, { name: "Q6_K", blockSize: 256, typeSize: 210 }],
  [GgmlType.Q8_K, { name: "Q8_K", blockSize: 256, typeSize: 292 }],
  [GgmlType.IQ2_XXS, { name: "IQ2_XXS", blockSize: 256, typeSize: 66 }],
  [GgmlType.IQ2_XS, { name: "IQ2_XS", blockSize: 256, typeSize: 74 }],
  [GgmlType.IQ3_XXS, { name: "IQ3_XXS", blockSize: 256, typeSize: 98 }],
  [GgmlType.IQ1_S, { name: "IQ1_S", blockSize: 256, typeSize: 50 }],
  [GgmlType.IQ4_NL, { name: "IQ4_NL", blockSize: 32, typeSize: 18 }],
  [GgmlType.IQ3_S, { name: "IQ3_S", blockSize: 256, typeSize: 110 }],
  [GgmlType.IQ2_S, { name: "IQ2_S", blockSize: 256, typeSize: 82 }],
  [GgmlType.IQ4_XS, { name: "IQ4_XS", blockSize: 256, typeSize: 136 }],
  [GgmlType.I8, { name: "I8", blockSize: 1, typeSize: 1 }],
  [GgmlType.I16, { name: "I16", blockSize: 1, typeSize: 2 }],
  [GgmlType.I32, { name: "I32", blockSize: 1, typeSize: 4 }],
  [GgmlType.I64, { name: "I64", blockSize: 1, typeSize: 8 }],
  [GgmlType.F64, { name: "F64", blockSize: 1, typeSize: 8 }],
  [GgmlType.IQ1_M, { name: "IQ1_M", blockSize: 256, typeSize: 56 }],
  [GgmlType.BF16, { name: "BF16", blockSize: 1, typeSize: 2 }],
  [GgmlType.TQ1_0, { name: "TQ1_0", blockSize: 256, typeSize: 54 }],
  [GgmlType.TQ2_0, { name: "TQ2_0", blockSize: 256, typeSize: 66 }],
  [GgmlType.MXFP4, { name: "MXFP4", blockSize: 32, typeSize: 17 }],
]);

/** Weight types the engine computes with (every type a Q4_K_M/Q4_0/Q8_0/F16 llama.cpp file holds). */
export const SUPPORTED_TYPES: ReadonlySet<GgmlType> = new Set([
  GgmlType.F32,
  GgmlType.F16,
  GgmlType.BF16,
  GgmlType.Q8_0,
  GgmlType.Q4_0,
  GgmlType.Q4_1,
  GgmlType.Q5_0,
  GgmlType.Q5_1,
  GgmlType.Q4_K,
  GgmlType.Q5_K,
  GgmlType.Q6_K,
]);

export function typeName(type: number): string {
  return TYPE_INFO.get(type)?.name ?? `unknown type ${type}`;
}

/** Bytes of a row of `n` elements; throws when `n` is not a whole number of blocks. */
export function rowBytes(type: number, n: number): number {
  const info = TYPE_INFO.get(type);
  if (!info) throw new Error(`unknown tensor type ${type}`);
  if (n % info.blockSize !== 0) {
    throw new Error(`a row of ${n} elements is not a whole number of ${info.name} blocks (${info.blockSize})`);
  }
  return (n / info.blockSize) * info.typeSize;
}

/** Throws a clear error when the engine cannot compute with `type`. */
export function assertSupported(type: number, what: string): void {
  if (!SUPPORTED_TYPES.has(type)) {
    const names = [...SUPPORTED_TYPES].map(typeName).join(", ");
    throw new Error(`${what}: tensor type ${typeName(type)} is not supported (supported: ${names})`);
  }
}
