// The idle saver: prefixes are written only after the worker has been idle for its delay, never
// while a request is queued or running, and only the newest state of each slot. Fake timers
// (node:test's mock.timers): the delays are logic here, and a loaded machine must not flip them.
import { test, mock } from "node:test";
import assert from "node:assert/strict";
import { IdleSaver, type SaveTarget } from "../../src/worker/idle-saver.ts";

/** Advances the fake clock by `ms` and lets the saves it started run. */
async function elapse(ms: number): Promise<void> {
  mock.timers.tick(ms);
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

test("writes the newest state of each slot once the worker is idle, and never while it is busy", async (t) => {
  mock.timers.enable({ apis: ["setTimeout"] });
  t.after(() => mock.timers.reset());
  const saved: string[] = [];
  let busy = false;
  const saver = new IdleSaver({ save: async (at: SaveTarget, n) => (saved.push(`${at.slot}:${at.document ?? ""}:${n}`), true), busy: () => busy, delayMs: 30 });
  saver.note({ slot: "completion", document: "a.ts" }, 100);
  saver.note({ slot: "completion", document: "a.ts" }, 120); // newer state of the same slot
  saver.note({ slot: "chat" }, 50);
  await elapse(10);
  assert.deepEqual(saved, [], "not before the idle delay");
  busy = true;
  await elapse(40);
  assert.deepEqual(saved, [], "not while a request runs");
  busy = false;
  await elapse(40);
  assert.deepEqual(saved, ["completion:a.ts:120", "chat::50"]);
  await elapse(100);
  assert.equal(saved.length, 2, "written once");
});

test("activity restarts the idle wait; clear forgets what was noted", async (t) => {
  mock.timers.enable({ apis: ["setTimeout"] });
  t.after(() => mock.timers.reset());
  const saved: number[] = [];
  const saver = new IdleSaver({ save: async (_at, n) => (saved.push(n), true), busy: () => false, delayMs: 30 });
  saver.note({ slot: "completion" }, 1);
  for (let i = 0; i < 4; i++) {
    await elapse(15);
    saver.poke();
  }
  assert.deepEqual(saved, []);
  await elapse(30);
  assert.deepEqual(saved, [1]);
  saver.note({ slot: "completion" }, 2);
  saver.clear();
  await elapse(50);
  assert.deepEqual(saved, [1]);
});
