// Generation on a loaded model: requests name a KV slot pool and a document (its slot in the
// pool), the slot's longest common prefix with the prompt is reused, a longer prefix stored in the
// prefix cache on disk is restored, and only the rest is evaluated (in batches); tokens are
// sampled one by one and streamed as text deltas. Cancellation (the request's CancelFlag, which
// another thread can set while this one computes) is honoured between the layers of a forward
// pass and between tokens, and always leaves the slot consistent (its token list says exactly
// what its cache holds).
import { isAbort, type CancelFlag, type Cancellation } from "./cancel.ts";
import type { Model } from "./model/model.ts";
import type { KvSlot } from "./kv-cache.ts";
import type { PrefixCache } from "./prefix-cache.ts";
import { Sampler, type SamplingOptions } from "./sampler.ts";
import { StopMatcher } from "./stop-strings.ts";

/** What the session needs of a tokenizer. */
export interface SessionTokenizer {
  isEog(id: number): boolean;
  /** A decoder fed one token at a time that returns only complete UTF-8 characters. */
  streamingDecoder(): { push(id: number): string; flush(): string };
}

/** A KV slot: its pool ("completion", "chat") and, in a pool of several, the document it is for. */
export type SlotRef = string | { slot: string; document?: string };

export interface GenerateRequest {
  slot: string;
  /** The slot within the pool: requests for one document share one (default ""). */
  document?: string;
  /** Prompt tokens (already tokenised, BOS included where the model wants it). */
  prompt: readonly number[];
  maxTokens?: number;
  sampling?: SamplingOptions;
  /** Generation ends before any of these strings; they are not emitted. */
  stop?: readonly string[];
  /** Prompts longer than the context: "error" (default) or "left" (drop the oldest tokens). */
  truncate?: "error" | "left";
  /** Polled inside a forward pass, between layers, and between tokens. */
  cancel?: CancelFlag;
  /**
   * Polled with `cancel`, between layers: once set (a more urgent request is waiting), the step
   * stops and the generation yields a PAUSED chunk; the next step goes on from where it stopped
   * (its prompt's finished batches stay in the slot; an interrupted token is evaluated again).
   * The text is the same as without pauses.
   */
  preempt?: Cancellation;
  /** Hears how far the prompt's evaluation is (see PromptProgress). */
  onPromptProgress?: PromptProgress;
}

/** The token of a chunk that is a pause (see GenerateRequest.preempt): no text, nothing generated. */
export const PAUSED = -2;

/**
 * How far a prompt's evaluation is: `done` of the `total` tokens that need evaluating (the
 * reused and restored ones are not counted). Called once before the first batch (done 0) and
 * after every batch, so a long prompt can show "reading n of m tokens".
 */
export type PromptProgress = (done: number, total: number) => void;

export interface GenerateStats {
  promptTokens: number;
  /** Prompt tokens whose keys/values were already in the slot. */
  reusedTokens: number;
  /** Prompt tokens whose keys/values were read from the prefix cache on disk. */
  restoredTokens: number;
  evaluatedTokens: number;
  generatedTokens: number;
  promptMs: number;
  generateMs: number;
  stopReason: "eog" | "stop" | "length" | "context" | "cancelled";
}

/** What a pre-warm (Session.warm) evaluated. */
export interface WarmStats {
  promptTokens: number;
  reusedTokens: number;
  restoredTokens: number;
  evaluatedTokens: number;
  promptMs: number;
}

export interface GenerateChunk {
  /** Text to append (empty while a stop string or a character is incomplete). One chunk per token. */
  text: string;
  token: number;
}

export class ContextOverflowError extends Error {}

/** Fewer positions than this are evaluated rather than restored from disk (a file read costs more). */
const MIN_RESTORE_GAIN = 8;
/** Tokens per batch of a pre-warm (see Session.warm). */
const WARM_BATCH = 8;

export class Session {
  constructor(
    readonly model: Model,
    readonly tokenizer: SessionTokenizer,
  ) {}

  /** Prefixes on disk: restored when longer than what the slot holds (engine.usePrefixCache). */
  prefixCache: PrefixCache | undefined;

  /**
   * Evaluates `tokens` into the slot, reusing its cached prefix (or a longer one from the prefix
   * cache), and returns the logits after the last token (a copy). Yields to the event loop
   * between batches so other requests' messages are read.
   */
  async evaluate(
    at: SlotRef,
    tokens: readonly number[],
    cancel?: Cancellation,
    onProgress?: PromptProgress,
    onReuse?: (reused: number, restored: number) => void,
  ): Promise<{ logits: Float32Array; reused: number; restored: number; evaluated: number }> {
    if (tokens.length === 0) throw new Error("nothing to evaluate: the prompt has no tokens");
    const slot = this.slotOf(at, tokens);
    // Keep at least the last token to evaluate: its logits are what we need.
    const { reused, restored } = await this.reuse(slot, tokens, tokens.length - 1);
    onReuse?.(reused, restored);
    const logits = await this.run(slot, tokens, reused + restored, true, cancel, Infinity, onProgress);
    return { logits: Float32Array.from(logits!), reused, restored, evaluated: tokens.length - reused - restored };
  }

  /**
   * Pre-warm: evaluates every one of `tokens` into the slot (no logits), so a request starting
   * with them evaluates only what follows. `cancel` is polled before every layer (it includes the
   * scheduler's preemption); once set, an AbortError is thrown and the slot keeps the
   * batches that finished: the next warm or request goes on from there. Batches are of
   * WARM_BATCH tokens: a layer's time is what a preempting request may wait, and prompt speed
   * is the same from 8 tokens a batch up (0.5B shape, 2 threads: 29-37 tok/s at 8, 33-39 at 64,
   * alternating runs on a loaded machine).
   */
  async warm(at: SlotRef, tokens: readonly number[], cancel?: Cancellation): Promise<WarmStats> {
    const t0 = performance.now();
    const slot = this.slotOf(at, tokens);
    const { reused, restored } = await this.reuse(slot, tokens, tokens.length);
    await this.run(slot, tokens, reused + restored, false, cancel, WARM_BATCH);
    return { promptTokens: tokens.length, reusedTokens: reused, restoredTokens: restored, evaluatedTokens: tokens.length - reused - restored, promptMs: performance.now() - t0 };
  }

  /**
   * How many of `tokens` a request would not evaluate: the slot's common prefix with them, or the
   * longest prefix of them on disk, whichever is longer. Evaluates nothing and restores nothing (the
   * prefix cache's index, which reads the headers of files it has not seen yet): a completion asks before it cuts a prompt it believes is cold (prompt-budget.ts).
   */
  async cachedPrefix(at: SlotRef, tokens: readonly number[]): Promise<number> {
    const { slot, document = "" } = typeof at === "string" ? { slot: at } : at;
    const inSlot = this.model.pool(slot).peek(document)?.commonPrefix(tokens) ?? 0;
    const onDisk = this.prefixCache ? ((await this.prefixCache.longest(tokens).catch(() => undefined))?.common ?? 0) : 0;
    return Math.max(inSlot, onDisk);
  }

  /** Writes the slot's first `n` positions (default: all) to the prefix cache, tagged with its document. */
  async savePrefix(at: SlotRef, n?: number): Promise<boolean> {
    const { slot, document = "" } = typeof at === "string" ? { slot: at } : at;
    const s = this.model.pool(slot).peek(document);
    if (!this.prefixCache || !s) return false;
    return this.prefixCache.save(s, n ?? s.tokens.length, `${slot}:${document}`);
  }

  private slotOf(at: SlotRef, tokens: readonly number[]): KvSlot {
    const { slot, document } = typeof at === "string" ? { slot: at, document: undefined } : at;
    if (tokens.length > this.model.transformer.nCtx) {
      throw new ContextOverflowError(`the prompt has ${tokens.length} tokens, more than the context of ${this.model.transformer.nCtx}`);
    }
    return this.model.slot(slot, document);
  }

  /** Keeps the slot's common prefix with `tokens` (at most `upTo`), then restores a longer one from disk. */
  private async reuse(slot: KvSlot, tokens: readonly number[], upTo: number): Promise<{ reused: number; restored: number }> {
    const reused = Math.min(slot.commonPrefix(tokens), upTo);
    slot.truncate(reused);
    if (!this.prefixCache || upTo - reused < MIN_RESTORE_GAIN) return { reused, restored: 0 };
    const { restored } = await this.prefixCache.restore(slot, tokens, reused, upTo, MIN_RESTORE_GAIN);
    return { reused, restored };
  }

  /** Evaluates tokens[from..] into the slot in batches; the logits of the last one if asked. */
  private async run(
    slot: KvSlot,
    tokens: readonly number[],
    from: number,
    wantLogits: boolean,
    cancel: Cancellation | undefined,
    batchSize = Infinity,
    onProgress?: PromptProgress,
  ): Promise<Float32Array | undefined> {
    const t = this.model.transformer;
    const size = Math.min(batchSize, t.maxBatch);
    let logits: Float32Array | undefined;
    onProgress?.(0, tokens.length - from);
    for (let pos = from; pos < tokens.length; pos += size) {
      const batch = tokens.slice(pos, Math.min(pos + size, tokens.length));
      // forward() polls `cancel` before every layer (the first included) and throws an
      // AbortError: an interrupted batch is not appended, so the slot's tokens still say what
      // its cache holds.
      logits = t.forward(slot, batch, pos, wantLogits && pos + batch.length === tokens.length, cancel);
      slot.append(batch);
      onProgress?.(pos + batch.length - from, tokens.length - from);
      await yieldToEventLoop();
    }
    return logits;
  }

  async *generate(req: GenerateRequest): AsyncGenerator<GenerateChunk, GenerateStats> {
    const nCtx = this.model.contextSize;
    const prompt = fitPrompt(req, nCtx);
    const t0 = performance.now();
    const stats = startStats(prompt.length);
    // What forward() polls: the request's cancel, and its preemption (a pause, not an end).
    const preempt = req.preempt;
    const stopOrPause: Cancellation | undefined = preempt ? { get cancelled() { return req.cancel?.cancelled === true || preempt.cancelled; } } : req.cancel;
    // A paused prompt goes on from its finished batches: the counts and the progress are the first attempt's.
    let first: Awaited<ReturnType<Session["evaluate"]>> | undefined;
    let counted: { reused: number; restored: number } | undefined;
    let total: number | undefined;
    const progress: PromptProgress | undefined = req.onPromptProgress && ((done, left) => req.onPromptProgress!(done + (total ??= left) - left, total));
    while (!first) {
      try {
        first = await this.evaluate(req, prompt, stopOrPause, progress, (reused, restored) => (counted ??= { reused, restored }));
      } catch (err) {
        if (!isAbort(err)) throw err;
        if (!preempt || req.cancel?.cancelled) {
          stats.stopReason = "cancelled";
          return stats;
        }
        yield { text: "", token: PAUSED };
      }
    }
    stats.reusedTokens = counted!.reused;
    stats.restoredTokens = counted!.restored;
    stats.evaluatedTokens = prompt.length - counted!.reused - counted!.restored;
    const t1 = performance.now();
    stats.promptMs = t1 - t0;
    const sampler = new Sampler(req.sampling);
    const decoder = this.tokenizer.streamingDecoder();
    const stop = new StopMatcher(req.stop ?? []);
    const slot = this.model.slot(req.slot, req.document);
    const history = [...prompt];
    const maxTokens = req.maxTokens ?? 256;
    const logits = first.logits;
    try {
      for (;;) {
        if (stats.generatedTokens >= maxTokens) {
          stats.stopReason = "length";
          break;
        }
        if (req.cancel?.cancelled) {
          stats.stopReason = "cancelled";
          break;
        }
        const token = sampler.sample(logits, history);
        if (this.tokenizer.isEog(token)) {
          stats.stopReason = "eog";
          break;
        }
        stats.generatedTokens++;
        history.push(token);
        const { text, stopped } = stop.push(decoder.push(token));
        yield { text, token };
        if (stopped) {
          stats.stopReason = "stop";
          break;
        }
        if (history.length >= nCtx) {
          stats.stopReason = "context";
          break;
        }
        // The sampled token goes into the cache so the next request can reuse it too. The logits
        // are copied out of engine memory at once (another request's step may run before this one
        // samples again) into this request's own buffer: no allocation per token.
        let done = false;
        while (!done) {
          try {
            logits.set(this.model.decode(slot, token, history.length - 1, stopOrPause));
            done = true;
          } catch (err) {
            if (!isAbort(err)) throw err;
            if (!preempt || req.cancel?.cancelled) break; // the token is not in the slot: its forward did not finish
            yield { text: "", token: PAUSED }; // evaluated again when the generation resumes
          }
        }
        if (!done) {
          stats.stopReason = "cancelled";
          break;
        }
        slot.append([token]);
        await yieldToEventLoop();
      }
      if (stats.stopReason !== "stop") {
        const tail = stop.push(decoder.flush());
        const rest = tail.stopped ? tail.text : tail.text + stop.flush();
        if (rest) yield { text: rest, token: -1 };
      }
    } finally {
      stats.generateMs = performance.now() - t1;
    }
    return stats;
  }
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The prompt if it leaves room in the context; else cut to its last half-context (truncate "left") or refused. */
function fitPrompt(req: GenerateRequest, nCtx: number): readonly number[] {
  const prompt = req.prompt;
  if (prompt.length < nCtx) return prompt;
  if (req.truncate !== "left") {
    throw new ContextOverflowError(`the prompt has ${prompt.length} tokens; the context holds ${nCtx} (prompt and reply)`);
  }
  return prompt.slice(prompt.length - Math.floor(nCtx / 2));
}

function startStats(promptTokens: number): GenerateStats {
  return { promptTokens, reusedTokens: 0, restoredTokens: 0, evaluatedTokens: 0, generatedTokens: 0, promptMs: 0, generateMs: 0, stopReason: "length" };
}
