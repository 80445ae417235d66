// Worker side of a chat request: renders the conversation with the model's own chat template,
// tokenises it and, when it does not fit the context next to room for the reply, drops the
// oldest turns (never the system prompt, never the newest question). Runs inside the engine
// worker (src/worker/service.ts wraps the engine with `withChatPrompts`), so no vscode here and
// nothing heavy on the extension host.
import type { ChatMessage, ChatTemplate } from "./chat-template.ts";
import type { EngineGenerateRequest } from "./engine.ts";
import type { Cancellation } from "./cancel.ts";
import { ContextOverflowError, type GenerateChunk, type GenerateStats, type WarmStats } from "./session.ts";

/** A `generate` prompt given as a conversation, rendered in the worker. */
export interface ChatPrompt {
  messages: ChatMessage[];
  /** `enable_thinking` for templates with a reasoning mode (SmolLM3, Qwen3). */
  enableThinking?: boolean;
  /** Tokens kept free for the reply when deciding what fits (capped at half the context). */
  reserveTokens?: number;
}

/** Stats of a chat generation: how many user turns (with their replies) were left out. */
export type ChatGenerateStats = GenerateStats & { droppedTurns?: number };

export function isChatPrompt(p: unknown): p is ChatPrompt {
  return typeof p === "object" && p !== null && !Array.isArray(p) && Array.isArray((p as ChatPrompt).messages);
}

/** What rendering needs of the engine (the real Engine satisfies it). */
export interface PromptEngine {
  readonly chatTemplate: ChatTemplate;
  readonly tokenizer: { readonly bos: number; readonly eos: number; readonly addBos: boolean; tokenText(id: number): string };
  readonly model: { readonly contextSize: number };
  tokenize(text: string, options?: { addSpecial?: boolean; parseSpecial?: boolean }): number[];
}

export interface RenderedChat {
  ids: number[];
  text: string;
  droppedTurns: number;
  /** Extra stop strings: ChatML's markers when the model has no template of its own. */
  stop: string[];
}

const CHATML_STOPS = ["<|im_end|>", "<|im_start|>"];

export function renderChatPrompt(engine: PromptEngine, prompt: ChatPrompt): RenderedChat {
  const t = engine.tokenizer;
  const bos = t.bos >= 0 ? t.tokenText(t.bos) : "";
  const eos = t.eos >= 0 ? t.tokenText(t.eos) : "";
  const nCtx = engine.model.contextSize;
  const budget = nCtx - Math.min(Math.max(0, prompt.reserveTokens ?? 256), Math.floor(nCtx / 2));
  const system = prompt.messages[0]?.role === "system" ? [prompt.messages[0]] : [];
  let rest = prompt.messages.slice(system.length);
  let dropped = 0;
  for (;;) {
    const text = engine.chatTemplate.render([...system, ...rest], { enableThinking: prompt.enableThinking ?? false, bosToken: bos, eosToken: eos });
    // A template that writes BOS itself must not get a second one from the tokenizer.
    const ids = engine.tokenize(text, { addSpecial: !(bos && t.addBos && text.startsWith(bos)), parseSpecial: true });
    if (ids.length <= budget) {
      return { ids, text, droppedTurns: dropped, stop: engine.chatTemplate.isFallback ? CHATML_STOPS : [] };
    }
    const next = rest.findIndex((m, i) => i > 0 && m.role === "user");
    if (next < 0) {
      throw new ContextOverflowError(
        `the message${system.length ? " and the system prompt" : ""} take ${ids.length} tokens; with ${nCtx - budget} kept for the reply the context of ${nCtx} holds ${budget}. Shorten it, or raise hearth.contextSize`,
      );
    }
    rest = rest.slice(next);
    dropped++;
  }
}

/**
 * The tokens every conversation starting with `prompt`'s system message begins with: the common
 * prefix of two renderings that differ only in the user's message. (Rendering the system message
 * alone would not do: a template may write it differently, or add text after it, when a user turn
 * follows.) Empty without a system message.
 */
export function chatPrefixIds(engine: PromptEngine, prompt: ChatPrompt): number[] {
  const system = prompt.messages[0]?.role === "system" ? prompt.messages[0] : undefined;
  if (!system) return [];
  const [a, b] = ["a", "b"].map((q) => renderChatPrompt(engine, { ...prompt, messages: [system, { role: "user", content: q }] }).ids);
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return a.slice(0, n);
}

/** The engine as the scheduler sees it, taking conversation prompts too. */
export interface ChatCapableEngine {
  generate(req: ChatEngineRequest): AsyncGenerator<GenerateChunk, ChatGenerateStats>;
  warm(req: ChatWarmRequest, cancel: Cancellation): Promise<WarmStats>;
}
export type ChatEngineRequest = Omit<EngineGenerateRequest, "prompt"> & { prompt: EngineGenerateRequest["prompt"] | ChatPrompt };
export interface ChatWarmRequest {
  slot: string;
  document?: string;
  prompt: string | readonly number[] | ChatPrompt;
}

type WarmableEngine = PromptEngine & {
  generate(req: EngineGenerateRequest): AsyncGenerator<GenerateChunk, GenerateStats>;
  warm(req: { slot: string; document?: string; prompt: string | readonly number[] }, cancel?: Cancellation): Promise<WarmStats>;
};

/**
 * Wraps an engine so `generate` accepts a ChatPrompt (rendered on the request's first step, in
 * scheduler order), and `warm` one too (its system prompt's part: see chatPrefixIds).
 */
export function withChatPrompts(engine: WarmableEngine): ChatCapableEngine {
  return {
    warm(req, cancel) {
      const prompt = req.prompt;
      if (!isChatPrompt(prompt)) return engine.warm({ ...req, prompt }, cancel);
      return engine.warm({ ...req, prompt: chatPrefixIds(engine, prompt) }, cancel);
    },
    generate(req) {
      const prompt = req.prompt;
      if (!isChatPrompt(prompt)) return engine.generate({ ...req, prompt });
      return (async function* () {
        const r = renderChatPrompt(engine, prompt);
        const stats: GenerateStats = yield* engine.generate({ ...req, prompt: r.ids, stop: [...(req.stop ?? []), ...r.stop] });
        return r.droppedTurns > 0 ? { ...stats, droppedTurns: r.droppedTurns } : stats;
      })();
    },
  };
}
