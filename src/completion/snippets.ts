// Choosing extra context within a character budget, as plain data: the tops of other open files
// (sorted by path: the order must not change while the user types, or the prompt's cached KV is
// lost) and the neighbourhoods of recent edits in other files (oldest first). Cut at line ends.
import type { Snippet } from "./prompt.ts";

export interface OpenFile {
  path: string;
  languageId: string;
  text: string;
}

export interface EditSpot extends OpenFile {
  /** The edited line. */
  line: number;
}

/** Lines of context around an edit. */
export const EDIT_RADIUS = 3;
/** At most this many files contribute (each gets an equal share). */
export const MAX_FILES = 3;

export function chooseSnippets(files: readonly OpenFile[], edits: readonly EditSpot[], budgetChars: number, languageId: string): Snippet[] {
  if (budgetChars <= 0) return [];
  const editBudget = edits.length > 0 ? Math.floor(budgetChars / 3) : 0;
  const editSnippets: Snippet[] = [];
  let used = 0;
  // Newest edits matter most: pick from the newest, show oldest first.
  for (let i = edits.length - 1; i >= 0; i--) {
    const e = edits[i];
    const lines = e.text.split("\n");
    const text = lines.slice(Math.max(0, e.line - EDIT_RADIUS), e.line + EDIT_RADIUS + 1).join("\n");
    if (used + text.length > editBudget) break;
    used += text.length;
    editSnippets.unshift({ path: e.path, languageId: e.languageId, text });
  }
  const picked = [...files]
    .sort((a, b) => Number(b.languageId === languageId) - Number(a.languageId === languageId) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .slice(0, MAX_FILES)
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const share = picked.length > 0 ? Math.floor((budgetChars - used) / picked.length) : 0;
  const fileSnippets = picked.map((f) => ({ path: f.path, languageId: f.languageId, text: headLines(f.text, share) })).filter((s) => s.text.trim() !== "");
  return [...fileSnippets, ...editSnippets];
}

/** The first whole lines of `text` that fit in `chars`. */
export function headLines(text: string, chars: number): string {
  if (text.length <= chars) return text.replace(/\s+$/, "");
  const cut = text.lastIndexOf("\n", chars);
  return cut <= 0 ? "" : text.slice(0, cut).replace(/\s+$/, "");
}
