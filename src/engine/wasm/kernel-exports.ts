// The kernels' exports, typed as their C functions declare them (kernels/*.c, EXPORT(...)), and
// argument structs for the calls that take many numbers, where a swapped pair would otherwise
// compile. Adding an export in C: add it to KernelExports (grouped by C file) and to EXPORT_NAMES;
// a unit test checks that every export of the built module is listed.

/** A byte address in the kernels' memory. */
export type Ptr = number;
/** A ggml tensor type id (GgmlType). */
export type TypeId = number;

export interface KernelExports {
  readonly __stack_pointer: WebAssembly.Global;
  readonly __heap_base: WebAssembly.Global;

  // quants.c: tables, rows of every tensor format, dot products
  init_tables(): void;
  /** The activation type of weight type `wtype` (ggml's vec_dot_type), or -1. */
  k_act_type(wtype: TypeId): TypeId;
  /** Bytes of a row of n elements of `type`, or -1 for a type the kernels do not know. */
  k_row_bytes(type: TypeId, n: number): number;
  k_quantize_row(type: TypeId, x: Ptr, y: Ptr, n: number): void;
  k_dequantize_row(type: TypeId, x: Ptr, y: Ptr, n: number): void;
  k_vec_dot(wtype: TypeId, n: number, w: Ptr, x: Ptr): number;
  k_vec_dot_rows(wtype: TypeId, n: number, rows: number, w: Ptr, x: Ptr, out: Ptr): void;

  // matmul.c: products of quantised weights with float activations
  matmul_scratch_bytes(wtype: TypeId, ncols: number, ntok: number): number;
  /** Weight types with the same id take the same quantised activations (one quantisation serves them). */
  act_format(wtype: TypeId): number;
  quantize_activations(wtype: TypeId, x: Ptr, ncols: number, ntok: number, xq: Ptr): void;
  matmul_quantized(wtype: TypeId, w: Ptr, nrows: number, ncols: number, xq: Ptr, ntok: number, y: Ptr): void;
  matmul(wtype: TypeId, w: Ptr, nrows: number, ncols: number, x: Ptr, ntok: number, y: Ptr, scratch: Ptr): void;
  /** `type` may carry REPACKED for the formats repacked_rows_readable names. */
  get_row(type: TypeId, w: Ptr, ncols: number, row: number, y: Ptr): void;
  /** 1 when get_row can look up rows of a repacked matrix of `type`. */
  repacked_rows_readable(type: TypeId): number;

  // repack.c: weights repacked into interleaved row groups while they are loaded
  /** Bytes of the repacked rows × ncols matrix, or -1 when `type` keeps the file's layout. */
  repacked_bytes(type: TypeId, rows: number, ncols: number): number;
  /** Bytes of scratch repack_rows needs (a group of file rows per thread). */
  repack_scratch_bytes(type: TypeId, ncols: number): number;
  /** src may be the end of the rows' own place in dst (in-place repack, see repack.c). */
  repack_rows(type: TypeId, src: Ptr, row0: number, rows: number, ncols: number, dst: Ptr, tmp: Ptr): void;
  /** Sum the repacked products by the dot-add (1) or the i16 dot and an add (0), the same results; returns the setting in force (0 in the SIMD128 build). */
  set_dot_add(on: number): number;
  /** Bytes of scratch dot_add_probe_fill fills and dot_add_probe reads and writes. */
  dot_add_probe_bytes(): number;
  /** Bytes of dot_add_probe's outputs, at the start of its scratch. */
  dot_add_probe_out_bytes(): number;
  /** Pseudo-random weights and activations for dot_add_probe (the same every time). */
  dot_add_probe_fill(scratch: Ptr): void;
  /** The Q4_K and Q5_0 product tiles `reps` times, by the dot-add (mode 1) or not (0): timed, and their outputs compared. */
  dot_add_probe(scratch: Ptr, reps: number, mode: number): void;

  // ops-attention.c (call through attention() below)
  attention_scratch_floats(nCtx: number, headDim: number, nHead: number, nHeadKV: number): number;
  attention(
    out: Ptr, q: Ptr, k: Ptr, v: Ptr, nTokens: number, nHead: number, nHeadKV: number, headDim: number,
    kvStride: number, kvHeadStride: number, firstPos: number, scale: number, scratch: Ptr,
  ): void;

  // ops.c: element-wise operations, norms, rope (call rope_rows through ropeRows() below)
  add(a: Ptr, b: Ptr, y: Ptr, n: number): void;
  mul(a: Ptr, b: Ptr, y: Ptr, n: number): void;
  scale(x: Ptr, y: Ptr, n: number, s: number): void;
  add_bias_rows(x: Ptr, b: Ptr, n: number, rows: number): void;
  exp_f32(x: Ptr, y: Ptr, n: number): void;
  rms_norm(x: Ptr, w: Ptr, y: Ptr, n: number, eps: number): void;
  rms_norm_rows(x: Ptr, w: Ptr, y: Ptr, n: number, rows: number, eps: number): void;
  rope_rows(x: Ptr, nTokens: number, rowStride: number, nHeads: number, headDim: number, nDims: number, cs: Ptr, neox: number): void;
  rope(x: Ptr, nHeads: number, headDim: number, nDims: number, cs: Ptr, neox: number): void;
  softmax(x: Ptr, n: number): void;
  silu_mul(gate: Ptr, up: Ptr, y: Ptr, n: number): void;
  store_kv_f16(src: Ptr, dst: Ptr, n: number): void;
  /** Rows of nHeads × headDim floats into a cache by head: head g of token t at dst + 2 (g·plane + t·headDim). */
  store_kv_f16_heads(src: Ptr, dst: Ptr, nTokens: number, nHeads: number, headDim: number, plane: number): void;
  f16_to_f32_row(src: Ptr, dst: Ptr, n: number): void;

  // bandwidth.c
  stream_read(p: Ptr, bytes: number, partial: Ptr): number;

  // pool.c: the thread pool (Kernels drives it; tests and benches read its counters)
  pool_set_threads(n: number): void;
  pool_set_helpers(n: number): void;
  pool_threads(): number;
  pool_set_spin(polls: number): void;
  pool_set_solo_max(tasks: number): void;
  pool_generation(): number;
  pool_worker_loop(ith: number, seen: number): void;
  pool_shutdown(): void;
  pool_stat_tasks(): number;
  pool_stat_solo_tasks(): number;
  pool_stat_helper_shares(): number;
}

/** Every name of KernelExports (the compiler checks the list against the interface both ways). */
export const EXPORT_NAMES = Object.keys({
  __stack_pointer: 0, __heap_base: 0,
  init_tables: 0, k_act_type: 0, k_row_bytes: 0, k_quantize_row: 0, k_dequantize_row: 0, k_vec_dot: 0, k_vec_dot_rows: 0,
  matmul_scratch_bytes: 0, act_format: 0, quantize_activations: 0, matmul_quantized: 0, matmul: 0, get_row: 0,
  repacked_bytes: 0, repacked_rows_readable: 0, repack_scratch_bytes: 0, repack_rows: 0, set_dot_add: 0, dot_add_probe_bytes: 0, dot_add_probe_out_bytes: 0, dot_add_probe_fill: 0, dot_add_probe: 0,
  attention_scratch_floats: 0, attention: 0,
  add: 0, mul: 0, scale: 0, add_bias_rows: 0, exp_f32: 0, rms_norm: 0, rms_norm_rows: 0, rope_rows: 0, rope: 0,
  softmax: 0, silu_mul: 0, store_kv_f16: 0, store_kv_f16_heads: 0, f16_to_f32_row: 0,
  stream_read: 0,
  pool_set_threads: 0, pool_set_helpers: 0, pool_threads: 0, pool_set_spin: 0, pool_set_solo_max: 0, pool_generation: 0,
  pool_worker_loop: 0, pool_shutdown: 0, pool_stat_tasks: 0, pool_stat_solo_tasks: 0, pool_stat_helper_shares: 0,
} satisfies Record<keyof KernelExports, 0>) as (keyof KernelExports)[];

/** The exports of a kernels instance, or a clear error when the .wasm lacks one (a stale build). */
export function kernelExports(instance: WebAssembly.Instance, path: string): KernelExports {
  const missing = EXPORT_NAMES.filter((name) => !(name in instance.exports));
  if (missing.length > 0) throw new Error(`${path} lacks the kernel exports ${missing.join(", ")}; run npm run build`);
  return instance.exports as unknown as KernelExports;
}

/** Causal multi-head attention with grouped KV heads over an f16 KV cache (ops-attention.c). */
export interface AttentionArgs {
  /** [nTokens][nHead * headDim] f32, must not overlap q. */
  out: Ptr;
  /** [nTokens][nHead * headDim] f32. */
  q: Ptr;
  /** f16 caches: KV head g's row of position j at element g * kvHeadStride + j * kvStride. */
  keys: Ptr;
  values: Ptr;
  nTokens: number;
  nHead: number;
  nHeadKV: number;
  headDim: number;
  /** Elements from one cache position to the next (headDim in the engine's cache, by head). */
  kvStride: number;
  /** Elements from one KV head to the next (nCtx * headDim in the engine's cache). */
  kvHeadStride: number;
  /** Cache position of the first token; positions up to firstPos + nTokens - 1 are filled. */
  firstPos: number;
  /** Usually 1/sqrt(headDim). */
  scale: number;
  /** attention_scratch_floats(firstPos + nTokens, headDim, nHead, nHeadKV) floats, 16-byte aligned. */
  scratch: Ptr;
}

export function attention(e: KernelExports, a: AttentionArgs): void {
  e.attention(a.out, a.q, a.keys, a.values, a.nTokens, a.nHead, a.nHeadKV, a.headDim, a.kvStride, a.kvHeadStride, a.firstPos, a.scale, a.scratch);
}

/** Rotary position embedding in place over nTokens rows of nHeads heads (ops.c rope_rows). */
export interface RopeArgs {
  x: Ptr;
  nTokens: number;
  /** Floats from one token's row to the next. */
  rowStride: number;
  nHeads: number;
  headDim: number;
  /** Leading dimensions of each head that rotate. */
  nDims: number;
  /** (cos, sin) pairs for each token's position: nDims floats per token. */
  cs: Ptr;
  /** GGML_ROPE_TYPE_NEOX (qwen2, qwen3: pairs i, i + nDims/2) instead of NORM (llama, smollm3: adjacent pairs). */
  neox: boolean;
}

export function ropeRows(e: KernelExports, a: RopeArgs): void {
  e.rope_rows(a.x, a.nTokens, a.rowStride, a.nHeads, a.headDim, a.nDims, a.cs, a.neox ? 1 : 0);
}
