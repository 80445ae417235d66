// The worker's scheduler with a fake engine whose every step is logged: completion before chat,
// a chat generation yielding between tokens to a completion, a new completion cancelling older
// ones (pending: without touching the engine; running: between tokens), cancel by id, errors
// delivered to their own request only, drain cancelling everything.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Scheduler, type GeneratingEngine, type JobSink } from "../../src/worker/scheduler.ts";
import type { GenerateChunk, GenerateStats } from "../../src/engine/session.ts";
import type { EngineGenerateRequest } from "../../src/engine/engine.ts";
import type { GenerateParams } from "../../src/worker/protocol.ts";

/** An engine that "generates" `maxTokens` tokens named after the prompt, logging each step. */
class FakeEngine implements GeneratingEngine {
  readonly log: string[] = [];
  readonly started: string[] = [];

  async *generate(req: EngineGenerateRequest): AsyncGenerator<GenerateChunk, GenerateStats> {
    const name = String(req.prompt);
    this.started.push(name);
    if (name.startsWith("fail")) throw new Error(`engine failure in ${name}`);
    const stats: GenerateStats = { promptTokens: 1, reusedTokens: 0, restoredTokens: 0, evaluatedTokens: 1, generatedTokens: 0, promptMs: 0, generateMs: 0, stopReason: "length" };
    for (let i = 0; i < (req.maxTokens ?? 5); i++) {
      // Like the real session: the signal is checked between tokens.
      if (req.signal?.aborted) return { ...stats, stopReason: "cancelled" };
      await new Promise((r) => setImmediate(r));
      this.log.push(`${name}${i}`);
      stats.generatedTokens++;
      yield { text: `${name}${i} `, token: i };
    }
    return stats;
  }
}

interface Outcome {
  text: string;
  stats?: GenerateStats;
  error?: Error;
}

function run(s: Scheduler, id: number, params: GenerateParams, onDelta?: (n: number) => void): { outcome: Outcome; finished: Promise<Outcome> } {
  const outcome: Outcome = { text: "" };
  let deltas = 0;
  const finished = new Promise<Outcome>((resolve) => {
    const sink: JobSink = {
      delta: (text) => {
        outcome.text += text;
        onDelta?.(++deltas);
      },
      done: (stats) => resolve(Object.assign(outcome, { stats })),
      error: (err) => resolve(Object.assign(outcome, { error: err as Error })),
    };
    s.submit(id, params, sink);
  });
  return { outcome, finished };
}

test("a completion runs between two tokens of a running chat, each to its end", async () => {
  const engine = new FakeEngine();
  const s = new Scheduler(engine);
  let completion: Promise<Outcome> | undefined;
  const chat = run(s, 1, { slot: "chat", prompt: "c", maxTokens: 6 }, (n) => {
    if (n === 2) completion = run(s, 2, { slot: "completion", prompt: "k", maxTokens: 3 }).finished;
  });
  const c = await chat.finished;
  const k = await completion!;
  assert.deepEqual(engine.log, ["c0", "c1", "k0", "k1", "k2", "c2", "c3", "c4", "c5"]);
  assert.equal(c.text, "c0 c1 c2 c3 c4 c5 ");
  assert.equal(k.text, "k0 k1 k2 ");
  assert.equal(c.stats?.stopReason, "length");
  assert.equal(k.stats?.stopReason, "length");
});

test("completions go before chats queued earlier", async () => {
  const engine = new FakeEngine();
  const s = new Scheduler(engine);
  const chat = run(s, 1, { slot: "chat", prompt: "c", maxTokens: 2 });
  const comp = run(s, 2, { slot: "completion", prompt: "k", maxTokens: 2 });
  await Promise.all([chat.finished, comp.finished]);
  assert.deepEqual(engine.log, ["k0", "k1", "c0", "c1"]);
});

test("a new completion cancels the running one between tokens", async () => {
  const engine = new FakeEngine();
  const s = new Scheduler(engine);
  let second: Promise<Outcome> | undefined;
  const first = run(s, 1, { slot: "completion", prompt: "a", maxTokens: 100 }, (n) => {
    if (n === 2) second = run(s, 2, { slot: "completion", prompt: "b", maxTokens: 3 }).finished;
  });
  const a = await first.finished;
  const b = await second!;
  assert.equal(a.stats?.stopReason, "cancelled");
  assert.equal(a.text, "a0 a1 ", "no delta of the cancelled completion after the cancel");
  assert.equal(b.stats?.stopReason, "length");
  assert.equal(b.text, "b0 b1 b2 ");
  assert.ok(engine.log.length <= 6, `the cancelled completion stopped at once: ${engine.log}`);
});

test("a pending completion replaced before it started never reaches the engine", async () => {
  const engine = new FakeEngine();
  const s = new Scheduler(engine);
  const a = run(s, 1, { slot: "completion", prompt: "a", maxTokens: 3 });
  const b = run(s, 2, { slot: "completion", prompt: "b", maxTokens: 3 });
  const c = run(s, 3, { slot: "completion", prompt: "c", maxTokens: 3 });
  const [ra, rb, rc] = await Promise.all([a.finished, b.finished, c.finished]);
  assert.equal(ra.stats?.stopReason, "cancelled");
  assert.equal(rb.stats?.stopReason, "cancelled");
  assert.equal(rc.stats?.stopReason, "length");
  assert.deepEqual(engine.started, ["c"]);
});

test("a new completion does not cancel a chat", async () => {
  const engine = new FakeEngine();
  const s = new Scheduler(engine);
  const chat = run(s, 1, { slot: "chat", prompt: "c", maxTokens: 3 });
  const k1 = run(s, 2, { slot: "completion", prompt: "k", maxTokens: 1 });
  const k2 = run(s, 3, { slot: "completion", prompt: "m", maxTokens: 1 });
  const [c, , m] = await Promise.all([chat.finished, k1.finished, k2.finished]);
  assert.equal(c.stats?.stopReason, "length");
  assert.equal(c.text, "c0 c1 c2 ");
  assert.equal(m.text, "m0 ");
});

test("cancel(id) stops a running chat between tokens; other requests go on", async () => {
  const engine = new FakeEngine();
  const s = new Scheduler(engine);
  const chat = run(s, 7, { slot: "chat", prompt: "c", maxTokens: 1000 }, (n) => n === 3 && s.cancel(7));
  const r = await chat.finished;
  assert.equal(r.stats?.stopReason, "cancelled");
  assert.equal(r.text, "c0 c1 c2 ");
  s.cancel(12345); // unknown ids are ignored
  const after = await run(s, 8, { slot: "chat", prompt: "d", maxTokens: 2 }).finished;
  assert.equal(after.text, "d0 d1 ");
});

test("an engine error fails only its own request", async () => {
  const engine = new FakeEngine();
  const s = new Scheduler(engine);
  const bad = run(s, 1, { slot: "completion", prompt: "fail-1", maxTokens: 2 });
  const good = run(s, 2, { slot: "chat", prompt: "g", maxTokens: 2 });
  const [b, g] = await Promise.all([bad.finished, good.finished]);
  assert.match(b.error?.message ?? "", /engine failure in fail-1/);
  assert.equal(g.text, "g0 g1 ");
  assert.equal(s.size, 0);
});

test("drain cancels every request and returns once no step runs", async () => {
  const engine = new FakeEngine();
  const s = new Scheduler(engine);
  const a = run(s, 1, { slot: "chat", prompt: "a", maxTokens: 1000 });
  const b = run(s, 2, { slot: "chat", prompt: "b", maxTokens: 1000 });
  await new Promise((r) => setImmediate(r));
  await s.drain();
  const [ra, rb] = await Promise.all([a.finished, b.finished]);
  assert.equal(ra.stats?.stopReason, "cancelled");
  assert.equal(rb.stats?.stopReason, "cancelled");
  assert.equal(s.size, 0);
});
