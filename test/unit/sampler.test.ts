// Sampling and stop strings: greedy is argmax; a seed reproduces a draw; top-k, top-p and min-p
// only ever pick from the tokens they keep; penalties push recent tokens down; stop strings are
// held back while they might still be completing and never emitted.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Sampler, argmax } from "../../src/engine/sampler.ts";
import { StopMatcher } from "../../src/engine/stop-strings.ts";

const logits = Float32Array.from([1.0, 3.0, 2.5, 0.5, 2.9, -1, 0, 2.0]);

function draws(s: Sampler, n: number, history: number[] = []): number[] {
  return Array.from({ length: n }, () => s.sample(logits, history));
}

test("greedy (no temperature) picks the largest logit", () => {
  assert.equal(argmax(logits), 1);
  assert.deepEqual(draws(new Sampler(), 5), [1, 1, 1, 1, 1]);
});

test("a seed reproduces the same draws; another seed gives others", () => {
  const a = draws(new Sampler({ temperature: 1, seed: 42 }), 50);
  const b = draws(new Sampler({ temperature: 1, seed: 42 }), 50);
  const c = draws(new Sampler({ temperature: 1, seed: 7 }), 50);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.ok(new Set(a).size > 2, "temperature 1 should draw several tokens");
});

test("top-k, top-p and min-p only pick from the tokens they keep", () => {
  const topK = new Set(draws(new Sampler({ temperature: 2, topK: 2, seed: 1 }), 200));
  assert.deepEqual([...topK].sort(), [1, 4]);
  // Probabilities at temperature 1: token 1 ≈ 0.30, 4 ≈ 0.27, 2 ≈ 0.18 … top-p 0.5 keeps 1 and 4.
  const topP = new Set(draws(new Sampler({ temperature: 1, topP: 0.5, seed: 2 }), 200));
  assert.deepEqual([...topP].sort(), [1, 4]);
  // min-p 0.5 keeps tokens with p ≥ 0.5 · p(1): logits within ln 2 of 3.0 → 1, 4, 2.
  const minP = new Set(draws(new Sampler({ temperature: 1, minP: 0.5, seed: 3 }), 300));
  assert.deepEqual([...minP].sort(), [1, 2, 4]);
});

test("repetition and presence penalties push recently seen tokens down", () => {
  assert.equal(new Sampler({ repeatPenalty: 1.5 }).sample(logits, [1]), 4); // 3.0 / 1.5 = 2.0 < 2.9
  assert.equal(new Sampler({ presencePenalty: 0.2 }).sample(logits, [1]), 4); // 2.8 < 2.9
  assert.equal(new Sampler({ repeatPenalty: 1.5, penaltyLastN: 1 }).sample(logits, [4, 1]), 4); // only 1 is recent
  assert.equal(new Sampler({ repeatPenalty: 1.5, penaltyLastN: 2 }).sample(logits, [4, 1]), 2); // both are
  assert.equal(new Sampler({ repeatPenalty: 1.5 }).sample(logits, []), 1);
});

test("stop strings: held back while incomplete, cut where they start, never emitted", () => {
  const m = new StopMatcher(["</code>", "\n\n"]);
  assert.deepEqual(m.push("let x = 1;"), { text: "let x = 1;", stopped: false });
  assert.deepEqual(m.push(" </co"), { text: " ", stopped: false }); // "</co" may start "</code>"
  assert.deepEqual(m.push("ol>"), { text: "</cool>", stopped: false }); // it did not
  assert.deepEqual(m.push("\n"), { text: "", stopped: false });
  assert.deepEqual(m.push("\nmore"), { text: "", stopped: true });
  const n = new StopMatcher(["END"]);
  assert.deepEqual(n.push("abc EN"), { text: "abc ", stopped: false });
  assert.equal(n.flush(), "EN"); // the stream ended: held-back text is plain text
  const o = new StopMatcher([]);
  assert.deepEqual(o.push("anything"), { text: "anything", stopped: false });
});

test("topKIds equals a full sort's first k, ties in id order", async () => {
  const { topKIds } = await import("../../src/engine/sampler.ts");
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (const n of [1, 5, 100, 5000]) {
    // Rounded values make many ties.
    const x = Float32Array.from({ length: n }, () => Math.round(rand() * 50) / 10);
    const sorted = Array.from(x.keys()).sort((a, b) => x[b] - x[a]);
    for (const k of [1, 3, 40, n]) assert.deepEqual(topKIds(x, k), sorted.slice(0, k), `n=${n} k=${k}`);
  }
});
