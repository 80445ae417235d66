// What a document's completion prompt depends on besides its text, kept across a window reload
// in the workspace state: the split point of each recently used document (split-point.ts), its
// window size (prompt-budget.ts) and the characters-per-token ratio the windows are cut with
// (tokens.ts). The worker keeps the prompts' keys and values on disk, but a reloaded window that
// cut the first prompt elsewhere (a new split at the cursor puts the typed text before the FIM
// suffix; another ratio or window size moves the prefix window's start) would share only part of
// its tokens with what was saved, and evaluate the rest again.
import { createHash } from "node:crypto";
import type { Anchor } from "./anchor.ts";
import { setRecent } from "./recent.ts";

/** The part of vscode.Memento used (the extension's workspace state; a Map-backed fake in tests). */
export interface Memento {
  get<T>(key: string): T | undefined;
  update(key: string, value: unknown): PromiseLike<void>;
}

/** A split point without its text: where it was, a hash of the text before it, the rest of its line. */
export interface SavedSplit {
  length: number;
  hash: string;
  lineAfter: string;
}

const SPLITS_KEY = "hearth.completion.splits";
const RATIOS_KEY = "hearth.completion.charsPerToken";
const WINDOWS_KEY = "hearth.completion.windows";
/** Documents whose split point, window and version are remembered (more than the worker keeps KV slots for). */
export const REMEMBERED_DOCUMENTS = 16;

export class PromptMemory {
  constructor(private readonly store: Memento | undefined) {}

  split(doc: string): SavedSplit | undefined {
    return this.store?.get<Record<string, SavedSplit>>(SPLITS_KEY)?.[doc];
  }

  saveSplit(anchor: Anchor): void {
    if (!this.store) return;
    this.savePerDocument(SPLITS_KEY, anchor.doc, { length: anchor.before.length, hash: hashText(anchor.before), lineAfter: anchor.lineAfter });
  }

  /** The window (tokens in all) `doc`'s slot was last filled with. */
  window(doc: string): number | undefined {
    return this.store?.get<Record<string, number>>(WINDOWS_KEY)?.[doc];
  }

  saveWindow(doc: string, tokens: number): void {
    if (this.window(doc) !== tokens) this.savePerDocument(WINDOWS_KEY, doc, tokens);
  }

  /** Sets `doc`'s entry under `key`, most recent last, forgetting all but the most recent documents. */
  private savePerDocument(key: string, doc: string, value: unknown): void {
    if (!this.store) return;
    const all = new Map(Object.entries(this.store.get<Record<string, unknown>>(key) ?? {}));
    setRecent(all, doc, value, REMEMBERED_DOCUMENTS);
    void this.store.update(key, Object.fromEntries(all));
  }

  ratio(model: string): number | undefined {
    return this.store?.get<Record<string, number>>(RATIOS_KEY)?.[model];
  }

  saveRatio(model: string, charsPerToken: number): void {
    if (!this.store || this.ratio(model) === charsPerToken) return;
    void this.store.update(RATIOS_KEY, { ...this.store.get<Record<string, number>>(RATIOS_KEY), [model]: charsPerToken });
  }
}

/** The saved split as an anchor in the document as it is `now`, if the text before it is unchanged. */
export function revive(saved: SavedSplit, now: Anchor): Anchor | undefined {
  if (now.before.length < saved.length) return undefined;
  const before = now.before.slice(0, saved.length);
  return hashText(before) === saved.hash ? { doc: now.doc, before, lineAfter: saved.lineAfter } : undefined;
}

function hashText(text: string): string {
  return createHash("sha256").update(text).digest("base64");
}
