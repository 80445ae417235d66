// The one cancellation: a CancelFlag set on one thread is seen by a view of the same buffer on
// another (a real worker thread here, as the engine worker polls it), this side's listeners run
// once, and VS Code's tokens are bridged to it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Worker } from "node:worker_threads";
import { AbortError, CancelFlag, flagOf, isAbort, type CancellationTokenLike } from "../../src/client/cancellation.ts";

test("a flag set on another thread is seen here; one set here is seen there", async () => {
  const mine = new CancelFlag();
  const theirs = new CancelFlag();
  // The worker waits until `mine` is set, then sets `theirs` through its own view of the buffer.
  const worker = new Worker(
    `const { workerData } = require("node:worker_threads");
     const [mine, theirs] = workerData.map((b) => new Int32Array(b));
     Atomics.wait(mine, 0, 0, 10000);
     Atomics.store(theirs, 0, 1);`,
    { eval: true, workerData: [mine.buffer, theirs.buffer] },
  );
  const exited = new Promise((resolve) => worker.once("exit", resolve));
  assert.equal(theirs.cancelled, false);
  mine.cancel();
  Atomics.notify(new Int32Array(mine.buffer), 0);
  await exited;
  assert.equal(theirs.cancelled, true, "set by the worker thread");
});

test("listeners of this side run once, also when added after the cancel", async () => {
  const flag = new CancelFlag();
  let calls = 0;
  const kept = flag.onCancel(() => calls++);
  const dropped = flag.onCancel(() => assert.fail("disposed listener ran"));
  dropped.dispose();
  flag.cancel();
  flag.cancel();
  assert.equal(calls, 1);
  kept.dispose();
  let late = false;
  flag.onCancel(() => (late = true));
  await Promise.resolve();
  assert.equal(late, true, "a listener added after the cancel runs soon");
  assert.throws(() => flag.throwIfCancelled("load cancelled"), (err: Error) => err instanceof AbortError && isAbort(err) && err.message === "load cancelled");
});

test("flagOf follows a VS Code cancellation token, also one already cancelled", () => {
  let fire: () => unknown = () => {};
  const token: CancellationTokenLike = {
    isCancellationRequested: false,
    onCancellationRequested: (l) => ((fire = l), { dispose() {} }),
  };
  const flag = flagOf(token);
  assert.equal(flag.cancelled, false);
  fire();
  assert.equal(flag.cancelled, true);
  assert.equal(flagOf({ isCancellationRequested: true, onCancellationRequested: () => assert.fail("not needed") }).cancelled, true);
});
