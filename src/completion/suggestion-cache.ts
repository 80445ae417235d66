// Recent suggestions, most recent last (a Map keeps insertion order: re-inserting on use makes
// it an LRU). A lookup finds a suggestion whose anchor the cursor continues with typed text that
// matches the suggestion's start, and returns the rest: typing along a shown suggestion, or
// deleting back to where one was shown, needs no request.
import { remainderAfter, typedSince, type Anchor } from "./anchor.ts";
import { setRecent } from "./recent.ts";

interface Entry {
  anchor: Anchor;
  text: string;
}

export class SuggestionCache {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly capacity = 64) {}

  get size(): number {
    return this.entries.size;
  }

  set(anchor: Anchor, text: string): void {
    if (!text) return;
    setRecent(this.entries, keyOf(anchor), { anchor, text }, this.capacity);
  }

  /** The rest of a cached suggestion for the cursor at `now`, if any (newest match first). */
  get(now: Anchor): string | undefined {
    const exact = this.entries.get(keyOf(now));
    if (exact && exact.anchor.before === now.before) return this.touch(keyOf(now), exact, exact.text);
    const all = [...this.entries];
    for (let i = all.length - 1; i >= 0; i--) {
      const [key, e] = all[i];
      if (now.before.length - e.anchor.before.length > e.text.length) continue;
      const typed = typedSince(e.anchor, now);
      if (typed === undefined) continue;
      const rest = remainderAfter(e.text, typed);
      if (rest !== undefined) return this.touch(key, e, rest);
    }
    return undefined;
  }

  clear(): void {
    this.entries.clear();
  }

  private touch(key: string, e: Entry, result: string): string {
    this.entries.delete(key);
    this.entries.set(key, e);
    return result;
  }
}

/** The exact-position key: the document and its text around the cursor (the before-text can be long: its length and tail stand for it). */
function keyOf(a: Anchor): string {
  return `${a.doc}\u0000${a.before.length}\u0000${a.before.slice(-256)}\u0000${a.lineAfter}`;
}
