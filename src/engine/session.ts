// Generation on a loaded model: requests name a KV slot, the slot's longest common prefix with the
// prompt is reused and only the rest is evaluated (in batches), tokens are sampled one by one and
// streamed as text deltas. Cancellation (the request's CancelFlag, which another thread can set
// while this one computes) is honoured between the layers of a forward pass and between tokens,
// and always leaves the slot consistent (its token list says exactly what its cache holds).
import { isAbort, type CancelFlag } from "./cancel.ts";
import type { Model } from "./model/model.ts";
import { Sampler, type SamplingOptions } from "./sampler.ts";
import { StopMatcher } from "./stop-strings.ts";

/** What the session needs of a tokenizer. */
export interface SessionTokenizer {
  isEog(id: number): boolean;
  /** A decoder fed one token at a time that returns only complete UTF-8 characters. */
  streamingDecoder(): { push(id: number): string; flush(): string };
}

export interface GenerateRequest {
  slot: string;
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
}

export interface GenerateStats {
  promptTokens: number;
  /** Prompt tokens whose keys/values were already in the slot. */
  reusedTokens: number;
  evaluatedTokens: number;
  generatedTokens: number;
  promptMs: number;
  generateMs: number;
  stopReason: "eog" | "stop" | "length" | "context" | "cancelled";
}

export interface GenerateChunk {
  /** Text to append (empty while a stop string or a character is incomplete). One chunk per token. */
  text: string;
  token: number;
}

export class ContextOverflowError extends Error {}

export class Session {
  constructor(
    readonly model: Model,
    readonly tokenizer: SessionTokenizer,
  ) {}

  /**
   * Evaluates `tokens` into `slot`, reusing its cached prefix, and returns the logits after the
   * last token (a copy). Yields to the event loop between batches so other requests' messages are read.
   */
  async evaluate(slotName: string, tokens: readonly number[], cancel?: CancelFlag): Promise<{ logits: Float32Array; reused: number; evaluated: number }> {
    if (tokens.length === 0) throw new Error("nothing to evaluate: the prompt has no tokens");
    const slot = this.model.slot(slotName);
    const t = this.model.transformer;
    if (tokens.length > t.nCtx) {
      throw new ContextOverflowError(`the prompt has ${tokens.length} tokens, more than the context of ${t.nCtx}`);
    }
    // Keep at least the last token to evaluate: its logits are what we need.
    const reused = Math.min(slot.commonPrefix(tokens), tokens.length - 1);
    slot.truncate(reused);
    let logits: Float32Array | undefined;
    for (let pos = reused; pos < tokens.length; pos += t.maxBatch) {
      const batch = tokens.slice(pos, Math.min(pos + t.maxBatch, tokens.length));
      // forward() polls `cancel` before every layer (the first included) and throws an
      // AbortError: an interrupted batch is not appended, so the slot's tokens still say what
      // its cache holds.
      logits = t.forward(slot, batch, pos, pos + batch.length === tokens.length, cancel);
      slot.append(batch);
      await yieldToEventLoop();
    }
    return { logits: Float32Array.from(logits!), reused, evaluated: tokens.length - reused };
  }

  async *generate(req: GenerateRequest): AsyncGenerator<GenerateChunk, GenerateStats> {
    const nCtx = this.model.contextSize;
    let prompt = req.prompt;
    if (prompt.length >= nCtx) {
      if (req.truncate !== "left") {
        throw new ContextOverflowError(`the prompt has ${prompt.length} tokens; the context holds ${nCtx} (prompt and reply)`);
      }
      prompt = prompt.slice(prompt.length - Math.floor(nCtx / 2));
    }
    const t0 = performance.now();
    const stats: GenerateStats = {
      promptTokens: prompt.length,
      reusedTokens: 0,
      evaluatedTokens: 0,
      generatedTokens: 0,
      promptMs: 0,
      generateMs: 0,
      stopReason: "length",
    };
    let first: Awaited<ReturnType<Session["evaluate"]>>;
    try {
      first = await this.evaluate(req.slot, prompt, req.cancel);
    } catch (err) {
      if (isAbort(err)) {
        stats.stopReason = "cancelled";
        return stats;
      }
      throw err;
    }
    stats.reusedTokens = first.reused;
    stats.evaluatedTokens = first.evaluated;
    const t1 = performance.now();
    stats.promptMs = t1 - t0;
    const sampler = new Sampler(req.sampling);
    const decoder = this.tokenizer.streamingDecoder();
    const stop = new StopMatcher(req.stop ?? []);
    const slot = this.model.slot(req.slot);
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
        try {
          logits.set(this.model.transformer.forward(slot, [token], history.length - 1, true, req.cancel)!);
        } catch (err) {
          if (!isAbort(err)) throw err;
          stats.stopReason = "cancelled"; // the token is not in the slot: its forward did not finish
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
