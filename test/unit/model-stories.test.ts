// The whole forward pass on a real trained model (stories260K, llama architecture, F32): greedy
// continuations equal the independent reference, results do not depend on the thread count, and
// a request sharing a prefix with the slot's cache evaluates only the new tokens yet produces the
// same output as a cold run.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Model } from "../../src/engine/model/model.ts";
import { CancelFlag } from "../../src/engine/cancel.ts";
import { Session, type SessionTokenizer, type GenerateChunk, type GenerateStats } from "../../src/engine/session.ts";

const MODEL = join(__dirname, "..", "fixtures", "stories260K.gguf");
const reference = JSON.parse(readFileSync(join(__dirname, "..", "fixtures", "stories260K.greedy-reference.json"), "utf8"));
const CASES = ["<BOS only>", "Once upon a time", "The cat"] as const;
const EOS = 2;

// Token ids only: these tests look at ids; text decoding is the tokenizer's tests' business.
const idsOnly: SessionTokenizer = {
  isEog: (id) => id === EOS,
  streamingDecoder: () => ({ push: () => "", flush: () => "" }),
};

const models: Model[] = [];
after(async () => {
  for (const m of models) await m.dispose();
});

async function load(threads: number): Promise<Model> {
  const m = await Model.load(MODEL, { threads, contextSize: 512, batchSize: 16 });
  models.push(m);
  return m;
}

async function run(session: Session, slot: string, prompt: readonly number[], maxTokens: number) {
  const ids: number[] = [];
  const gen = session.generate({ slot, prompt, maxTokens });
  let r: IteratorResult<GenerateChunk, GenerateStats>;
  while (!(r = await gen.next()).done) ids.push(r.value.token);
  return { ids, stats: r.value };
}

test("greedy continuations equal the reference for every prompt (all steps)", async (t) => {
  const session = new Session(await load(1), idsOnly);
  for (const name of CASES) {
    const c = reference[name];
    const { ids } = await run(session, "completion", c.input_ids_with_bos, c.greedy_ids.length);
    let agree = 0;
    while (agree < ids.length && ids[agree] === c.greedy_ids[agree]) agree++;
    t.diagnostic(`${name}: ${agree}/${c.greedy_ids.length} tokens equal`);
    assert.ok(agree >= Math.min(60, c.greedy_ids.length), `${name}: only the first ${agree} tokens equal the reference`);
    assert.deepEqual(ids.slice(0, 60), c.greedy_ids.slice(0, 60));
  }
});

test("logits are identical with 1 and 2 threads", async () => {
  const [one, two] = [await load(1), await load(2)];
  const prompt = reference["Once upon a time"].input_ids_with_bos.concat(reference["Once upon a time"].greedy_ids.slice(0, 20));
  const a = await new Session(one, idsOnly).evaluate("chat", prompt);
  const b = await new Session(two, idsOnly).evaluate("chat", prompt);
  assert.deepEqual(Array.from(a.logits), Array.from(b.logits));
});

test("a shared prefix is reused: only new tokens are evaluated and the output equals a cold run", async () => {
  const model = await load(1);
  const session = new Session(model, idsOnly);
  const c = reference["Once upon a time"];
  const base: number[] = c.input_ids_with_bos;
  const first = await run(session, "completion", base, 8);
  assert.equal(first.stats.reusedTokens, 0);
  // The slot now holds the prompt and the generated tokens: extend the prompt by three of them.
  const longer = base.concat(first.ids.slice(0, 3));
  const warm = await run(session, "completion", longer, 12);
  assert.equal(warm.stats.reusedTokens, longer.length - 1);
  assert.equal(warm.stats.evaluatedTokens, 1);
  // A cold run on a fresh slot gives the same tokens.
  model.slot("chat").clear();
  const cold = await run(session, "chat", longer, 12);
  assert.equal(cold.stats.reusedTokens, 0);
  assert.deepEqual(warm.ids, cold.ids);
  // A diverging prompt reuses only the common part.
  const diverged = base.slice(0, 3).concat([291, 280]);
  const d = await run(session, "completion", diverged, 4);
  assert.equal(d.stats.reusedTokens, 3);
  assert.equal(d.stats.evaluatedTokens, 2);
});

test("cancellation between tokens stops the stream and leaves the slot consistent", async () => {
  const model = await load(1);
  const session = new Session(model, idsOnly);
  const c = reference["The cat"];
  const cancel = new CancelFlag();
  const gen = session.generate({ slot: "completion", prompt: c.input_ids_with_bos, maxTokens: 40, cancel });
  const ids: number[] = [];
  let r: IteratorResult<GenerateChunk, GenerateStats>;
  while (!(r = await gen.next()).done) {
    ids.push(r.value.token);
    if (ids.length === 5) cancel.cancel();
  }
  assert.equal(r.value.stopReason, "cancelled");
  assert.equal(ids.length, 5);
  assert.deepEqual(ids, c.greedy_ids.slice(0, 5));
  // The slot holds the prompt and the tokens whose keys are cached; a follow-up reuses them.
  const slot = model.slot("completion");
  assert.deepEqual(slot.tokens.slice(0, c.input_ids_with_bos.length), c.input_ids_with_bos);
  const next = await run(session, "completion", c.input_ids_with_bos.concat(ids), 5);
  assert.deepEqual(next.ids, c.greedy_ids.slice(5, 10));
});

test("prompts longer than the context: an error, or left-truncation when asked", async () => {
  const m = await Model.load(MODEL, { threads: 1, contextSize: 32, batchSize: 8 });
  models.push(m);
  const session = new Session(m, idsOnly);
  const long = Array.from({ length: 40 }, (_, i) => 300 + (i % 50));
  await assert.rejects(run(session, "chat", long, 4), /40 tokens.*context holds 32/);
  const gen = session.generate({ slot: "chat", prompt: long, maxTokens: 4, truncate: "left" });
  let r: IteratorResult<GenerateChunk, GenerateStats>;
  let n = 0;
  while (!(r = await gen.next()).done) n++;
  assert.equal(n, 4);
  assert.ok(r.value.promptTokens < 32);
});
