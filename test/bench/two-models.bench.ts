// Two models at once (issue 16). Memory of the catalogue's pairings: each completion model with
// SmolLM3-3B for chat, as the extension would load them (context 2048, completion slots from the automatic
// budget of this machine, chat's one slot), next to this machine's free memory. Shapes: the bench
// files' headers (real shapes, test/bench/model-files.ts) and Qwen2.5-Coder-1.5B's published
// hyper-parameters with the catalogue's file size as its weights.
// Run: node --import tsx test/bench/two-models.bench.ts [--context 2048] [--load] [--threads 2]
// --load also loads the 0.5B (completion) + 3B (chat) pair into one engine worker, as the
// extension does, and reports the process's resident memory and what a completion waits for
// while the other model is generating a chat reply: its first text idle vs during the chat
// (the scheduler runs a completion between two chat tokens, so it waits up to one 3B token).
import { freemem, totalmem } from "node:os";
import { readGguf } from "../../src/engine/gguf/reader.ts";
import { modelShape } from "../../src/engine/model/shape.ts";
import { CATALOGUE } from "../../src/models/catalogue.ts";
import { checkPairFits, estimateModelMemory, planCompletionSlots, type ModelShape } from "../../src/models/memory.ts";
import { benchModelFile } from "./model-files.ts";
import { EngineClient } from "../../src/client/engine-client.ts";
import { CancelFlag } from "../../src/client/cancellation.ts";
import { join } from "node:path";

const arg = (name: string, d: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const context = arg("context", 2048);
const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

async function main(): Promise<void> {
  const shapeOf = async (shape: string): Promise<ModelShape> => modelShape(await readGguf(await benchModelFile(shape)));
  const smollm3 = await shapeOf("smollm3-3b");
  const coder05 = await shapeOf("qwen2.5-coder-0.5b");
  const size15 = CATALOGUE.find((e) => e.id === "qwen2.5-coder-1.5b-q4_k_m")?.sizeBytes ?? 986_048_768;
  // Qwen2.5-Coder-1.5B: 28 layers, 1536 wide, 8960 FF, 12 heads (2 KV) of 128, vocabulary 151936.
  const coder15: ModelShape = { ...coder05, path: "Qwen2.5-Coder-1.5B (published shape)", weightBytes: size15, nLayer: 28, nEmbd: 1536, nFF: 8960, nHead: 12, nHeadKV: 2, headDimK: 128, headDimV: 128, ropeDims: 128 };

  console.log(`context ${context}, this machine: ${mib(freemem())} free of ${mib(totalmem())}\n`);
  console.log("| completion model | its memory (weights + KV × slots + scratch) | SmolLM3-3B for chat | together | fits here |");
  console.log("|---|---|---|---|---|");
  const chat = estimateModelMemory(smollm3, context, { threads: 2, roles: ["chat"] });
  for (const [name, shape] of [["Qwen2.5-Coder-0.5B", coder05], ["Qwen2.5-Coder-1.5B", coder15]] as const) {
    const slots = planCompletionSlots(shape, context, { threads: 2 }).completionSlots;
    const c = estimateModelMemory(shape, context, { threads: 2, completionSlots: slots, roles: ["completion"] });
    const fit = checkPairFits({ roles: ["chat"], estimate: chat, name: "SmolLM3-3B" }, { roles: ["completion"], estimate: c, name });
    console.log(
      `| ${name} | ${mib(c.total)} (${mib(c.weights)} + ${mib(c.kvCache)} for ${slots} slots + ${mib(c.scratch)}) | ${mib(chat.total)} (${mib(chat.weights)} + ${mib(chat.kvCache)} + ${mib(chat.scratch)}) | ${mib(c.total + chat.total)} | ${fit.ok ? "yes" : "no"} |`,
    );
  }
  const both = estimateModelMemory(smollm3, context, { threads: 2, completionSlots: planCompletionSlots(smollm3, context, { threads: 2 }).completionSlots });
  if (process.argv.includes("--load")) await loadPair(context, planCompletionSlots(coder05, context, { threads: 2 }).completionSlots);
  console.log(`| (SmolLM3-3B for both roles) | ${mib(both.total)} (${mib(both.weights)} + ${mib(both.kvCache)} for ${both.slots} slots + ${mib(both.scratch)}) | — | ${mib(both.total)} | ${both.total < freemem() ? "yes" : "no"} |`);
}

/** Loads the 0.5B for completion and the 3B for chat into one worker; resident memory after each. */
async function loadPair(contextSize: number, completionSlots: number): Promise<void> {
  const rss = () => mib(process.memoryUsage().rss);
  const client = new EngineClient({ workerPath: join(__dirname, "..", "..", "dist", "worker.js") });
  const threads = arg("threads", 2);
  const before = rss();
  let t0 = performance.now();
  await client.load({ path: benchModelFile("qwen2.5-coder-0.5b"), threads, contextSize, completionSlots }, { roles: ["completion"] });
  const one = `${rss()} after the 0.5B (${((performance.now() - t0) / 1000).toFixed(1)} s)`;
  t0 = performance.now();
  await client.load({ path: benchModelFile("smollm3-3b"), threads, contextSize }, { roles: ["chat"] });
  console.log(`\nloaded in one worker: resident ${before} before, ${one}, ${rss()} with the 3B for chat too (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  // A keystroke's completion (a warm document: 1 new token, then 4 generated) idle, and while the 3B writes a chat reply.
  const prompt = "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fib";
  const completion = async (i: number): Promise<number> => {
    const t0 = performance.now();
    let first = 0;
    for await (const d of client.generate({ slot: "completion", document: "a.py", prompt: prompt + "onacci"[i % 6], maxTokens: 4, sampling: { temperature: 0 } })) if (!first && d) first = performance.now() - t0;
    return first || performance.now() - t0;
  };
  await completion(0);
  const idle: number[] = [];
  const busy: number[] = [];
  for (let i = 0; i < 8; i++) idle.push(await completion(i));
  const cancel = new CancelFlag();
  const chat = (async () => {
    for await (const d of client.generate({ slot: "chat", prompt: "Once upon a time", maxTokens: 4000, sampling: { temperature: 0 } }, { cancel })) void d;
  })();
  await new Promise((r) => setTimeout(r, 1500)); // the chat reply is streaming
  for (let i = 0; i < 8; i++) {
    busy.push(await completion(i));
    await new Promise((r) => setTimeout(r, 100));
  }
  cancel.cancel();
  await chat;
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1].toFixed(0);
  const max = (a: number[]) => Math.max(...a).toFixed(0);
  console.log(`completion's first text (0.5B, ${threads} threads), median / max of 8: idle ${med(idle)} / ${max(idle)} ms; while the 3B writes a chat reply ${med(busy)} / ${max(busy)} ms\n`);
  await client.dispose();
}

void main();
