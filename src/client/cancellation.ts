// Cancellation on the extension host's side: the request's CancelFlag (src/engine/cancel.ts,
// reached through the protocol), and the one bridge from VS Code's CancellationToken to it, so
// the client runs (and is tested) without the `vscode` module.
import { CancelFlag } from "../worker/protocol.ts";

export { AbortError, CancelFlag, isAbort } from "../worker/protocol.ts";

/** The part of vscode.CancellationToken the bridge needs (a real token satisfies it as is). */
export interface CancellationTokenLike {
  readonly isCancellationRequested: boolean;
  onCancellationRequested(listener: () => unknown): { dispose(): unknown };
}

/** A flag set when `token` fires (already set if it has). */
export function flagOf(token: CancellationTokenLike): CancelFlag {
  const flag = new CancelFlag();
  if (token.isCancellationRequested) flag.cancel();
  else token.onCancellationRequested(() => flag.cancel());
  return flag;
}
