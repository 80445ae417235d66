// The inline-completion logic without `vscode` (provider.ts adapts it): per request, follow the
// running generation when the user typed along it, else answer from the suggestion cache, else
// wait out the debounce, build the prompt and start a generation, and return its first line as
// soon as it is complete (or a partial one after the time budget). When the suggestion grows
// later, it asks the editor to query again. A position that does not continue the running
// generation cancels it at once, in the worker too (the request's CancelFlag is shared with it).
import { CancelFlag, isAbort } from "../client/cancellation.ts";
import type { CachedParams, CachedResult, GenerateParams, GenerateStats, ModelInfo, TokenizeParams, WarmParams, WarmResult } from "../worker/protocol.ts";
import { remainderAfter, typedSince, type Anchor } from "./anchor.ts";
import { fitBudgets, languageEnabled, maxNewTokens, type Budgets, type CompletionSettings } from "./config.ts";
import { AdaptiveDebounce } from "./debounce.ts";
import { StreamingGeneration, type CompletionClient } from "./generation.ts";
import { postProcess, type PostContext } from "./postprocess.ts";
import { PromptBudget, totalOf, type UncachedProbe } from "./prompt-budget.ts";
import { generationDetail, outcomeOf, requestLine } from "./request-log.ts";
import { buildPrompt, FILE_SEPARATORS, type PromptFormat, type Snippet } from "./prompt.ts";
import { SplitPoint } from "./split-point.ts";
import { SuggestionCache } from "./suggestion-cache.ts";
import { TokenEstimator } from "./tokens.ts";
import { GRID_STEPS, prefixWindow, suffixWindow, type LineSource } from "./window.ts";

/** The cursor and its document, as the provider sees them. */
export interface CursorContext {
  /** The document's URI as a string. */
  doc: string;
  /** Workspace-relative path (or file name) for the prompt's header. */
  path: string;
  languageId: string;
  lines: LineSource;
  line: number;
  character: number;
  /** The whole text before the cursor (anchors compare it). */
  before: string;
  /** Explicit trigger (Alt+\ or a refresh): no debounce. */
  explicit: boolean;
}

export interface ControllerLog {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
}

/** What the controller needs of the engine client (EngineClient has all of it; tests pass less). */
export interface ControllerClient extends CompletionClient {
  tokenize(params: TokenizeParams): Promise<number[]>;
  warm?(params: WarmParams, options?: { cancel?: CancelFlag }): Promise<WarmResult | undefined>;
  /** How much of a prompt the worker holds: asked before a prompt believed cold is cut (prompt-budget.ts). */
  cached?(params: CachedParams): Promise<CachedResult | undefined>;
}

export interface ControllerDeps {
  client: ControllerClient;
  /** The loaded model's info; undefined when there is none yet (nothing is suggested then). */
  model(): Promise<ModelInfo | undefined>;
  settings(): CompletionSettings;
  /** Context from elsewhere, in a stable order, within `budgetChars` in all. */
  snippets(doc: string, budgetChars: number, languageId: string): Snippet[];
  log: ControllerLog;
  /** Ask the editor to query the provider again (the suggestion for `anchor` grew). */
  refresh?(anchor: Anchor): void;
  /** Waits `ms` or until `cancel` is set (tests pass fake time). */
  sleep?(ms: number, cancel: CancelFlag): Promise<void>;
  now?(): number;
}

/** One finished request, for the log, the status bar's tokens/s, the tests and the benchmark. */
export interface CompletionRecord {
  anchor: Anchor;
  prompt: string;
  stats: GenerateStats;
  /** The suggestion as last computed ("" when none). */
  text: string;
  /** ms from sending the request to its first text (undefined when none came). */
  firstTextMs: number | undefined;
}

interface BuiltRequest {
  params: GenerateParams;
  prompt: string;
  post: PostContext;
  /** The window's size in tokens (prompt-budget.ts). */
  window: number;
}

const REFRESH_MIN_MS = 60;
/** Documents whose split point is kept (more than the worker keeps KV slots for). */
const MAX_SPLITS = 16;

export class CompletionController {
  private inflight: StreamingGeneration | undefined;
  readonly cache = new SuggestionCache();
  readonly estimator = new TokenEstimator();
  /** Prompt speed per model and each document's window (prompt-budget.ts). */
  readonly budget = new PromptBudget();
  /** Per document (as its KV slot is): switching back continues that document's split. */
  private readonly splits = new Map<string, SplitPoint>();
  private readonly debounce: AdaptiveDebounce;
  private readonly formats = new Map<string, Promise<PromptFormat>>();
  /** Models whose characters-per-token ratio was measured by the worker's tokenizer. */
  private readonly calibrated = new Set<string>();
  private readonly busyListeners = new Set<(busy: boolean) => void>();
  private readonly finishListeners = new Set<(r: CompletionRecord) => void>();
  private readonly firstTextListeners = new Set<(anchor: Anchor, ms: number) => void>();
  /** The running pre-warm's (a newer one, for the editor that is active now, stops it). */
  private prewarmCancel: CancelFlag | undefined;
  private busyNow = false;
  private lastRefresh = -Infinity;
  /** Counts, for tests and the benchmark. */
  readonly counters = { requests: 0, cacheHits: 0, followed: 0, cancelled: 0 };

  constructor(private readonly deps: ControllerDeps) {
    this.debounce = new AdaptiveDebounce(() => this.now());
  }

  get busy(): boolean {
    return this.busyNow;
  }

  onDidChangeBusy(listener: (busy: boolean) => void): { dispose(): void } {
    this.busyListeners.add(listener);
    return { dispose: () => this.busyListeners.delete(listener) };
  }

  onDidFinish(listener: (r: CompletionRecord) => void): { dispose(): void } {
    this.finishListeners.add(listener);
    return { dispose: () => this.finishListeners.delete(listener) };
  }

  /** Fires when a generation's first text arrives (ms after its request was sent): for the benchmark. */
  onDidReceiveFirstText(listener: (anchor: Anchor, ms: number) => void): { dispose(): void } {
    this.firstTextListeners.add(listener);
    return { dispose: () => this.firstTextListeners.delete(listener) };
  }

  /** The suggestion to show at the cursor (text to insert there), or undefined. */
  async provide(ctx: CursorContext, cancel: CancelFlag): Promise<string | undefined> {
    const s = this.deps.settings();
    const delay = this.debounce.next(s.debounceMs, s.adaptiveDebounce);
    if (!languageEnabled(s, ctx.languageId)) {
      this.cancelInflight();
      return undefined;
    }
    const anchor = anchorOf(ctx);
    const followed = await this.follow(anchor, s, cancel);
    if (followed !== "no") return followed;
    const cached = this.cache.get(anchor);
    if (cached !== undefined) {
      this.counters.cacheHits++;
      return cached;
    }
    if (!ctx.explicit && delay > 0) await this.sleep(delay, cancel);
    if (cancel.cancelled) return undefined;
    const info = await this.deps.model();
    if (!info || cancel.cancelled) return undefined;
    const gen = await this.start(ctx, anchor, info, s);
    if (cancel.cancelled) return undefined; // the next request adopts or cancels it
    return this.fromGeneration(gen, "", s, cancel);
  }

  /**
   * The cursor moved or the document changed without a provider call (yet): cancel the running
   * generation unless `now` still continues it. Undefined `now`: the editor is elsewhere.
   */
  onEdit(now: Anchor | undefined): void {
    const g = this.inflight;
    if (!g || g.isDone) return;
    const typed = now && typedSince(g.anchor, now);
    if (typed === undefined || !couldStillMatch(g, typed)) this.cancelInflight();
  }

  /** Stops the running generation (toggle off, model change, dispose). */
  cancelInflight(): void {
    const g = this.inflight;
    if (!g) return;
    this.inflight = undefined;
    if (!g.isDone) {
      this.counters.cancelled++;
      g.cancel();
    }
    this.updateBusy();
  }

  /** The running generation, when the user typed along it: its rest, or "no" to go on. */
  private async follow(anchor: Anchor, s: CompletionSettings, cancel: CancelFlag): Promise<string | undefined | "no"> {
    const g = this.inflight;
    if (!g) return "no";
    const typed = typedSince(g.anchor, anchor);
    if (typed === undefined || !couldStillMatch(g, typed)) {
      this.cancelInflight();
      return "no";
    }
    this.counters.followed++;
    const shown = await this.fromGeneration(g, typed, s, cancel);
    if (cancel.cancelled) return undefined;
    // Its text turned out to differ from what was typed: stop it and ask anew.
    if (!couldStillMatch(g, typed)) {
      this.cancelInflight();
      return "no";
    }
    // Typed past its end, or it ended with nothing more to offer: a new request.
    if (shown === undefined && g.isDone) {
      if (this.inflight === g) this.inflight = undefined;
      return "no";
    }
    return shown;
  }

  /**
   * Waits (within the first-line budget) until `g` has something after `typed`, or its text
   * no longer agrees with `typed`, and returns what there is to show.
   */
  private async fromGeneration(g: StreamingGeneration, typed: string, s: CompletionSettings, cancel: CancelFlag): Promise<string | undefined> {
    const ready = () => remainderAfter(g.view(g.partialShown).text, typed) !== undefined;
    const left = s.firstLineMs - (this.now() - g.startedAt);
    await g.wait(() => ready() || !couldStillMatch(g, typed), left, cancel);
    if (cancel.cancelled) return undefined;
    if (!ready() && !g.isDone) g.partialShown = true;
    const text = g.view(g.partialShown).text;
    g.shown = text;
    return remainderAfter(text, typed);
  }

  /**
   * The request a completion at `ctx` sends: the prompt (split point, windows and snippets within
   * the budgets), how many tokens, where to stop, and what post-processing needs to know. `grow`:
   * the pre-warm's next bigger window instead (undefined when the window is at its full size).
   */
  private async buildRequest(ctx: CursorContext, anchor: Anchor, info: ModelInfo, s: CompletionSettings, grow = false): Promise<BuiltRequest | undefined> {
    const format = await this.formatOf(info);
    await this.calibrate(info, ctx);
    const current = ctx.lines.lineAt(ctx.line);
    const post: PostContext = {
      lineBefore: current.slice(0, ctx.character),
      lineAfter: anchor.lineAfter,
      nextLines: Array.from({ length: Math.min(5, ctx.lines.lineCount - ctx.line - 1) }, (_, i) => ctx.lines.lineAt(ctx.line + 1 + i)),
      maxLines: s.maxLines,
    };
    const single = s.maxLines <= 1 || post.lineAfter.trim() !== "";
    const maxTokens = maxNewTokens(single, s.maxLines);
    const wanted = { prefix: s.prefixTokens, suffix: format.kind === "fim" ? s.suffixTokens : 0, extra: s.extraContextTokens };
    const budgets = fitBudgets(wanted, info.contextSize - maxTokens - 16);
    const est = this.estimator;
    const compose = (b: Budgets) => {
      const prefixChars = est.chars(b.prefix);
      // Typed text may grow to what the prefix window would have slid by (window.ts's grid step).
      const split = this.splitOf(ctx.doc).place(anchor, Math.max(64, Math.floor(prefixChars / GRID_STEPS)));
      return buildPrompt(
        {
          path: ctx.path,
          languageId: ctx.languageId,
          prefix: prefixWindow(ctx.lines, split.line, split.character, prefixChars).text,
          typed: split.typed,
          suffix: b.suffix > 0 ? suffixWindow(ctx.lines, ctx.line, ctx.character, est.chars(b.suffix)) : "",
          snippets: b.extra > 0 ? this.deps.snippets(ctx.doc, est.chars(b.extra), ctx.languageId) : [],
        },
        format,
      );
    };
    // The window fits the machine's prompt speed, and grows in pre-warm steps (prompt-budget.ts).
    const speed = this.budget.speedOf(info);
    const sized = grow ? this.budget.grow(ctx.doc, speed, budgets, compose) : await this.budget.size(ctx.doc, speed, budgets, est.charsPerToken, compose, this.uncachedProbe(ctx.doc));
    if (!sized) return undefined;
    if (sized.changed) {
      const how = speed.isMeasured ? "measured" : "assumed before any was measured";
      this.deps.log.debug(`completion: ${ctx.path}: ${grow ? "growing" : "using"} a ${sized.window}-token window of ${totalOf(budgets)} (prompt speed ${speed.tokensPerSecond.toFixed(1)} tok/s, ${how})`);
    }
    const prompt = sized.prompt;
    const params: GenerateParams = {
      slot: "completion",
      // Each recently used document keeps its own KV slot in the worker: switching back is warm.
      document: ctx.doc,
      prompt: prompt.text,
      maxTokens,
      // The engine stops at once at these; the post-processing would cut there anyway.
      stop: [...prompt.stop, single ? "\n" : "\n\n"],
      sampling: { temperature: 0 },
      truncate: "left",
    };
    return { params, prompt: prompt.text, post, window: sized.window };
  }

  /** How many tokens of a prompt in `doc` the worker would evaluate (its slot and prefix cache know). */
  private uncachedProbe(doc: string): UncachedProbe | undefined {
    const client = this.deps.client;
    if (!client.cached) return undefined;
    return (prompt) =>
      client.cached!({ slot: "completion", document: doc, prompt }).then(
        (r) => r && r.promptTokens - r.cachedTokens,
        () => undefined,
      );
  }

  /**
   * Pre-warm: the worker evaluates the prompt a completion at `ctx` would send, at idle priority
   * (it yields to any request within one layer), so the first suggestion there evaluates only
   * what was typed since. Then, while nobody types, the document's window grows toward the
   * configured budgets one step per pre-warm (prompt-budget.ts says why only here); a step a
   * request cancelled leaves the window as it was. A newer pre-warm (another editor became
   * active) stops this one: the worker runs pre-warms oldest first, and a long growth step of a
   * document left behind would hold up the one in front of the user. Nothing happens while a
   * generation runs or with no model loaded. Returns the last pre-warm's result.
   */
  async prewarm(ctx: CursorContext): Promise<WarmResult | undefined> {
    const s = this.deps.settings();
    const warm = this.deps.client.warm;
    if (!warm || !languageEnabled(s, ctx.languageId) || (this.inflight && !this.inflight.isDone)) return undefined;
    const info = await this.deps.model();
    if (!info) return undefined;
    this.prewarmCancel?.cancel();
    const cancel = (this.prewarmCancel = new CancelFlag());
    let last: WarmResult | undefined;
    for (let grow = false; ; grow = true) {
      const req = await this.buildRequest(ctx, anchorOf(ctx), info, s, grow);
      if (!req || cancel.cancelled || (this.inflight && !this.inflight.isDone)) return last;
      const params = { slot: "completion" as const, document: req.params.document, prompt: req.params.prompt };
      const result = await warm.call(this.deps.client, params, { cancel }).catch((err: unknown) => {
        if (grow && isAbort(err)) return undefined; // a request came: the window stays as it was
        throw err;
      });
      if (!result || cancel.cancelled) return last;
      last = result;
      this.budget.speedOf(info).observe(result.evaluatedTokens, result.promptMs);
      this.budget.filled(ctx.doc, req.window, req.prompt);
    }
  }

  private async start(ctx: CursorContext, anchor: Anchor, info: ModelInfo, s: CompletionSettings): Promise<StreamingGeneration> {
    // Only a pre-warm's growth step can come back undefined.
    const { params, prompt, post, window } = (await this.buildRequest(ctx, anchor, info, s))!;
    this.budget.filled(ctx.doc, window, prompt);
    const speed = this.budget.speedOf(info);
    this.cancelInflight();
    this.counters.requests++;
    const gen = new StreamingGeneration(
      this.deps.client,
      params,
      anchor,
      (raw, o) => postProcess(raw, post, o),
      prompt.length,
      () => this.now(),
    );
    this.inflight = gen;
    this.updateBusy();
    let first = true;
    const sub = gen.onDidChange(() => {
      if (first && gen.firstTextAt !== undefined) {
        first = false;
        for (const l of this.firstTextListeners) l(gen.anchor, gen.firstTextAt - gen.startedAt);
      }
      this.maybeRefresh(gen);
    });
    void gen.done.then((stats) => {
      sub.dispose();
      if (stats) speed.observe(stats.evaluatedTokens, stats.promptMs);
      this.finished(gen, prompt, stats, ctx.path);
    });
    return gen;
  }

  private finished(gen: StreamingGeneration, prompt: string, stats: GenerateStats | undefined, path: string): void {
    if (this.inflight === gen && !gen.complete) this.inflight = undefined;
    this.updateBusy();
    const text = stats ? gen.view(gen.partialShown).text : "";
    const firstTextMs = gen.firstTextAt === undefined ? undefined : Math.round(gen.firstTextAt - gen.startedAt);
    this.logRequest(gen, stats, path, text, firstTextMs);
    if (!stats) return;
    if (stats.stopReason !== "cancelled" && stats.promptTokens > 0) this.estimator.observe(gen.promptChars, stats.promptTokens);
    // Complete lines of a cancelled generation are still a good suggestion for that place.
    this.cache.set(gen.anchor, gen.complete ? text : gen.view(false).text);
    for (const l of this.finishListeners) l({ anchor: gen.anchor, prompt, stats, text, firstTextMs });
  }

  /** One Info line per request (a failure: Warn), the generation's figures at Debug (request-log.ts). */
  private logRequest(gen: StreamingGeneration, stats: GenerateStats | undefined, path: string, text: string, firstTextMs: number | undefined): void {
    const err = gen.error as Error | undefined;
    const failed = !stats && !isAbort(err);
    const outcome = outcomeOf({ shown: gen.shown, cancelledFromOutside: !failed && !gen.complete, text, failed });
    const line = requestLine({ path, stats, firstTextMs, totalMs: this.now() - gen.startedAt, outcome, error: failed ? String(err?.message ?? err) : undefined });
    if (failed) this.deps.log.warn(line);
    else this.deps.log.info(line);
    if (stats) this.deps.log.debug(generationDetail(stats, text ? text.split("\n").length : 0));
  }

  private splitOf(doc: string): SplitPoint {
    let sp = this.splits.get(doc);
    if (sp) this.splits.delete(doc);
    else sp = new SplitPoint();
    this.splits.set(doc, sp); // most recent last
    if (this.splits.size > MAX_SPLITS) this.splits.delete(this.splits.keys().next().value!);
    return sp;
  }

  /** The suggestion grew after it was shown: ask the editor to query again (not too often). */
  private maybeRefresh(gen: StreamingGeneration): void {
    if (gen.shown === undefined || gen !== this.inflight || gen.cancelled) return;
    const text = gen.view(gen.partialShown).text;
    if (text === gen.shown || !text) return;
    const t = this.now();
    if (!gen.isDone && t - this.lastRefresh < REFRESH_MIN_MS) return;
    this.lastRefresh = t;
    this.deps.refresh?.(gen.anchor);
  }

  /**
   * Once per model: how many characters a token holds in this kind of text, counted by the
   * worker's tokenizer (one round trip), so that the first prompts fit their budgets.
   */
  private async calibrate(info: ModelInfo, ctx: CursorContext): Promise<void> {
    if (this.calibrated.has(info.path)) return;
    this.calibrated.add(info.path);
    const sample = prefixWindow(ctx.lines, ctx.line, ctx.character, 4000).text;
    if (sample.length < 200) return; // too little to say; the stats of the first requests will tell
    const ids = await this.deps.client.tokenize({ text: sample, addSpecial: false, parseSpecial: false }).catch(() => []);
    this.estimator.calibrate(sample.length, ids.length);
    this.deps.log.debug(`completion: ${this.estimator.charsPerToken} characters per token for ${info.name ?? info.path}`);
  }

  /** FIM or prefix-only, and the FIM family's file separator if the vocabulary has one. */
  private formatOf(info: ModelInfo): Promise<PromptFormat> {
    let f = this.formats.get(info.path);
    if (!f) {
      f = this.detectFormat(info);
      this.formats.set(info.path, f);
    }
    return f;
  }

  private async detectFormat(info: ModelInfo): Promise<PromptFormat> {
    if (!info.fim) {
      this.deps.log.info(`completion: ${info.name ?? info.path} has no fill-in-the-middle tokens: prefix-only prompts`);
      return { kind: "prefix" };
    }
    let fileSep: string | undefined;
    for (const sep of FILE_SEPARATORS) {
      const ids = await this.deps.client.tokenize({ text: sep, addSpecial: false, parseSpecial: true }).catch(() => []);
      if (ids.length === 1) {
        fileSep = sep;
        break;
      }
    }
    this.deps.log.info(`completion: fill-in-the-middle prompts (${info.fim.prefix} … ${info.fim.suffix} … ${info.fim.middle}${fileSep ? `, files separated by ${fileSep}` : ""})`);
    return { kind: "fim", fim: info.fim, fileSep };
  }

  private updateBusy(): void {
    const g = this.inflight;
    const busy = g !== undefined && !g.isDone && !g.cancelled;
    if (busy === this.busyNow) return;
    this.busyNow = busy;
    for (const l of this.busyListeners) l(busy);
  }

  private sleep(ms: number, cancel: CancelFlag): Promise<void> {
    if (this.deps.sleep) return this.deps.sleep(ms, cancel);
    return new Promise((resolve) => {
      const sub = cancel.onCancel(() => {
        clearTimeout(timer);
        resolve();
      });
      const timer = setTimeout(() => {
        sub.dispose();
        resolve();
      }, ms);
    });
  }

  private now(): number {
    return this.deps.now?.() ?? performance.now();
  }

  dispose(): void {
    this.prewarmCancel?.cancel();
    this.cancelInflight();
    this.busyListeners.clear();
    this.finishListeners.clear();
    this.firstTextListeners.clear();
  }
}

function anchorOf(ctx: CursorContext): Anchor {
  return { doc: ctx.doc, before: ctx.before, lineAfter: ctx.lines.lineAt(ctx.line).slice(ctx.character) };
}

/** Whether the generation's text so far agrees with what was typed since its anchor. */
function couldStillMatch(g: StreamingGeneration, typed: string): boolean {
  const raw = g.rawText.replace(/\r\n?/g, "\n");
  if (raw.startsWith(typed)) return !g.isDone || remainderAfter(g.view(g.partialShown).text, typed) !== undefined;
  return !g.isDone && typed.startsWith(raw);
}
