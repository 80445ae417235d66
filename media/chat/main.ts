// The chat webview: renders the conversation the extension sends, streams the reply being
// generated, and posts the user's actions back (send, stop, new chat, thinking, copy, insert).
// Streaming without flicker: deltas are batched per animation frame and only the last message
// is re-rendered; inside it, only the top-level blocks whose HTML changed are replaced, so the
// finished paragraphs and code blocks above stay as they are (and keep a text selection).
// The view follows the conversation (follow.ts) unless the user scrolled up to read.
import DOMPurify from "dompurify";
import "./chat.css";
import { renderMarkdown } from "./markdown.ts";
import { Follower } from "./follow.ts";
import { splitThinking, mayBecomeThinking } from "../../src/chat/thinking.ts";
import type { ChatEntry, HostMessage, ViewState, WebviewMessage } from "../../src/chat/protocol.ts";

interface VsCodeApi {
  postMessage(message: WebviewMessage): void;
}
declare function acquireVsCodeApi(): VsCodeApi;
const vscode = acquireVsCodeApi();

const log = document.getElementById("log")!;
const input = document.getElementById("input") as HTMLTextAreaElement;
const send = document.getElementById("send") as HTMLButtonElement;
const stop = document.getElementById("stop") as HTMLButtonElement;
const newChat = document.getElementById("new-chat") as HTMLButtonElement;
const thinking = document.getElementById("thinking") as HTMLInputElement;
const jump = document.getElementById("jump") as HTMLButtonElement;

let state: ViewState = { entries: [], busy: false, thinking: false, firstSent: 0 };
const pending = new Set<string>();
let frame = 0;
const follower = new Follower();
/** Prompt evaluation of a reply that has no text yet: tokens read so far of all. */
const reading = new Map<string, { done: number; total: number }>();

function sanitize(html: string): string {
  return DOMPurify.sanitize(html, { FORBID_TAGS: ["style", "img", "form", "input", "iframe"], FORBID_ATTR: ["style"] });
}

/** Replaces `el`'s children by `html`, touching only the top-level nodes that changed. */
function patch(el: HTMLElement, html: string): void {
  const next = document.createElement("template");
  next.innerHTML = html;
  const fresh = Array.from(next.content.childNodes);
  const old = Array.from(el.childNodes);
  fresh.forEach((node, i) => {
    const o = old[i];
    if (!o) el.appendChild(node);
    else if (!o.isEqualNode(node)) el.replaceChild(node, o);
  });
  for (let i = old.length - 1; i >= fresh.length; i--) old[i].remove();
}

function entryHtml(e: ChatEntry): string {
  if (e.role === "user") return sanitize(renderMarkdown(e.text));
  if (e.status === "streaming" && mayBecomeThinking(e.text)) return "";
  const s = splitThinking(e.text);
  let html = "";
  if (s.thinking !== undefined) {
    const label = s.thinkingOpen ? "Thinking…" : "Thought process";
    html += `<details class="thinking"><summary>${label}</summary><div class="thinking-body">${renderMarkdown(s.thinking)}</div></details>`;
  }
  html += renderMarkdown(s.answer);
  return sanitize(html);
}

function renderEntry(el: HTMLElement, e: ChatEntry): void {
  el.className = `entry ${e.role}${e.status ? ` ${e.status}` : ""}`;
  const body = el.querySelector<HTMLElement>(":scope > .body")!;
  // A <details> the user opened stays open while the reply streams on.
  const open = body.querySelector("details.thinking")?.hasAttribute("open") ?? false;
  patch(body, entryHtml(e));
  if (open) body.querySelector("details.thinking")?.setAttribute("open", "");
  const notice = el.querySelector<HTMLElement>(":scope > .notice")!;
  notice.textContent = e.notice ?? "";
  notice.hidden = !e.notice;
  const note = el.querySelector<HTMLElement>(":scope > .note")!;
  note.textContent = e.note ?? (e.status === "streaming" && !e.text ? placeholder(e.id) : "");
  note.hidden = !note.textContent;
}

/** What a reply shows before its first text: how far the model has read the prompt. */
function placeholder(id: string): string {
  const r = reading.get(id);
  if (!r || r.total <= 0) return "…";
  return `Reading ${r.done.toLocaleString("en-US")} of ${r.total.toLocaleString("en-US")} tokens…`;
}

function newEntryElement(e: ChatEntry): HTMLElement {
  const el = document.createElement("section");
  el.dataset.id = e.id;
  const who = document.createElement("div");
  who.className = "who";
  who.textContent = e.role === "user" ? "You" : "Hearth";
  const notice = document.createElement("div");
  notice.className = "notice";
  notice.setAttribute("role", "note");
  const body = document.createElement("div");
  body.className = "body";
  const note = document.createElement("div");
  note.className = "note";
  el.append(who, notice, body, note);
  return el;
}

function renderAll(): void {
  log.replaceChildren();
  state.entries.forEach((e, i) => {
    if (i === state.firstSent && i > 0) {
      const divider = document.createElement("div");
      divider.className = "divider";
      divider.textContent = "Messages above no longer fit the model's context: it does not see them.";
      log.appendChild(divider);
    }
    const el = newEntryElement(e);
    renderEntry(el, e);
    log.appendChild(el);
  });
  if (state.entries.length === 0) {
    const hint = document.createElement("div");
    hint.className = "empty";
    hint.textContent = "Ask the local model about your code. Select code and run “Hearth: Explain Selection” to have it explained here.";
    log.appendChild(hint);
  }
  send.hidden = state.busy;
  stop.hidden = !state.busy;
  thinking.checked = state.thinking;
  contentChanged();
}

/** After the log's content or size changed: follow it down, or offer to jump. */
function contentChanged(): void {
  if (follower.onContent(log)) scrollDown();
  jump.hidden = !follower.showJump;
}

function scrollDown(): void {
  log.scrollTop = log.scrollHeight;
  follower.scrolledTo(log.scrollTop);
}

function flush(): void {
  frame = 0;
  for (const id of pending) {
    const e = state.entries.find((x) => x.id === id);
    const el = log.querySelector<HTMLElement>(`section[data-id="${CSS.escape(id)}"]`);
    if (e && el) renderEntry(el, e);
  }
  pending.clear();
  contentChanged();
}

function schedule(id: string): void {
  pending.add(id);
  if (!frame) frame = requestAnimationFrame(flush);
}

/** The last user entry's id: a new one means a new question, which the view follows. */
function lastQuestion(entries: readonly ChatEntry[]): string | undefined {
  for (let i = entries.length - 1; i >= 0; i--) if (entries[i].role === "user") return entries[i].id;
  return undefined;
}

window.addEventListener("message", (event: MessageEvent<HostMessage>) => {
  const m = event.data;
  if (!m || typeof m !== "object") return;
  if (m.type === "state") {
    const asked = lastQuestion(m.state.entries);
    if (asked !== undefined && asked !== lastQuestion(state.entries)) follower.follow();
    state = m.state;
    for (const id of reading.keys()) if (!state.entries.some((e) => e.id === id && e.status === "streaming")) reading.delete(id);
    pending.clear();
    renderAll();
  } else if (m.type === "delta") {
    const e = state.entries.find((x) => x.id === m.id);
    if (!e) return;
    e.text += m.text;
    reading.delete(e.id);
    schedule(e.id);
  } else if (m.type === "progress") {
    if (!state.entries.some((x) => x.id === m.id)) return;
    reading.set(m.id, { done: m.done, total: m.total });
    schedule(m.id);
  }
});

log.addEventListener("scroll", () => {
  follower.onScroll(log);
  jump.hidden = !follower.showJump;
});
// The composer growing (a resized text box) or the view resizing keeps a followed chat at the bottom.
new ResizeObserver(contentChanged).observe(log);
jump.addEventListener("click", () => {
  follower.follow();
  scrollDown();
  jump.hidden = true;
});

function submit(): void {
  const text = input.value;
  if (!text.trim() || state.busy) return;
  vscode.postMessage({ type: "send", text });
  follower.follow();
  input.value = "";
}

send.addEventListener("click", submit);
stop.addEventListener("click", () => vscode.postMessage({ type: "stop" }));
newChat.addEventListener("click", () => vscode.postMessage({ type: "newChat" }));
thinking.addEventListener("change", () => vscode.postMessage({ type: "setThinking", enabled: thinking.checked }));
input.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    submit();
  }
});
log.addEventListener("click", (e) => {
  const button = (e.target as HTMLElement).closest<HTMLButtonElement>("button.code-action");
  if (!button) return;
  const code = button.closest(".code-block")?.querySelector("code")?.textContent ?? "";
  const action = button.dataset.action;
  if (action === "copy" || action === "insert") vscode.postMessage({ type: action, code });
});

vscode.postMessage({ type: "ready" });
