// Splits a reply into its reasoning ("<think>…</think>", SmolLM3 / Qwen3 style) and its answer.
// Shared by the extension (what is sent back to the model: the answer only) and the webview
// (thinking shown collapsed), so it imports nothing.

export interface SplitReply {
  /** The reasoning text, or undefined when the reply has none. */
  thinking: string | undefined;
  /** True while the reasoning is still being written (no closing tag yet). */
  thinkingOpen: boolean;
  answer: string;
}

const OPEN = "<think>";
const CLOSE = "</think>";

export function splitThinking(raw: string): SplitReply {
  const lead = raw.length - raw.trimStart().length;
  if (raw.startsWith(OPEN, lead)) {
    const end = raw.indexOf(CLOSE, lead + OPEN.length);
    if (end < 0) return { thinking: raw.slice(lead + OPEN.length).trim(), thinkingOpen: true, answer: "" };
    return { thinking: raw.slice(lead + OPEN.length, end).trim(), thinkingOpen: false, answer: raw.slice(end + CLOSE.length).trimStart() };
  }
  // Some templates open the block in the prompt: the reply then only closes it.
  const end = raw.indexOf(CLOSE);
  if (end >= 0 && !raw.slice(0, end).includes(OPEN)) {
    return { thinking: raw.slice(0, end).trim(), thinkingOpen: false, answer: raw.slice(end + CLOSE.length).trimStart() };
  }
  return { thinking: undefined, thinkingOpen: false, answer: raw };
}

/** While a reply streams, a partial "<thi" at the start must not flash as text. */
export function mayBecomeThinking(raw: string): boolean {
  const t = raw.trimStart();
  return t.length < OPEN.length && OPEN.startsWith(t);
}
