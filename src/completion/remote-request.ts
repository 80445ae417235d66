// The prompt half of a completion against a server (hearth.completion.engine = "openai"). The
// local engine gets a prompt in the model's own FIM tokens, cut to token windows at a split point
// that keeps its KV cache warm (request.ts, split-point.ts, prompt-budget.ts); a server builds the
// FIM prompt itself from the text around the cursor (llama-server's /infill, or /v1/completions'
// prompt + suffix) and keeps its own cache (cache_prompt), and we cannot ask its tokenizer. So
// here the windows are cut by a character budget (the token budgets × a fixed ratio) and there is
// no split point, no pre-warm and no prompt progress. Everything after the prompt — debounce,
// suggestion cache, streaming, post-processing, cancellation — is the controller's, the same for
// both engines. Pure functions: no I/O, no state.
import type { CancelFlag } from "../client/cancellation.ts";
import type { RemoteCompleteRequest } from "../remote/types.ts";
import type { GenerateStats } from "../worker/protocol.ts";
import type { CompletionSettings } from "./config.ts";
import type { PostContext } from "./postprocess.ts";
import type { Snippet } from "./prompt.ts";
import { lengthLimits, postContext, type CursorContext } from "./request.ts";
import { prefixWindow, suffixWindow } from "./window.ts";

/** What completion needs of a server (src/routing's RemoteRoleEngine has it; tests pass fakes). */
export interface RemoteCompletionEngine {
  /** Endpoint and model, for the log. */
  readonly label: string;
  complete(req: RemoteCompleteRequest, options?: { cancel?: CancelFlag }): AsyncIterable<string> & { readonly stats: Promise<GenerateStats> };
}

/**
 * Characters per token assumed when cutting by the token settings: code runs at 3–4 characters
 * per token in current tokenizers; the lower figure keeps a prompt within what the user budgeted.
 */
export const REMOTE_CHARS_PER_TOKEN = 3;

export interface RemoteCompletion {
  request: RemoteCompleteRequest;
  /** The text before the cursor as sent (the log's and the records' "prompt"). */
  prompt: string;
  post: PostContext;
}

/**
 * The request for a completion at `ctx`: the text before the cursor (within
 * hearth.completion.prefixTokens), after it (suffixTokens), other files' snippets
 * (extraContextTokens), the token limit and stop string the local engine would get.
 */
export function buildRemoteCompletion(ctx: CursorContext, s: CompletionSettings, snippets: (budgetChars: number) => Snippet[]): RemoteCompletion {
  const chars = (tokens: number) => tokens * REMOTE_CHARS_PER_TOKEN;
  const { single, maxTokens } = lengthLimits(ctx, s);
  const prefix = prefixWindow(ctx.lines, ctx.line, ctx.character, chars(s.prefixTokens)).text;
  const suffix = s.suffixTokens > 0 ? suffixWindow(ctx.lines, ctx.line, ctx.character, chars(s.suffixTokens)) : "";
  const extra = s.extraContextTokens > 0 ? snippets(chars(s.extraContextTokens)).map((sn) => ({ filename: sn.path, text: sn.text })) : [];
  return {
    request: { prefix, suffix, extra, maxTokens, stop: [single ? "\n" : "\n\n"], temperature: 0 },
    prompt: prefix,
    post: postContext(ctx, s),
  };
}
