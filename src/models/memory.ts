// How much memory a model will take, from its GGUF header alone, so a model that cannot fit is
// refused with a clear message before the engine allocates anything (an out-of-memory in the
// worker, or a 4 GiB wasm32 failure half-way through loading, is a much worse experience).
//
// The numbers follow what the engine allocates (src/engine/model/model.ts): every tensor
// 64-byte aligned; the KV cache as f16 keys and values for `contextSize` positions per slot (the
// completion slots, one per recently used document, and chat's); the same generous scratch
// estimate; 2 MiB of slack. How many completion slots follows a memory budget: see
// planCompletionSlots. No `vscode`.
import { freemem, totalmem } from "node:os";
import type { GgufFile } from "../engine/gguf/reader.ts";
import { MAX_MEMORY_BYTES } from "../engine/wasm/arena.ts";

export interface MemoryEstimate {
  weights: number;
  kvCache: number;
  scratch: number;
  total: number;
  contextSize: number;
  /** KV slots counted: the completion slots and chat's. */
  slots: number;
  /** f16 keys and values of one position in every layer. */
  kvBytesPerToken: number;
}

/** Completion slots without a budget: two documents (the one being edited and the one before). */
export const MIN_COMPLETION_SLOTS = 2;
/** More documents than this are rarely switched between; each slot is a whole context's KV. */
export const MAX_COMPLETION_SLOTS = 8;
/** The automatic budget: a quarter of the free memory, at most this. */
const AUTO_BUDGET_CAP = 1 << 30;
const BATCH = 64; // the engine's default batch (model.ts)
const SLACK = 2 << 20;

/** The engine's memory need for `file` at `contextSize` positions per slot, with `completionSlots` (default 2) and chat's. */
export function estimateModelMemory(file: GgufFile, contextSize: number, opts: { threads?: number; completionSlots?: number } = {}): MemoryEstimate {
  const arch = file.architecture ?? "llama";
  const num = (key: string): number | undefined => file.optNumber(`${arch}.${key}`);
  const nEmbd = num("embedding_length") ?? 0;
  const nHead = num("attention.head_count") ?? 1;
  const nHeadKV = num("attention.head_count_kv") ?? nHead;
  const nLayer = num("block_count") ?? 0;
  const nFF = num("feed_forward_length") ?? 0;
  const headDimK = num("attention.key_length") ?? nEmbd / nHead;
  const headDimV = num("attention.value_length") ?? nEmbd / nHead;
  const nVocab = num("vocab_size") ?? file.optStringArray("tokenizer.ggml.tokens")?.length ?? 0;
  const ropeDims = num("rope.dimension_count") ?? headDimK;
  const threads = Math.max(1, opts.threads ?? 1);
  const nCtx = Math.max(1, Math.floor(contextSize));
  const batch = Math.min(BATCH, nCtx);

  const weights = file.tensors.reduce((s, t) => s + Math.ceil(t.byteSize / 64) * 64, 0);
  // f16 (2 bytes) keys and values, per slot: 2 × n_layer × ctx × n_head_kv × head_dim × 2 bytes.
  const slots = (opts.completionSlots ?? MIN_COMPLETION_SLOTS) + 1;
  const kvBytesPerToken = nLayer * nHeadKV * (headDimK + headDimV) * 2;
  const kvCache = slots * nCtx * kvBytesPerToken;
  const kDim = nHeadKV * headDimK;
  const scratch =
    4 * (batch * (nEmbd * 3 + nHead * headDimK * 3 + kDim * 2 + nFF * 3 + ropeDims) + nVocab) +
    4 * threads * (nCtx + headDimK + 8) +
    threads * (1 << 20) +
    SLACK;
  return { weights, kvCache, scratch, total: weights + kvCache + scratch, contextSize: nCtx, slots, kvBytesPerToken };
}

export interface SlotPlan {
  /** Completion slots: one per recently used document. */
  completionSlots: number;
  kvBytesPerToken: number;
  /** One slot: a whole context's keys and values. */
  slotBytes: number;
  /** The budget the count came from (the setting, or the automatic one). */
  budget: number;
}

/**
 * How many completion slots the KV budget buys: `budgetBytes` (the setting; 0 or undefined:
 * automatic, a quarter of the free memory and at most 1 GiB) over one slot's bytes (KV bytes
 * per token × context). Never fewer than 2, never more than 8, and never more than wasm32's
 * 4 GiB leaves after the weights, scratch and chat's slot (the memory check then tells the
 * user when even 2 do not fit).
 */
export function planCompletionSlots(file: GgufFile, contextSize: number, opts: { budgetBytes?: number; freeMemory?: number; threads?: number; engineLimit?: number } = {}): SlotPlan {
  const one = estimateModelMemory(file, contextSize, { threads: opts.threads, completionSlots: 0 });
  const slotBytes = Math.max(1, one.kvBytesPerToken * one.contextSize);
  const budget = opts.budgetBytes && opts.budgetBytes > 0 ? opts.budgetBytes : Math.min(AUTO_BUDGET_CAP, (opts.freeMemory ?? freemem()) / 4);
  const room = Math.floor(((opts.engineLimit ?? MAX_MEMORY_BYTES) - one.total) / slotBytes);
  const completionSlots = Math.max(MIN_COMPLETION_SLOTS, Math.min(MAX_COMPLETION_SLOTS, room, Math.floor(budget / slotBytes)));
  return { completionSlots, kvBytesPerToken: one.kvBytesPerToken, slotBytes, budget };
}

export interface FitLimits {
  /** What the engine can address (default: wasm32's 4 GiB). */
  engineLimit?: number;
  /** The machine's available memory (default os.freemem()). */
  freeMemory?: number;
  totalMemory?: number;
  /** Memory the currently loaded model holds and will give back before this one loads. */
  released?: number;
}

export type FitResult = { ok: true; estimate: MemoryEstimate } | { ok: false; estimate: MemoryEstimate; reason: "engine" | "machine"; message: string };

/** Whether the estimate fits the engine and the machine; when not, a message saying what to do. */
export function checkModelFits(estimate: MemoryEstimate, limits: FitLimits = {}): FitResult {
  const engineLimit = limits.engineLimit ?? MAX_MEMORY_BYTES;
  const available = (limits.freeMemory ?? freemem()) + (limits.released ?? 0);
  const total = limits.totalMemory ?? totalmem();
  const parts = `weights ${gib(estimate.weights)}, KV cache ${gib(estimate.kvCache)} for ${estimate.contextSize} tokens × ${estimate.slots} slots, scratch ${gib(estimate.scratch)}`;
  if (estimate.total > engineLimit) {
    return {
      ok: false,
      estimate,
      reason: "engine",
      message:
        `the model needs about ${gib(estimate.total)} (${parts}), more than the ${gib(engineLimit)} the WebAssembly engine can address. ` +
        (estimate.weights < engineLimit ? "Lower hearth.contextSize, or choose a smaller model." : "Choose a smaller model or quantisation."),
    };
  }
  if (estimate.total > available) {
    return {
      ok: false,
      estimate,
      reason: "machine",
      message:
        `the model needs about ${gib(estimate.total)} (${parts}), but only ${gib(available)} of this machine's ${gib(total)} is free. ` +
        "Close other programs, lower hearth.contextSize, or choose a smaller model.",
    };
  }
  return { ok: true, estimate };
}

export class ModelTooLargeError extends Error {
  override readonly name = "ModelTooLargeError";
  constructor(
    message: string,
    readonly estimate: MemoryEstimate,
    readonly reason: "engine" | "machine",
  ) {
    super(message);
  }
}

/** Throws ModelTooLargeError when the model does not fit; returns the estimate when it does. */
export function assertModelFits(file: GgufFile, contextSize: number, limits: FitLimits & { threads?: number; completionSlots?: number } = {}): MemoryEstimate {
  const r = checkModelFits(estimateModelMemory(file, contextSize, { threads: limits.threads, completionSlots: limits.completionSlots }), limits);
  if (!r.ok) throw new ModelTooLargeError(`${file.path}: ${r.message}`, r.estimate, r.reason);
  return r.estimate;
}

function gib(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}
