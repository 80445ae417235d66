// The suggestion cache: typing along a shown suggestion returns its rest, deleting back returns
// it again, anything else misses; least recently used entries go first.
import { test } from "node:test";
import assert from "node:assert/strict";
import { SuggestionCache } from "../../src/completion/suggestion-cache.ts";
import { remainderAfter, typedSince, type Anchor } from "../../src/completion/anchor.ts";

const a = (before: string, lineAfter = "", doc = "file:///a.ts"): Anchor => ({ doc, before, lineAfter });

test("an anchor is continued only by typing at the cursor", () => {
  assert.equal(typedSince(a("const x"), a("const x = ")), " = ");
  assert.equal(typedSince(a("const x"), a("const x")), "");
  assert.equal(typedSince(a("const x"), a("const y")), undefined);
  assert.equal(typedSince(a("const x"), a("const x =", ";")), undefined, "the rest of the line changed");
  assert.equal(typedSince(a("const x"), a("const x =", "", "file:///b.ts")), undefined);
  assert.equal(remainderAfter(" = 1;", " ="), " 1;");
  assert.equal(remainderAfter(" = 1;", " = 1;"), undefined, "fully typed");
  assert.equal(remainderAfter(" = 1;", " - "), undefined);
});

test("typing characters that match the suggestion keeps its rest, without a request", () => {
  const c = new SuggestionCache();
  c.set(a("const x"), " = compute(1);");
  assert.equal(c.get(a("const x")), " = compute(1);");
  assert.equal(c.get(a("const x =")), " compute(1);");
  assert.equal(c.get(a("const x = comp")), "ute(1);");
  assert.equal(c.get(a("const x = compute(1);")), undefined, "nothing left");
  assert.equal(c.get(a("const x = other")), undefined);
  assert.equal(c.get(a("const")), undefined, "before the anchor");
});

test("multi-line suggestions are followed across the newline", () => {
  const c = new SuggestionCache();
  c.set(a("if (a) {"), "\n  b();\n}");
  assert.equal(c.get(a("if (a) {\n  b")), "();\n}");
});

test("the newest matching suggestion wins; the least recently used is evicted", () => {
  const c = new SuggestionCache(2);
  c.set(a("x"), "yz1");
  c.set(a("xy"), "z2");
  assert.equal(c.get(a("xy")), "z2");
  assert.equal(c.get(a("x")), "yz1"); // used: now the newest
  c.set(a("q"), "r");
  assert.equal(c.size, 2);
  assert.equal(c.get(a("xy")), "z1", "the entry at 'xy' was evicted; the one at 'x' still matches");
  c.clear();
  assert.equal(c.get(a("x")), undefined);
});

test("an empty suggestion is not cached", () => {
  const c = new SuggestionCache();
  c.set(a("x"), "");
  assert.equal(c.size, 0);
});
