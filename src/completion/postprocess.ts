// Turns the model's raw text into what is worth showing, as it streams: only the lines the rules
// keep, and whether a rule has ended the suggestion (so the generation can be stopped early).
// Rules: one line when the cursor has text after it; otherwise at most `maxLines` lines, ending
// at a blank line, at a line that leaves the cursor's indentation scope, after a line that closes
// the block the completion is in, or before a line that repeats the next line of the file; a
// closing bracket that the rest of the line already has is not suggested again; trailing
// whitespace goes; whitespace alone is no suggestion.

export interface PostContext {
  /** The cursor's line before and after the cursor. */
  lineBefore: string;
  lineAfter: string;
  /** The lines after the cursor's line (a few are enough). */
  nextLines: readonly string[];
  /** 1: single-line suggestions only. */
  maxLines: number;
}

export interface Processed {
  /** What to show ("" for nothing). */
  text: string;
  /** The rules ended the suggestion: more generated text cannot change it. */
  stopped: boolean;
}

const OPEN = "([{";
const CLOSE = ")]}";

/**
 * `final`: the generation ended, so its last, unterminated line is complete too. `partial`: show
 * the unterminated first line anyway (the first-line time budget ran out).
 */
export function postProcess(raw: string, ctx: PostContext, opts: { final: boolean; partial?: boolean }): Processed {
  const lines = raw.replace(/\r\n?/g, "\n").split("\n");
  const unterminated = lines.pop()!;
  const complete = lines;
  const single = ctx.maxLines <= 1 || ctx.lineAfter.trim() !== "";
  const lastUsable = opts.final || (opts.partial && complete.length === 0);
  const candidates = lastUsable ? [...complete, unterminated] : complete;
  const base = indentOf(ctx.lineBefore.trim() === "" ? ctx.lineBefore : leadingWhitespace(ctx.lineBefore));
  const nextLine = ctx.nextLines.find((l) => l.trim() !== "")?.trim();
  const out: string[] = [];
  let depth = 0;
  let stopped = false;
  for (let i = 0; i < candidates.length && !stopped; i++) {
    let line = candidates[i];
    if (i === 0) {
      const cut = closerAlreadyThere(line, ctx.lineAfter);
      if (cut !== undefined) {
        line = line.slice(0, cut);
        stopped = true;
      }
      if (single) {
        out.push(stripRepeatedSuffix(line, ctx.lineAfter));
        // Its end is known once the newline (or the end of the generation) came.
        stopped ||= complete.length > 0 || opts.final;
        break;
      }
      if (ctx.lineBefore.trim() === "" && nextLine !== undefined && line.trim() === nextLine) {
        stopped = true; // the model is retyping the next line
        break;
      }
    } else {
      if (line.trim() === "") {
        stopped = true;
        break;
      }
      if (indentOf(leadingWhitespace(line)) < base) {
        stopped = true; // left the scope the cursor is in
        break;
      }
      if (nextLine !== undefined && line.trim() === nextLine) {
        stopped = true;
        break;
      }
    }
    const before = depth;
    depth += bracketDelta(line);
    out.push(line);
    // A line that closes more than the completion opened ends the block the cursor was in.
    if (depth < 0 && before >= 0) stopped = true;
    if (out.length >= ctx.maxLines) stopped = true;
  }
  return { text: finish(out), stopped };
}

function finish(lines: string[]): string {
  const trimmed = lines.map((l) => l.replace(/\s+$/, ""));
  while (trimmed.length > 0 && trimmed[trimmed.length - 1] === "") trimmed.pop();
  const text = trimmed.join("\n");
  return text.trim() === "" ? "" : text;
}

function leadingWhitespace(s: string): string {
  return /^\s*/.exec(s)![0];
}

/** Indentation width (a tab counts as 4; only comparisons within one file matter). */
function indentOf(ws: string): number {
  let n = 0;
  for (const ch of ws) n += ch === "\t" ? 4 : 1;
  return n;
}

/**
 * Where the completion's first line closes a bracket it did not open while the same closer
 * starts the rest of the cursor's line (an auto-closed pair): the index to cut at.
 */
function closerAlreadyThere(line: string, lineAfter: string): number | undefined {
  const next = lineAfter.trimStart()[0];
  if (!next || !CLOSE.includes(next)) return undefined;
  let depth = 0;
  for (const [i, ch] of scanCode(line)) {
    if (OPEN.includes(ch)) depth++;
    else if (CLOSE.includes(ch) && --depth < 0) return ch === next ? i : undefined;
  }
  return undefined;
}

/** "foo);" with ");" after the cursor: the suggestion stops before what is already there. */
function stripRepeatedSuffix(line: string, lineAfter: string): string {
  const after = lineAfter.trim();
  if (after && line.trimEnd().endsWith(after)) return line.trimEnd().slice(0, -after.length);
  return line;
}

/** Opened minus closed brackets, outside string literals. */
function bracketDelta(line: string): number {
  let d = 0;
  for (const [, ch] of scanCode(line)) {
    if (OPEN.includes(ch)) d++;
    else if (CLOSE.includes(ch)) d--;
  }
  return d;
}

/** The characters of a line that are code (not inside '…', "…" or `…` on that line). */
function* scanCode(line: string): Generator<[number, string]> {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quote) {
      if (ch === "\\") i++;
      else if (ch === quote) quote = undefined;
      continue;
    }
    if (ch === '"' || ch === "'" || ch === "`") {
      quote = ch;
      continue;
    }
    yield [i, ch];
  }
}
