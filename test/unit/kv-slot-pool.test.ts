// The pool of completion slots keyed by document: each recently used document keeps its own KV
// slot, the least recently used one goes when a new document needs a slot, and a switch back to
// a document that still has its slot evaluates only the new tokens — with the same logits as a
// cold evaluation. Chat keeps its own slot whatever the completion documents do.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Engine } from "../../src/engine/engine.ts";
import { SlotPool, KvSlot } from "../../src/engine/kv-cache.ts";
import { STORIES_PATH } from "../helpers/gguf-fixtures.ts";

const engines: Engine[] = [];
after(async () => {
  for (const e of engines) await e.dispose();
});

async function load(completionSlots: number): Promise<Engine> {
  const e = await Engine.load(STORIES_PATH, { threads: 1, contextSize: 256, batchSize: 16, slots: { completion: completionSlots, chat: 1 } });
  engines.push(e);
  return e;
}

test("a pool hands each key its own slot and gives a new key the least recently used one", () => {
  const layout = { nLayer: 1, nCtx: 8, nHeadKV: 1, kDim: 1, vDim: 1 };
  const [s0, s1] = [new KvSlot("a", layout, [0], [0]), new KvSlot("b", layout, [0], [0])];
  const pool = new SlotPool("completion", [s0, s1]);
  const a = pool.acquire("A");
  const b = pool.acquire("B");
  assert.notEqual(a, b);
  assert.equal(pool.acquire("A"), a, "A keeps its slot");
  assert.deepEqual(pool.keys(), ["B", "A"], "least recently used first");
  assert.equal(pool.acquire("C"), b, "C takes B's slot: B was used least recently");
  assert.equal(pool.peek("B"), undefined);
  assert.deepEqual(pool.keys(), ["A", "C"]);
});

test("3 documents, 2 slots: the least recently used is evicted; a switch back to a cached one evaluates only its new tokens", async () => {
  const e = await load(2);
  const v = e.tokenizer.vocabSize;
  const doc = (seed: number, n: number) => Array.from({ length: n }, (_, i) => 3 + ((i * 31 + seed * 17) % (v - 3)));
  const [A, B, C] = [doc(1, 120), doc(2, 120), doc(3, 120)];
  const ev = (document: string, tokens: number[]) => e.session.evaluate({ slot: "completion", document }, tokens);
  const chat = doc(4, 50);
  await e.session.evaluate("chat", chat);

  assert.equal((await ev("a.ts", A)).evaluated, 120);
  assert.equal((await ev("b.ts", B)).evaluated, 120);
  // Back to A with two more tokens typed: only those are evaluated.
  const A2 = [...A, 5, 6];
  const backToA = await ev("a.ts", A2);
  assert.equal(backToA.reused, 120);
  assert.equal(backToA.evaluated, 2);
  // C needs a slot: B's goes (A was used after B).
  assert.equal((await ev("c.ts", C)).evaluated, 120);
  assert.deepEqual(e.model.pool("completion").keys(), ["a.ts", "c.ts"]);
  const A3 = [...A2, 7];
  const againA = await ev("a.ts", A3);
  assert.equal(againA.evaluated, 1, "A kept its slot");
  const coldB = await ev("b.ts", B);
  assert.equal(coldB.reused, 0, "B's slot was evicted: evaluated afresh");
  // The reused KV is exact: the same logits as a cold engine.
  const fresh = await load(1);
  assert.deepEqual(Array.from(againA.logits), Array.from((await fresh.session.evaluate("completion", A3)).logits));
  // Chat kept its own slot through all of it.
  assert.equal((await e.session.evaluate("chat", [...chat, 9])).evaluated, 1);
});
