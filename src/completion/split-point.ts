// Where the prompt's prefix ends while the user types. A FIM prompt is prefix, suffix, then the
// middle marker; text typed at the cursor would normally extend the prefix, which moves the suffix
// and forces the engine to re-evaluate all of it (and the marker) on every keystroke. Instead the
// prefix ends where this run of typing began (the split), and what was typed since goes after the
// middle marker: the model is asked for a middle that starts with it, which is the same
// fill-in-the-middle task it was trained on. Everything before the typed text then stays the same
// from keystroke to keystroke, so the KV cache holds it and only the new tokens are evaluated.
// The split also pins the prefix window, which would otherwise slide with the cursor.
// A new split is taken when the user does anything but type at the cursor (a move, a deletion
// past the split, a change to the rest of the line) or typed more than `maxTyped` characters.
import { typedSince, type Anchor } from "./anchor.ts";
import { revive, type SavedSplit } from "./prompt-memory.ts";

export interface Split {
  /** The split's position in the current document (the text before it has not changed). */
  line: number;
  character: number;
  /** What was typed between the split and the cursor ("" at a new split). */
  typed: string;
}

export class SplitPoint {
  private anchor: Anchor | undefined;

  /**
   * `saved`: the document's split from before a window reload (prompt-memory.ts), taken up if the
   * text before it is unchanged; `onNew` hears every new split (to save it).
   */
  constructor(
    private saved?: SavedSplit,
    private readonly onNew?: (anchor: Anchor) => void,
  ) {}

  /** The split for a request at `now`: the current one if `now` continues it, else a new one at `now`. */
  place(now: Anchor, maxTyped: number): Split {
    if (!this.anchor && this.saved) this.anchor = revive(this.saved, now);
    this.saved = undefined;
    const typed = this.anchor && typedSince(this.anchor, now);
    if (typed === undefined || typed.length > maxTyped) {
      this.anchor = now;
      this.onNew?.(now);
      return { ...positionOf(now.before), typed: "" };
    }
    return { ...positionOf(this.anchor!.before), typed };
  }
}

/** Line and character of the end of `before` (all the text before a position). */
export function positionOf(before: string): { line: number; character: number } {
  let line = 0;
  for (let i = before.indexOf("\n"); i >= 0; i = before.indexOf("\n", i + 1)) line++;
  return { line, character: before.length - before.lastIndexOf("\n") - 1 };
}
