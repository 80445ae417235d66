// A completion does not wait for a chat step: through the worker's scheduler and the real engine
// (stories260K), a completion queued while a long chat prompt is being read runs before that
// prompt's remaining batches, and a user request announced in the middle of a chat token's
// forward pass pauses it between layers. Either way the chat's text is the same as without the
// pause, and its stats count the prompt as evaluated once.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Engine } from "../../src/engine/engine.ts";
import { PAUSED, type GenerateChunk, type GenerateStats } from "../../src/engine/session.ts";
import { Scheduler, type GeneratingEngine } from "../../src/worker/scheduler.ts";
import type { GenerateParams } from "../../src/worker/protocol.ts";
import { STORIES_PATH } from "../helpers/gguf-fixtures.ts";

let engine: Engine;
/** The same model on its own, for the texts without pauses (its chat slot is not the one under test). */
let reference: Engine;
before(async () => {
  engine = await Engine.load(STORIES_PATH, { threads: 1, contextSize: 512, batchSize: 16 });
  reference = await Engine.load(STORIES_PATH, { threads: 1, contextSize: 512, batchSize: 16 });
});
after(async () => {
  await engine?.dispose();
  await reference?.dispose();
});

const story = "Once upon a time there was a little girl who lived in a village near the forest. ".repeat(5);

/** The engine, with every chunk it yields (pauses included) seen by `onChunk`. */
function watched(onChunk: (c: GenerateChunk) => void): GeneratingEngine {
  return {
    generate(req) {
      const gen = engine.generate(req as Parameters<Engine["generate"]>[0]);
      return (async function* () {
        for (;;) {
          const r = await gen.next();
          if (r.done) return r.value;
          onChunk(r.value);
          yield r.value;
        }
      })();
    },
    warm: () => Promise.reject(new Error("no pre-warm here")),
  };
}

/** The chat's text and stats, with no completion around, from a fresh slot. */
async function alone(prompt: string, maxTokens: number): Promise<{ text: string; stats: GenerateStats }> {
  let text = "";
  const gen = reference.generate({ slot: "chat", document: `${Math.random()}`, prompt, maxTokens });
  for (;;) {
    const r = await gen.next();
    if (r.done) return { text, stats: r.value };
    text += r.value.text;
  }
}

function run(s: Scheduler, params: GenerateParams, events: string[], name: string, onDelta?: () => void, onRead?: (done: number) => void): Promise<{ text: string; stats: GenerateStats }> {
  let text = "";
  return new Promise((resolve, reject) =>
    s.submit(params, {
      delta: (t) => {
        text += t;
        onDelta?.();
      },
      promptProgress: (done, total) => {
        events.push(`${name} read ${done}/${total}`);
        onRead?.(done);
      },
      done: (stats) => {
        events.push(`${name} done`);
        resolve({ text, stats });
      },
      error: reject,
    }),
  );
}

test("a completion queued while a chat prompt is read runs before the rest of that prompt", async () => {
  const expected = await alone(story, 12);
  const events: string[] = [];
  let pauses = 0;
  const s = new Scheduler(watched((c) => c.token === PAUSED && pauses++));
  let completion: Promise<unknown> | undefined;
  // After the chat's first batch is read, a keystroke's completion arrives.
  const got = await run(s, { slot: "chat", document: "chat-1", prompt: story, maxTokens: 12 } as GenerateParams, events, "chat", undefined, (done) => {
    if (done > 0 && !completion) completion = run(s, { slot: "completion", prompt: "Once upon a", maxTokens: 3 } as GenerateParams, events, "completion");
  });
  await completion;
  const completionDone = events.indexOf("completion done");
  const chatReadAll = events.findIndex((e) => /^chat read (\d+)\/\1$/.test(e));
  assert.ok(completion, "the completion was sent while the chat prompt was read");
  assert.ok(completionDone >= 0 && completionDone < chatReadAll, `the completion ended before the chat prompt was read: ${events.join(", ")}`);
  assert.ok(pauses >= 1, "the chat paused");
  assert.equal(got.text, expected.text, "the same text as without the pause");
  assert.equal(got.stats.evaluatedTokens, expected.stats.evaluatedTokens);
  assert.equal(got.stats.reusedTokens, 0);
  // Progress counts the whole prompt across the pause: it never goes back.
  const reads = events.filter((e) => e.startsWith("chat read")).map((e) => Number(/(\d+)\//.exec(e)![1]));
  assert.deepEqual(reads, [...reads].sort((a, b) => a - b));
});

test("a user request announced during a chat token's forward pass pauses it between layers; the text is unchanged", async () => {
  const expected = await alone("Once upon a time", 24);
  let announced = false;
  let pauses = 0;
  let deltas = 0;
  const events: string[] = [];
  const s = new Scheduler(
    watched((c) => {
      if (c.token !== PAUSED) return;
      pauses++;
      // The request arrives: the announcement is answered by a queued completion.
      announced = false;
      void run(s, { slot: "completion", prompt: "Once upon a", maxTokens: 2 } as GenerateParams, events, "completion");
    }),
    { userRequestPending: () => announced },
  );
  const got = await run(s, { slot: "chat", document: "chat-2", prompt: "Once upon a time", maxTokens: 24 } as GenerateParams, events, "chat", () => {
    // After the 5th token is out, the next step's forward pass meets an announced request.
    if (++deltas === 5) announced = true;
  });
  assert.ok(pauses >= 1, "the chat paused mid-token");
  assert.ok(events.includes("completion done"));
  assert.equal(got.text, expected.text);
  assert.equal(got.stats.generatedTokens, expected.stats.generatedTokens);
});
