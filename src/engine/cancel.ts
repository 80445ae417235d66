// One cancellation for a request, from the editor down to the forward pass: a 4-byte flag on a
// SharedArrayBuffer. The extension host sets it (a keystroke, Stop, a cancelled progress
// notification, leaving a stream early); the worker polls it (the scheduler before every step,
// the forward pass between layers, the loader after every tensor). A message could not do this:
// the worker computes synchronously and reads no message until a whole token or load is done.
// The scheduler sets it too, for a completion a newer one replaces. Listeners are for the thread
// that holds this object (ending a stream, waking a sleep); the other thread only polls.
// No imports: the client reaches this file through src/worker/protocol.ts.

/** What the engine polls: a CancelFlag, or a condition made of one (a pre-warm's preemption). */
export interface Cancellation {
  readonly cancelled: boolean;
}

export class CancelFlag implements Cancellation {
  private readonly cell: Int32Array;
  private listeners: Set<() => void> | undefined = new Set();

  /** A new flag, or a view of one another thread created (its `buffer` sent in a request). */
  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(4)) {
    this.cell = new Int32Array(buffer, 0, 1);
  }

  get cancelled(): boolean {
    return Atomics.load(this.cell, 0) !== 0;
  }

  /** Sets the flag (seen by every thread at once) and calls this side's listeners, once. */
  cancel(): void {
    Atomics.store(this.cell, 0, 1);
    const ls = this.listeners;
    if (!ls) return;
    this.listeners = undefined;
    for (const l of ls) l();
  }

  /** Calls `listener` when this object's cancel() runs (soon, if it already ran). */
  onCancel(listener: () => void): { dispose(): void } {
    const ls = this.listeners;
    if (!ls) {
      queueMicrotask(listener);
      return { dispose() {} };
    }
    ls.add(listener);
    return { dispose: () => ls.delete(listener) };
  }

  throwIfCancelled(message?: string): void {
    if (this.cancelled) throw new AbortError(message);
  }
}

/** A request ended because it was cancelled (on either side of the thread boundary). */
export class AbortError extends Error {
  override readonly name = "AbortError";
  constructor(message = "cancelled") {
    super(message);
  }
}

/** Whether `err` is a cancellation: an AbortError, also one that crossed the thread boundary by name. */
export function isAbort(err: unknown): boolean {
  return err instanceof Error && err.name === "AbortError";
}
