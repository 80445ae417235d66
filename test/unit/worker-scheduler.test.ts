// The worker's scheduler with a fake engine whose every step is logged: completion before chat,
// a chat generation yielding between tokens to a completion, a new completion cancelling older
// ones (pending: without touching the engine; running: between tokens), a request's own cancel
// flag, errors delivered to their own request only, drain cancelling everything; pre-warms at idle
// priority, preempted between two layers by any user request, resumed from their finished batches.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Scheduler, type GeneratingEngine, type JobSink } from "../../src/worker/scheduler.ts";
import type { GenerateChunk, GenerateStats, WarmStats } from "../../src/engine/session.ts";
import type { EngineGenerateRequest } from "../../src/engine/engine.ts";
import { CancelFlag, type GenerateParams, type WarmParams } from "../../src/worker/protocol.ts";
import type { Cancellation } from "../../src/engine/cancel.ts";

const LAYERS = 4;

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
      // Like the real session: the flag is polled between tokens.
      if (req.cancel?.cancelled) return { ...stats, stopReason: "cancelled" };
      await new Promise((r) => setImmediate(r));
      this.log.push(`${name}${i}`);
      stats.generatedTokens++;
      yield { text: `${name}${i} `, token: i };
    }
    return stats;
  }

  /** Batches done per document: a warm resumes after them, as the real slot keeps them. */
  readonly warmed = new Map<string, number>();

  /** "Evaluates" `prompt` = "name:batches", one batch per event-loop turn of LAYERS layers each. */
  async warm(req: WarmParams, cancel: Cancellation): Promise<WarmStats> {
    const [name, n] = String(req.prompt).split(":");
    const key = req.document ?? "";
    const from = this.warmed.get(key) ?? 0;
    for (let b = from; b < Number(n); b++) {
      for (let l = 0; l < LAYERS; l++) {
        if (cancel.cancelled) throw Object.assign(new Error("cancelled"), { name: "AbortError" });
        this.log.push(`${name}.b${b}.l${l}`);
      }
      this.warmed.set(key, b + 1);
      await new Promise((r) => setImmediate(r));
    }
    return { promptTokens: Number(n), reusedTokens: from, restoredTokens: 0, evaluatedTokens: Number(n) - from, promptMs: 0 };
  }
}

function warm(s: Scheduler, params: WarmParams) {
  return new Promise<{ stats?: WarmStats & { preemptions: number }; error?: Error }>((resolve) => s.warm(params, { done: (stats) => resolve({ stats }), error: (e) => resolve({ error: e as Error }) }));
}

interface Outcome {
  text: string;
  stats?: GenerateStats;
  error?: Error;
}

function run(s: Scheduler, params: GenerateParams, onDelta?: (n: number) => void, cancel?: CancelFlag): { outcome: Outcome; finished: Promise<Outcome> } {
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
    s.submit(params, sink, cancel);
  });
  return { outcome, finished };
}

test("a completion runs between two tokens of a running chat, each to its end", async () => {
  const engine = new FakeEngine();
  const s = new Scheduler(engine);
  let completion: Promise<Outcome> | undefined;
  const chat = run(s, { slot: "chat", prompt: "c", maxTokens: 6 }, (n) => {
    if (n === 2) completion = run(s, { slot: "completion", prompt: "k", maxTokens: 3 }).finished;
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
  const chat = run(s, { slot: "chat", prompt: "c", maxTokens: 2 });
  const comp = run(s, { slot: "completion", prompt: "k", maxTokens: 2 });
  await Promise.all([chat.finished, comp.finished]);
  assert.deepEqual(engine.log, ["k0", "k1", "c0", "c1"]);
});

test("a new completion cancels the running one between tokens", async () => {
  const engine = new FakeEngine();
  const s = new Scheduler(engine);
  let second: Promise<Outcome> | undefined;
  const first = run(s, { slot: "completion", prompt: "a", maxTokens: 100 }, (n) => {
    if (n === 2) second = run(s, { slot: "completion", prompt: "b", maxTokens: 3 }).finished;
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
  const a = run(s, { slot: "completion", prompt: "a", maxTokens: 3 });
  const b = run(s, { slot: "completion", prompt: "b", maxTokens: 3 });
  const c = run(s, { slot: "completion", prompt: "c", maxTokens: 3 });
  const [ra, rb, rc] = await Promise.all([a.finished, b.finished, c.finished]);
  assert.equal(ra.stats?.stopReason, "cancelled");
  assert.equal(rb.stats?.stopReason, "cancelled");
  assert.equal(rc.stats?.stopReason, "length");
  assert.deepEqual(engine.started, ["c"]);
});

test("a new completion does not cancel a chat", async () => {
  const engine = new FakeEngine();
  const s = new Scheduler(engine);
  const chat = run(s, { slot: "chat", prompt: "c", maxTokens: 3 });
  const k1 = run(s, { slot: "completion", prompt: "k", maxTokens: 1 });
  const k2 = run(s, { slot: "completion", prompt: "m", maxTokens: 1 });
  const [c, , m] = await Promise.all([chat.finished, k1.finished, k2.finished]);
  assert.equal(c.stats?.stopReason, "length");
  assert.equal(c.text, "c0 c1 c2 ");
  assert.equal(m.text, "m0 ");
});

test("a request's cancel flag stops a running chat between tokens; other requests go on", async () => {
  const engine = new FakeEngine();
  const s = new Scheduler(engine);
  const cancel = new CancelFlag();
  const chat = run(s, { slot: "chat", prompt: "c", maxTokens: 1000 }, (n) => n === 3 && cancel.cancel(), cancel);
  const r = await chat.finished;
  assert.equal(r.stats?.stopReason, "cancelled");
  assert.equal(r.text, "c0 c1 c2 ");
  cancel.cancel(); // cancelling a finished request changes nothing
  const after = await run(s, { slot: "chat", prompt: "d", maxTokens: 2 }).finished;
  assert.equal(after.text, "d0 d1 ");
});

test("an engine error fails only its own request", async () => {
  const engine = new FakeEngine();
  const s = new Scheduler(engine);
  const bad = run(s, { slot: "completion", prompt: "fail-1", maxTokens: 2 });
  const good = run(s, { slot: "chat", prompt: "g", maxTokens: 2 });
  const [b, g] = await Promise.all([bad.finished, good.finished]);
  assert.match(b.error?.message ?? "", /engine failure in fail-1/);
  assert.equal(g.text, "g0 g1 ");
  assert.equal(s.size, 0);
});

test("drain cancels every request and returns once no step runs", async () => {
  const engine = new FakeEngine();
  const s = new Scheduler(engine);
  const a = run(s, { slot: "chat", prompt: "a", maxTokens: 1000 });
  const b = run(s, { slot: "chat", prompt: "b", maxTokens: 1000 });
  await new Promise((r) => setImmediate(r));
  await s.drain();
  const [ra, rb] = await Promise.all([a.finished, b.finished]);
  assert.equal(ra.stats?.stopReason, "cancelled");
  assert.equal(rb.stats?.stopReason, "cancelled");
  assert.equal(s.size, 0);
});

test("a flag set before the first step (the params carry its buffer, as from the client) never reaches the engine", async () => {
  const engine = new FakeEngine();
  const s = new Scheduler(engine);
  const client = new CancelFlag();
  const a = run(s, { slot: "chat", prompt: "a", maxTokens: 3, cancelFlag: client.buffer });
  client.cancel();
  const r = await a.finished;
  assert.equal(r.stats?.stopReason, "cancelled");
  assert.deepEqual(engine.started, []);
});

test("a pre-warm runs at idle priority: a user request preempts it at the next layer, then it resumes from its finished batches", async () => {
  const engine = new FakeEngine();
  // A user request "posted" while batch 1 of the warm computes: the worker sees it in shared
  // memory at the next layer, before the message itself arrives.
  let posted = false;
  const s = new Scheduler(engine, { userRequestPending: () => posted });
  const origLog = engine.log.push.bind(engine.log);
  let user: Promise<Outcome> | undefined;
  engine.log.push = (...items: string[]) => {
    const n = origLog(...items);
    if (items[0] === "w.b1.l1" && !user) {
      posted = true;
      user = new Promise((resolve) => setImmediate(resolve)).then(() => {
        posted = false; // the message arrived
        return run(s, { slot: "completion", document: "other.ts", prompt: "k", maxTokens: 2 }).finished;
      });
    }
    return n;
  };
  const w = await warm(s, { slot: "completion", document: "a.ts", prompt: "w:3" });
  await user;
  assert.deepEqual([...engine.log], ["w.b0.l0", "w.b0.l1", "w.b0.l2", "w.b0.l3", "w.b1.l0", "w.b1.l1", "k0", "k1", "w.b1.l0", "w.b1.l1", "w.b1.l2", "w.b1.l3", "w.b2.l0", "w.b2.l1", "w.b2.l2", "w.b2.l3"]);
  assert.equal(w.stats?.preemptions, 1);
  assert.equal(w.stats?.reusedTokens, 1, "resumed after the finished batch");
});

test("a pre-warm waits while other jobs are queued or a user request is on its way", async () => {
  const engine = new FakeEngine();
  let posted = true;
  const s = new Scheduler(engine, { userRequestPending: () => posted });
  const chat = run(s, { slot: "chat", prompt: "c", maxTokens: 2 });
  const w = warm(s, { slot: "completion", document: "a.ts", prompt: "w:1" });
  await chat.finished;
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(engine.log, ["c0", "c1"], "nothing warmed while a user request is announced");
  posted = false;
  run(s, { slot: "chat", prompt: "d", maxTokens: 1 }); // the announced request arrives
  assert.equal((await w).stats?.evaluatedTokens, 1);
  assert.deepEqual(engine.log, ["c0", "c1", "d0", "w.b0.l0", "w.b0.l1", "w.b0.l2", "w.b0.l3"]);
});

test("a user request for a document drops its queued pre-warm; a newer pre-warm replaces an older one", async () => {
  const engine = new FakeEngine();
  const s = new Scheduler(engine);
  const old = warm(s, { slot: "completion", document: "a.ts", prompt: "old:2" });
  const newer = warm(s, { slot: "completion", document: "a.ts", prompt: "new:1" });
  const other = warm(s, { slot: "completion", document: "b.ts", prompt: "b:1" });
  const dropped = warm(s, { slot: "completion", document: "c.ts", prompt: "c:1" });
  run(s, { slot: "completion", document: "c.ts", prompt: "k", maxTokens: 1 });
  assert.equal((await old).error?.name, "AbortError");
  assert.equal((await dropped).error?.name, "AbortError");
  assert.equal((await newer).stats?.evaluatedTokens, 1);
  assert.equal((await other).stats?.evaluatedTokens, 1);
  assert.deepEqual(engine.log.filter((l) => !l.includes(".l") || l.endsWith(".l0")), ["k0", "new.b0.l0", "b.b0.l0"]);
});
