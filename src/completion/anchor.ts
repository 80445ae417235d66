// Where a suggestion was made: the document, all its text before the cursor, and the rest of the
// cursor's line. A later position "continues" an anchor when the user has only typed at the
// cursor since (the text before grew by some characters, the rest of the line is the same).

export interface Anchor {
  doc: string;
  before: string;
  lineAfter: string;
}

/** The text typed since `anchor` when `now` continues it, else undefined. */
export function typedSince(anchor: Anchor, now: Anchor): string | undefined {
  if (anchor.doc !== now.doc || anchor.lineAfter !== now.lineAfter) return undefined;
  if (now.before.length < anchor.before.length || !now.before.startsWith(anchor.before)) return undefined;
  return now.before.slice(anchor.before.length);
}

/** The part of `suggestion` still to show after `typed` was typed, if the typing followed it. */
export function remainderAfter(suggestion: string, typed: string): string | undefined {
  if (!suggestion.startsWith(typed)) return undefined;
  const rest = suggestion.slice(typed.length);
  return rest.trim() === "" ? undefined : rest;
}
