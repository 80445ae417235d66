// Changing the thread count of a running pool: a pool made with 3 threads, set to 1, 3, 2, 1 in
// turn, returns from every product with the bytes a 1-thread pool gives. (setThreads(2) on a
// 3-thread pool once never returned: the caller waited for 1 helper while both checked in.) The
// products run in a child process with a timeout, so a deadlock fails the test instead of hanging it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";

const SCRIPT = join(__dirname, "..", "helpers", "pool-resize.ts");

function run(sequence: number[]): { threads: number; q4k: string; q50: string }[] {
  const r = spawnSync(process.execPath, ["--import", "tsx", SCRIPT, ...sequence.map(String)], { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.error, undefined, `the pool did not finish within 60 s (deadlock?): ${r.error?.message}`);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

test("setThreads up and down (1 → 3 → 2 → 1) on a 3-thread pool: every product returns, equal to 1 thread", () => {
  const [reference] = run([1]);
  const steps = run([1, 3, 2, 1]);
  assert.deepEqual(
    steps.map((s) => s.threads),
    [1, 3, 2, 1],
  );
  for (const s of steps) {
    assert.equal(s.q4k, reference.q4k, `Q4_K product at ${s.threads} threads`);
    assert.equal(s.q50, reference.q50, `Q5_0 product at ${s.threads} threads`);
  }
});
