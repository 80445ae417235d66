// The engine as its users see it (the worker, the CLI, tests): a model file loaded into the
// kernels with its tokenizer and chat template, and generation from text or tokens.
import { Model, type ModelOptions } from "./model/model.ts";
import type { HParams } from "./model/hparams.ts";
import { Tokenizer } from "./tokenizer/index.ts";
import { Session, type GenerateChunk, type GenerateRequest, type GenerateStats, type WarmStats } from "./session.ts";
import { ChatTemplate } from "./chat-template.ts";
import type { Cancellation } from "./cancel.ts";
import { PrefixCache, type PrefixCacheOptions } from "./prefix-cache.ts";

export type EngineOptions = ModelOptions;

/** Fill-in-the-middle tokens, when the vocabulary has them. */
export interface FimTokens {
  prefix: string;
  suffix: string;
  middle: string;
  /** The family's file separator, when the vocabulary has one (Qwen: `<|file_sep|>`): repository-style prompts. */
  fileSep?: string;
}

export interface ModelInfo {
  path: string;
  name: string | undefined;
  architecture: string;
  contextSize: number;
  trainedContext: number;
  vocabSize: number;
  chatTemplate: string | undefined;
  bos: number;
  eos: number;
  eot: number;
  addBos: boolean;
  fim: FimTokens | undefined;
  /**
   * Multiply-adds of the blocks' weight matrices per evaluated prompt token (the output matrix
   * runs for the last token only): what prompt speed scales with, so the completion's first
   * prompt can be sized before any request was timed (completion/prompt-budget.ts).
   */
  macsPerToken?: number;
}

/** How much of a prompt would not be evaluated (Engine.cachedPrefix). */
export interface CachedResult {
  promptTokens: number;
  /** In the slot already, or restorable from the prefix cache. */
  cachedTokens: number;
}

export type EngineGenerateRequest = Omit<GenerateRequest, "prompt"> & {
  /** Text (tokenised with BOS as the model asks, special-token text recognised) or token ids. */
  prompt: string | readonly number[];
};

// The FIM token spellings of the model families we know (Qwen2.5-Coder / StarCoder, CodeLlama).
const FIM_SPELLINGS: readonly FimTokens[] = [
  { prefix: "<|fim_prefix|>", suffix: "<|fim_suffix|>", middle: "<|fim_middle|>" },
  { prefix: "<fim_prefix>", suffix: "<fim_suffix>", middle: "<fim_middle>" },
  { prefix: "<fim-prefix>", suffix: "<fim-suffix>", middle: "<fim-middle>" },
  { prefix: "▁<PRE>", suffix: "▁<SUF>", middle: "▁<MID>" },
];
// File separator spellings (Qwen2.5-Coder, StarCoder2).
const FILE_SEPARATORS = ["<|file_sep|>", "<file_sep>"];

export class Engine {
  readonly session: Session;
  readonly chatTemplate: ChatTemplate;

  private constructor(
    readonly model: Model,
    readonly tokenizer: Tokenizer,
  ) {
    this.session = new Session(model, tokenizer);
    this.chatTemplate = new ChatTemplate(model.file.optString("tokenizer.chat_template"));
  }

  static async load(path: string, options: EngineOptions = {}): Promise<Engine> {
    const model = await Model.load(path, options);
    try {
      return new Engine(model, Tokenizer.fromGguf(model.file));
    } catch (err) {
      await model.dispose();
      throw err;
    }
  }

  info(): ModelInfo {
    const f = this.model.file;
    const t = this.tokenizer;
    return {
      path: f.path,
      name: f.optString("general.name"),
      architecture: this.model.hp.arch,
      contextSize: this.model.contextSize,
      trainedContext: this.model.hp.nCtxTrain,
      vocabSize: t.vocabSize,
      chatTemplate: this.chatTemplate.source,
      bos: t.bos,
      eos: t.eos,
      eot: t.eot,
      addBos: t.addBos,
      fim: this.fimTokens(),
      macsPerToken: blockMacsPerToken(this.model.hp),
    };
  }

  private fimTokens(): FimTokens | undefined {
    const t = this.tokenizer;
    const fim = FIM_SPELLINGS.find((s) => [s.prefix, s.suffix, s.middle].every((x) => t.tokenId(x) !== undefined));
    const fileSep = FILE_SEPARATORS.find((s) => t.tokenId(s) !== undefined);
    return fim && fileSep ? { ...fim, fileSep } : fim;
  }

  /** Token ids of `text`: BOS as the model asks, special-token text (e.g. "<|im_start|>") recognised. */
  tokenize(text: string, options: { addSpecial?: boolean; parseSpecial?: boolean } = {}): number[] {
    return this.tokenizer.encode(text, { addSpecial: options.addSpecial ?? true, parseSpecial: options.parseSpecial ?? true });
  }

  generate(req: EngineGenerateRequest): AsyncGenerator<GenerateChunk, GenerateStats> {
    const prompt = typeof req.prompt === "string" ? this.tokenize(req.prompt) : req.prompt;
    return this.session.generate({ ...req, prompt });
  }

  /** Pre-warm: evaluates the prompt into its slot without generating (see Session.warm). */
  warm(req: { slot: string; document?: string; prompt: string | readonly number[] }, cancel?: Cancellation): Promise<WarmStats> {
    const prompt = typeof req.prompt === "string" ? this.tokenize(req.prompt) : req.prompt;
    return this.session.warm(req, prompt, cancel);
  }

  /** Of a prompt's tokens, how many its slot or the prefix cache holds (Session.cachedPrefix). */
  async cachedPrefix(req: { slot: string; document?: string; prompt: string }): Promise<CachedResult> {
    const tokens = this.tokenize(req.prompt);
    return { promptTokens: tokens.length, cachedTokens: await this.session.cachedPrefix(req, tokens) };
  }

  /**
   * Keeps evaluated prefixes on disk under `options.dir` (across processes and restarts): a
   * prompt starting with a stored prefix restores it instead of evaluating it. Save with
   * session.savePrefix.
   */
  async usePrefixCache(options: Omit<PrefixCacheOptions, "model">): Promise<PrefixCache> {
    const cache = new PrefixCache(this.model.kernels, this.model.layout, { ...options, model: await this.model.identity() });
    this.session.prefixCache = cache;
    return cache;
  }

  /** Logits after the last of `ids` (evaluated in `slot`, reusing its cache). */
  async logits(ids: readonly number[], slot = "completion"): Promise<Float32Array> {
    return (await this.session.evaluate(slot, ids)).logits;
  }

  async dispose(): Promise<void> {
    await this.model.dispose();
  }
}

/** Q, K, V and output projections and the three feed-forward matrices, in every layer. */
function blockMacsPerToken(hp: HParams): number {
  const q = hp.nHead * hp.headDimK;
  const kv = hp.nHeadKV * (hp.headDimK + hp.headDimV);
  return hp.nLayer * hp.nEmbd * (2 * q + kv + 3 * hp.nFF);
}
