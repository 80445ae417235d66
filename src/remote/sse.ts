// Server-sent events (https://html.spec.whatwg.org/multipage/server-sent-events.html), as the
// inference servers use them: `data:` lines (several in one event are joined with "\n"), an
// optional `event:`, `id:` and `retry:`, comments (lines starting with ":", llama-server's pings),
// and a blank line ending each event. llama-server also reports a failure inside a stream as an
// `error:` line with a JSON body; that becomes an event named "error".
//
// Stricter than a browser's EventSource, which ignores what it does not know: a line with any
// other field name is a malformed stream here (an HTML error page from a proxy, a truncated
// line), reported with the line, so the user sees what arrived instead of an empty reply.
import { RemoteProtocolError } from "./errors.ts";

export interface SseEvent {
  /** `event:` field, or "error" for llama-server's `error:` line; "message" when absent. */
  event: string;
  data: string;
}

const KNOWN = new Set(["data", "event", "id", "retry"]);

export class SseParser {
  private buffer = "";
  private data: string[] = [];
  private event = "";
  private sawField = false;
  /** Skip a "\n" that follows a "\r" split across two chunks. */
  private pendingCr = false;

  constructor(private readonly where: string) {}

  /** Feeds decoded text; returns the events it completed. Throws RemoteProtocolError on a malformed line. */
  push(text: string): SseEvent[] {
    if (this.pendingCr && text.startsWith("\n")) text = text.slice(1);
    this.pendingCr = false;
    this.buffer += text;
    const out: SseEvent[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      if (!m) break;
      // A lone "\r" at the very end may be the first half of "\r\n".
      if (m[0] === "\r" && m.index === this.buffer.length - 1) {
        this.pendingCr = true;
      }
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      const ev = this.line(line);
      if (ev) out.push(ev);
    }
    return out;
  }

  /** Whether text of an unfinished event (or line) is pending: the stream stopped inside an event. */
  get midEvent(): boolean {
    return this.buffer.length > 0 || this.sawField;
  }

  private line(line: string): SseEvent | undefined {
    if (line === "") {
      if (!this.sawField) return undefined;
      const ev: SseEvent = { event: this.event || "message", data: this.data.join("\n") };
      this.data = [];
      this.event = "";
      this.sawField = false;
      return ev;
    }
    if (line.startsWith(":")) return undefined; // comment (keep-alive ping)
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "error") {
      // llama-server: `error: {json}` (one line), an event of its own.
      this.sawField = true;
      this.event = "error";
      this.data.push(value);
      return undefined;
    }
    if (!KNOWN.has(field)) {
      throw new RemoteProtocolError("protocol", `${this.where} sent a malformed event stream line: ${JSON.stringify(line.length > 120 ? `${line.slice(0, 120)}…` : line)}`);
    }
    this.sawField = true;
    if (field === "data") this.data.push(value);
    else if (field === "event") this.event = value;
    return undefined;
  }
}
