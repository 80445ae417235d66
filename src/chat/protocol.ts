// Messages between the chat webview (media/chat) and the extension. Everything the webview sends
// is untrusted input: `parseWebviewMessage` checks every field and returns undefined for anything
// unknown or malformed, which the caller ignores. No imports at run time (the webview bundle
// imports the types).

/** One entry of the conversation as stored and as shown. */
export interface ChatEntry {
  id: string;
  role: "user" | "assistant";
  /** User text, or the raw reply (thinking included: the view shows it collapsed). */
  text: string;
  /** Assistant entries: streaming until the generation ends. */
  status?: "streaming" | "done" | "stopped" | "error";
  /** A line shown under the entry: why it stopped, what was left out, the error. */
  note?: string;
  /** Shown above a reply: something about the model the user should know once (no chat template). */
  notice?: string;
}

export interface ViewState {
  entries: ChatEntry[];
  busy: boolean;
  thinking: boolean;
  /** Entries before this index are no longer sent to the model (dropped for the context). */
  firstSent: number;
}

/** Extension → webview. */
export type HostMessage =
  | { type: "state"; state: ViewState }
  | { type: "delta"; id: string; text: string }
  /** The reply `id`'s prompt is being evaluated: `done` of `total` tokens so far. */
  | { type: "progress"; id: string; done: number; total: number };

/** Webview → extension. */
export type WebviewMessage =
  | { type: "ready" }
  | { type: "send"; text: string }
  | { type: "stop" }
  | { type: "newChat" }
  | { type: "setThinking"; enabled: boolean }
  | { type: "copy"; code: string }
  | { type: "insert"; code: string };

/** Longest text accepted from the webview (a message or a code block). */
export const MAX_TEXT = 200_000;

function text(v: unknown, allowEmpty = false): v is string {
  return typeof v === "string" && v.length <= MAX_TEXT && (allowEmpty || v.trim().length > 0);
}

export function parseWebviewMessage(raw: unknown): WebviewMessage | undefined {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return undefined;
  const m = raw as Record<string, unknown>;
  switch (m.type) {
    case "ready":
    case "stop":
    case "newChat":
      return { type: m.type };
    case "send":
      return text(m.text) ? { type: "send", text: m.text } : undefined;
    case "setThinking":
      return typeof m.enabled === "boolean" ? { type: "setThinking", enabled: m.enabled } : undefined;
    case "copy":
    case "insert":
      return text(m.code, true) ? { type: m.type, code: m.code } : undefined;
    default:
      return undefined;
  }
}
