// The chat webview: renders the conversation the extension sends, streams the reply being
// generated, and posts the user's actions back (send, stop, new chat, thinking, copy, insert).
// Streaming without flicker: deltas are batched per animation frame and only the last message
// is re-rendered; inside it, only the top-level blocks whose HTML changed are replaced, so the
// finished paragraphs and code blocks above stay as they are (and keep a text selection).
import DOMPurify from "dompurify";
import "./chat.css";
import { renderMarkdown } from "./markdown.ts";
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

let state: ViewState = { entries: [], busy: false, thinking: false, firstSent: 0 };
const pending = new Set<string>();
let frame = 0;

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
  const note = el.querySelector<HTMLElement>(":scope > .note")!;
  note.textContent = e.note ?? (e.status === "streaming" && !e.text ? "…" : "");
  note.hidden = !note.textContent;
}

function newEntryElement(e: ChatEntry): HTMLElement {
  const el = document.createElement("section");
  el.dataset.id = e.id;
  const who = document.createElement("div");
  who.className = "who";
  who.textContent = e.role === "user" ? "You" : "Hearth";
  const body = document.createElement("div");
  body.className = "body";
  const note = document.createElement("div");
  note.className = "note";
  el.append(who, body, note);
  return el;
}

function renderAll(): void {
  const atBottom = nearBottom();
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
  if (atBottom) scrollDown();
}

function nearBottom(): boolean {
  return document.documentElement.scrollHeight - window.innerHeight - window.scrollY < 80;
}

function scrollDown(): void {
  window.scrollTo(0, document.documentElement.scrollHeight);
}

function flush(): void {
  frame = 0;
  const atBottom = nearBottom();
  for (const id of pending) {
    const e = state.entries.find((x) => x.id === id);
    const el = log.querySelector<HTMLElement>(`section[data-id="${CSS.escape(id)}"]`);
    if (e && el) renderEntry(el, e);
  }
  pending.clear();
  if (atBottom) scrollDown();
}

window.addEventListener("message", (event: MessageEvent<HostMessage>) => {
  const m = event.data;
  if (!m || typeof m !== "object") return;
  if (m.type === "state") {
    state = m.state;
    pending.clear();
    renderAll();
  } else if (m.type === "delta") {
    const e = state.entries.find((x) => x.id === m.id);
    if (!e) return;
    e.text += m.text;
    pending.add(e.id);
    if (!frame) frame = requestAnimationFrame(flush);
  }
});

function submit(): void {
  const text = input.value;
  if (!text.trim() || state.busy) return;
  vscode.postMessage({ type: "send", text });
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
