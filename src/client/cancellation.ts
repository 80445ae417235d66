// The part of VS Code's CancellationToken the client needs, so the client runs (and is tested)
// without the `vscode` module. A real vscode.CancellationToken satisfies it as is.
export interface CancellationLike {
  readonly isCancellationRequested: boolean;
  onCancellationRequested(listener: () => unknown): { dispose(): unknown };
}

/** A token source for plain node (tests, the CLI): same shape as vscode.CancellationTokenSource. */
export class CancellationSource {
  private readonly listeners = new Set<() => unknown>();
  private cancelled = false;
  readonly token: CancellationLike;

  constructor() {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the token object is not a class
    const source = this;
    this.token = {
      get isCancellationRequested() {
        return source.cancelled;
      },
      onCancellationRequested(listener) {
        if (source.cancelled) {
          queueMicrotask(() => listener());
          return { dispose() {} };
        }
        source.listeners.add(listener);
        return { dispose: () => source.listeners.delete(listener) };
      },
    };
  }

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    for (const l of [...this.listeners]) l();
    this.listeners.clear();
  }
}
