// A completion generation's status as the text streams in: waiting → streaming → done, the rules
// ending it (stopping → done, the engine told to stop), a cancel from outside (cancelling →
// cancelled: the text may end anywhere, so the unterminated line never shows), and a failure.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { RequestOptions } from "../../src/client/engine-client.ts";
import { DeltaStream } from "../../src/client/stream.ts";
import { StreamingGeneration } from "../../src/completion/generation.ts";
import type { PostContext } from "../../src/completion/postprocess.ts";
import type { GenerateParams, GenerateStats } from "../../src/worker/protocol.ts";

const STATS: GenerateStats = { promptTokens: 10, reusedTokens: 0, restoredTokens: 0, evaluatedTokens: 10, generatedTokens: 3, promptMs: 1, generateMs: 1, stopReason: "eog" };

/** An engine that stops only when told to end (as the worker does: a cancel lands between two layers). */
function engine() {
  const stream = new DeltaStream(() => {});
  let settle!: (s: GenerateStats) => void;
  let fail!: (e: unknown) => void;
  const stats = new Promise<GenerateStats>((res, rej) => ((settle = res), (fail = rej)));
  const e = {
    cancelSeen: false,
    push: (t: string) => stream.push(t),
    end: (stopReason: GenerateStats["stopReason"] = "eog") => (stream.end(), settle({ ...STATS, stopReason })),
    fail: (err: Error) => (stream.fail(err), fail(err)),
    client: {
      generate(_params: GenerateParams, options?: RequestOptions) {
        options?.cancel?.onCancel(() => (e.cancelSeen = true));
        return Object.assign(stream, { stats });
      },
    },
  };
  return e;
}

const MULTI: PostContext = { lineBefore: "function f() {", lineAfter: "", nextLines: [], maxLines: 8 };
const tick = () => new Promise((r) => setImmediate(r));
const start = (e: ReturnType<typeof engine>) => new StreamingGeneration((o) => e.client.generate({ slot: "completion", prompt: "p" }, o), { doc: "d", before: "function f() {", lineAfter: "" }, MULTI, 1);

test("waiting → streaming → done: a finished generation's last line counts, though no newline ended it", async () => {
  const e = engine();
  const g = start(e);
  assert.equal(g.status, "waiting");
  e.push("\n  return 1;\n  x");
  await tick();
  assert.equal(g.status, "streaming");
  assert.equal(g.view().text, "\n  return 1;", "while streaming: complete lines only");
  e.push("();");
  e.end();
  assert.equal((await g.done)?.stopReason, "eog");
  assert.equal(g.status, "done");
  assert.equal(g.complete, true);
  assert.equal(g.view().text, "\n  return 1;\n  x();");
});

test("the rules ending the suggestion stop the engine, and the text is the whole suggestion (stopping → done)", async () => {
  const e = engine();
  const g = start(e);
  e.push("\n  return 1;\n}\nconst after = 1;\n");
  await tick();
  assert.equal(g.status, "stopping");
  assert.equal(e.cancelSeen, true, "more tokens would be wasted work");
  assert.equal(g.running, false);
  e.end("cancelled");
  await g.done;
  assert.equal(g.status, "done");
  assert.equal(g.complete, true);
  assert.equal(g.view().text, "\n  return 1;\n}");
});

test("cancelled from outside (cancelling → cancelled): the unterminated line never shows, text that comes late changes nothing", async () => {
  const e = engine();
  const g = start(e);
  e.push("\n  a();\n  b");
  await tick();
  g.cancel();
  assert.equal(g.status, "cancelling");
  assert.equal(g.running, false);
  assert.equal(e.cancelSeen, true);
  e.push("();"); // the engine was between two layers
  e.end("cancelled");
  await g.done;
  assert.equal(g.status, "cancelled");
  assert.equal(g.complete, false);
  assert.equal(g.view().text, "\n  a();", "'  b();' came after the cancel: not known to be complete");
  g.cancel();
  assert.equal(g.status, "cancelled", "a second cancel changes nothing");
});

test("a failed request: failed, no stats, the error kept", async () => {
  const e = engine();
  const g = start(e);
  e.push("\n  a");
  await tick();
  e.fail(new Error("worker died"));
  assert.equal(await g.done, undefined);
  assert.equal(g.status, "failed");
  assert.equal((g.error as Error).message, "worker died");
  assert.equal(g.isDone, true);
});
