// The request a completion at a cursor sends, as pure functions of what the controller knows.
// planRequest gives the budgets (in characters) and the token limit; the controller then places
// the document's split point and gathers snippets within those budgets (that is its state); and
// buildRequest gives the prompt, the engine's parameters and what the post-processing rules need.
// No I/O and no state here: the same inputs give the same request.
import type { GenerateParams } from "../worker/protocol.ts";
import { fitBudgets, maxNewTokens, type Budgets, type CompletionSettings } from "./config.ts";
import type { PostContext } from "./postprocess.ts";
import { buildPrompt, type PromptFormat, type Snippet } from "./prompt.ts";
import type { Split } from "./split-point.ts";
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
  /**
   * The document's version (it changes with every edit): a call at a new version after an
   * automatic trigger is a keystroke, one at the same version a cursor move. Undefined (callers
   * that replay typing): every automatic call counts as a keystroke.
   */
  version?: number;
}

export interface RequestPlan {
  /** One line only (text after the cursor, or maxLines 1). */
  single: boolean;
  maxTokens: number;
  /** The configured budgets in tokens, fitted into the model's context (before any cut by prompt-budget.ts). */
  budgets: Budgets;
  prefixChars: number;
  suffixChars: number;
  extraChars: number;
  /** Typed text may grow to what the prefix window would have slid by (window.ts's grid step). */
  maxTyped: number;
}

/**
 * Whether the suggestion is one line only (text after the cursor, or maxLines 1) and the tokens it
 * may take: the same for the local engine and a server.
 */
export function lengthLimits(ctx: CursorContext, s: Pick<CompletionSettings, "maxLines">): { single: boolean; maxTokens: number } {
  const lineAfter = ctx.lines.lineAt(ctx.line).slice(ctx.character);
  const single = s.maxLines <= 1 || lineAfter.trim() !== "";
  return { single, maxTokens: maxNewTokens(single, s.maxLines) };
}

/**
 * Budgets within the model's context, in characters by `chars` (the token estimator's): the
 * configured ones, or `cut` (the window prompt-budget.ts sized to the machine) when given.
 */
export function planRequest(ctx: CursorContext, format: PromptFormat, s: CompletionSettings, contextSize: number, chars: (tokens: number) => number, cut?: Budgets): RequestPlan {
  const { single, maxTokens } = lengthLimits(ctx, s);
  const wanted = { prefix: s.prefixTokens, suffix: format.kind === "fim" ? s.suffixTokens : 0, extra: s.extraContextTokens };
  const budgets = fitBudgets(wanted, contextSize - maxTokens - 16);
  const b = cut ?? budgets;
  const prefixChars = chars(b.prefix);
  return { single, maxTokens, budgets, prefixChars, suffixChars: chars(b.suffix), extraChars: chars(b.extra), maxTyped: Math.max(64, Math.floor(prefixChars / GRID_STEPS)) };
}

export interface CompletionRequest {
  params: GenerateParams;
  prompt: string;
  post: PostContext;
}

export interface RequestInput {
  ctx: CursorContext;
  format: PromptFormat;
  settings: CompletionSettings;
  plan: RequestPlan;
  /** Where the prompt's prefix ends (the document's split point for this cursor). */
  split: Split;
  /** Context from elsewhere, within plan.extraChars. */
  snippets: Snippet[];
}

/** The prompt (windows at the split, snippets), how many tokens, where to stop, and what post-processing needs to know. */
export function buildRequest({ ctx, format, settings, plan, split, snippets }: RequestInput): CompletionRequest {
  const post = postContext(ctx, settings);
  const prompt = buildPrompt(
    {
      path: ctx.path,
      languageId: ctx.languageId,
      prefix: prefixWindow(ctx.lines, split.line, split.character, plan.prefixChars).text,
      typed: split.typed,
      suffix: plan.suffixChars > 0 ? suffixWindow(ctx.lines, ctx.line, ctx.character, plan.suffixChars) : "",
      snippets,
    },
    format,
  );
  const params: GenerateParams = {
    slot: "completion",
    // Each recently used document keeps its own KV slot in the worker: switching back is warm.
    document: ctx.doc,
    prompt: prompt.text,
    maxTokens: plan.maxTokens,
    // The engine stops at once at these; the post-processing would cut there anyway.
    stop: [...prompt.stop, plan.single ? "\n" : "\n\n"],
    sampling: { temperature: 0 },
    truncate: "left",
  };
  return { params, prompt: prompt.text, post };
}

/** What the post-processing rules need to know of the cursor's surroundings (local and remote alike). */
export function postContext(ctx: CursorContext, settings: Pick<CompletionSettings, "maxLines">): PostContext {
  const current = ctx.lines.lineAt(ctx.line);
  return {
    lineBefore: current.slice(0, ctx.character),
    lineAfter: current.slice(ctx.character),
    nextLines: Array.from({ length: Math.min(5, ctx.lines.lineCount - ctx.line - 1) }, (_, i) => ctx.lines.lineAt(ctx.line + 1 + i)),
    maxLines: settings.maxLines,
  };
}
