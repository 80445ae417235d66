// Turns the model's raw text into what is worth showing, as it streams. The text goes in delta by
// delta (SuggestionStream.push); each line meets the rules once, when its newline arrives, and
// each rule keeps its own small state (Continue's stream transforms are the model), so the work
// per token is proportional to the new text, not to the suggestion so far. A view shows the kept
// lines, and on request the unterminated last line, judged on forked rule states (a look-ahead
// that commits nothing).
//
// The rules, in the order they see a line: one line when the cursor has text after it;
// otherwise at most `maxLines` lines, ending at a blank line, at a line that leaves the cursor's
// indentation scope, after a line that closes the block the completion is in, or before a line
// that repeats the next line of the file; a closing bracket that the rest of the line already has
// is not suggested again. When showing: trailing whitespace goes; whitespace alone is no
// suggestion.

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

/** One line of the suggestion as a rule sees it. */
export interface Line {
  text: string;
  /** Its place in the suggestion (0: the rest of the cursor's line). */
  index: number;
  /** Its newline came, or the generation ended: no more text will join it. */
  ended: boolean;
}

/** What a rule makes of a line. */
export type Verdict =
  /** Keep the line (perhaps shortened); the suggestion goes on. */
  | { kind: "keep"; text: string }
  /** Keep the line (perhaps shortened); the suggestion ends with it. */
  | { kind: "last"; text: string }
  /** The suggestion ends before this line. */
  | { kind: "drop" };

/**
 * A named rule. Its state is an immutable value (a number, or nothing), so a look-ahead at the
 * unterminated line can fork all states by copying an array.
 */
export interface Rule<S = unknown> {
  readonly name: string;
  readonly initial: S;
  check(line: Line, state: S): { verdict: Verdict; state: S };
}

const keep = (text: string): Verdict => ({ kind: "keep", text });
const last = (text: string): Verdict => ({ kind: "last", text });
const DROP: Verdict = { kind: "drop" };

function stateless(name: string, check: (line: Line) => Verdict): Rule<undefined> {
  return { name, initial: undefined, check: (line) => ({ verdict: check(line), state: undefined }) };
}

/** An auto-closed pair: the first line closes a bracket it did not open that the rest of the line starts with. */
function closerAlreadyThere(ctx: PostContext): Rule<undefined> {
  return stateless("closerAlreadyThere", ({ text, index }) => {
    const cut = index === 0 ? closerCut(text, ctx.lineAfter) : undefined;
    return cut === undefined ? keep(text) : last(text.slice(0, cut));
  });
}

/** Text after the cursor: the rest of the line only, without what the line already ends with. */
function singleLine(ctx: PostContext): Rule<undefined> {
  return stateless("singleLine", ({ text, index, ended }) => {
    if (index > 0) return DROP;
    const line = stripRepeatedSuffix(text, ctx.lineAfter);
    // Its end is known once the newline (or the end of the generation) came.
    return ended ? last(line) : keep(line);
  });
}

function stopAtBlankLine(): Rule<undefined> {
  return stateless("stopAtBlankLine", ({ text, index }) => (index > 0 && text.trim() === "" ? DROP : keep(text)));
}

/** A line indented less than the cursor's line has left the scope the cursor is in. */
function stopAtScopeExit(ctx: PostContext): Rule<undefined> {
  const base = indentOf(ctx.lineBefore.trim() === "" ? ctx.lineBefore : leadingWhitespace(ctx.lineBefore));
  return stateless("stopAtScopeExit", ({ text, index }) => (index > 0 && indentOf(leadingWhitespace(text)) < base ? DROP : keep(text)));
}

/** The model retyping the next line of the file (on a blank cursor line, from the first line on). */
function stopAtNextLine(ctx: PostContext): Rule<undefined> {
  const nextLine = ctx.nextLines.find((l) => l.trim() !== "")?.trim();
  const fromFirst = ctx.lineBefore.trim() === "";
  return stateless("stopAtNextLine", ({ text, index }) => {
    if (nextLine === undefined || (index === 0 && !fromFirst)) return keep(text);
    return text.trim() === nextLine ? DROP : keep(text);
  });
}

/** A line that closes more than the completion opened ends the block the cursor was in. State: the bracket depth. */
function stopAtBlockEnd(): Rule<number> {
  return {
    name: "stopAtBlockEnd",
    initial: 0,
    check: ({ text }, depth) => {
      const after = depth + bracketDelta(text);
      return { verdict: after < 0 && depth >= 0 ? last(text) : keep(text), state: after };
    },
  };
}

/** At most `maxLines` lines. State: the lines kept so far. */
function maxLines(ctx: PostContext): Rule<number> {
  return { name: "maxLines", initial: 0, check: ({ text }, n) => ({ verdict: n + 1 >= ctx.maxLines ? last(text) : keep(text), state: n + 1 }) };
}

/** The rules for a cursor, in the order they see a line. */
function rulesFor(ctx: PostContext): Rule[] {
  if (ctx.maxLines <= 1 || ctx.lineAfter.trim() !== "") return [closerAlreadyThere(ctx), singleLine(ctx)];
  return [closerAlreadyThere(ctx), stopAtBlankLine(), stopAtScopeExit(ctx), stopAtNextLine(ctx), stopAtBlockEnd(), maxLines(ctx)];
}

/** The kept lines as they show: trailing whitespace trimmed, trailing empty lines held back. */
interface Shown {
  /** Up to the last line with something in it; undefined while there is none. */
  body: string | undefined;
  /** Empty lines kept after the body (they show only if a non-empty line follows). */
  blanks: number;
}

function addLine(s: Shown, line: string): Shown {
  const t = line.replace(/\s+$/, "");
  if (t === "") return { body: s.body, blanks: s.blanks + 1 };
  const gap = s.body === undefined ? "\n".repeat(s.blanks) : `${s.body}${"\n".repeat(s.blanks + 1)}`;
  return { body: gap + t, blanks: 0 };
}

/** The suggestion of one generation, fed as the text streams. */
export class SuggestionStream {
  private readonly rules: Rule[];
  private states: unknown[];
  private shown: Shown = { body: undefined, blanks: 0 };
  /** Lines judged so far. */
  private lines = 0;
  private ended = false;
  /** The unterminated last line. */
  private open = "";
  /** The last delta ended with "\r": a "\n" starting the next one belongs to it. */
  private afterCR = false;
  private all = "";

  constructor(ctx: PostContext, rules: Rule[] = rulesFor(ctx)) {
    this.rules = rules;
    this.states = rules.map((r) => r.initial);
  }

  /** The generated text so far, with line ends made "\n". */
  get text(): string {
    return this.all;
  }

  /** The rules ended the suggestion (on complete lines): more text cannot change it. */
  get stopped(): boolean {
    return this.ended;
  }

  push(delta: string): void {
    if (delta === "") return;
    if (this.afterCR && delta.startsWith("\n")) delta = delta.slice(1);
    this.afterCR = delta.endsWith("\r");
    if (delta === "") return;
    const text = delta.replace(/\r\n?/g, "\n");
    this.all += text;
    if (this.ended) return;
    let from = this.open.length;
    this.open += text;
    for (let j = this.open.indexOf("\n", from); j >= 0 && !this.ended; j = this.open.indexOf("\n", from)) {
      const line = this.open.slice(0, j);
      this.open = this.open.slice(j + 1);
      from = 0;
      this.commit(line);
    }
  }

  /**
   * The suggestion as it stands. `final`: the generation ended, so the unterminated last line is
   * complete too. `partial`: show the unterminated first line anyway (the first-line time budget
   * ran out).
   */
  view(opts: { final: boolean; partial?: boolean }): Processed {
    const lookAhead = !this.ended && (opts.final || (opts.partial === true && this.lines === 0));
    if (!lookAhead) return { text: this.shown.body ?? "", stopped: this.ended };
    const j = judge(this.rules, this.states, { text: this.open, index: this.lines, ended: opts.final });
    const shown = j.text === undefined ? this.shown : addLine(this.shown, j.text);
    return { text: shown.body ?? "", stopped: j.end };
  }

  private commit(line: string): void {
    const j = judge(this.rules, this.states, { text: line, index: this.lines++, ended: true });
    this.states = j.states;
    if (j.text !== undefined) this.shown = addLine(this.shown, j.text);
    this.ended = j.end;
  }
}

/** The rules' verdict on one line: the text kept (undefined: dropped), whether it ends the suggestion, the new states. */
function judge(rules: readonly Rule[], states: readonly unknown[], line: Line): { text: string | undefined; end: boolean; states: unknown[] } {
  const next = states.slice();
  let text = line.text;
  let end = false;
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i].check({ ...line, text }, next[i]);
    next[i] = r.state;
    if (r.verdict.kind === "drop") return { text: undefined, end: true, states: next };
    text = r.verdict.text;
    end ||= r.verdict.kind === "last";
  }
  return { text, end, states: next };
}

const OPEN = "([{";
const CLOSE = ")]}";

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
function closerCut(line: string, lineAfter: string): number | undefined {
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
