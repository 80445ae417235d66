// Context windows around the cursor, measured in characters from a token budget (the extension
// host does not tokenise; see tokens.ts) and always cut at line boundaries.
// The prefix window's first line sits on a coarse grid of document offsets, so it stays put
// while the user types and moves only every `budget / GRID_STEPS` characters: everything before
// the cursor keeps its place in the prompt, and the engine's KV cache of it stays valid.

/** The document as the window code sees it (a vscode.TextDocument is adapted to this). */
export interface LineSource {
  readonly lineCount: number;
  lineAt(line: number): string;
  /** Offset of the first character of `line` in the whole document. */
  offsetAt(line: number): number;
}

/** How many grid cells one prefix budget spans: a window start moves by about budget/8 at a time. */
export const GRID_STEPS = 8;

export interface PrefixWindow {
  text: string;
  /** The first line included (0 when the window reaches the top of the file). */
  startLine: number;
}

/**
 * The text before (line, character), at most `budgetChars` long, starting at a line start that
 * lies on the grid (or inside the cursor's line, when that line alone is longer than the budget).
 */
export function prefixWindow(doc: LineSource, line: number, character: number, budgetChars: number): PrefixWindow {
  const lineStart = doc.offsetAt(line);
  const cursor = lineStart + character;
  const current = doc.lineAt(line).slice(0, character);
  const earliest = cursor - Math.max(0, Math.floor(budgetChars));
  if (earliest <= 0) return { text: joinLines(doc, 0, line, current), startLine: 0 };
  const grid = Math.max(1, Math.floor(budgetChars / GRID_STEPS));
  const anchor = Math.ceil(earliest / grid) * grid;
  if (anchor > lineStart) {
    // The cursor's line alone is over budget (minified code): cut inside it, on the grid too.
    return { text: current.slice(Math.min(character, anchor - lineStart)), startLine: line };
  }
  let start = line;
  while (start > 0 && doc.offsetAt(start - 1) >= anchor) start--;
  return { text: joinLines(doc, start, line, current), startLine: start };
}

function joinLines(doc: LineSource, from: number, to: number, last: string): string {
  const parts: string[] = [];
  for (let l = from; l < to; l++) parts.push(doc.lineAt(l));
  parts.push(last);
  return parts.join("\n");
}

/**
 * The text after (line, character): the rest of the cursor's line, then whole lines while they
 * fit in `budgetChars` (the rest of the cursor's line is cut when it alone is over budget).
 */
export function suffixWindow(doc: LineSource, line: number, character: number, budgetChars: number): string {
  const budget = Math.max(0, Math.floor(budgetChars));
  const rest = doc.lineAt(line).slice(character);
  if (rest.length >= budget) return rest.slice(0, budget);
  const parts = [rest];
  let used = rest.length;
  for (let l = line + 1; l < doc.lineCount; l++) {
    const text = doc.lineAt(l);
    if (used + 1 + text.length > budget) break;
    parts.push(text);
    used += 1 + text.length;
  }
  return parts.join("\n");
}

/** A LineSource over a string (tests, the benchmark, extra-context snippets). */
export function linesOf(text: string): LineSource {
  const lines = text.split("\n");
  const offsets: number[] = [];
  let at = 0;
  for (const l of lines) {
    offsets.push(at);
    at += l.length + 1;
  }
  return { lineCount: lines.length, lineAt: (i) => lines[i], offsetAt: (i) => offsets[i] };
}
