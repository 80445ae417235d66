// The idle saver: prefixes are written only after the worker has been idle for its delay, never
// while a request is queued or running, and only the newest state of each slot.
import { test } from "node:test";
import assert from "node:assert/strict";
import { IdleSaver, type SaveTarget } from "../../src/worker/idle-saver.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("writes the newest state of each slot once the worker is idle, and never while it is busy", async () => {
  const saved: string[] = [];
  let busy = false;
  const saver = new IdleSaver({ save: async (at: SaveTarget, n) => (saved.push(`${at.slot}:${at.document ?? ""}:${n}`), true), busy: () => busy, delayMs: 30 });
  saver.note({ slot: "completion", document: "a.ts" }, 100);
  saver.note({ slot: "completion", document: "a.ts" }, 120); // newer state of the same slot
  saver.note({ slot: "chat" }, 50);
  await sleep(10);
  assert.deepEqual(saved, [], "not before the idle delay");
  busy = true;
  await sleep(40);
  assert.deepEqual(saved, [], "not while a request runs");
  busy = false;
  await sleep(50);
  assert.deepEqual(saved, ["completion:a.ts:120", "chat::50"]);
  await sleep(50);
  assert.equal(saved.length, 2, "written once");
});

test("activity restarts the idle wait; clear forgets what was noted", async () => {
  const saved: number[] = [];
  const saver = new IdleSaver({ save: async (_at, n) => (saved.push(n), true), busy: () => false, delayMs: 30 });
  saver.note({ slot: "completion" }, 1);
  for (let i = 0; i < 4; i++) {
    await sleep(15);
    saver.poke();
  }
  assert.deepEqual(saved, []);
  await sleep(50);
  assert.deepEqual(saved, [1]);
  saver.note({ slot: "completion" }, 2);
  saver.clear();
  await sleep(50);
  assert.deepEqual(saved, [1]);
});
