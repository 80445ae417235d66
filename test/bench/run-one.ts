// One side of the benchmark in its own process (clean peak RSS): loads a model file with Hearth or
// with node-llama-cpp, then answers the bench's requests one line at a time, so that the two sides'
// measurements alternate seconds apart. (These VMs run the same code at one of two speeds for tens
// of seconds at a time; whole runs of each side, minutes apart, compared different machine states:
// the 3B shape's pp128 at 1 thread measured 16.6 and 10.9 tok/s in two runs a minute apart.)
//
//   node --import tsx test/bench/run-one.ts hearth|llama FILE THREADS [CONTEXT]
//   → READY {"loadMs":…,"kernels"|"backend":…}   once loaded and warmed up (a 16-token prompt)
//   pp N SEED → PP tok/s                           a fresh N-token prompt
//   gen [N]   → GEN {"ttftMs":…,"gen":…,"generated":…}   N-token prompt (128), then 64 greedy tokens
//   end       → END {"peakRssMiB":…}               and the process exits
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { setFlagsFromString } from "node:v8";

/** One side's figures from one process (one repeat), at one load of the machine. */
export interface RunResult {
  side: "hearth" | "llama";
  threads: number;
  loadMs: number;
  pp128: number; // tok/s
  pp512: number;
  ttftMs: number; // 128-token prompt → first token
  gen: number; // tok/s over 64 generated tokens
  /** tok/s over 64 generated tokens after a long prompt (bench --long). */
  genLong?: number;
  peakRssMiB: number;
  kernels?: string;
  /** llama.cpp: the CPU backend it loaded and where its weights went (e.g. AMX tiles). */
  backend?: string;
  generated: number;
}

export interface Ready {
  loadMs: number;
  kernels?: string;
  backend?: string;
}

export interface Generation {
  ttftMs: number;
  gen: number;
  generated: number;
}

/** A loaded side: what the requests run. */
interface Side {
  ready: Ready;
  /** tok/s of a fresh n-token prompt. */
  pp(n: number, seed: number): Promise<number>;
  /** An n-token prompt, then GEN_TOKENS greedy tokens. */
  gen(n: number): Promise<Generation>;
}

/** Positions of the context (the bench's --long asks for more). */
const DEFAULT_CONTEXT = 1024;
const BATCH = 512;
const GEN_TOKENS = 64;

/** Deterministic prompt tokens from the ordinary part of the vocabulary (no special tokens). */
export function promptTokens(n: number, seed: number, vocab: number): number[] {
  let s = seed >>> 0 || 1;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out.push(300 + ((s >>> 0) % Math.min(100000, vocab - 400)));
  }
  return out;
}

function nVocabOf(path: string): number {
  return path.includes("qwen") ? 151936 : 128256;
}

/** tok/s of `run` over n tokens. */
async function rate(n: number, run: () => Promise<unknown>): Promise<number> {
  const s = performance.now();
  await run();
  return n / ((performance.now() - s) / 1000);
}

/** Time to the first of `tokens` (from `start`) and the rate of the rest. */
async function timeGeneration(start: number, tokens: AsyncIterable<unknown>): Promise<Generation> {
  const times: number[] = [];
  for await (const _ of tokens) {
    void _;
    times.push(performance.now());
    if (times.length >= GEN_TOKENS) break;
  }
  return { ttftMs: times[0] - start, gen: (times.length - 1) / ((times[times.length - 1] - times[0]) / 1000), generated: times.length };
}

async function hearth(path: string, threads: number, context: number): Promise<Side> {
  // Relaxed SIMD is on by default in current Electron; Node 20 needs the flag (set before the
  // kernels are compiled, so WebAssembly.validate picks the relaxed build).
  if (process.env.HEARTH_BENCH_RELAXED !== "0") setFlagsFromString("--experimental-wasm-relaxed-simd");
  const { Engine } = await import("../../src/engine/engine.ts");
  const { kernelsVariant } = await import("../../src/engine/wasm/kernels.ts");
  const t0 = performance.now();
  const engine = await Engine.load(path, { threads, contextSize: context, batchSize: BATCH, slots: ["bench"] });
  const loadMs = performance.now() - t0;
  const vocab = nVocabOf(path);
  const slot = engine.model.slot("bench");
  const pp = (n: number, seed: number): Promise<number> => {
    slot.clear();
    return rate(n, () => engine.session.evaluate("bench", promptTokens(n, seed, vocab)));
  };
  await pp(16, 99); // warm-up (tier-up of the wasm code, first touches of scratch)
  return {
    ready: { loadMs, kernels: `${kernelsVariant()}${engine.model.kernels.dotAdd ? ", dot-add" : ""}` },
    pp,
    gen: (n) => {
      slot.clear();
      const s = performance.now();
      const tokens = engine.generate({ slot: "bench", prompt: promptTokens(n, 3, vocab), maxTokens: GEN_TOKENS, sampling: { temperature: 0 } });
      return timeGeneration(s, tokens);
    },
  };
}

async function llama(path: string, threads: number, context: number): Promise<Side> {
  const { getLlama } = await import("node-llama-cpp");
  // Info-level lines name the weights' buffer types: on a CPU with AMX, llama.cpp repacks Q4_K,
  // Q6_K and Q8_0 weights for AMX tiles (a matrix unit WebAssembly cannot reach).
  const buffers: string[] = [];
  const ll = await getLlama({
    gpu: false,
    build: "never",
    logLevel: "info" as never,
    logger: (_level: unknown, message: string) => {
      const m = /(\S+) model buffer size =\s*([\d.]+) MiB/.exec(message);
      if (m) buffers.push(`${m[1]} ${Number(m[2]).toFixed(0)} MiB`);
    },
  } as never);
  const t0 = performance.now();
  const model = await ll.loadModel({ modelPath: path, gpuLayers: 0 });
  const ctx = await model.createContext({ threads, contextSize: context, batchSize: BATCH, sequences: 1 });
  const loadMs = performance.now() - t0;
  const seq = ctx.getSequence();
  const vocab = nVocabOf(path);
  const pp = async (n: number, seed: number): Promise<number> => {
    await seq.clearHistory();
    return rate(n, () => seq.evaluateWithoutGeneratingNewTokens(promptTokens(n, seed, vocab) as never));
  };
  await pp(16, 99);
  return {
    ready: { loadMs, backend: `${cpuBackend()}; weights: ${buffers.join(", ")}` },
    pp,
    gen: async (n) => {
      await seq.clearHistory();
      const s = performance.now();
      return timeGeneration(s, seq.evaluate(promptTokens(n, 3, vocab) as never, { temperature: 0 }));
    },
  };
}

/** The ggml CPU backend variant node-llama-cpp picked for this CPU (Linux: from the mapped libraries). */
function cpuBackend(): string {
  try {
    const m = /libggml-cpu-([\w-]+)\.so/.exec(readFileSync("/proc/self/maps", "utf8"));
    return m ? `ggml-cpu-${m[1]}` : "ggml-cpu";
  } catch {
    return "ggml-cpu";
  }
}

async function main(): Promise<void> {
  const [sideName, path, threadsArg, contextArg] = process.argv.slice(2);
  const threads = Number(threadsArg);
  const context = Number(contextArg ?? DEFAULT_CONTEXT);
  const side = sideName === "hearth" ? await hearth(path, threads, context) : await llama(path, threads, context);
  const say = (line: string): boolean => process.stdout.write(`${line}\n`);
  say(`READY ${JSON.stringify(side.ready)}`);
  for await (const line of createInterface({ input: process.stdin })) {
    const [op, a, b] = line.trim().split(/\s+/);
    if (op === "pp") say(`PP ${await side.pp(Number(a), Number(b))}`);
    else if (op === "gen") say(`GEN ${JSON.stringify(await side.gen(Number(a ?? 128)))}`);
    else if (op === "end") break;
    else throw new Error(`unknown request: ${line}`);
  }
  // Exit without disposing: node-llama-cpp's teardown adds nothing to the figures.
  say(`END ${JSON.stringify({ peakRssMiB: process.resourceUsage().maxRSS / 1024 })}`);
  process.exit(0);
}

if (process.argv[1]?.endsWith("run-one.ts")) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
