// The chat's generation against a server (hearth.chat.engine = "openai"): the same ChatGenerate
// the session calls for the local engine, so streaming, Stop, thinking, history and the notes
// under a reply work unchanged. The server renders the conversation with its own chat template
// (POST /v1/chat/completions); what is left to us is fitting the history into its context, which
// the local worker does in tokens (engine/chat-prompt.ts) and we do here in characters, dropping
// the oldest exchanges first and reporting how many (the session's note and `firstSent`, as for a
// local model). No prompt progress: a server does not report it while it reads.
import type { CancelFlag } from "../client/cancellation.ts";
import type { RemoteChatRequest, RemoteInfo } from "../remote/index.ts";
import type { ChatGenerateStats, ChatMessage, GenerateStats } from "../worker/protocol.ts";
import type { ChatGenerate } from "./session.ts";

/** What the chat needs of a server (src/routing's RemoteRoleEngine has it; tests pass fakes). */
export interface RemoteChatEngine {
  readonly label: string;
  /** The last probe's findings (its context size, when the server says). */
  readonly info: Pick<RemoteInfo, "contextSize"> | undefined;
  chat(req: RemoteChatRequest, options?: { cancel?: CancelFlag }): AsyncIterable<string> & { readonly stats: Promise<GenerateStats> };
}

/** Characters per token assumed when fitting the history: few, so a conversation stays inside the server's context. */
export const CHAT_CHARS_PER_TOKEN = 3;

/** A server's context when it does not say (llama-server's /props does; OpenAI-style servers do not): nothing is dropped then. */
const UNKNOWN_CONTEXT = Infinity;

/**
 * `messages` (system first, user last) without the oldest exchanges that do not fit in
 * `budgetChars`; the system prompt and the newest user message are always kept.
 */
export function fitHistory(messages: readonly ChatMessage[], budgetChars: number): { messages: ChatMessage[]; droppedTurns: number } {
  const system = messages[0]?.role === "system" ? [messages[0]] : [];
  const turns: ChatMessage[][] = [];
  for (const m of messages.slice(system.length)) {
    if (m.role === "user" || turns.length === 0) turns.push([m]);
    else turns[turns.length - 1].push(m);
  }
  const size = (ms: readonly ChatMessage[]) => ms.reduce((n, m) => n + m.content.length + 8, 0);
  let used = size(system) + size(turns.flat());
  let dropped = 0;
  while (used > budgetChars && dropped < turns.length - 1) used -= size(turns[dropped++]);
  return { messages: [...system, ...turns.slice(dropped).flat()], droppedTurns: dropped };
}

/** The session's ChatGenerate for a server: the history fitted, the reply streamed, `droppedTurns` in the stats. */
export function remoteChatGenerate(engine: RemoteChatEngine): ChatGenerate {
  return (params, cancel) => {
    const context = engine.info?.contextSize ?? UNKNOWN_CONTEXT;
    const { messages, droppedTurns } = fitHistory(params.prompt.messages, (context - params.maxTokens) * CHAT_CHARS_PER_TOKEN);
    const gen = engine.chat(
      { messages, maxTokens: params.maxTokens, temperature: params.sampling.temperature ?? 0, enableThinking: params.prompt.enableThinking },
      { cancel },
    );
    const stats: Promise<ChatGenerateStats> = gen.stats.then((s) => (droppedTurns > 0 ? { ...s, droppedTurns } : s));
    stats.catch(() => {});
    return Object.assign(gen, { stats });
  };
}
