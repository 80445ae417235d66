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

/**
 * What the estimate needs of a model file. The engine worker reads it from the GGUF header (the
 * `inspect` request, src/engine/model/shape.ts declares the same fields), so this file and the
 * extension host never parse GGUF.
 */
export interface ModelShape {
  /** The file, for messages. */
  path: string;
  architecture: string | undefined;
  /** The weights' bytes in engine memory: every tensor as the loader lays it out (repacked matrices included), 64-byte aligned. */
  weightBytes: number;
  nEmbd: number;
  nHead: number;
  nHeadKV: number;
  nLayer: number;
  nFF: number;
  headDimK: number;
  headDimV: number;
  nVocab: number;
  ropeDims: number;
  /** The most memory the engine can address (wasm32: 4 GiB). */
  engineLimit: number;
}

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
  /** What the engine can address (the shape's engineLimit). */
  engineLimit: number;
}

/**
 * The machine's free memory (os.freemem). HEARTH_FREE_MEMORY_BYTES stands in for it: a test hook,
 * so the checks can be exercised on a machine with plenty (never set by the extension).
 */
export function freeMemory(): number {
  const v = Number(process.env.HEARTH_FREE_MEMORY_BYTES);
  return v > 0 ? v : freemem();
}

/** Completion slots without a budget: two documents (the one being edited and the one before). */
export const MIN_COMPLETION_SLOTS = 2;
/** More documents than this are rarely switched between; each slot is a whole context's KV. */
export const MAX_COMPLETION_SLOTS = 8;
/** The automatic budget: a quarter of the free memory, at most this. */
const AUTO_BUDGET_CAP = 1 << 30;
const BATCH = 64; // the engine's default batch (model.ts)
const SLACK = 2 << 20;

/**
 * The engine's memory need for a model of `shape` at `contextSize` positions per slot, with the
 * KV slots of the roles it serves (default both): `completionSlots` (default 2) and chat's one.
 */
export function estimateModelMemory(shape: ModelShape, contextSize: number, opts: { threads?: number; completionSlots?: number; roles?: readonly ("completion" | "chat")[] } = {}): MemoryEstimate {
  const { nEmbd, nHead, nHeadKV, nLayer, nFF, headDimK, headDimV, nVocab, ropeDims } = shape;
  const threads = Math.max(1, opts.threads ?? 1);
  const nCtx = Math.max(1, Math.floor(contextSize));
  const batch = Math.min(BATCH, nCtx);

  const weights = shape.weightBytes;
  // f16 (2 bytes) keys and values, per slot: 2 × n_layer × ctx × n_head_kv × head_dim × 2 bytes.
  const roles = opts.roles ?? ["completion", "chat"];
  const slots = (roles.includes("completion") ? (opts.completionSlots ?? MIN_COMPLETION_SLOTS) : 0) + (roles.includes("chat") ? 1 : 0);
  const kvBytesPerToken = nLayer * nHeadKV * (headDimK + headDimV) * 2;
  const kvCache = slots * nCtx * kvBytesPerToken;
  const kDim = nHeadKV * headDimK;
  const group = nHead / nHeadKV;
  // Activations, and attention's per thread: one KV head's K and V in f32 over the context and
  // score rows (kernels/ops-attention.c; the engine's own estimate is in model.ts).
  const scratch =
    4 * (batch * (nEmbd * 3 + nHead * headDimK * 3 + kDim * 2 + nFF * 3 + ropeDims) + nVocab) +
    4 * threads * ((2 * nCtx + group + 4) * (headDimK + 4) + group * (nCtx + 4)) +
    threads * (1 << 20) +
    SLACK;
  return { weights, kvCache, scratch, total: weights + kvCache + scratch, contextSize: nCtx, slots, kvBytesPerToken, engineLimit: shape.engineLimit };
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
export function planCompletionSlots(shape: ModelShape, contextSize: number, opts: { budgetBytes?: number; freeMemory?: number; threads?: number; engineLimit?: number } = {}): SlotPlan {
  const one = estimateModelMemory(shape, contextSize, { threads: opts.threads, completionSlots: 0 });
  const slotBytes = Math.max(1, one.kvBytesPerToken * one.contextSize);
  const budget = opts.budgetBytes && opts.budgetBytes > 0 ? opts.budgetBytes : Math.min(AUTO_BUDGET_CAP, (opts.freeMemory ?? freeMemory()) / 4);
  const room = Math.floor(((opts.engineLimit ?? shape.engineLimit) - one.total) / slotBytes);
  const completionSlots = Math.max(MIN_COMPLETION_SLOTS, Math.min(MAX_COMPLETION_SLOTS, room, Math.floor(budget / slotBytes)));
  return { completionSlots, kvBytesPerToken: one.kvBytesPerToken, slotBytes, budget };
}

export interface FitLimits {
  /** What the engine can address (default: the estimate's, from the model's shape). */
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
  const engineLimit = limits.engineLimit ?? estimate.engineLimit;
  const available = (limits.freeMemory ?? freeMemory()) + (limits.released ?? 0);
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

/** A model with the roles it serves, for the two-model check. */
export interface RoleModel {
  roles: readonly ("completion" | "chat")[];
  estimate: MemoryEstimate;
  /** The file's name, for the message. */
  name: string;
}

/**
 * Whether `model` fits, on its own (the engine's limit is per model: each has its own wasm
 * memory) and next to `kept`, the other role's model that stays loaded: both totals against the
 * machine's free memory. `both` says the pair is the problem (one model for both roles would do).
 */
export function checkPairFits(model: RoleModel, kept: RoleModel | undefined, limits: FitLimits = {}): { ok: true } | { ok: false; message: string; both: boolean } {
  const alone = checkModelFits(model.estimate, kept ? { ...limits, freeMemory: Number.POSITIVE_INFINITY } : limits);
  if (!alone.ok) return { ok: false, message: alone.message, both: false };
  if (!kept) return { ok: true };
  const available = (limits.freeMemory ?? freeMemory()) + (limits.released ?? 0);
  const need = model.estimate.total + kept.estimate.total;
  if (need <= available) return { ok: true };
  const say = (m: RoleModel) => `${m.roles.join(" and ")} model ${m.name} needs about ${gib(m.estimate.total)} (weights ${gib(m.estimate.weights)}, KV cache ${gib(m.estimate.kvCache)})`;
  return {
    ok: false,
    both: true,
    message:
      `the ${say(model)} and the ${say(kept)}: ${gib(need)} together, but only ${gib(available)} of this machine's ${gib(limits.totalMemory ?? totalmem())} is free. ` +
      "Use one model for both roles, close other programs, or choose smaller models.",
  };
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
export function assertModelFits(shape: ModelShape, contextSize: number, limits: FitLimits & { threads?: number; completionSlots?: number } = {}): MemoryEstimate {
  const r = checkModelFits(estimateModelMemory(shape, contextSize, { threads: limits.threads, completionSlots: limits.completionSlots }), limits);
  if (!r.ok) throw new ModelTooLargeError(`${shape.path}: ${r.message}`, r.estimate, r.reason);
  return r.estimate;
}

function gib(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}
