// Writes the prefixes requests left in their slots to the prefix cache on disk, when the worker
// has been idle for a while: never while a request is queued or running, so writing never
// delays a keystroke (a save that a request interrupts anyway, by rewriting the slot, gives up;
// see PrefixCache.save). Only the newest state of each slot is written.
import type { Slot } from "./protocol.ts";

export interface SaveTarget {
  slot: Slot;
  document?: string;
}

export interface IdleSaverDeps {
  /** Writes the slot's first `n` positions; resolves to whether a file was written. */
  save(at: SaveTarget, n: number): Promise<boolean>;
  /** Whether any request is queued or running. */
  busy(): boolean;
  log?: (message: string) => void;
  /** Idle time before writing (default 1 s: a typing pause, not the gap between two keys). */
  delayMs?: number;
}

export class IdleSaver {
  private readonly dirty = new Map<string, { at: SaveTarget; n: number }>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly deps: IdleSaverDeps) {}

  /** A request finished: its slot's first `n` positions are worth keeping. Restarts the idle wait. */
  note(at: SaveTarget, n: number): void {
    this.dirty.set(`${at.slot}\0${at.document ?? ""}`, { at, n });
    this.poke();
  }

  /** Activity: the idle wait starts again. */
  poke(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.dirty.size === 0) return;
    this.timer = setTimeout(() => this.fire(), this.deps.delayMs ?? 1000);
    this.timer.unref?.();
  }

  /** Writes everything noted now (tests, and before a model is unloaded). */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const todo = [...this.dirty.values()];
    this.dirty.clear();
    const run = this.writing.then(async () => {
      for (const { at, n } of todo) {
        const t0 = performance.now();
        if (await this.deps.save(at, n)) {
          this.deps.log?.(`prefix cache: saved ${n} tokens of ${at.slot}${at.document ? ` (${at.document})` : ""} in ${(performance.now() - t0).toFixed(0)} ms`);
        }
      }
    });
    this.writing = run.catch(() => {});
    await run;
  }

  /** Forgets what was noted (a model unload: the slots go away). */
  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.dirty.clear();
  }

  private fire(): void {
    this.timer = undefined;
    if (this.deps.busy()) return this.poke();
    void this.flush();
  }
}
