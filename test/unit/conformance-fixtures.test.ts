// The conformance fixtures against llama.cpp itself (node-llama-cpp, CPU): every architecture ×
// weight type is deterministic, loads in llama.cpp as that architecture with our shapes, and gives
// a valid next-token distribution with a real spread and no near tie at the top, and 16 greedy
// tokens. What our engine is compared with later rests on these files being sound.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { readGgufSync } from "../../src/engine/gguf/reader.ts";
import { GgmlType } from "../../src/engine/quant/types.ts";
import {
  describeModelFixture, FIXTURE_ARCHS, FIXTURE_WEIGHTS, prepareModelFixtures, type FixtureOptions, type PreparedFixture,
} from "../conformance/fixtures.ts";
import { LlamaReference, sharedLlama } from "../conformance/llama-reference.ts";

const SEED = 1;
/** Minimum top-1 − top-2 gap in log p at the prompt's last position (no near tie). */
const MIN_TOP2_GAP = 1e-3;
/** Minimum max − min of log p over the vocabulary (logits with a real spread). */
const MIN_SPREAD = 5;

const MATRIX: FixtureOptions[] = FIXTURE_ARCHS.flatMap((arch) => FIXTURE_WEIGHTS.map((weights) => ({ arch, weights, seed: SEED })));
const prepared = new Map<string, PreparedFixture>();

before(async () => {
  // Build (or find cached) and rebuild every fixture on worker threads: the K-quant reference
  // quantisers dominate the time of this file.
  const out = await prepareModelFixtures(MATRIX);
  out.forEach((p, i) => prepared.set(`${MATRIX[i].arch}/${MATRIX[i].weights}`, p));
});

after(async () => {
  await (await sharedLlama()).dispose();
});

function top2(lp: Float64Array): { top: number; gap: number } {
  let a = -Infinity, b = -Infinity, top = -1;
  lp.forEach((v, i) => {
    if (v > a) {
      b = a;
      a = v;
      top = i;
    } else if (v > b) b = v;
  });
  return { top, gap: a - b };
}

test("fixture descriptions: shapes as llama.cpp's load_tensors wants them", () => {
  for (const arch of FIXTURE_ARCHS) {
    const d = describeModelFixture({ arch, weights: "F32" });
    const h = d.hparams;
    const t = new Map(d.tensors.map((x) => [x.name, x]));
    assert.deepEqual(t.get("token_embd.weight")?.dims, [h.nEmbd, h.nVocab]);
    assert.equal(t.has("output.weight"), arch !== "smollm3");
    assert.deepEqual(t.get("blk.0.attn_q.weight")?.dims, [h.nEmbd, h.nHead * h.headDim]);
    assert.deepEqual(t.get("blk.0.attn_k.weight")?.dims, [h.nEmbd, h.nHeadKv * h.headDim]);
    assert.deepEqual(t.get("blk.0.attn_output.weight")?.dims, [h.nHead * h.headDim, h.nEmbd]);
    assert.deepEqual(t.get("blk.0.ffn_down.weight")?.dims, [h.nFf, h.nEmbd]);
    assert.equal(t.has("blk.0.attn_q.bias"), arch === "qwen2");
    assert.equal(t.has("blk.0.attn_q_norm.weight"), arch === "qwen3");
    if (arch === "qwen3") assert.notEqual(h.nHead * h.headDim, h.nEmbd);
    if (arch === "smollm3") assert.deepEqual(h.noRopeLayers, [3]);
    for (const x of d.tensors) if (x.dims.length === 2) assert.equal(x.dims[0] % 256, 0, `${arch} ${x.name}: row length ${x.dims[0]}`);
  }
});

test("Q4_K_M holds llama.cpp's mix: Q4_K, Q6_K (output, some attn_v/ffn_down), one Q5_0 and one Q8_0", () => {
  for (const arch of FIXTURE_ARCHS) {
    const d = describeModelFixture({ arch, weights: "Q4_K_M" });
    const types = new Set(d.tensors.filter((x) => x.dims.length === 2).map((x) => x.type));
    assert.deepEqual([...types].sort(), [GgmlType.Q5_0, GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q6_K].sort());
    const out = d.tensors.find((x) => x.name === (arch === "smollm3" ? "token_embd.weight" : "output.weight"));
    assert.equal(out?.type, GgmlType.Q6_K);
    for (const x of d.tensors) if (x.dims.length === 1) assert.equal(x.type, GgmlType.F32, x.name);
  }
});

const gaps: string[] = [];

for (const arch of FIXTURE_ARCHS) {
  for (const weights of FIXTURE_WEIGHTS) {
    test(`${arch} ${weights}: deterministic, loads in llama.cpp, sane next-token distribution`, async () => {
      const p = prepared.get(`${arch}/${weights}`);
      assert.ok(p, "fixture not prepared");
      const fx = p.fixture;
      // Deterministic bytes: a second build equals the file (which may come from an earlier process).
      assert.equal(p.rebuiltSha256, fx.sha256, "fixture bytes differ between builds");

      const file = readGgufSync(fx.path);
      assert.equal(file.architecture, arch);
      for (const t of fx.tensors) assert.equal(file.tensors.find((x) => x.name === t.name)?.type, t.type, t.name);

      const ref = await LlamaReference.load(fx.path, { contextSize: 64 });
      try {
        const m = ref.llamaModel;
        assert.equal(ref.nVocab, fx.hparams.nVocab);
        assert.equal(m.fileInfo.metadata.general.architecture, arch);
        assert.equal(m.embeddingVectorSize, fx.hparams.nEmbd);
        assert.equal(m.trainContextSize, fx.hparams.contextLength);
        assert.equal(m.tokens.bos, fx.vocab.bosId);
        assert.equal(m.tokens.eos, fx.vocab.eosId);
        assert.equal(m.tokens.shouldPrependBosToken, fx.vocab.addBos);

        if (weights === "F32") {
          // The tokenizer is real: merges apply, text round-trips, control tokens parse.
          for (const text of fx.vocab.sampleTexts) {
            const ids = ref.tokenize(text);
            assert.ok(ids.length < Buffer.byteLength(text), `${text}: no merges applied`);
            assert.equal(ref.detokenize(ids).replace(/^ /, ""), text);
          }
          const [name, id] = Object.entries(fx.vocab.special).at(-1)!;
          assert.deepEqual(ref.tokenize(name, { special: true }), [id]);
        }

        const ids = [...fx.promptIds];
        const lp = await ref.logProbs(ids);
        assert.equal(lp.length, fx.hparams.nVocab);
        const sum = lp.reduce((s, v) => s + Math.exp(v), 0);
        assert.ok(Math.abs(sum - 1) < 1e-4, `probabilities sum to ${sum}`);
        let lo = Infinity, hi = -Infinity;
        for (const v of lp) {
          assert.ok(Number.isFinite(v), "a token has probability 0 or NaN");
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
        assert.ok(hi - lo > MIN_SPREAD, `log p spread ${hi - lo} ≤ ${MIN_SPREAD}`);
        const { top, gap } = top2(lp);
        assert.ok(gap > MIN_TOP2_GAP, `top-2 gap ${gap} ≤ ${MIN_TOP2_GAP}`);

        const cont = await ref.greedy(ids, 16);
        assert.equal(cont.length, 16);
        assert.equal(cont[0], top, "greedy's first token is not the argmax of logProbs");
        for (const t of cont) assert.ok(Number.isInteger(t) && t >= 0 && t < ref.nVocab);
        // Calls are independent: the same question gives the same answer.
        assert.deepEqual(await ref.logProbs(ids), lp);

        gaps.push(`${arch.padEnd(8)} ${weights.padEnd(7)} spread ${(hi - lo).toFixed(2)} top1 ${top} gap ${gap.toFixed(4)} greedy ${cont.join(",")}`);
      } finally {
        await ref.dispose();
      }
    });
  }
}

test("report: log-probability spread and top-2 gap of every file", (t) => {
  assert.equal(gaps.length > 0, true);
  for (const line of gaps) t.diagnostic(line);
});
