// The kernels' thread pool. Changing the thread count of a running pool: a pool made with 3
// threads, set to 1, 3, 2, 1 in turn, returns from every product and attention with the bytes a
// 1-thread pool gives. (setThreads(2) on a 3-thread pool once never returned: the caller waited
// for 1 helper while both checked in.) A helper that never comes (descheduled on a busy machine, for good)
// does not hold the caller up: it does the work alone and stops announcing tasks to it. The
// products run in child processes with a timeout, so a deadlock fails a test instead of hanging it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";

const helper = (name: string): string => join(__dirname, "..", "helpers", name);

function runScript<T>(script: string, args: string[] = []): T {
  const r = spawnSync(process.execPath, ["--import", "tsx", script, ...args], { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.error, undefined, `the pool did not finish within 60 s (deadlock?): ${r.error?.message}`);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as T;
}

function run(sequence: number[]): { threads: number; q4k: string; q50: string; attn: string }[] {
  return runScript(helper("pool-resize.ts"), sequence.map(String));
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
    assert.equal(s.attn, reference.attn, `attention at ${s.threads} threads`);
  }
});

test("a helper that never arrives: the caller computes every product and attention alone (same bytes) and stops announcing to it", () => {
  const r = runScript<{ alone: string; absent: string[]; stats: { tasks: number; solo: number; helperShares: number }; attnAlone: string; attnAbsent: string }>(
    helper("pool-absent-helper.ts"),
  );
  assert.equal(r.absent.length, 40);
  for (const [i, bytes] of r.absent.entries()) assert.equal(bytes, r.alone, `product ${i} with the helper absent`);
  assert.equal(r.stats.helperShares, 0);
  // Each product is two parallel tasks (quantising the activations, the product); after 32 late
  // tasks in a row the caller runs tasks alone without announcing them.
  assert.equal(r.stats.tasks, 80);
  assert.ok(r.stats.solo > 0, `solo tasks ${r.stats.solo}`);
  assert.equal(r.attnAbsent, r.attnAlone, "attention with the helper absent");
});
