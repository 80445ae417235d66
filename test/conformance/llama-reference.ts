// llama.cpp as the reference, through node-llama-cpp 3.21.1's prebuilt CPU binary: next-token
// log-probabilities, greedy continuations and tokenisation of a GGUF file.
//
// node-llama-cpp does not return raw logits. `controlledEvaluate` with
// `generateNext: { probabilities: true }` and an unmodified sampler (temperature 1, topK 0,
// topP 1, minP 0, no penalties) returns softmax(logits) over the whole vocabulary, computed in
// float32 from llama.cpp's logits (AddonContext.cpp SampleToken); log p equals llama.cpp's
// log-softmax(logits) to ~2e-6 (DESIGN.md), so compare log-softmax, or logits up to a constant.
//
// Context: CPU only, 1 thread, flash attention off, and by default the F16 KV cache llama.cpp
// uses unless told otherwise — our engine's KV cache is f16 too, so both round K and V the same
// way. `kvCache: "F32"` is there for checks that want llama.cpp without that rounding.
// Nothing is ever downloaded or built: `build: "never"` uses the prebuilt binary from npm.

// node-llama-cpp is ESM-only (with top-level await) and this project compiles to CommonJS: it is
// loaded with a dynamic import(), and its types are taken from the module's type.
type NlcModule = typeof import("node-llama-cpp");
type Llama = Awaited<ReturnType<NlcModule["getLlama"]>>;
export type LlamaModel = Awaited<ReturnType<Llama["loadModel"]>>;
type LlamaContext = Awaited<ReturnType<LlamaModel["createContext"]>>;
type LlamaContextSequence = ReturnType<LlamaContext["getSequence"]>;
export type EvalInput = Parameters<LlamaContextSequence["controlledEvaluate"]>[0];
export type Token = Extract<EvalInput[number], number>;

export interface LlamaReferenceOptions {
  /** Context size in tokens (default 256). */
  readonly contextSize?: number;
  /** Threads for evaluation (default 1: results do not depend on thread count, timing does). */
  readonly threads?: number;
  /** Batch size (default: the context size, so a prompt is one batch). */
  readonly batchSize?: number;
  /** KV cache element type (default "F16", llama.cpp's default and our engine's). */
  readonly kvCache?: "F16" | "F32";
}

let llamaPromise: Promise<Llama> | undefined;

/** The one shared llama.cpp binding of this process (CPU, prebuilt, quiet). */
export function sharedLlama(): Promise<Llama> {
  llamaPromise ??= import("node-llama-cpp").then((nlc) =>
    nlc.getLlama({
      gpu: false,
      build: "never",
      usePrebuiltBinaries: true,
      progressLogs: false,
      skipDownload: true,
      logLevel: nlc.LlamaLogLevel.error,
    }),
  );
  return llamaPromise;
}

/** Sampler options that leave the distribution as softmax(logits). */
const UNMODIFIED = { temperature: 1, topK: 0, topP: 1, minP: 0, seed: 0 } as const;
/** Greedy: llama.cpp's greedy sampler, the first index of the largest logit. */
const GREEDY = { temperature: 0 } as const;

export class LlamaReference {
  private constructor(
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
    private readonly sequence: LlamaContextSequence,
    /** Number of tokens in the vocabulary. */
    readonly nVocab: number,
  ) {}

  static async load(path: string, opts: LlamaReferenceOptions = {}): Promise<LlamaReference> {
    const llama = await sharedLlama();
    const contextSize = opts.contextSize ?? 256;
    const model = await llama.loadModel({ modelPath: path, gpuLayers: 0, useMmap: true });
    try {
      const kv = opts.kvCache ?? "F16";
      const context = await model.createContext({
        contextSize,
        batchSize: opts.batchSize ?? contextSize,
        sequences: 1,
        threads: opts.threads ?? 1,
        flashAttention: false,
        experimentalKvCacheKeyType: kv,
        experimentalKvCacheValueType: kv,
      });
      const nVocab = [...model.iterateAllTokens()].length;
      return new LlamaReference(model, context, context.getSequence(), nVocab);
    } catch (e) {
      await model.dispose();
      throw e;
    }
  }

  /** The underlying node-llama-cpp model (special tokens, detokenize…). */
  get llamaModel(): LlamaModel {
    return this.model;
  }

  /**
   * Token ids of `text` as llama.cpp's `llama_tokenize` gives them: `special` parses control-token
   * text such as `<|im_start|>` (parse_special); `addBos` prepends BOS when the model's metadata
   * asks for it (add_special; EOS is never appended here).
   */
  tokenize(text: string, opts: { special?: boolean; addBos?: boolean } = {}): number[] {
    const ids = this.model.tokenize(text, opts.special ?? false).map(Number);
    const bos = this.model.tokens.bos;
    if (opts.addBos && bos !== null && this.model.tokens.shouldPrependBosToken) ids.unshift(Number(bos));
    return ids;
  }

  /** Text of `ids` (special tokens rendered as text when `special`). */
  detokenize(ids: readonly number[], special = false): string {
    return this.model.detokenize(ids as Token[], special);
  }

  /**
   * Next-token log-probabilities after `ids` (evaluated from an empty context), for the whole
   * vocabulary: log-softmax of llama.cpp's logits at the last position.
   */
  async logProbs(ids: readonly number[]): Promise<Float64Array> {
    this.checkIds(ids);
    await this.sequence.clearHistory();
    const last = ids.length - 1;
    const input = ids.map((id, i) =>
      i === last ? ([id as Token, { generateNext: { probabilities: true, options: UNMODIFIED } }] as const) : (id as Token),
    );
    const out = await this.sequence.controlledEvaluate(input as EvalInput);
    const probs = out[last]?.next.probabilities;
    if (!probs) throw new Error("llama.cpp returned no probabilities");
    if (probs.size !== this.nVocab) throw new Error(`llama.cpp returned ${probs.size} probabilities for a vocabulary of ${this.nVocab}`);
    const lp = new Float64Array(this.nVocab).fill(-Infinity);
    for (const [tok, p] of probs) lp[Number(tok)] = Math.log(p);
    return lp;
  }

  /**
   * `n` tokens of greedy continuation after `ids` (from an empty context), llama.cpp's argmax at
   * each step; end-of-generation tokens do not stop it.
   */
  async greedy(ids: readonly number[], n: number): Promise<number[]> {
    this.checkIds(ids);
    await this.sequence.clearHistory();
    const result: number[] = [];
    let input: EvalInput = ids.map((id, i) =>
      i === ids.length - 1 ? [id as Token, { generateNext: { token: true, options: GREEDY } }] : (id as Token),
    );
    while (result.length < n) {
      const out = await this.sequence.controlledEvaluate(input);
      const tok = out[input.length - 1]?.next.token;
      if (tok === undefined || tok === null) throw new Error(`llama.cpp generated no token at step ${result.length}`);
      result.push(Number(tok));
      input = [[tok, { generateNext: { token: true, options: GREEDY } }]];
    }
    return result;
  }

  async dispose(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
  }

  private checkIds(ids: readonly number[]): void {
    if (ids.length === 0) throw new Error("need at least one token");
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.nVocab) throw new Error(`token id ${id} is outside the vocabulary (0..${this.nVocab - 1})`);
    }
  }
}
