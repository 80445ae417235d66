// The tokenizer against llama.cpp's own reference tokenisations (test/fixtures/tokenizer, from
// llama.cpp's test data) and the defaults of a real SentencePiece model (stories260K).

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { readGgufSync } from "../../src/engine/gguf/reader.ts";
import { Tokenizer } from "../../src/engine/tokenizer/index.ts";
import { STORIES_PATH } from "../helpers/gguf-fixtures.ts";

const DIR = join(__dirname, "..", "fixtures", "tokenizer");
const SHA256: Record<string, string> = {
  "ggml-vocab-gpt-2.gguf": "cedc56ca6e2e89f63e781696d1fd76b4b1d49e6720dee86463e915f6e90016ac",
  "ggml-vocab-llama-spm.gguf": "16c3724582d59aa8bf84711894e833f916ee46a31d80e21312759c48bf8d0e69",
};

/** llama.cpp's test-tokenizer-0 format: strings separated by "\n__ggml_vocab_test__\n", one .out line each. */
function readCases(name: string): { text: string; ids: number[] }[] {
  const inp = readFileSync(join(DIR, `${name}.inp`), "utf8").split("\n__ggml_vocab_test__\n");
  if (inp[inp.length - 1] === "") inp.pop();
  const out = readFileSync(join(DIR, `${name}.out`), "utf8").split("\n");
  if (out[out.length - 1] === "") out.pop();
  assert.equal(inp.length, out.length, `${name}: ${inp.length} inputs, ${out.length} outputs`);
  return inp.map((text, i) => ({ text, ids: out[i]!.trim() === "" ? [] : out[i]!.trim().split(/\s+/).map(Number) }));
}

for (const name of Object.keys(SHA256)) {
  test(`${name}: llama.cpp reference tokenisations`, (t) => {
    const bytes = readFileSync(join(DIR, name));
    assert.equal(createHash("sha256").update(bytes).digest("hex"), SHA256[name]);
    const tok = Tokenizer.fromGguf(readGgufSync(join(DIR, name)));
    const cases = readCases(name);
    let equal = 0;
    const failures: string[] = [];
    for (const c of cases) {
      const got = tok.encode(c.text, { addSpecial: false });
      if (got.join(" ") === c.ids.join(" ")) equal++;
      else failures.push(`${JSON.stringify(c.text)}: got ${got.join(" ")}, expected ${c.ids.join(" ")}`);
    }
    t.diagnostic(`${name}: ${equal}/${cases.length} equal`);
    assert.deepEqual(failures, []);
  });
}

test("SentencePiece defaults: BOS added, leading space, byte fallback, special parsing", () => {
  const tok = Tokenizer.fromGguf(readGgufSync(join(DIR, "ggml-vocab-llama-spm.gguf")));
  assert.equal(tok.bos, 1);
  assert.equal(tok.eos, 2);
  assert.equal(tok.addBos, true);
  assert.equal(tok.addEos, false);
  assert.equal(tok.vocabSize, 32000);
  assert.ok(tok.isEog(2));
  assert.deepEqual(tok.encode(""), [1]);
  assert.deepEqual(tok.encode("", { addSpecial: false }), []);
  const hello = tok.encode("Hello");
  assert.equal(hello[0], 1);
  assert.equal(tok.tokenText(hello[1]!), "▁Hello");
  // "<s>" is text unless special tokens are parsed
  assert.deepEqual(tok.encode("<s>x", { addSpecial: false, parseSpecial: true }).slice(0, 1), [1]);
  assert.notEqual(tok.encode("<s>x", { addSpecial: false })[0], 1);
  // a character outside the vocabulary falls back to its UTF-8 bytes
  const ids = tok.encode("\u{1F999}", { addSpecial: false });
  assert.deepEqual(ids.slice(-4).map((id) => tok.tokenText(id)), ["<0xF0>", "<0x9F>", "<0xA6>", "<0x99>"]);
  assert.equal(tok.decode(ids), "\u{1F999}");
  assert.equal(tok.decode(tok.encode("Hello  world", { addSpecial: false })), "Hello  world");
  // llama.cpp strips the added space only from the first piece: behind a BOS it stays
  assert.equal(tok.decode(tok.encode("Hello  world")), " Hello  world");
  assert.equal(tok.decode([1, ...tok.encode("hi", { addSpecial: false })], { special: true }), "<s> hi");
});

test("SentencePiece defaults of a real model file without tokenizer keys (stories260K)", () => {
  const tok = Tokenizer.fromGguf(readGgufSync(STORIES_PATH));
  assert.equal(tok.vocabSize, 512);
  assert.equal(tok.bos, 1);
  assert.equal(tok.eos, 2);
  assert.equal(tok.addBos, true);
  const ids = tok.encode("Once upon a time");
  assert.equal(ids[0], 1);
  assert.equal(tok.decode(ids.slice(1)), "Once upon a time");
});

test("streaming decoder returns only whole characters", () => {
  const tok = Tokenizer.fromGguf(readGgufSync(join(DIR, "ggml-vocab-llama-spm.gguf")));
  const text = "a🦙b 中文 👨‍👩‍👧";
  const ids = tok.encode(text, { addSpecial: false });
  const dec = tok.streamingDecoder();
  const deltas = ids.map((id) => dec.push(id));
  deltas.push(dec.flush());
  assert.ok(deltas.some((d) => d === ""), "some byte tokens complete no character on their own");
  for (const d of deltas) assert.ok(!d.includes("\uFFFD"), `delta ${JSON.stringify(d)} holds a broken character`);
  assert.equal(deltas.join(""), " " + text); // the SPM leading space is part of the first piece
  // an unfinished sequence at the end comes out as U+FFFD on flush
  const dec2 = tok.streamingDecoder();
  assert.equal(dec2.push(tok.tokenId("<0xF0>")!), "");
  assert.equal(dec2.flush(), "\uFFFD");
});

test("unsupported tokenizer models and pre-tokenizers are named in the error", async () => {
  const { buildGguf, str, arr } = await import("../reference/gguf-writer.ts");
  const { parseGguf } = await import("../../src/engine/gguf/reader.ts");
  const { GgufValueType } = await import("../../src/engine/gguf/types.ts");
  const mk = (model: string, pre?: string) =>
    parseGguf(
      buildGguf({
        metadata: [
          ["tokenizer.ggml.model", str(model)],
          ...(pre ? ([["tokenizer.ggml.pre", str(pre)]] as const) : []),
          ["tokenizer.ggml.tokens", arr(GgufValueType.STRING, ["a", "b"])],
          ["tokenizer.ggml.merges", arr(GgufValueType.STRING, ["a b"])],
        ],
      }),
    );
  assert.throws(() => Tokenizer.fromGguf(mk("t5")), /tokenizer model "t5" is not supported/);
  assert.throws(() => Tokenizer.fromGguf(mk("gpt2", "deepseek-v3")), /tokenizer.ggml.pre "deepseek-v3" is not supported/);
});

// Token 30143 of the Llama-2 vocabulary is U+FEFF: the GGUF reader must not drop it as a
// byte-order mark (its TextDecoder has `ignoreBOM: true`), or the token would read as "".
test("a token that is a lone U+FEFF keeps its text", () => {
  const tok = Tokenizer.fromGguf(readGgufSync(join(DIR, "ggml-vocab-llama-spm.gguf")));
  assert.equal(tok.tokenText(30143), "\uFEFF");
  assert.deepEqual(tok.encode("a\uFEFFb", { addSpecial: false }).includes(30143), true);
});
