// The engine client against the real engine worker (dist/worker.js, built by `npm run build`)
// and the real stories260K model: lazy start, load with progress and cancel, streamed text equal
// to the engine's own, cancellation by token and by leaving the loop, chat and completion
// interleaved in their own slots, and survival of a worker that dies mid-generation (terminated
// from outside, process.exit inside, uncaught exception): pending requests fail with a clear
// error, the next request restarts the worker and reloads the model.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EngineClient, WorkerDiedError, type ClientState } from "../../src/client/engine-client.ts";
import { CancelFlag } from "../../src/client/cancellation.ts";
import { Engine } from "../../src/engine/engine.ts";
import { readGguf } from "../../src/engine/gguf/reader.ts";
import type { GenerateParams } from "../../src/worker/protocol.ts";

const ROOT = join(__dirname, "..", "..");
const WORKER = join(ROOT, "dist", "worker.js");
const MODEL = join(ROOT, "test", "fixtures", "stories260K.gguf");
const MODEL_REQ = { path: MODEL, threads: 1, contextSize: 512 };

if (!existsSync(WORKER)) throw new Error(`${WORKER} is missing: run npm run build first`);

const clients: EngineClient[] = [];
function newClient(logs: string[] = []): EngineClient {
  const c = new EngineClient({
    workerPath: WORKER,
    log: { info: (m) => logs.push(`info ${m}`), warn: (m) => logs.push(`warn ${m}`), error: (m) => logs.push(`error ${m}`) },
  });
  clients.push(c);
  return c;
}
after(async () => {
  for (const c of clients) await c.dispose();
});

// What the engine itself produces for a prompt (greedy), in this process, for comparison.
let reference: Engine | undefined;
async function engineText(prompt: string, maxTokens: number, slot = "completion"): Promise<string> {
  reference ??= await Engine.load(MODEL, { threads: 1, contextSize: 512 });
  let text = "";
  for await (const c of reference.generate({ slot, prompt, maxTokens })) text += c.text;
  return text;
}
after(async () => reference?.dispose());

async function collectFrom(g: AsyncIterable<string>): Promise<string> {
  let text = "";
  for await (const d of g) text += d;
  return text;
}

async function collect(c: EngineClient, params: GenerateParams, cancel?: CancelFlag): Promise<{ text: string; deltas: number }> {
  let text = "";
  let deltas = 0;
  for await (const d of c.generate(params, { cancel })) {
    text += d;
    deltas++;
  }
  return { text, deltas };
}

test("no worker until the first request; load reports progress and ends ready", async () => {
  const c = newClient();
  const states: ClientState["kind"][] = [];
  c.onDidChangeState((s) => states.push(s.kind));
  assert.equal(c.workerRunning, false);
  assert.equal(c.stateOf("completion").kind, "none");
  const fractions: number[] = [];
  const info = await c.load(MODEL_REQ, { onProgress: (f) => fractions.push(f) });
  assert.equal(c.workerRunning, true);
  assert.equal(info.architecture, "llama");
  assert.equal(info.contextSize, 512);
  assert.ok(fractions.length >= 2, `progress events: ${fractions.length}`);
  assert.deepEqual([...fractions].sort((a, b) => a - b), fractions, "progress only grows");
  assert.equal(fractions.at(-1), 1);
  assert.equal(states[0], "loading");
  assert.equal(states.at(-1), "ready");
  assert.deepEqual(await c.info(), info);
  // Loading the same model again is a no-op.
  assert.deepEqual(await c.load(MODEL_REQ), info);
});

test("generate streams the engine's own text, with stats; tokenize equals the engine's", async () => {
  const c = newClient();
  await c.load(MODEL_REQ);
  const stats: number[] = [];
  c.onDidFinishGeneration((s) => stats.push(s.generatedTokens));
  const g = c.generate({ slot: "completion", prompt: "Once upon a time", maxTokens: 40 });
  let text = "";
  let deltas = 0;
  for await (const d of g) {
    text += d;
    deltas++;
  }
  const s = await g.stats;
  assert.equal(text, await engineText("Once upon a time", 40));
  assert.ok(text.length > 20, `text: ${JSON.stringify(text)}`);
  assert.ok(deltas >= 20, `streamed in ${deltas} deltas`);
  assert.equal(s.generatedTokens, 40);
  assert.equal(s.stopReason, "length");
  assert.equal(s.promptTokens, s.reusedTokens + s.evaluatedTokens);
  assert.deepEqual(stats, [40]);
  // The same prompt again reuses the slot's cache.
  const again = c.generate({ slot: "completion", prompt: "Once upon a time", maxTokens: 5 });
  await collectFrom(again);
  assert.ok((await again.stats).reusedTokens > 0, "prefix reused");
  assert.deepEqual(await c.tokenize({ text: "Once upon a time" }), reference!.tokenize("Once upon a time"));
});

test("a long prompt reports its evaluation from the worker: 0, then each batch, up to all it had to evaluate", async () => {
  const c = newClient();
  await c.load({ ...MODEL_REQ, batchSize: 16 });
  const prompt = "Once upon a time there was a little dog who liked to run in the park with his friends. ".repeat(6);
  const seen: [number, number][] = [];
  const heard: string[] = [];
  c.onDidReadPrompt((r) => heard.push(`${r.slot} ${r.done}/${r.total}${r.ended ? " ended" : ""}`));
  const g = c.generate({ slot: "chat", prompt, maxTokens: 2 }, { onPromptProgress: (done, total) => seen.push([done, total]) });
  let firstText = -1;
  for await (const d of g) if (d && firstText < 0) firstText = seen.length;
  const s = await g.stats;
  const total = s.evaluatedTokens;
  assert.ok(total > 100, `evaluated ${total} tokens`);
  assert.deepEqual(seen[0], [0, total], "announced before the first batch");
  assert.deepEqual(seen.at(-1), [total, total], "ends with all of it");
  assert.equal(seen.length, Math.ceil(total / 16) + 1, `one report per batch of 16: ${JSON.stringify(seen)}`);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i][0] > seen[i - 1][0] && seen[i][1] === total);
  assert.ok(firstText < 0 || firstText === seen.length, "all progress comes before the first text");
  // The client-wide event (the status bar's) says the same, then that reading ended.
  assert.deepEqual(heard, [...seen.map(([d, t]) => `chat ${d}/${t}`), `chat ${total}/${total} ended`]);
  // The same prompt again: only its last token is evaluated (the rest is reused).
  const again: [number, number][] = [];
  await collectFrom(c.generate({ slot: "chat", prompt, maxTokens: 1 }, { onPromptProgress: (d, t) => again.push([d, t]) }));
  assert.deepEqual(again, [[0, 1], [1, 1]]);
});

test("a cancel ends the stream at once and the worker stops between tokens", async () => {
  const c = newClient();
  await c.load(MODEL_REQ);
  const cancel = new CancelFlag();
  const g = c.generate({ slot: "chat", prompt: "Once upon a time", maxTokens: 400 }, { cancel });
  let deltas = 0;
  for await (const d of g) {
    assert.equal(typeof d, "string");
    if (++deltas === 3) cancel.cancel();
  }
  assert.equal(deltas, 3, "no delta after the cancel");
  const s = await g.stats;
  assert.equal(s.stopReason, "cancelled");
  assert.ok(s.generatedTokens < 400);
  // Leaving the loop early cancels too.
  const h = c.generate({ slot: "chat", prompt: "The cat", maxTokens: 400 });
  for await (const d of h) {
    assert.equal(typeof d, "string");
    break;
  }
  assert.equal((await h.stats).stopReason, "cancelled");
  // An already-cancelled flag: nothing is generated.
  const done = new CancelFlag();
  done.cancel();
  const r = await collect(c, { slot: "chat", prompt: "The cat", maxTokens: 10 }, done);
  assert.equal(r.text, "");
});

test("a completion runs while a chat generation is in progress, each in its own slot", async () => {
  const c = newClient();
  await c.load(MODEL_REQ);
  // A long chat (about 0.3 s here); once its first token has arrived, a short completion is sent.
  const chat = c.generate({ slot: "chat", prompt: "The cat", maxTokens: 480 });
  const finished: string[] = [];
  let chatText = "";
  let completion: Promise<string> | undefined;
  for await (const d of chat) {
    chatText += d;
    completion ??= (async () => {
      const g = c.generate({ slot: "completion", prompt: "Once upon a time", maxTokens: 8 });
      const text = await collectFrom(g);
      finished.push(`completion after ${(await g.stats).generatedTokens} tokens`);
      return text;
    })();
  }
  const chatStats = await chat.stats;
  finished.push("chat");
  const k = await completion!;
  // The completion ended while the chat was still generating: the worker ran it between two chat
  // tokens, and neither disturbed the other's KV slot.
  assert.deepEqual(finished, ["completion after 8 tokens", "chat"]);
  assert.equal(chatStats.generatedTokens, 480);
  assert.equal(k, await engineText("Once upon a time", 8));
  assert.equal(chatText, await engineText("The cat", 480, "chat"));
});

for (const how of ["terminate", "exit", "throw"] as const) {
  test(`a worker that dies mid-generation (${how}) fails the request clearly; the next request restarts it and reloads the model`, async () => {
    const logs: string[] = [];
    const c = newClient(logs);
    await c.load(MODEL_REQ);
    const states: ClientState[] = [];
    c.onDidChangeState((s, role) => role === "completion" && states.push(s));
    let deltas = 0;
    await assert.rejects(
      (async () => {
        for await (const d of c.generate({ slot: "chat", prompt: "Once upon a time", maxTokens: 100000 })) {
          if (d !== undefined && ++deltas === 5) {
            if (how === "terminate") void c.terminateWorker();
            else c.crashWorker(how);
          }
        }
      })(),
      (err: Error) => {
        assert.ok(err instanceof WorkerDiedError, `${err.name}: ${err.message}`);
        assert.match(err.message, /engine worker stopped unexpectedly .*restarts with the next request/);
        if (how === "throw") assert.match(err.message, /crash requested by a test/);
        return true;
      },
    );
    assert.equal(c.stateOf("completion").kind, "error");
    assert.equal(c.workerRunning, false);
    assert.ok(logs.some((l) => l.startsWith("error the engine worker stopped")), logs.join("\n"));
    // The next request: a fresh worker, the model loaded again, a normal answer.
    const r = await collect(c, { slot: "completion", prompt: "Once upon a time", maxTokens: 12 });
    assert.equal(r.text, await engineText("Once upon a time", 12));
    assert.equal(c.workerStarts, 2);
    assert.equal(c.stateOf("completion").kind, "ready");
    assert.deepEqual(
      states.map((s) => s.kind),
      ["error", "loading", ...states.slice(2, -1).map(() => "loading" as const), "ready"],
    );
  });
}

test("cancelling a load stops it; the client has no model and can load again", async () => {
  const c = newClient();
  const cancel = new CancelFlag();
  // Cancelled right after the request left: the worker sees the shared flag at its first tensor.
  // (Cancelling on a progress event would race: the worker reads weights without pausing, so on a
  // busy machine it may be done before the host sees the event.)
  const loading = c.load(MODEL_REQ, { cancel });
  cancel.cancel();
  await assert.rejects(loading, (err: Error) => err.name === "AbortError" && err.message === "model loading was cancelled");
  assert.equal(c.workerRunning, true, "the request reached the worker");
  assert.equal(c.stateOf("completion").kind, "none");
  assert.equal(c.modelOf("completion"), undefined);
  const info = await c.load(MODEL_REQ);
  assert.equal(info.architecture, "llama");
});

test("a bad file fails the load with the GGUF error; requests without a model say what to do", async () => {
  const c = newClient();
  await assert.rejects(
    collect(c, { slot: "completion", prompt: "x" }),
    (err: Error) => err.name === "NoModelError" && /choose a model file/.test(err.message),
  );
  const bad = join(mkdtempSync(join(tmpdir(), "hearth-client-")), "bad.gguf");
  writeFileSync(bad, "not a gguf file at all");
  await assert.rejects(c.load({ ...MODEL_REQ, path: bad }), (err: Error) => err.name === "GgufError" && err.message.includes(bad));
  assert.equal(c.stateOf("completion").kind, "error");
  await c.load(MODEL_REQ);
  assert.equal(c.stateOf("completion").kind, "ready");
});

test("inspect reads a header in the worker (the host parses no GGUF): the memory check's numbers, no model loaded; a bad file fails with the reader's own message", async () => {
  const c = newClient();
  const shape = await c.inspect(MODEL);
  const file = await readGguf(MODEL);
  assert.equal(shape.architecture, "llama");
  assert.equal(shape.nLayer, file.optNumber("llama.block_count"));
  assert.ok(shape.weightBytes >= file.tensorBytes && shape.weightBytes < file.tensorBytes + 64 * file.tensors.length);
  assert.equal(c.stateOf("completion").kind, "none", "inspecting loads nothing");
  const dir = mkdtempSync(join(tmpdir(), "hearth-client-"));
  const bad = join(dir, "bad.gguf");
  writeFileSync(bad, "not a gguf file at all");
  const expected = await readGguf(bad).then(() => "", (e: Error) => e.message);
  await assert.rejects(c.inspect(bad), (err: Error) => err.name === "GgufError" && err.message === expected);
  await assert.rejects(c.inspect(join(dir, "missing.gguf")), (err: Error) => err.name === "GgufError" && /cannot open/.test(err.message));
  assert.equal(c.workerStarts, 1, "a bad file does not take the worker down");
});

test("the worker answers a generation with no model loaded with NoModelError and stays alive", async () => {
  const { Worker } = await import("node:worker_threads");
  const worker = new Worker(WORKER);
  try {
    const events: { kind: string; id: number; error?: { name: string }; result?: unknown }[] = [];
    const next = (): Promise<void> => new Promise((resolve) => worker.once("message", (ev) => (events.push(ev), resolve())));
    let answer = next();
    worker.postMessage({ kind: "request", id: 1, method: "generate", params: { slot: "completion", prompt: "x" } });
    await answer;
    assert.equal(events[0].kind, "error");
    assert.equal(events[0].error?.name, "NoModelError");
    // Still alive and answering.
    answer = next();
    worker.postMessage({ kind: "request", id: 2, method: "info", params: {} });
    await answer;
    assert.deepEqual(events[1], { kind: "done", id: 2, result: null });
  } finally {
    await worker.terminate();
  }
});
