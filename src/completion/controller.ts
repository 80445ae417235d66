// The inline-completion logic without `vscode` (provider.ts adapts it): per request, follow the
// running generation when the user typed along it, else answer from the suggestion cache, else
// wait out the debounce, build the prompt and start a generation, and return its first line as
// soon as it is complete (or a partial one after the time budget). When the suggestion grows
// later, it asks the editor to query again. A position that does not continue the running
// generation cancels it at once, in the worker too (the request's CancelFlag is shared with it).
// Where the engine is a server (hearth.completion.engine = "openai"), only the prompt differs
// (remote-request.ts): the controller asks `deps.remote()` per request and launches either plan
// through the same path, so both get the same debounce, cache, streaming and post-processing, and
// cancelling aborts the HTTP request.
import { CancelFlag, isAbort } from "../client/cancellation.ts";
import type { RequestOptions } from "../client/engine-client.ts";
import type { CachedParams, CachedResult, GenerateStats, ModelInfo, TokenizeParams, WarmParams, WarmResult } from "../worker/protocol.ts";
import { remainderAfter, typedSince, type Anchor } from "./anchor.ts";
import { languageEnabled, type Budgets, type CompletionSettings } from "./config.ts";
import { AdaptiveDebounce } from "./debounce.ts";
import { StreamingGeneration, type CompletionClient, type StartGeneration } from "./generation.ts";
import type { PostContext } from "./postprocess.ts";
import { buildRemoteCompletion, type RemoteCompletionEngine } from "./remote-request.ts";
import { PromptBudget, totalOf, type UncachedProbe } from "./prompt-budget.ts";
import type { PromptFormat, Snippet } from "./prompt.ts";
import { generationDetail, outcomeOf, requestLine } from "./request-log.ts";
import { buildRequest, planRequest, type CompletionRequest, type CursorContext } from "./request.ts";
import { SplitPoint } from "./split-point.ts";
import { SuggestionCache } from "./suggestion-cache.ts";
import { TokenEstimator } from "./tokens.ts";
import { PromptMemory, REMEMBERED_DOCUMENTS, type Memento } from "./prompt-memory.ts";
import { setRecent } from "./recent.ts";
import { prefixWindow } from "./window.ts";

export type { CursorContext } from "./request.ts";

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
  /** Where split points, window sizes and the token ratio are kept across a window reload (the workspace state). */
  memory?: Memento;
  /** The server completion goes to, when hearth.completion.engine is "openai" (asked per request); undefined: the local engine. */
  remote?(): RemoteCompletionEngine | undefined;
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

/** A request with the window (tokens in all) its prompt was cut to (prompt-budget.ts). */
type SizedRequest = CompletionRequest & { window: number };

/** What launch() needs of either engine's request. */
interface Plan {
  start: StartGeneration;
  /** The prompt as text (for the log, the records and the characters-per-token estimate). */
  prompt: string;
  post: PostContext;
  /** What the engine's stats teach (the local engine's prompt speed and token ratio). */
  learn?(stats: GenerateStats): void;
}

const REFRESH_MIN_MS = 60;

/** A generation and what the editor was shown of it: what is displayed is the controller's to decide. */
interface Running {
  gen: StreamingGeneration;
  /** The suggestion last returned to the editor (undefined before that). */
  shown: string | undefined;
  /** The first line was shown before it was complete (the time budget ran out): keep showing it so. */
  partial: boolean;
}

/** An answer for the editor: a suggestion, or none. */
interface Answer {
  text: string | undefined;
}

export class CompletionController {
  private inflight: Running | undefined;
  readonly cache = new SuggestionCache();
  /** Characters per token, per model (tokenizers differ). */
  private readonly estimators = new Map<string, TokenEstimator>();
  /** Prompt speed per model and each document's window (prompt-budget.ts). */
  readonly budget: PromptBudget;
  /** Per document (as its KV slot is): switching back continues that document's split. */
  private readonly splits = new Map<string, SplitPoint>();
  /** Per document, the version of the last provider call (a new version is an edit). */
  private readonly versions = new Map<string, number>();
  private readonly debounce: AdaptiveDebounce;
  private readonly formats = new Map<string, PromptFormat>();
  /** Models whose characters-per-token ratio was measured by the worker's tokenizer. */
  private readonly calibrated = new Set<string>();
  private readonly busyListeners = new Set<(busy: boolean) => void>();
  private readonly finishListeners = new Set<(r: CompletionRecord) => void>();
  private readonly firstTextListeners = new Set<(anchor: Anchor, ms: number) => void>();
  /** The running pre-warm's (a newer one, for the editor that is active now, stops it). */
  private prewarmCancel: CancelFlag | undefined;
  /** The document the running pre-warm is for. */
  private prewarming: string | undefined;
  private busyNow = false;
  private lastRefresh = -Infinity;
  /** Counts, for tests and the benchmark. */
  readonly counters = { requests: 0, cacheHits: 0, followed: 0, cancelled: 0 };

  private readonly memory: PromptMemory;

  constructor(private readonly deps: ControllerDeps) {
    this.debounce = new AdaptiveDebounce(() => this.now());
    this.memory = new PromptMemory(deps.memory);
    this.budget = new PromptBudget(this.memory);
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
    // Only keystrokes teach the debounce the typist's pace (not Alt+\, refreshes, cursor moves).
    if (this.isKeystroke(ctx)) this.debounce.keystroke();
    const delay = this.debounce.delay(s.debounceMs, s.adaptiveDebounce);
    if (!languageEnabled(s, ctx.languageId)) {
      this.cancelInflight();
      return undefined;
    }
    const anchor = anchorOf(ctx);
    const followed = await this.follow(anchor, s, cancel);
    if (followed) return followed.text;
    const cached = this.cache.get(anchor);
    if (cached !== undefined) {
      this.counters.cacheHits++;
      return cached;
    }
    if (!ctx.explicit && delay > 0) await this.sleep(delay, cancel);
    if (cancel.cancelled) return undefined;
    const remote = this.deps.remote?.();
    let plan: Plan;
    if (remote) {
      const r = buildRemoteCompletion(ctx, s, (budget) => this.deps.snippets(ctx.doc, budget, ctx.languageId));
      plan = { start: (o) => remote.complete(r.request, o), prompt: r.prompt, post: r.post };
    } else {
      const info = await this.deps.model();
      if (!info || cancel.cancelled) return undefined;
      // Only a pre-warm's growth step can come back undefined.
      plan = this.localPlan((await this.request(ctx, anchor, info, s))!, ctx, info);
    }
    if (cancel.cancelled) return undefined;
    const run = this.launch(plan, ctx, anchor);
    if (cancel.cancelled) return undefined; // the next request adopts or cancels it
    return this.fromGeneration(run, "", s, cancel);
  }

  /**
   * The cursor moved or the document changed without a provider call (yet): cancel the running
   * generation unless `now` still continues it. Undefined `now`: the editor is elsewhere.
   */
  onEdit(now: Anchor | undefined): void {
    const run = this.inflight;
    if (!run || run.gen.isDone) return;
    const typed = now && typedSince(run.gen.anchor, now);
    if (typed === undefined || !couldStillMatch(run, typed)) this.cancelInflight();
  }

  /** Stops the running generation (toggle off, model change, dispose). */
  cancelInflight(): void {
    const run = this.inflight;
    if (!run) return;
    this.inflight = undefined;
    if (!run.gen.isDone) {
      this.counters.cancelled++;
      run.gen.cancel();
    }
    this.updateBusy();
  }

  /** An automatic trigger at a new version of a document seen before. Without versions, every automatic trigger. */
  private isKeystroke(ctx: CursorContext): boolean {
    if (ctx.version === undefined) return !ctx.explicit;
    const last = this.versions.get(ctx.doc);
    setRecent(this.versions, ctx.doc, ctx.version, REMEMBERED_DOCUMENTS);
    return !ctx.explicit && last !== undefined && last !== ctx.version;
  }

  /** The running generation, when the user typed along it: an answer, or undefined to go on asking. */
  private async follow(anchor: Anchor, s: CompletionSettings, cancel: CancelFlag): Promise<Answer | undefined> {
    const run = this.inflight;
    if (!run) return undefined;
    const typed = typedSince(run.gen.anchor, anchor);
    if (typed === undefined || !couldStillMatch(run, typed)) {
      this.cancelInflight();
      return undefined;
    }
    this.counters.followed++;
    const text = await this.fromGeneration(run, typed, s, cancel);
    if (cancel.cancelled) return { text: undefined };
    // Its text turned out to differ from what was typed: stop it and ask anew.
    if (!couldStillMatch(run, typed)) {
      this.cancelInflight();
      return undefined;
    }
    // Typed past its end, or it ended with nothing more to offer: a new request.
    if (text === undefined && run.gen.isDone) {
      if (this.inflight === run) this.inflight = undefined;
      return undefined;
    }
    return { text };
  }

  /**
   * Waits (within the first-line budget) until `run` has something after `typed`, or its text
   * no longer agrees with `typed`, and returns what there is to show.
   */
  private async fromGeneration(run: Running, typed: string, s: CompletionSettings, cancel: CancelFlag): Promise<string | undefined> {
    const { gen } = run;
    const ready = () => remainderAfter(displayed(run), typed) !== undefined;
    const left = s.firstLineMs - (this.now() - gen.startedAt);
    await gen.wait(() => ready() || !couldStillMatch(run, typed), left, cancel);
    if (cancel.cancelled) return undefined;
    if (!ready() && !gen.isDone) run.partial = true;
    const text = displayed(run);
    run.shown = text;
    return remainderAfter(text, typed);
  }

  /**
   * The request a completion at `ctx` sends: what it needs of I/O and of the controller's state
   * (the prompt format, the calibrated token estimate, the document's window and split point,
   * snippets), then the pure planRequest/buildRequest. `grow`: the pre-warm's next bigger window
   * instead (undefined when the window is at its full size).
   */
  private async request(ctx: CursorContext, anchor: Anchor, info: ModelInfo, s: CompletionSettings, grow = false): Promise<SizedRequest | undefined> {
    const format = this.formatOf(info);
    await this.calibrate(info, ctx);
    const est = this.estimatorOf(info);
    if (est.learned) this.memory.saveRatio(info.path, est.charsPerToken); // also when the stats moved it
    const chars = (tokens: number) => est.chars(tokens);
    const { budgets } = planRequest(ctx, format, s, info.contextSize, chars);
    const compose = (b: Budgets) => {
      const plan = planRequest(ctx, format, s, info.contextSize, chars, b);
      const split = this.splitOf(ctx.doc).place(anchor, plan.maxTyped);
      const snippets = plan.extraChars > 0 ? this.deps.snippets(ctx.doc, plan.extraChars, ctx.languageId) : [];
      const req = buildRequest({ ctx, format, settings: s, plan, split, snippets });
      return { text: req.prompt, req };
    };
    // The window fits the machine's prompt speed, and grows in pre-warm steps (prompt-budget.ts).
    const speed = this.budget.speedOf(info);
    const sized = grow
      ? this.budget.grow(ctx.doc, speed, budgets, compose)
      : await this.budget.size(ctx.doc, speed, budgets, est.charsPerToken, compose, this.uncachedProbe(ctx.doc));
    if (!sized) return undefined;
    if (sized.changed) {
      const how = speed.isMeasured ? "measured" : "assumed before any was measured";
      this.deps.log.debug(`completion: ${ctx.path}: ${grow ? "growing" : "using"} a ${sized.window}-token window of ${totalOf(budgets)} (prompt speed ${speed.tokensPerSecond.toFixed(1)} tok/s, ${how})`);
    }
    return { ...sized.prompt.req, window: sized.window };
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
    // A server keeps its own prompt cache: nothing to warm here.
    if (!warm || this.deps.remote?.() || !languageEnabled(s, ctx.languageId) || (this.inflight && !this.inflight.gen.isDone)) return undefined;
    const info = await this.deps.model();
    if (!info) return undefined;
    this.stopPrewarm();
    const cancel = (this.prewarmCancel = new CancelFlag());
    this.prewarming = ctx.doc;
    let last: WarmResult | undefined;
    try {
      for (let grow = false; ; grow = true) {
        const req = await this.request(ctx, anchorOf(ctx), info, s, grow);
        if (!req || cancel.cancelled || (this.inflight && !this.inflight.gen.isDone)) return last;
        const params = { slot: "completion" as const, document: req.params.document, prompt: req.params.prompt };
        // Undefined: replaced or cancelled (a request came, the cursor moved): the window stays as it was.
        const result = await warm.call(this.deps.client, params, { cancel });
        if (!result || cancel.cancelled) return last;
        last = result;
        this.budget.speedOf(info).observe(result.evaluatedTokens, result.promptMs);
        this.budget.filled(ctx.doc, req.window, req.prompt);
      }
    } finally {
      if (this.prewarmCancel === cancel) {
        this.prewarmCancel = undefined;
        this.prewarming = undefined;
      }
    }
  }

  /**
   * Stops the running pre-warm (in the worker too, between two layers): a newer one, a request in
   * its document, or the cursor moved on (its steps would grow a window at the old place).
   * Whether one was running.
   */
  stopPrewarm(): boolean {
    const running = this.prewarmCancel !== undefined && !this.prewarmCancel.cancelled;
    this.prewarmCancel?.cancel();
    this.prewarming = undefined;
    return running;
  }

  /** The local engine's request as a plan: its window is recorded now, its stats teach the prompt speed and token ratio. */
  private localPlan(req: SizedRequest, ctx: CursorContext, info: ModelInfo): Plan {
    // The worker drops a pre-warm of this document for the request; a result of it the host has
    // not seen yet must not be recorded as the document's window after this request's.
    if (this.prewarming === ctx.doc) this.stopPrewarm();
    this.budget.filled(ctx.doc, req.window, req.prompt);
    const speed = this.budget.speedOf(info);
    const estimator = this.estimatorOf(info);
    return {
      start: (o: RequestOptions) => this.deps.client.generate(req.params, o),
      prompt: req.prompt,
      post: req.post,
      learn: (stats) => {
        speed.observe(stats.evaluatedTokens, stats.promptMs);
        if (stats.stopReason !== "cancelled" && stats.promptTokens > 0) estimator.observe(req.prompt.length, stats.promptTokens);
      },
    };
  }

  /** Starts `plan`'s generation (cancelling the running one) and follows it: first text, refreshes, the end. */
  private launch(plan: Plan, ctx: CursorContext, anchor: Anchor): Running {
    this.cancelInflight();
    this.counters.requests++;
    const gen = new StreamingGeneration(plan.start, anchor, plan.post, plan.prompt.length, () => this.now());
    const run: Running = { gen, shown: undefined, partial: false };
    this.inflight = run;
    this.updateBusy();
    let first = true;
    const sub = gen.onDidChange(() => {
      if (first && gen.firstTextAt !== undefined) {
        first = false;
        for (const l of this.firstTextListeners) l(gen.anchor, gen.firstTextAt - gen.startedAt);
      }
      this.maybeRefresh(run);
    });
    void gen.done.then((stats) => {
      sub.dispose();
      if (stats) plan.learn?.(stats);
      this.finished(run, plan.prompt, stats, ctx.path);
    });
    return run;
  }

  private finished(run: Running, prompt: string, stats: GenerateStats | undefined, path: string): void {
    const { gen } = run;
    if (this.inflight === run && !gen.complete) this.inflight = undefined;
    this.updateBusy();
    const text = stats ? displayed(run) : "";
    const firstTextMs = gen.firstTextAt === undefined ? undefined : Math.round(gen.firstTextAt - gen.startedAt);
    this.logRequest(run, stats, path, text, firstTextMs);
    if (!stats) return;
    // Complete lines of a cancelled generation are still a good suggestion for that place.
    this.cache.set(gen.anchor, gen.complete ? text : gen.view(false).text);
    for (const l of this.finishListeners) l({ anchor: gen.anchor, prompt, stats, text, firstTextMs });
  }

  /** One Info line per request (a failure: Warn), the generation's figures at Debug (request-log.ts). */
  private logRequest({ gen, shown }: Running, stats: GenerateStats | undefined, path: string, text: string, firstTextMs: number | undefined): void {
    const err = gen.error as Error | undefined;
    const failed = !stats && !isAbort(err);
    const outcome = outcomeOf({ shown, cancelledFromOutside: !failed && !gen.complete, text, failed });
    const line = requestLine({ path, stats, firstTextMs, totalMs: this.now() - gen.startedAt, outcome, error: failed ? String(err?.message ?? err) : undefined });
    if (failed) this.deps.log.warn(line);
    else this.deps.log.info(line);
    if (stats) this.deps.log.debug(generationDetail(stats, text ? text.split("\n").length : 0));
  }

  private splitOf(doc: string): SplitPoint {
    const sp = this.splits.get(doc) ?? new SplitPoint(this.memory.split(doc), (anchor) => this.memory.saveSplit(anchor));
    setRecent(this.splits, doc, sp, REMEMBERED_DOCUMENTS);
    return sp;
  }

  /** The suggestion grew after it was shown: ask the editor to query again (not too often). */
  private maybeRefresh(run: Running): void {
    // A generation cancelled from outside shows nothing more: the user has moved on.
    const status = run.gen.status;
    if (run.shown === undefined || run !== this.inflight || status === "cancelling" || status === "cancelled" || status === "failed") return;
    const text = displayed(run);
    if (text === run.shown || !text) return;
    const t = this.now();
    if (!run.gen.isDone && t - this.lastRefresh < REFRESH_MIN_MS) return;
    this.lastRefresh = t;
    this.deps.refresh?.(run.gen.anchor);
  }

  /**
   * Once per model: how many characters a token holds in this kind of text, counted by the
   * worker's tokenizer (one round trip), so that the first prompts fit their budgets.
   */
  private async calibrate(info: ModelInfo, ctx: CursorContext): Promise<void> {
    if (this.calibrated.has(info.path)) return;
    this.calibrated.add(info.path);
    // The ratio the windows were cut with before a reload: the same cuts, the same cached prompts.
    const saved = this.memory.ratio(info.path);
    const est = this.estimatorOf(info);
    if (saved !== undefined) return est.calibrate(saved, 1);
    const sample = prefixWindow(ctx.lines, ctx.line, ctx.character, 4000).text;
    if (sample.length < 200) return; // too little to say; the stats of the first requests will tell
    const ids = await this.deps.client.tokenize({ text: sample, addSpecial: false, parseSpecial: false }).catch(() => []);
    est.calibrate(sample.length, ids.length);
    this.deps.log.debug(`completion: ${est.charsPerToken} characters per token for ${info.name ?? info.path}`);
  }

  private estimatorOf(info: ModelInfo): TokenEstimator {
    let est = this.estimators.get(info.path);
    if (!est) this.estimators.set(info.path, (est = new TokenEstimator()));
    return est;
  }

  /** FIM or prefix-only, and the FIM family's file separator: all from the model's info (no round trip). */
  private formatOf(info: ModelInfo): PromptFormat {
    let f = this.formats.get(info.path);
    if (f) return f;
    const name = info.name ?? info.path;
    if (!info.fim) {
      this.deps.log.info(`completion: ${name} has no fill-in-the-middle tokens: prefix-only prompts`);
      f = { kind: "prefix" };
    } else {
      const { prefix, suffix, middle, fileSep } = info.fim;
      this.deps.log.info(`completion: fill-in-the-middle prompts (${prefix} … ${suffix} … ${middle}${fileSep ? `, files separated by ${fileSep}` : ""})`);
      f = { kind: "fim", fim: { prefix, suffix, middle }, fileSep };
    }
    this.formats.set(info.path, f);
    return f;
  }

  private updateBusy(): void {
    const busy = this.inflight?.gen.running ?? false;
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
    this.stopPrewarm();
    this.cancelInflight();
    this.busyListeners.clear();
    this.finishListeners.clear();
    this.firstTextListeners.clear();
  }
}

function anchorOf(ctx: CursorContext): Anchor {
  return { doc: ctx.doc, before: ctx.before, lineAfter: ctx.lines.lineAt(ctx.line).slice(ctx.character) };
}

/** What the editor shows of `run` now. */
function displayed(run: Running): string {
  return run.gen.view(run.partial).text;
}

/** Whether the generation's text so far agrees with what was typed since its anchor. */
function couldStillMatch(run: Running, typed: string): boolean {
  const { gen } = run;
  const raw = gen.rawText;
  if (raw.startsWith(typed)) return !gen.isDone || remainderAfter(displayed(run), typed) !== undefined;
  return !gen.isDone && typed.startsWith(raw);
}
