// Two models at once, one per role, in the real engine worker (dist/worker.js) through the client:
// completion on a qwen2 fixture with FIM tokens, chat on the real stories260K. Requests of the two
// roles interleaved each get their own model's text, equal to a single-model run of that file;
// one file for both roles is loaded once; a failing load of one role leaves the other serving;
// replacing one role's model never touches the other's (no state change, no reload); and the
// idle model's kernel helpers do not take CPU from the busy one.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EngineClient, type ClientState, type Role } from "../../src/client/engine-client.ts";
import { Engine } from "../../src/engine/engine.ts";
import { makeModelFixture } from "../conformance/fixtures.ts";
import { STORIES_PATH } from "../helpers/gguf-fixtures.ts";
import type { GenerateParams } from "../../src/worker/protocol.ts";

const WORKER = join(__dirname, "..", "..", "dist", "worker.js");
if (!existsSync(WORKER)) throw new Error(`${WORKER} is missing: run npm run build first`);
const FIM = makeModelFixture({ arch: "qwen2", weights: "Q8_0" }).path;
const OTHER = makeModelFixture({ arch: "llama", weights: "Q4_K" }).path;
const req = (path: string) => ({ path, threads: 1, contextSize: 256 });

const clients: EngineClient[] = [];
function newClient(logs: string[] = []): EngineClient {
  const c = new EngineClient({ workerPath: WORKER, log: { info: (m) => logs.push(m), warn: (m) => logs.push(m), error: (m) => logs.push(m) } });
  clients.push(c);
  return c;
}
after(async () => {
  for (const c of clients) await c.dispose();
});

/** A single-model run of `path`, in this process: what each role's output must equal. */
async function alone(path: string, slot: Role, prompt: string, maxTokens: number): Promise<string> {
  const engine = await Engine.load(path, { threads: 1, contextSize: 256 });
  try {
    let text = "";
    for await (const c of engine.generate({ slot, prompt, maxTokens })) text += c.text;
    return text;
  } finally {
    await engine.dispose();
  }
}

async function text(g: AsyncIterable<string>): Promise<string> {
  let t = "";
  for await (const d of g) t += d;
  return t;
}

function track(c: EngineClient): Record<Role, ClientState["kind"][]> {
  const seen: Record<Role, ClientState["kind"][]> = { completion: [], chat: [] };
  c.onDidChangeState((s, role) => seen[role].push(s.kind));
  return seen;
}

const workerLoads = (logs: string[]) => logs.filter((l) => /^engine: loaded /.test(l));

test("completion and chat on two files, interleaved: each gets its own model's text, equal to a run of that file alone", async () => {
  const logs: string[] = [];
  const c = newClient(logs);
  await c.load(req(FIM), { roles: ["completion"] });
  await c.load(req(STORIES_PATH), { roles: ["chat"] });
  assert.equal((await c.info("completion"))?.path, FIM);
  assert.equal((await c.info("chat"))?.path, STORIES_PATH);
  assert.ok(c.stateOf("completion").kind === "ready" && c.stateOf("chat").kind === "ready");
  assert.equal(workerLoads(logs).length, 2, logs.join("\n"));

  const story = "Once upon a time";
  const code = "<|fim_prefix|>def add(a, b):\n    return <|fim_suffix|>\n<|fim_middle|>";
  // A long chat reply, with completions started while it streams (the scheduler runs them between its tokens).
  const chatParams: GenerateParams = { slot: "chat", prompt: story, maxTokens: 60 };
  const chat = text(c.generate(chatParams));
  const completions: Promise<string>[] = [];
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 5));
    completions.push(text(c.generate({ slot: "completion", document: `d${i}`, prompt: code, maxTokens: 8 })));
  }
  const [chatText, ...completionTexts] = await Promise.all([chat, ...completions]);
  // Each completion cancels the one before it (the user typed on): only the last one runs to the end.
  const expectedCompletion = await alone(FIM, "completion", code, 8);
  assert.equal(completionTexts.at(-1), expectedCompletion);
  for (const t of completionTexts) assert.ok(expectedCompletion.startsWith(t), `a cancelled completion's text is a start of the model's: ${JSON.stringify(t)}`);
  assert.equal(chatText, await alone(STORIES_PATH, "chat", story, 60));
  assert.ok(chatText.length > 20, "the chat reply is a story");
});

test("the same file for both roles is loaded once, and a role moving onto a loaded file does not load it again", async () => {
  const logs: string[] = [];
  const c = newClient(logs);
  const progress: number[] = [];
  await c.load(req(STORIES_PATH), { onProgress: (f) => progress.push(f) });
  assert.equal(workerLoads(logs).length, 1, logs.join("\n"));
  assert.match(workerLoads(logs)[0], /for completion and chat$/);
  assert.ok(progress.length > 0);
  const completion = c.stateOf("completion");
  const chat = c.stateOf("chat");
  assert.ok(completion.kind === "ready" && chat.kind === "ready" && completion.info.path === chat.info.path);
  // Both roles' requests are answered by the one engine.
  assert.equal(await text(c.generate({ slot: "completion", prompt: "Once upon a time", maxTokens: 10 })), await alone(STORIES_PATH, "completion", "Once upon a time", 10));
  assert.equal(await text(c.generate({ slot: "chat", prompt: "Once upon a time", maxTokens: 10 })), await alone(STORIES_PATH, "chat", "Once upon a time", 10));

  // Chat gets its own model, then comes back to the file completion has: no load for it.
  await c.load(req(FIM), { roles: ["chat"] });
  assert.equal(workerLoads(logs).length, 2);
  const before = progress.length;
  await c.load(req(STORIES_PATH), { roles: ["chat"], onProgress: (f) => progress.push(f) });
  assert.equal(workerLoads(logs).length, 2, "no third load");
  assert.equal(progress.length, before, "no loading progress");
  assert.ok(logs.some((l) => /^engine: chat now served by .*already loaded \(no reload\)/.test(l)), logs.join("\n"));
  assert.equal(await text(c.generate({ slot: "chat", prompt: "Once upon a time", maxTokens: 10 })), await alone(STORIES_PATH, "chat", "Once upon a time", 10));
});

test("a failing load for one role leaves the other serving; changing one role's model never touches the other's", async () => {
  const logs: string[] = [];
  const c = newClient(logs);
  await c.load(req(FIM), { roles: ["completion"] });
  const seen = track(c);
  const truncated = join(mkdtempSync(join(tmpdir(), "hearth-two-")), "truncated.gguf");
  writeFileSync(truncated, Buffer.from("GGUF\x03\x00\x00\x00"));
  await assert.rejects(c.load(req(truncated), { roles: ["chat"] }));
  assert.equal(c.stateOf("chat").kind, "error");
  assert.equal(c.stateOf("completion").kind, "ready");
  const code = "<|fim_prefix|>x = <|fim_suffix|>\n<|fim_middle|>";
  assert.equal(await text(c.generate({ slot: "completion", prompt: code, maxTokens: 6 })), await alone(FIM, "completion", code, 6));

  // Chat loads one model, then another: completion's state never changes and its engine is not reloaded.
  await c.load(req(STORIES_PATH), { roles: ["chat"] });
  await c.load(req(OTHER), { roles: ["chat"] });
  assert.deepEqual(seen.completion, [], "completion's state never changed");
  assert.equal(workerLoads(logs).filter((l) => l.includes(FIM)).length, 1, "completion's model was loaded once");
  assert.equal((await c.info("chat"))?.path, OTHER);
  assert.equal(await text(c.generate({ slot: "completion", prompt: code, maxTokens: 6 })), await alone(FIM, "completion", code, 6));
  // Unloading chat keeps completion.
  await c.unload("chat");
  assert.equal(c.stateOf("chat").kind, "none");
  assert.equal(await text(c.generate({ slot: "completion", prompt: code, maxTokens: 6 })), await alone(FIM, "completion", code, 6));
});

test("a worker crash reloads both roles' models", async () => {
  const logs: string[] = [];
  const c = newClient(logs);
  await c.load(req(FIM), { roles: ["completion"] });
  await c.load(req(STORIES_PATH), { roles: ["chat"] });
  await c.terminateWorker();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(c.stateOf("completion").kind, "error");
  assert.equal(c.stateOf("chat").kind, "error");
  assert.equal(await text(c.generate({ slot: "chat", prompt: "Once upon a time", maxTokens: 8 })), await alone(STORIES_PATH, "chat", "Once upon a time", 8));
  const code = "<|fim_prefix|>x = <|fim_suffix|>\n<|fim_middle|>";
  assert.equal(await text(c.generate({ slot: "completion", prompt: code, maxTokens: 6 })), await alone(FIM, "completion", code, 6));
  assert.equal(c.workerStarts, 2);
  assert.equal((await c.info("completion"))?.path, FIM);
  assert.equal((await c.info("chat"))?.path, STORIES_PATH);
});

test("an idle model's kernel helpers sleep: they take no CPU from the model that is working", async () => {
  // Both engines' helper threads exist at once (one pool each); the bounded spin of kernels/pool.c
  // ends in a wait, so after a generation an idle engine's helpers cost nothing. A spinning helper
  // would cost a whole core (about 1000 ms per second).
  const engine = await Engine.load(STORIES_PATH, { threads: 2, contextSize: 256 });
  try {
    for await (const chunk of engine.generate({ slot: "chat", prompt: "Once upon a time", maxTokens: 16 })) void chunk;
    const c0 = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 1000));
    const used = process.cpuUsage(c0);
    const ms = (used.user + used.system) / 1000;
    assert.ok(ms < 250, `an idle engine with 2 threads used ${ms.toFixed(0)} ms of CPU in 1 s`);
  } finally {
    await engine.dispose();
  }
});
