// The chat itself, apart from VS Code: the conversation (restored from and saved to the
// workspace's storage), one generation at a time in the engine's "chat" KV slot, streaming its
// text to the view, Stop, New Chat, the thinking switch. The view (view.ts) and the commands
// only forward to it, so it is tested in plain node with a fake engine client.
import { CancelFlag, isAbort } from "../client/cancellation.ts";
import type { ChatGenerateStats, ChatPrompt, GenerateStats, SamplingOptions } from "../worker/protocol.ts";
import { conversationMessages, loadHistory, saveHistory, type MementoLike, type StoredHistory } from "./history.ts";
import type { ChatEntry, HostMessage, ViewState, WebviewMessage } from "./protocol.ts";

export interface ChatRequestParams {
  slot: "chat";
  prompt: ChatPrompt;
  maxTokens: number;
  sampling: SamplingOptions;
}

/**
 * EngineClient.generate, as the chat uses it. `onPromptProgress` hears how far the prompt's
 * evaluation is (tokens done of all to evaluate) before the first text.
 */
export type ChatGenerate = (
  params: ChatRequestParams,
  cancel: CancelFlag,
  onPromptProgress?: (done: number, total: number) => void,
) => AsyncIterable<string> & { stats: Promise<GenerateStats> };

/** What the chat needs to know of the loaded model. */
export interface ChatModelInfo {
  path: string;
  /** undefined: the GGUF has no chat template (the ChatML fallback is used). */
  chatTemplate: string | undefined;
}

export interface ChatSettings {
  systemPrompt: string;
  maxTokens: number;
  temperature: number;
}

export interface ChatSessionDeps {
  generate: ChatGenerate;
  /** workspaceState. */
  store: MementoLike;
  settings: () => ChatSettings;
  /** Loads the configured model if needed (with progress); false when there is none. */
  ensureModel: () => Promise<boolean>;
  /** The loaded model (undefined when none). */
  modelInfo?: () => ChatModelInfo | undefined;
  log?: { info(m: string): void; warn(m: string): void };
}

const THINKING_KEY = "hearth.chat.thinking";
export const NO_MODEL_NOTE = "No model is loaded: choose a GGUF file with “Hearth: Select Model File”, then send again.";

/** Said once per model, in the chat and the log, when the model has no chat template. */
export function noChatTemplateNotice(model: ChatModelInfo): string {
  return `${modelName(model)} is not a chat model: its file has no chat template, so Hearth writes the conversation in ChatML (its fallback). Replies may not follow the conversation; a chat model (“Hearth: Download Model…”) answers better.`;
}

/** The file's name: general.name is often just the architecture ("llama"). */
function modelName(m: ChatModelInfo): string {
  return m.path.split(/[\\/]/).pop() ?? m.path;
}

let counter = 0;
function newId(): string {
  return `${Date.now().toString(36)}-${(counter++).toString(36)}`;
}

export class ChatSession {
  // Read on first use, not at activation.
  private stored: { history: StoredHistory; thinking: boolean } | undefined;
  private running: { cancel: CancelFlag; done: Promise<void> } | undefined;
  private readonly listeners = new Set<(m: HostMessage) => void>();
  /** Models (by path) whose missing chat template was already pointed out. */
  private readonly noticed = new Set<string>();

  constructor(private readonly deps: ChatSessionDeps) {}

  private get state(): { history: StoredHistory; thinking: boolean } {
    return (this.stored ??= { history: loadHistory(this.deps.store), thinking: this.deps.store.get<boolean>(THINKING_KEY) === true });
  }
  private get history(): StoredHistory {
    return this.state.history;
  }
  /** The thinking switch (templates with a reasoning mode render the system prompt by it). */
  get thinking(): boolean {
    return this.state.thinking;
  }

  /** The view subscribes while it exists; messages sent while it is gone are covered by the next "ready". */
  onMessage(listener: (m: HostMessage) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  get entries(): readonly ChatEntry[] {
    return this.history.entries;
  }

  viewState(): ViewState {
    return { entries: this.history.entries, busy: this.busy, thinking: this.thinking, firstSent: this.history.firstSent };
  }

  /** Messages from the webview, already validated (protocol.ts). Copy/insert are the view's. */
  async handle(msg: WebviewMessage): Promise<void> {
    switch (msg.type) {
      case "ready":
        this.postState();
        return;
      case "send":
        await this.ask(msg.text);
        return;
      case "stop":
        await this.stop();
        return;
      case "newChat":
        await this.clear();
        return;
      case "setThinking":
        this.state.thinking = msg.enabled;
        await this.deps.store.update(THINKING_KEY, msg.enabled);
        this.postState();
        return;
      default:
        return;
    }
  }

  /**
   * Sends a user message and streams the reply; resolves with the reply's entry when it ended
   * (done, stopped, or failed with a note). A generation already running is stopped first.
   */
  async ask(text: string, options: { enableThinking?: boolean; generate?: ChatGenerate; skipModel?: boolean } = {}): Promise<ChatEntry> {
    await this.stop();
    const user: ChatEntry = { id: newId(), role: "user", text };
    const reply: ChatEntry = { id: newId(), role: "assistant", text: "", status: "streaming" };
    const cancel = new CancelFlag();
    let finished: () => void = () => {};
    this.running = { cancel, done: new Promise<void>((r) => (finished = r)) };
    this.history.entries.push(user, reply);
    this.postState();
    try {
      await this.generate(reply, options.enableThinking ?? this.thinking, cancel, options.generate ?? this.deps.generate, options.skipModel === true);
    } finally {
      this.running = undefined;
      finished();
      await saveHistory(this.deps.store, this.history);
      this.postState();
    }
    return reply;
  }

  private async generate(reply: ChatEntry, enableThinking: boolean, cancel: CancelFlag, generate: ChatGenerate, skipModel: boolean): Promise<void> {
    try {
      if (!skipModel && !(await this.deps.ensureModel())) {
        reply.status = "error";
        reply.note = NO_MODEL_NOTE;
        return;
      }
      if (cancel.cancelled) {
        reply.status = "stopped";
        reply.note = "Stopped.";
        return;
      }
      if (!skipModel) this.noticeModel(reply);
      const s = this.deps.settings();
      const done = this.history.entries.slice(0, -1); // everything but the empty reply
      const { messages, turnStarts } = conversationMessages(s.systemPrompt, done, this.history.firstSent);
      const gen = generate(
        {
          slot: "chat",
          prompt: { messages, enableThinking, reserveTokens: s.maxTokens },
          maxTokens: s.maxTokens,
          sampling: s.temperature > 0 ? { temperature: s.temperature, topK: 40, topP: 0.95, minP: 0.05, seed: (Date.now() >>> 0) || 1 } : {},
        },
        cancel,
        (done, total) => this.post({ type: "progress", id: reply.id, done, total }),
      );
      for await (const delta of gen) {
        if (!delta) continue;
        reply.text += delta;
        this.post({ type: "delta", id: reply.id, text: delta });
      }
      const stats: ChatGenerateStats = await gen.stats;
      const notes: string[] = [];
      const dropped = stats.droppedTurns ?? 0;
      if (dropped > 0) {
        // Later turns start from the same place, so their prompt prefix stays in the KV cache.
        this.history.firstSent = turnStarts[dropped] ?? this.history.firstSent;
        notes.push(`${dropped} earlier ${dropped === 1 ? "exchange was" : "exchanges were"} left out to fit the model's context; the model no longer sees ${dropped === 1 ? "it" : "them"}.`);
      }
      reply.status = stats.stopReason === "cancelled" ? "stopped" : "done";
      if (stats.stopReason === "cancelled") notes.push("Stopped.");
      else if (stats.stopReason === "length") notes.push(`Reached the reply limit of ${s.maxTokens} tokens (hearth.chat.maxTokens).`);
      else if (stats.stopReason === "context") notes.push("The context is full: start a New Chat or raise hearth.contextSize.");
      if (notes.length) reply.note = notes.join(" ");
      this.deps.log?.info(`chat: ${stats.generatedTokens} tokens (${stats.stopReason}); prompt ${stats.promptTokens} tokens, ${stats.reusedTokens} reused from the chat slot${dropped ? `, ${dropped} turns dropped` : ""}`);
    } catch (err) {
      const e = err as Error;
      if (isAbort(e)) {
        reply.status = "stopped";
        reply.note = "Stopped.";
      } else {
        reply.status = "error";
        // A server's errors (src/remote) say what failed and the next step themselves.
        reply.note = e.name === "NoModelError" ? NO_MODEL_NOTE : e.name.startsWith("Remote") ? e.message : `The engine failed: ${e.message}`;
        this.deps.log?.warn(`chat failed: ${e.name}: ${e.message}`);
      }
    }
  }

  /** Once per model: a model without a chat template gets a notice on its first reply, and a log line. */
  private noticeModel(reply: ChatEntry): void {
    const model = this.deps.modelInfo?.();
    if (!model || model.chatTemplate !== undefined || this.noticed.has(model.path)) return;
    this.noticed.add(model.path);
    reply.notice = noChatTemplateNotice(model);
    this.deps.log?.info(`chat: ${modelName(model)} has no chat template (tokenizer.chat_template): the conversation is written in ChatML, the fallback`);
    this.postState();
  }

  /** Stops the running generation (in the worker too) and waits until it has ended. */
  async stop(): Promise<void> {
    const r = this.running;
    if (!r) return;
    r.cancel.cancel();
    await r.done;
  }

  async clear(): Promise<void> {
    await this.stop();
    this.state.history = { version: 1, entries: [], firstSent: 0 };
    await saveHistory(this.deps.store, this.history);
    this.postState();
  }

  private postState(): void {
    this.post({ type: "state", state: this.viewState() });
  }

  private post(m: HostMessage): void {
    for (const l of this.listeners) l(m);
  }
}
