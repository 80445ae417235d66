// The messages between the extension host (src/client) and the engine worker (src/worker/main).
// Every request carries an id chosen by the client; the worker answers it with zero or more
// events (progress, delta, prompt-progress) and exactly one `done` or `error`. A request that can be cancelled
// (load, generate) carries its CancelFlag's buffer; the cancelled request ends with `done` (a
// generation's stats say stopReason "cancelled") or with an AbortError (a load).
// Only types live here, plus tiny helpers and the import-free CancelFlag, so the client can
// import this file without pulling in the engine.
import type { CachedResult, FimTokens, ModelInfo } from "../engine/engine.ts";
import type { GenerateStats, WarmStats } from "../engine/session.ts";
import type { SamplingOptions } from "../engine/sampler.ts";
import type { ChatGenerateStats, ChatPrompt } from "../engine/chat-prompt.ts";
import type { ChatMessage } from "../engine/chat-template.ts";
import type { ModelShape } from "../engine/model/shape.ts";

export type { CachedResult, FimTokens, ModelInfo, GenerateStats, WarmStats, SamplingOptions, ChatPrompt, ChatGenerateStats, ChatMessage, ModelShape };
export { AbortError, CancelFlag, isAbort } from "../engine/cancel.ts";

/**
 * A model's role, and the KV slots it uses: each role can have its own model (and engine), or one
 * model serves both. A request's slot names its role and decides its priority.
 */
export type Role = "completion" | "chat";
export type Slot = Role;
export const ROLES: readonly Role[] = ["completion", "chat"];

export interface LoadParams {
  /**
   * The roles this model serves (default both). The worker keeps the other role's model: a
   * load for one role never disturbs the other, and a file another role already has loaded
   * with the same settings is not loaded again.
   */
  roles?: Role[];
  path: string;
  /** Kernel threads, the worker's own included. */
  threads: number;
  contextSize?: number;
  batchSize?: number;
  /** The request's CancelFlag buffer: polled after every tensor read. */
  cancelFlag?: SharedArrayBuffer;
  /** KV slots for completions, one per recently used document (default 2; the memory budget decides). */
  completionSlots?: number;
  /** Keep evaluated prefixes on disk in `dir` (the extension's global storage), at most `maxBytes` in all. */
  promptCache?: { dir: string; maxBytes?: number };
  /**
   * The client's announcement counters (Int32Array of 2: requests posted, requests the worker
   * received): a pre-warm yields, between two layers, to a user request still on its way.
   */
  announce?: SharedArrayBuffer;
}

export interface GenerateParams {
  slot: Slot;
  /** The document a completion is for: each recently used one keeps its own KV slot. */
  document?: string;
  /**
   * Text (tokenised in the worker), token ids, or a conversation rendered in the worker with the
   * model's chat template (oldest turns dropped to fit; the stats then carry `droppedTurns`).
   */
  prompt: string | number[] | ChatPrompt;
  maxTokens?: number;
  sampling?: SamplingOptions;
  stop?: string[];
  truncate?: "error" | "left";
  /**
   * The request's CancelFlag buffer: polled by the scheduler before each step and by the forward
   * pass between layers, so a keystroke does not wait for a whole token of the old suggestion.
   */
  cancelFlag?: SharedArrayBuffer;
}

/** What a pre-warm did (a replaced or cancelled one ends with an AbortError instead). */
export type WarmResult = WarmStats & { preemptions: number; ms: number };

/** A pre-warm: the prompt evaluated into its slot at idle priority, nothing generated. */
export interface WarmParams {
  slot: Slot;
  document?: string;
  /** Text (tokenised in the worker), token ids, or (chat) the conversation whose common start is warmed. */
  prompt: string | number[] | ChatPrompt;
  /** The pre-warm's CancelFlag buffer: a newer pre-warm on the host stops this one between layers. */
  cancelFlag?: SharedArrayBuffer;
}

/** A completion's question before it cuts a prompt: how much of it is cached (Engine.cachedPrefix). */
export interface CachedParams {
  slot: Slot;
  document?: string;
  prompt: string;
}

export interface TokenizeParams {
  /** Whose model's tokenizer (default: completion's, else chat's). */
  role?: Role;
  text: string;
  addSpecial?: boolean;
  parseSpecial?: boolean;
}

/** Each request kind: its parameters and the value its `done` carries. */
export interface Methods {
  load: { params: LoadParams; result: ModelInfo };
  /** Unloads `role`'s model (default: both); a model the other role uses stays. */
  unload: { params: { role?: Role }; result: null };
  generate: { params: GenerateParams; result: GenerateStats };
  tokenize: { params: TokenizeParams; result: number[] };
  cached: { params: CachedParams; result: CachedResult };
  /** Evaluates a prompt into its slot at idle priority (pre-warm); a user request preempts it. */
  warm: { params: WarmParams; result: WarmResult };
  /** Deletes every prefix cache file under `dir` (the "clear cache" command). */
  clearPromptCache: { params: { dir: string }; result: null };
  /**
   * Reads a GGUF file's header and returns what the memory check needs (or the file's problem,
   * as a GgufError): the extension host checks files without parsing GGUF on its own thread.
   * Independent of the loaded model.
   */
  inspect: { params: { path: string }; result: ModelShape };
  /** The info of `role`'s model (default: completion's, else chat's), or null when none is loaded. */
  info: { params: { role?: Role }; result: ModelInfo | null };
  /**
   * Test hook: make the worker die the way a crash would ("exit": process.exit inside the worker,
   * "throw": an uncaught exception). Used by the tests that prove the client survives.
   */
  crash: { params: { how: "exit" | "throw" }; result: null };
}
export type Method = keyof Methods;

/** Host → worker. */
export type Request = { [M in Method]: { kind: "request"; id: number; method: M; params: Methods[M]["params"] } }[Method];

/** Worker → host. */
export type Event =
  | { kind: "progress"; id: number; fraction: number }
  | { kind: "delta"; id: number; text: string; tokens: number }
  /** A generation's prompt evaluation: `done` of the `total` tokens that need evaluating. */
  | { kind: "prompt-progress"; id: number; done: number; total: number }
  | { kind: "done"; id: number; result: unknown }
  /** A line for the extension's log (id 0: not tied to a request), e.g. what was pre-warmed or saved. */
  | { kind: "log"; id: 0; level: "info" | "warn"; message: string }
  | { kind: "error"; id: number; error: WireError };

/** An error crossing the thread boundary (Error objects lose their class on the way). */
export interface WireError {
  /** "GgufError", "ContextOverflowError", "AbortError", "NoModelError" or "Error". */
  name: string;
  message: string;
  stack?: string;
}

export function toWireError(err: unknown): WireError {
  if (err instanceof Error) return { name: err.name === "Error" ? err.constructor.name : err.name, message: err.message, stack: err.stack };
  return { name: "Error", message: String(err) };
}
