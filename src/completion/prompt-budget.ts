// Sizing the completion prompt to the machine (issue 14, item 1). A cold prompt costs its length
// divided by the prompt speed: ~1,000 tokens at 20–30 tok/s (the 0.5B shape on one busy core) is
// half a minute before the first ghost text. So every request is sized by what it would newly
// evaluate (the part of its prompt the document's KV slot does not hold yet) against a time
// target, at the prompt speed measured on this machine.
//
// Why the window is sticky. Whatever the window spans is cached only as long as its start stays
// put (window.ts pins it to a grid, split-point.ts pins the prefix's end while the user types):
// a window whose size followed every small change of the speed estimate would start elsewhere on
// every keystroke, and every keystroke would be cold. So each document keeps the size it was
// last built with ("granted") and a request keeps it as long as its uncached part fits the
// target. Only when the prompt is re-evaluated from early on anyway (a new document, the window
// slid to a new grid cell, other files' context changed, another model) is the size chosen anew,
// and then so that all of it fits the target.
//
// Why it grows only in pre-warm. A bigger window starts earlier in the file, and every position
// after a changed token is re-evaluated: growing costs the whole grown prompt, not the difference.
// A keystroke's request cannot pay that within the target, so growth happens in the idle
// pre-warm (worker priority: a user request preempts it within a layer; one for its document, a
// cursor move or a newer pre-warm cancels it), one step at a time; a step that completes becomes the document's window (it is cached), a cancelled
// one changes nothing. Steps double the window (or add what one request may evaluate, when that
// is more), so all the steps to the configured budgets together cost about two evaluations of the
// final prompt, each is as likely as it can be to fit in a pause, and no user waits for them.
import type { Budgets } from "./config.ts";
import { REMEMBERED_DOCUMENTS } from "./prompt-memory.ts";
import { setRecent } from "./recent.ts";

/**
 * Time a request may spend evaluating its new prompt tokens. The issue asks for a cold first
 * suggestion "within a few seconds"; its first line then takes a few tenths of a second to
 * generate on the same machine, so 2.5 s of prompt keeps the first ghost text near three seconds.
 */
export const TARGET_MS = 2500;
/**
 * Never fewer tokens than this in a window (about four lines of code): with less the model sees
 * too little of the file to continue it; on a machine that slow a small window is still worth it.
 */
export const MIN_PROMPT_TOKENS = 64;
/** Window sizes are multiples of this: close speed estimates give the same window (and cache). */
export const QUANTUM = 32;
/**
 * Before anything was timed: multiply-adds per second assumed for prompt evaluation. Measured
 * here: the 0.5B shape (358 M multiply-adds per token) evaluates 30 tok/s on one core of a
 * loaded machine, about 11 G/s; assuming 8 G/s errs on the small side, so the first prompt is
 * too small rather than the first suggestion half a minute late. The measurement replaces it
 * after the first request that evaluated enough tokens.
 */
const ASSUMED_MACS_PER_SECOND = 8e9;
/** A model whose info has no shape (a fake in tests): the 0.5B shape's figure from the above. */
const FALLBACK_TOKENS_PER_SECOND = 20;
/** Fewer evaluated tokens than this time the request's fixed costs more than the speed. */
const MIN_SAMPLE_TOKENS = 32;
/** Weight of a new measurement: quick to follow a machine that got busy, steady over noise. */
const SMOOTHING = 0.4;

/** The prompt evaluation speed of one model on this machine: assumed, then measured. */
export class PromptSpeed {
  private measured: number | undefined;

  constructor(private readonly assumed: number) {}

  static forModel(info: { macsPerToken?: number }): PromptSpeed {
    return new PromptSpeed(info.macsPerToken ? ASSUMED_MACS_PER_SECOND / info.macsPerToken : FALLBACK_TOKENS_PER_SECOND);
  }

  get tokensPerSecond(): number {
    return this.measured ?? this.assumed;
  }

  get isMeasured(): boolean {
    return this.measured !== undefined;
  }

  /** One request's (or pre-warm's) evaluated prompt tokens and the time its prompt took. */
  observe(evaluatedTokens: number, promptMs: number): void {
    if (evaluatedTokens < MIN_SAMPLE_TOKENS || !(promptMs > 0)) return;
    const speed = (evaluatedTokens / promptMs) * 1000;
    this.measured = this.measured === undefined ? speed : this.measured + SMOOTHING * (speed - this.measured);
  }
}

/** Tokens a request may newly evaluate within `targetMs` at `tokensPerSecond` (on the grid, at least the minimum). */
export function affordableTokens(tokensPerSecond: number, targetMs = TARGET_MS): number {
  return Math.max(MIN_PROMPT_TOKENS, quantise((tokensPerSecond * targetMs) / 1000));
}

function quantise(tokens: number): number {
  return Math.floor(tokens / QUANTUM) * QUANTUM;
}

export function totalOf(b: Budgets): number {
  return b.prefix + b.suffix + b.extra;
}

/**
 * The configured budgets cut to `total` tokens in all: the suffix keeps at most a quarter (the
 * text before the cursor matters most), the prefix takes what it wants of the rest, and context
 * from other files gets only what is left (it comes first in the prompt: when it changes,
 * everything after it is re-evaluated, so it is the first to give way).
 */
export function budgetsWithin(configured: Budgets, total: number): Budgets {
  if (total >= totalOf(configured)) return { ...configured };
  const suffix = Math.min(configured.suffix, Math.floor(total / 4));
  const prefix = Math.min(configured.prefix, total - suffix);
  return { prefix, suffix, extra: Math.min(configured.extra, total - prefix - suffix) };
}

/**
 * The window (tokens in all) for a request in a document: the one it has (`granted`) while the
 * part of its prompt the slot lacks (`uncached`, estimated) fits in `affordable`; else the prompt
 * is re-evaluated from early on anyway, and all of it must fit.
 */
export function foregroundWindow(configured: number, granted: number, uncached: number, affordable: number): number {
  if (uncached <= affordable) return Math.min(granted, configured);
  return Math.min(configured, affordable);
}

/** The next pre-warm step of a window below the configured size (undefined: it is there). */
export function grownWindow(configured: number, granted: number, affordable: number): number | undefined {
  if (granted >= configured) return undefined;
  return Math.min(configured, Math.max(quantise(2 * granted), granted + affordable));
}

/** The worker's count of a prompt's tokens it would evaluate (undefined: it cannot say). */
export type UncachedProbe = (prompt: string) => Promise<number | undefined>;

export interface Sized<P> {
  prompt: P;
  /** Tokens in all the budgets allowed (the prompt may be shorter: the file may be). */
  window: number;
  /** Not the document's window before. */
  changed: boolean;
}

/** Per document: the window size its slot was last filled with, and that prompt's text. */
interface DocWindow {
  granted: number;
  prompt: string;
}

/**
 * The controller's side of the rule: prompt speed per model, each document's window and the
 * prompt its slot holds (the last one sent or pre-warmed there).
 */
export class PromptBudget {
  /** `memory`: where each document's window is kept across a window reload (prompt-memory.ts). */
  constructor(private readonly memory?: { window(doc: string): number | undefined; saveWindow(doc: string, tokens: number): void }) {}

  private readonly speeds = new Map<string, PromptSpeed>();
  private model: string | undefined;
  private readonly docs = new Map<string, DocWindow>();
  /** The document whose slot was filled last: until another one's is, nothing can evict it. */
  private lastDoc: string | undefined;

  /** The speed of `info`'s model; switching models forgets the windows (its slots are new). */
  speedOf(info: { path: string; macsPerToken?: number }): PromptSpeed {
    if (this.model !== info.path) {
      this.model = info.path;
      this.docs.clear();
    }
    let s = this.speeds.get(info.path);
    if (!s) this.speeds.set(info.path, (s = PromptSpeed.forModel(info)));
    return s;
  }

  /** The window a document has; a new one starts at the configured size (then measured against the target). */
  granted(doc: string, configured: number): number {
    return Math.min(configured, this.docs.get(doc)?.granted ?? this.memory?.window(doc) ?? configured);
  }

  /** Estimated tokens of `prompt` after its common start with the prompt `doc`'s slot holds. */
  uncachedTokens(doc: string, prompt: string, charsPerToken: number): number {
    const held = this.docs.get(doc)?.prompt ?? "";
    return Math.ceil((prompt.length - commonPrefixLength(held, prompt)) / Math.max(1, charsPerToken));
  }

  /**
   * The prompt of a request in `doc`, composed with the document's window, or (when more of that
   * than `speed` allows within the target would be evaluated anew) with the window that fits.
   * `probe` asks the worker when the estimate says the prompt is cold.
   */
  async size<P extends { text: string }>(
    doc: string,
    speed: PromptSpeed,
    configured: Budgets,
    charsPerToken: number,
    compose: (b: Budgets) => P,
    probe?: UncachedProbe,
  ): Promise<Sized<P>> {
    const full = totalOf(configured);
    const granted = this.granted(doc, full);
    const affordable = affordableTokens(speed.tokensPerSecond);
    const prompt = compose(budgetsWithin(configured, granted));
    let uncached = this.uncachedTokens(doc, prompt.text, charsPerToken);
    // The worker is asked (one round trip) where a wrong estimate costs: a prompt believed cold
    // is about to be cut, but the worker may hold it anyway (its prefix cache on disk, after a
    // window reload); or, back in a document with a big window after others were used, the
    // worker may have given its slot to them (it keeps a few, the least recently used go).
    const switched = this.lastDoc !== undefined && this.lastDoc !== doc;
    if (probe && (uncached > affordable || (switched && granted > affordable))) uncached = (await probe(prompt.text)) ?? uncached;
    const window = foregroundWindow(full, granted, uncached, affordable);
    if (window === granted) return { prompt, window, changed: false };
    return { prompt: compose(budgetsWithin(configured, window)), window, changed: true };
  }

  /** A pre-warm's next step for `doc`: its prompt with a grown window, or undefined at the configured size. */
  grow<P extends { text: string }>(doc: string, speed: PromptSpeed, configured: Budgets, compose: (b: Budgets) => P): Sized<P> | undefined {
    const full = totalOf(configured);
    const window = this.docs.has(doc) ? grownWindow(full, this.granted(doc, full), affordableTokens(speed.tokensPerSecond)) : undefined;
    return window === undefined ? undefined : { prompt: compose(budgetsWithin(configured, window)), window, changed: true };
  }

  /** `prompt`, built with a window of `granted` tokens, was sent or pre-warmed into `doc`'s slot. */
  filled(doc: string, granted: number, prompt: string): void {
    this.lastDoc = doc;
    setRecent(this.docs, doc, { granted, prompt }, REMEMBERED_DOCUMENTS);
    this.memory?.saveWindow(doc, granted);
  }
}

function commonPrefixLength(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}
