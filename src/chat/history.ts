// The conversation kept per workspace (workspaceState) and what of it goes to the model: the
// system prompt, then completed turns, replies without their thinking (it is shown, never sent
// back: it would waste context and the templates drop it anyway). No vscode import: the store
// is anything with Memento's get/update.
import type { ChatMessage } from "../worker/protocol.ts";
import type { ChatEntry } from "./protocol.ts";
import { splitThinking } from "./thinking.ts";

export interface MementoLike {
  get<T>(key: string): T | undefined;
  update(key: string, value: unknown): Thenable<void> | Promise<void>;
}

const KEY = "hearth.chat.history";
/** Entries kept on disk; older ones go (the model could not see them anyway). */
export const MAX_STORED_ENTRIES = 200;

export interface StoredHistory {
  version: 1;
  entries: ChatEntry[];
  /** Index of the first entry still sent to the model (older turns were dropped for the context). */
  firstSent: number;
}

export function emptyHistory(): StoredHistory {
  return { version: 1, entries: [], firstSent: 0 };
}

function validEntry(e: unknown): e is ChatEntry {
  if (typeof e !== "object" || e === null) return false;
  const x = e as Record<string, unknown>;
  return typeof x.id === "string" && (x.role === "user" || x.role === "assistant") && typeof x.text === "string";
}

/** Reads the stored conversation; anything malformed is dropped rather than trusted. */
export function loadHistory(store: MementoLike): StoredHistory {
  const raw = store.get<Partial<StoredHistory>>(KEY);
  if (!raw || raw.version !== 1 || !Array.isArray(raw.entries)) return emptyHistory();
  const entries = raw.entries.filter(validEntry).map((e) => ({
    id: e.id,
    role: e.role,
    text: e.text,
    // A reply that was streaming when the window closed did not finish.
    status: e.role === "assistant" ? (e.status === "streaming" ? "stopped" : e.status) : undefined,
    note: typeof e.note === "string" ? e.note : undefined,
    notice: typeof e.notice === "string" ? e.notice : undefined,
  })) as ChatEntry[];
  const firstSent = typeof raw.firstSent === "number" && raw.firstSent >= 0 ? Math.min(raw.firstSent, entries.length) : 0;
  return { version: 1, entries, firstSent };
}

export async function saveHistory(store: MementoLike, h: StoredHistory): Promise<void> {
  const cut = Math.max(0, h.entries.length - MAX_STORED_ENTRIES);
  await store.update(KEY, { version: 1, entries: h.entries.slice(cut), firstSent: Math.max(0, h.firstSent - cut) } satisfies StoredHistory);
}

/**
 * The messages for the model: the system prompt, then the entries from `firstSent` on. Failed
 * or empty replies are left out together with the question they answered, so the template
 * always sees user/assistant alternating and ending with the user. `turnStarts[i]` is the entry
 * index of the i-th user message sent: the worker reports dropped turns by that count.
 */
export function conversationMessages(system: string, entries: readonly ChatEntry[], firstSent = 0): { messages: ChatMessage[]; turnStarts: number[] } {
  const messages: ChatMessage[] = system.trim() ? [{ role: "system", content: system.trim() }] : [];
  const turnStarts: number[] = [];
  let pending: { text: string; index: number } | undefined;
  for (let i = firstSent; i < entries.length; i++) {
    const e = entries[i];
    if (e.role === "user") {
      pending = { text: e.text, index: i };
      continue;
    }
    const answer = splitThinking(e.text).answer.trim();
    if (pending && e.status !== "error" && answer) {
      messages.push({ role: "user", content: pending.text }, { role: "assistant", content: answer });
      turnStarts.push(pending.index);
    }
    pending = undefined;
  }
  if (pending) {
    messages.push({ role: "user", content: pending.text });
    turnStarts.push(pending.index);
  }
  return { messages, turnStarts };
}
