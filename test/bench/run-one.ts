// One side of one benchmark run, in its own process (clean peak RSS): loads a model file with
// Hearth or with node-llama-cpp, then measures prompt processing (fresh 128- and 512-token
// prompts), time to first token and greedy generation of 64 tokens after a 128-token prompt.
// Prints one JSON line. Usage: node --import tsx test/bench/run-one.ts hearth|llama FILE THREADS
import { readFileSync } from "node:fs";
import { setFlagsFromString } from "node:v8";

export interface RunResult {
  side: "hearth" | "llama";
  threads: number;
  loadMs: number;
  pp128: number; // tok/s
  pp512: number;
  ttftMs: number; // 128-token prompt → first token
  gen: number; // tok/s over 64 generated tokens
  peakRssMiB: number;
  kernels?: string;
  /** llama.cpp: the CPU backend it loaded and where its weights went (e.g. AMX tiles). */
  backend?: string;
  generated: number;
}

const CONTEXT = 1024;
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

async function hearth(path: string, threads: number): Promise<RunResult> {
  // Relaxed SIMD is on by default in current Electron; Node 20 needs the flag (set before the
  // kernels are compiled, so WebAssembly.validate picks the relaxed build).
  if (process.env.HEARTH_BENCH_RELAXED !== "0") setFlagsFromString("--experimental-wasm-relaxed-simd");
  const { Engine } = await import("../../src/engine/engine.ts");
  const { kernelsVariant } = await import("../../src/engine/wasm/kernels.ts");
  const t0 = performance.now();
  const engine = await Engine.load(path, { threads, contextSize: CONTEXT, batchSize: BATCH, slots: ["bench"] });
  const loadMs = performance.now() - t0;
  const vocab = nVocabOf(path);
  const pp = async (n: number, seed: number): Promise<number> => {
    engine.model.slot("bench").clear();
    const ids = promptTokens(n, seed, vocab);
    const s = performance.now();
    await engine.session.evaluate("bench", ids);
    return n / ((performance.now() - s) / 1000);
  };
  await pp(16, 99); // warm-up (tier-up of the wasm code, first touches of scratch)
  const pp128 = await pp(128, 1);
  const pp512 = await pp(512, 2);
  engine.model.slot("bench").clear();
  const s = performance.now();
  const times: number[] = [];
  for await (const _ of engine.generate({ slot: "bench", prompt: promptTokens(128, 3, vocab), maxTokens: GEN_TOKENS, sampling: { temperature: 0 } })) {
    void _;
    times.push(performance.now());
  }
  const ttftMs = times[0] - s;
  const gen = (times.length - 1) / ((times[times.length - 1] - times[0]) / 1000);
  const result: RunResult = {
    side: "hearth", threads, loadMs, pp128, pp512, ttftMs, gen, generated: times.length,
    peakRssMiB: process.resourceUsage().maxRSS / 1024, kernels: `${kernelsVariant()}${engine.model.kernels.dotAdd ? ", dot-add" : ""}`,
  };
  await engine.dispose();
  return result;
}

async function llama(path: string, threads: number): Promise<RunResult> {
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
  const context = await model.createContext({ threads, contextSize: CONTEXT, batchSize: BATCH, sequences: 1 });
  const loadMs = performance.now() - t0;
  const seq = context.getSequence();
  const vocab = nVocabOf(path);
  const pp = async (n: number, seed: number): Promise<number> => {
    await seq.clearHistory();
    const ids = promptTokens(n, seed, vocab);
    const s = performance.now();
    await seq.evaluateWithoutGeneratingNewTokens(ids as never);
    return n / ((performance.now() - s) / 1000);
  };
  await pp(16, 99);
  const pp128 = await pp(128, 1);
  const pp512 = await pp(512, 2);
  await seq.clearHistory();
  const s = performance.now();
  const times: number[] = [];
  for await (const _ of seq.evaluate(promptTokens(128, 3, vocab) as never, { temperature: 0 })) {
    void _;
    times.push(performance.now());
    if (times.length >= GEN_TOKENS) break;
  }
  const ttftMs = times[0] - s;
  const gen = (times.length - 1) / ((times[times.length - 1] - times[0]) / 1000);
  const result: RunResult = {
    side: "llama", threads, loadMs, pp128, pp512, ttftMs, gen, generated: times.length,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    backend: `${cpuBackend()}; weights: ${buffers.join(", ")}`,
  };
  await context.dispose();
  await model.dispose();
  return result;
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
  const [side, path, threadsArg] = process.argv.slice(2);
  const threads = Number(threadsArg);
  const r = side === "hearth" ? await hearth(path, threads) : await llama(path, threads);
  process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
  process.exit(0);
}

if (process.argv[1]?.endsWith("run-one.ts")) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
