// The `hearth` CLI's engine commands end to end, on the real stories260K model and a generated
// file with a chat template: the forms our own checks rely on (tokenize/generate/logits --json),
// the chat loop, and clear errors.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { STORIES_PATH } from "../helpers/gguf-fixtures.ts";
import { ensureCliBuilt, hearth } from "../helpers/cli.ts";
import { makeModelFixture } from "../conformance/fixtures.ts";

const reference = JSON.parse(readFileSync(join(__dirname, "..", "fixtures", "stories260K.greedy-reference.json"), "utf8"));
const once = reference["Once upon a time"];

before(() => ensureCliBuilt());

test("tokenize --json: the reference ids, with BOS only when --bos is given", () => {
  const withBos = hearth(["tokenize", "--model", STORIES_PATH, "--text", "Once upon a time", "--bos", "--json"]);
  assert.equal(withBos.status, 0, withBos.stderr);
  assert.deepEqual(JSON.parse(withBos.stdout), { ids: once.input_ids_with_bos });
  const plain = hearth(["tokenize", "--model", STORIES_PATH, "--text", "Once upon a time", "--json"]);
  assert.deepEqual(JSON.parse(plain.stdout).ids, once.input_ids_with_bos.slice(1));
});

test("generate --json: greedy ids and text equal the reference, with stats", () => {
  const r = hearth(["generate", "--model", STORIES_PATH, "--prompt", "Once upon a time", "--max-tokens", "30", "--threads", "2", "--json"]);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.ids, once.greedy_ids.slice(0, 30));
  assert.ok(once.greedy_text.startsWith(out.text));
  assert.equal(out.stats.promptTokens, once.input_ids_with_bos.length);
  assert.equal(out.stats.generatedTokens, 30);
  assert.equal(out.stats.stopReason, "length");
});

test("generate --prompt-cache DIR: the second run restores the prompt from disk, evaluates only its last token, and says so", () => {
  const dir = mkdtempSync(join(tmpdir(), "hearth-cli-cache-"));
  try {
    const prompt = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends and her big dog, Max.";
    const run = () => hearth(["generate", "--model", STORIES_PATH, "--prompt", prompt, "--max-tokens", "24", "--threads", "1", "--prompt-cache", dir]);
    const cold = run();
    assert.equal(cold.status, 0, cold.stderr);
    const warm = run();
    assert.equal(warm.status, 0, warm.stderr);
    const stats = (out: string) => out.match(/\[prompt: (\d+) tokens \((\d+) reused, (\d+) restored, (\d+) evaluated/)!.slice(1).map(Number);
    const [n, , restored0, evaluated0] = stats(cold.stdout);
    assert.deepEqual([restored0, evaluated0], [0, n]);
    assert.deepEqual(stats(warm.stdout), [n, 0, n - 1, 1], warm.stdout);
    assert.equal(warm.stdout.split("\n")[0], cold.stdout.split("\n")[0], "the same story");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("generate streams a story and a tokens/s line; a seed makes sampling repeatable", () => {
  const r = hearth(["generate", "--model", STORIES_PATH, "--prompt", "Once upon a time", "--max-tokens", "20"]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^, there was a little girl named Lily/);
  assert.match(r.stdout, /generated 20 tokens, [\d.]+ tok\/s/);
  const a = hearth(["generate", "--model", STORIES_PATH, "--prompt", "The cat", "--temperature", "1", "--seed", "9", "--json"]);
  const b = hearth(["generate", "--model", STORIES_PATH, "--prompt", "The cat", "--temperature", "1", "--seed", "9", "--json"]);
  assert.deepEqual(JSON.parse(a.stdout).ids, JSON.parse(b.stdout).ids);
});

test("logits --json: the whole vocabulary, largest at the reference's next token", () => {
  const r = hearth(["logits", "--model", STORIES_PATH, "--ids", once.input_ids_with_bos.join(","), "--json"]);
  assert.equal(r.status, 0, r.stderr);
  const { logits } = JSON.parse(r.stdout) as { logits: number[] };
  assert.equal(logits.length, 512);
  assert.equal(logits.indexOf(Math.max(...logits)), once.greedy_ids[0]);
});

test("chat: replies through the model's chat template, one turn per line, ends at end of input", () => {
  const fx = makeModelFixture({ arch: "qwen2", weights: "Q8_0" });
  const r = hearth(["chat", "--model", fx.path, "--max-tokens", "8", "--temperature", "0"], { input: "hello\nwhat next?\n" });
  assert.equal(r.status, 0, r.stderr);
  const turns = r.stdout.match(/generated \d+ tokens/g) ?? [];
  assert.equal(turns.length, 2, r.stdout);
  // The second turn's prompt starts with the first turn's: its KV is reused.
  const reused = [...r.stdout.matchAll(/\((\d+) reused/g)].map((m) => Number(m[1]));
  assert.equal(reused[0], 0);
  assert.ok(reused[1] > 0, r.stdout);
});

test("bad input: a clear message and a non-zero status", () => {
  const missing = hearth(["generate", "--model", "/nonexistent/model.gguf", "--prompt", "x"]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /\/nonexistent\/model\.gguf/);
  assert.doesNotMatch(missing.stderr, /^\s+at /m); // no stack trace
  const usage = hearth(["generate", "--prompt", "x"]);
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /--model is required/);
  const ids = hearth(["logits", "--model", STORIES_PATH, "--ids", "1,x"]);
  assert.equal(ids.status, 2);
  const tooLong = hearth(["generate", "--model", STORIES_PATH, "--context", "16", "--prompt", "Once upon a time there was a big dog and a little cat who played in the park every day"]);
  assert.equal(tooLong.status, 1);
  assert.match(tooLong.stderr, /tokens; the context holds 16/);
});
