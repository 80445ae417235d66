// npm run bench:completion — inline completion as a user meets it: replays typing through a real
// source file, one character at a time, through the completion controller, the engine client and
// the engine worker (dist/worker.js), on models of Qwen2.5-Coder-0.5B shape (FIM prompts) and
// SmolLM3-3B shape (prefix-only prompts), Q4_K_M with random weights (test/bench/model-files.ts).
// Per keystroke: time from the keystroke to the first generated text (the first ghost text
// can show then), prompt tokens evaluated vs reused, and whether the previous generation was
// cancelled. Twice: with the engine's prefix cache (the normal path) and without it (a unique
// first line in every prompt, so nothing can be reused). The next keystroke comes as soon as
// the first text arrived: every keystroke cancels the generation before it.
// The bench vocabularies have no merges (one token per byte; the 0.5B shape has Qwen's special
// tokens, FIM ones included, at their real ids): token counts are the bench tokenizer's, about
// three times what a real vocabulary makes of the same code. The kernels are the relaxed-SIMD
// build, as in VS Code's Electron (`--simd simd128` for the build Node 20 and code-server run).
// Then the prompt-cache scenarios (prompt-cache.scenarios.ts): switching back to a recent file,
// the first key after a window reload (prefixes from disk), pre-warm of a newly opened file and
// its cost to user requests, and chat after a reload (`--scenarios off` skips them).
// Prints markdown tables; asserts nothing.
//
//   npm run bench:completion
//   npm run bench:completion -- --shapes qwen2.5-coder-0.5b --keystrokes 100 --cold 5 --threads 2 --simd simd128
//   npm run bench:completion -- --shapes qwen2.5-coder-0.5b --keystrokes 0 --switches 24 --delay-trials 24
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { CancelFlag } from "../../src/client/cancellation.ts";
import { EngineClient, type RequestOptions } from "../../src/client/engine-client.ts";
import { CompletionController, type CompletionRecord } from "../../src/completion/controller.ts";
import { positionOf } from "../../src/completion/split-point.ts";
import { linesOf } from "../../src/completion/window.ts";
import type { GenerateParams, ModelInfo } from "../../src/worker/protocol.ts";
import { option as get } from "./args.ts";
import { benchModelFile, SHAPES } from "./model-files.ts";
import { benchController, promptCacheScenarios, SCENARIO_HEADER } from "./prompt-cache.scenarios.ts";
import { median, pct } from "./stats.ts";

const ROOT = join(__dirname, "..", "..");
const SOURCE_FILE = join(ROOT, "src", "engine", "session.ts");

interface Args {
  shapes: string[];
  keystrokes: Record<string, number>;
  cold: Record<string, number>;
  threads: number;
  contextSize: number;
  simd: "relaxed" | "simd128";
  scenarios: boolean;
  switches: number;
  delayTrials: number;
}

function parseArgs(): Args {
  const shapes = get("shapes")?.split(",") ?? ["qwen2.5-coder-0.5b", "smollm3-3b"];
  const per = (name: string, defaults: Record<string, number>) => {
    const v = get(name);
    return Object.fromEntries(shapes.map((s) => [s, v !== undefined ? Number(v) : (defaults[s] ?? 20)]));
  };
  return {
    shapes,
    keystrokes: per("keystrokes", { "qwen2.5-coder-0.5b": 200, "smollm3-3b": 80 }),
    cold: per("cold", { "qwen2.5-coder-0.5b": 6, "smollm3-3b": 3 }),
    threads: Number(get("threads") ?? Math.max(1, Math.min(2, cpus().length))),
    contextSize: Number(get("context") ?? 4096),
    simd: get("simd") === "simd128" ? "simd128" : "relaxed",
    scenarios: get("scenarios") !== "off",
    switches: Number(get("switches") ?? 16),
    delayTrials: Number(get("delay-trials") ?? 16),
  };
}

interface Sample {
  firstTextMs: number | undefined;
  evaluated: number;
  reused: number;
  promptTokens: number;
  cancelledPrevious: boolean;
}

/** Makes every prompt unique from its first token on: nothing in the slot can be reused. */
function withoutPrefixCache(client: EngineClient): EngineClient {
  let n = 0;
  return Object.assign(Object.create(client) as EngineClient, {
    generate: (params: GenerateParams, options?: RequestOptions) => client.generate({ ...params, prompt: `#${n++}#\n${params.prompt as string}` }, options),
  });
}

async function replay(client: EngineClient, info: ModelInfo, source: string, start: number, keystrokes: number): Promise<{ samples: Sample[]; controller: CompletionController }> {
  const controller = benchController(client, info);
  const records = new Map<string, CompletionRecord>();
  controller.onDidFinish((r) => {
    records.set(r.anchor.before, r);
    if (process.env.HEARTH_BENCH_VERBOSE) console.error(`  ${r.stats.stopReason}: prompt ${r.stats.promptTokens} (evaluated ${r.stats.evaluatedTokens}) in ${r.stats.promptMs.toFixed(0)} ms, first text ${r.firstTextMs} ms`);
  });
  const anchors: string[] = [];
  for (let i = 0; i < keystrokes; i++) {
    const before = source.slice(0, start + i);
    // The user retypes source[start, start + keystrokes): the document holds what was typed so
    // far, then the rest of the file after that region (it stays the same while they type).
    const lines = linesOf(before + source.slice(start + keystrokes));
    const { line, character } = positionOf(before);
    const firstText = new Promise<void>((resolve) => {
      const a = controller.onDidReceiveFirstText((anchor) => anchor.before === before && (a.dispose(), b.dispose(), resolve()));
      const b = controller.onDidFinish((r) => r.anchor.before === before && (a.dispose(), b.dispose(), resolve()));
    });
    const cancel = new CancelFlag();
    const requests = controller.counters.requests;
    void controller.provide({ doc: "file:///bench.ts", path: "src/engine/session.ts", languageId: "typescript", lines, line, character, before, explicit: false }, cancel);
    // No new request when the suggestion cache or the running generation (the typed character
    // matched its text) answered: nothing of this keystroke's own to wait for.
    await Promise.race([firstText, new Promise((r) => setTimeout(r, 50)).then(() => (controller.counters.requests > requests ? firstText : undefined))]);
    cancel.cancel();
    anchors.push(before);
    if (process.env.HEARTH_BENCH_VERBOSE) console.error(`keystroke ${i}: requests ${controller.counters.requests}, busy ${controller.busy}`);
  }
  controller.cancelInflight();
  await new Promise((r) => setTimeout(r, 500));
  const samples: Sample[] = [];
  for (const a of anchors) {
    const r = records.get(a);
    if (!r) continue;
    samples.push({ firstTextMs: r.firstTextMs, evaluated: r.stats.evaluatedTokens, reused: r.stats.reusedTokens, promptTokens: r.stats.promptTokens, cancelledPrevious: r.stats.stopReason === "cancelled" });
  }
  return { samples, controller };
}

function row(shape: string, mode: string, samples: Sample[], keystrokes: number, c: CompletionController): string {
  const ttft = samples.map((s) => s.firstTextMs).filter((x): x is number => x !== undefined);
  const evaluated = samples.map((s) => s.evaluated);
  const reused = samples.map((s) => s.reused);
  const prompt = samples.map((s) => s.promptTokens);
  const cancelled = samples.filter((s) => s.cancelledPrevious).length;
  return `| ${shape} | ${mode} | ${keystrokes} | ${c.counters.requests} | ${median(ttft).toFixed(0)} | ${pct(ttft, 90).toFixed(0)} | ${median(prompt).toFixed(0)} | ${median(evaluated).toFixed(0)} | ${median(reused).toFixed(0)} | ${cancelled} | ${c.counters.cacheHits + c.counters.followed} |`;
}

async function main(): Promise<void> {
  const args = parseArgs();
  // Process-wide V8 flag, set before the worker compiles the kernels: WebAssembly.validate then
  // accepts the relaxed build there.
  if (args.simd === "relaxed") setFlagsFromString("--experimental-wasm-relaxed-simd");
  const source = readFileSync(SOURCE_FILE, "utf8");
  const lines: string[] = [];
  console.log(`completion benchmark: typing through ${SOURCE_FILE.slice(ROOT.length + 1)} (${source.length} characters), ${args.threads} thread(s), context ${args.contextSize}, ${args.simd} kernels\n`);
  const scenarioRows: string[] = [];
  const notes: string[] = [];
  for (const shape of args.shapes) {
    const path = benchModelFile(shape, (s) => console.log(s));
    if (args.keystrokes[shape] > 0) {
      const client = new EngineClient({ workerPath: join(ROOT, "dist", "worker.js") });
      try {
        const info = await client.load({ path, threads: args.threads, contextSize: args.contextSize });
        const fileTokens = (await client.tokenize({ text: source, addSpecial: false })).length;
        console.log(`${SHAPES[shape].name}: ${info.fim ? "FIM" : "prefix-only"} prompts; the file is ${fileTokens} tokens for this vocabulary`);
        // Start typing in the middle of the file: the prefix window is full from the first keystroke.
        const start = source.indexOf("\n", Math.floor(source.length / 2)) + 1;
        const warm = await replay(client, info, source, start, args.keystrokes[shape]);
        lines.push(row(SHAPES[shape].name, "prefix cache on", warm.samples, args.keystrokes[shape], warm.controller));
        const cold = await replay(withoutPrefixCache(client), info, source, start, args.cold[shape]);
        lines.push(row(SHAPES[shape].name, "prefix cache off", cold.samples, args.cold[shape], cold.controller));
        console.log(lines.slice(-2).join("\n"));
      } finally {
        await client.dispose();
      }
    }
    if (args.scenarios) {
      const r = await promptCacheScenarios(shape, path, { threads: args.threads, switches: args.switches, delayTrials: args.delayTrials });
      scenarioRows.push(...r.rows);
      notes.push(...r.notes);
    }
  }
  console.log("\n| model | mode | keystrokes | requests | first text median (ms) | p90 (ms) | prompt tokens (median) | evaluated (median) | reused (median) | cancelled by the next key | answered without a request |");
  console.log("|---|---|---|---|---|---|---|---|---|---|---|");
  for (const l of lines) console.log(l);
  if (scenarioRows.length > 0) {
    console.log(`\nPrompt caches (context 2048, ${args.threads} thread(s)):\n`);
    console.log(SCENARIO_HEADER);
    for (const l of scenarioRows) console.log(l);
    console.log("");
    for (const n of notes) console.log(`- ${n}`);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
