// npm run bench — Hearth against llama.cpp (node-llama-cpp, native CPU build) on the same model
// files: a SmolLM3-3B-shape and a Qwen2.5-Coder-0.5B-shape Q4_K_M file (random valid blocks, real
// shapes, cached under os.tmpdir()/hearth-bench), at 1 and 2 threads (and all cores where more
// exist). Each side at each thread count runs in a child process (clean peak RSS; run-one.ts) that
// loads the model once per repeat; all of them then take each measurement in turn, seconds apart,
// and every repeat is a fresh set of processes (spread shown). Prints a markdown table; asserts
// nothing.
//
// --busy adds the busy machine (inside an editor the CPU is never idle): every measurement is also
// taken with one competing process that keeps one core busy from before its start to its end,
// and a second table shows tok/s idle and busy, Hearth at 2 threads against 1, and how much of its
// idle ratio to llama.cpp Hearth keeps under load.
//
//   npm run bench                       everything (about 10 minutes on 2 cores)
//   npm run bench -- --shapes qwen2.5-coder-0.5b --threads 2 --repeats 1 --sides hearth
//   npm run bench -- --shapes qwen2.5-coder-0.5b --threads 1,2 --busy
//
// --llama-without-amx runs llama.cpp without its AMX library (llama-without-amx.ts): on a CPU with
// AMX, its SIMD speed, the baseline of a WebAssembly SIMD engine.
//
// --long N adds generation after an N-token prompt (a chat with history, a completion in a long
// file: every generated token attends to all N), with a context of N + 128 positions for every
// process of the run (the RSS target counts that KV cache).
//   npm run bench -- --long 1500 --repeats 1
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { benchModelFile, SHAPES, weightBytesPerToken } from "./model-files.ts";
import { llamaWithoutAmx } from "./llama-without-amx.ts";
import { option as get } from "./args.ts";
import { SideProcess } from "./side-process.ts";
import { median } from "./stats.ts";
import type { Generation, RunResult } from "./run-one.ts";
import { Kernels } from "../../src/engine/wasm/kernels.ts";

interface Args {
  shapes: string[];
  threads: number[];
  repeats: number;
  sides: ("hearth" | "llama")[];
  /** Also run every configuration on a busy machine (one core kept busy by a competing process). */
  busy: boolean;
  /** llama.cpp from a copy of node-llama-cpp without its AMX library. */
  withoutAmx: boolean;
  /** Prompt tokens before the long generation (--long), or 0 for none. */
  long: number;
  /** Positions of every process's context. */
  context: number;
}

function parseArgs(): Args {
  const a = process.argv.slice(2);
  const n = cpus().length;
  const defaultThreads = [...new Set([1, Math.min(2, n), n])];
  const long = Number(get("long") ?? 0);
  return {
    shapes: get("shapes")?.split(",") ?? ["smollm3-3b", "qwen2.5-coder-0.5b"],
    threads: get("threads")?.split(",").map(Number) ?? defaultThreads,
    repeats: Number(get("repeats") ?? 2),
    sides: (get("sides")?.split(",") as Args["sides"]) ?? ["hearth", "llama"],
    busy: a.includes("--busy"),
    withoutAmx: a.includes("--llama-without-amx"),
    long,
    context: long ? Math.ceil((long + 128) / 256) * 256 : 1024,
  };
}

/** Streaming-read bandwidth (GB/s) of this machine per thread count, WASM SIMD, 512 MiB buffer. */
async function bandwidth(threads: number[]): Promise<Map<number, number>> {
  setFlagsFromString("--experimental-wasm-relaxed-simd");
  const k = await Kernels.create({ threads: Math.max(...threads) });
  const bytes = 512 * 2 ** 20;
  const buf = k.alloc(bytes);
  k.bytes(buf, bytes).fill(1);
  const partial = k.alloc(256);
  const out = new Map<number, number>();
  for (const t of threads) {
    k.setThreads(t);
    k.exports.stream_read(buf, bytes, partial);
    let best = Infinity;
    for (let i = 0; i < 8; i++) {
      const s = performance.now();
      k.exports.stream_read(buf, bytes, partial);
      best = Math.min(best, performance.now() - s);
    }
    out.set(t, bytes / (best / 1000) / 1e9);
  }
  await k.close();
  return out;
}

/** Milliseconds to read the whole file (warm page cache), 64 MiB at a time. */
function fileReadMs(path: string): number {
  const size = statSync(path).size;
  const buf = Buffer.allocUnsafe(64 * 2 ** 20);
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const fd = openSync(path, "r");
    const s = performance.now();
    for (let pos = 0; pos < size; ) pos += readSync(fd, buf, 0, buf.length, pos) || size;
    best = Math.min(best, performance.now() - s);
    closeSync(fd);
  }
  return best;
}

/** The script each side's runs execute (llama's is a copy's with --llama-without-amx). */
const runScripts = { hearth: join(__dirname, "run-one.ts"), llama: join(__dirname, "run-one.ts") };

type Load = "idle" | "busy";
type Results = Record<"hearth" | "llama", RunResult[]>;

/** Competitors still running: killed if the bench exits early (side-process.ts does the same for the sides). */
const competitors = new Set<ChildProcess>();
process.once("exit", () => [...competitors].forEach((c) => c.kill("SIGKILL")));

/** A process that keeps one core busy until it is killed: the busy machine's competitor. Returns
 * once it spins (it says so on stdout), so that the measurement after it starts under load. */
async function startCompetitor(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["-e", "process.stdout.write('x'); for (;;) {}"], { stdio: ["ignore", "pipe", "ignore"] });
  competitors.add(child);
  await new Promise((resolve) => child.stdout!.once("data", resolve));
  return child;
}

function stopCompetitor(child: ChildProcess): void {
  child.kill("SIGKILL");
  competitors.delete(child);
}

/** A measurement the sides take in turn: its request, and where its reply goes in a RunResult. */
const STEPS: { request: string; prefix: string; take: (r: RunResult, reply: string) => void }[] = [
  { request: "pp 128 1", prefix: "PP", take: (r, reply) => (r.pp128 = Number(reply)) },
  { request: "pp 512 2", prefix: "PP", take: (r, reply) => (r.pp512 = Number(reply)) },
  { request: "gen", prefix: "GEN", take: (r, reply) => Object.assign(r, JSON.parse(reply) as Generation) },
];

/** The measurements of a run: STEPS, then with --long the generation after a long prompt. */
function stepsOf(args: Args): typeof STEPS {
  if (!args.long) return STEPS;
  return [...STEPS, { request: `gen ${args.long}`, prefix: "GEN", take: (r, reply) => (r.genLong = (JSON.parse(reply) as Generation).gen) }];
}

/**
 * Every repeat of one shape at every thread count. Each repeat loads every side at every thread
 * count (one process each, one after the other, each load alone on the machine), then takes each
 * measurement from all of them in turn, idle and busy in turn: the figures a ratio compares (Hearth
 * against llama.cpp, and Hearth at 2 threads against 1) are taken seconds apart. Each repeat starts
 * the order of the processes one further along (the first loaded has been the slow one of a repeat
 * on these VMs, and it must not be the same side each time), and idle and busy alternate between
 * repeats. (All of them are loaded at once: the 3B shape's four processes take about 11 GB.)
 */
async function runShape(args: Args, path: string, key: string, log: (s: string) => void): Promise<Map<number, Record<Load, Results>>> {
  const byThreads = new Map<number, Record<Load, Results>>();
  for (const threads of args.threads) byThreads.set(threads, { idle: { hearth: [], llama: [] }, busy: { hearth: [], llama: [] } });
  const loads: Load[] = args.busy ? ["idle", "busy"] : ["idle"];
  const all = args.threads.flatMap((threads) => args.sides.map((side) => ({ side, threads, id: `${side} t=${threads}` })));
  for (let rep = 0; rep < args.repeats; rep++) {
    const order = [...all.slice(rep % all.length), ...all.slice(0, rep % all.length)];
    const repLoads = rep % 2 === 0 ? loads : [...loads].reverse();
    const procs = new Map<string, SideProcess>();
    const runs = new Map<string, RunResult>();
    try {
      for (const { side, threads, id } of order) {
        const { proc, ready } = await SideProcess.start(side, runScripts[side], path, threads, args.context);
        procs.set(id, proc);
        for (const load of loads) runs.set(`${load} ${id}`, { side, threads, ...ready, pp128: NaN, pp512: NaN, ttftMs: NaN, gen: NaN, generated: 0, peakRssMiB: NaN });
      }
      for (const step of stepsOf(args)) {
        for (const load of repLoads) {
          for (const { id } of order) {
            const competitor = load === "busy" ? await startCompetitor() : undefined;
            try {
              step.take(runs.get(`${load} ${id}`)!, await procs.get(id)!.request(step.request, step.prefix));
            } finally {
              if (competitor) stopCompetitor(competitor);
            }
          }
        }
      }
      for (const { id } of order) {
        const peakRssMiB = await procs.get(id)!.end();
        procs.delete(id);
        for (const load of loads) runs.get(`${load} ${id}`)!.peakRssMiB = peakRssMiB;
      }
    } finally {
      procs.forEach((p) => p.kill());
    }
    for (const load of repLoads) {
      for (const { side, threads, id } of order) {
        const r = runs.get(`${load} ${id}`)!;
        log(`${key} t=${threads} ${load} ${side}${r.kernels ? ` (${r.kernels})` : ""}: load ${r.loadMs.toFixed(0)} ms, pp128 ${r.pp128.toFixed(1)}, pp512 ${r.pp512.toFixed(1)}, ttft ${r.ttftMs.toFixed(0)} ms, gen ${r.gen.toFixed(2)} tok/s (${r.generated} tokens)${r.genLong ? `, gen after ${args.long} ${r.genLong.toFixed(2)} tok/s` : ""}, rss ${r.peakRssMiB.toFixed(0)} MiB`);
        byThreads.get(threads)![load][side].push(r);
      }
    }
  }
  return byThreads;
}

/** Rows of the busy-machine table for one shape: tok/s metrics at each thread count, idle and busy. */
function busyTable(shapeName: string, byThreads: Map<number, Record<Load, Results>>): string[] {
  const rows: string[] = [];
  const metrics: [string, (r: RunResult) => number, number][] = [
    ["prompt 128, tok/s", (r) => r.pp128, 1],
    ["prompt 512, tok/s", (r) => r.pp512, 1],
    ["generation (64), tok/s", (r) => r.gen, 2],
  ];
  const hearthBusy = (threads: number, f: (r: RunResult) => number): number[] => byThreads.get(threads)?.busy.hearth.map(f) ?? [];
  for (const [label, f, digits] of metrics) {
    for (const [threads, { idle, busy }] of byThreads) {
      const idleRatio = ratio(idle.hearth.map(f), idle.llama.map(f));
      const busyRatio = ratio(busy.hearth.map(f), busy.llama.map(f));
      const kept = idleRatio && busyRatio ? (busyRatio / idleRatio).toFixed(2) : "–";
      // The median of the repeats' ratios: each repeat's two figures were taken seconds apart.
      const self = threads > 1 ? ratioOf(hearthBusy(threads, f), hearthBusy(1, f)) : "";
      rows.push(
        `| ${shapeName} | ${label} | ${threads} | ${cell(idle.hearth.map(f), digits)} | ${cell(idle.llama.map(f), digits)} | ${ratioOf(idle.hearth.map(f), idle.llama.map(f))} | ` +
          `${cell(busy.hearth.map(f), digits)} | ${cell(busy.llama.map(f), digits)} | ${ratioOf(busy.hearth.map(f), busy.llama.map(f))} | ${kept} | ${self} |`,
      );
    }
  }
  return rows;
}

/**
 * a ÷ b (Hearth ÷ llama.cpp, or Hearth at 2 threads ÷ 1): the median of the repeats' ratios (a[i]
 * and b[i] were measured seconds apart, so each ratio compares one state of the machine), or
 * undefined when a side has no runs.
 */
function ratio(a: number[], b: number[]): number | undefined {
  return a.length && a.length === b.length ? median(a.map((x, i) => x / b[i])) : undefined;
}
function ratioOf(a: number[], b: number[]): string {
  return ratio(a, b)?.toFixed(2) ?? "–";
}

function cell(xs: number[], digits: number): string {
  if (xs.length === 0) return "–";
  const m = median(xs).toFixed(digits);
  if (xs.length === 1) return m;
  return `${m} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;
}

async function main(): Promise<void> {
  const args = parseArgs();
  const log = (s: string): void => console.error(`[bench] ${s}`);
  const t0 = performance.now();
  if (args.withoutAmx) {
    const copy = llamaWithoutAmx(join(__dirname, "..", ".."));
    runScripts.llama = copy.script;
    process.once("exit", copy.remove);
  }
  const bw = await bandwidth(args.threads);
  log(`bandwidth: ${[...bw].map(([t, g]) => `${t} thread(s) ${g.toFixed(1)} GB/s`).join(", ")}`);
  const lines: string[] = [];
  const busyLines: string[] = [];
  const notes: string[] = [];
  for (const key of args.shapes) {
    const shape = SHAPES[key];
    const path = benchModelFile(key, log);
    const fileBytes = statSync(path).size;
    const readMs = fileReadMs(path);
    const wBytes = weightBytesPerToken(shape);
    const kvBytes = shape.nLayer * args.context * 2 * shape.nHeadKV * shape.headDim * 2;
    notes.push(
      `- ${shape.name}: file ${(fileBytes / 2 ** 20).toFixed(0)} MiB, read (warm cache) ${readMs.toFixed(0)} ms; ` +
        `weights read per token ${(wBytes / 2 ** 20).toFixed(0)} MiB; KV cache (${args.context} positions, f16) ${(kvBytes / 2 ** 20).toFixed(0)} MiB; ` +
        `RSS target ≤ ${((fileBytes + kvBytes) / 2 ** 20 + 300).toFixed(0)} MiB; load target ≤ ${(1.5 * readMs).toFixed(0)} ms`,
    );
    const byThreads = await runShape(args, path, key, log);
    for (const [threads, results] of byThreads) {
      const ceiling = (bw.get(threads) ?? bw.get(Math.max(...bw.keys()))!) * 1e9 / wBytes;
      const idle = results.idle;
      const metric = (label: string, f: (r: RunResult) => number, digits: number, extra = ""): void => {
        const h = idle.hearth.map(f);
        const l = idle.llama.map(f);
        lines.push(`| ${shape.name} | ${threads} | ${label} | ${cell(h, digits)} | ${cell(l, digits)} | ${ratioOf(h, l)} | ${extra} |`);
      };
      const hGen = idle.hearth.map((r) => r.gen);
      metric("prompt 128, tok/s", (r) => r.pp128, 1);
      metric("prompt 512, tok/s", (r) => r.pp512, 1);
      metric("generation (64), tok/s", (r) => r.gen, 2, `ceiling ${ceiling.toFixed(1)} tok/s; Hearth ${hGen.length ? ((median(hGen) / ceiling) * 100).toFixed(0) : "–"} % of it`);
      if (args.long) metric(`generation (64) after ${args.long}, tok/s`, (r) => r.genLong ?? NaN, 2);
      metric("time to first token (128), ms", (r) => r.ttftMs, 0);
      metric("load, ms", (r) => r.loadMs, 0, `file read ${readMs.toFixed(0)} ms`);
      metric("peak RSS, MiB", (r) => r.peakRssMiB, 0, `file + KV + 300 = ${((fileBytes + kvBytes) / 2 ** 20 + 300).toFixed(0)}`);
      const kv = idle.hearth[0]?.kernels;
      if (kv) notes.push(`- Hearth kernels at ${threads} thread(s), ${shape.name}: ${kv} build`);
      const backend = idle.llama[0]?.backend;
      if (backend) notes.push(`- llama.cpp at ${threads} thread(s), ${shape.name}: ${backend}`);
    }
    if (args.busy) busyLines.push(...busyTable(shape.name, byThreads));
  }
  console.log(`\n## Hearth vs llama.cpp (node-llama-cpp 3.21.1, CPU) — ${cpus()[0]?.model ?? "?"}, ${cpus().length} cores, Node ${process.version} (V8 ${process.versions.v8})\n`);
  console.log(`Memory bandwidth (WASM SIMD streaming read): ${[...bw].map(([t, g]) => `${g.toFixed(1)} GB/s at ${t} thread(s)`).join(", ")}.`);
  console.log(`Decode ceiling = bandwidth ÷ weight bytes read per token. Median of ${args.repeats} repeats (min–max); in each, the sides take every measurement in turn, seconds apart. Ratio = Hearth ÷ llama.cpp, the median of the repeats' ratios (tok/s: higher is better; ms and MiB: lower is better).\n`);
  console.log("| model | threads | metric | Hearth | llama.cpp | ratio | note |");
  console.log("|---|---|---|---|---|---|---|");
  for (const l of lines) console.log(l);
  console.log("");
  if (args.busy) {
    console.log(`\n## Busy machine: one competing process keeps one core busy during each run\n`);
    console.log("Idle and busy measurements alternate in this one run. Kept = busy ratio ÷ idle ratio (target ≥ 0.9); Hearth 2 ÷ 1 thread busy (the median of the repeats' ratios, each of two figures taken seconds apart): target ≥ 1.\n");
    console.log("| model | metric | threads | Hearth idle | llama.cpp idle | ratio idle | Hearth busy | llama.cpp busy | ratio busy | kept | Hearth busy, 2 ÷ 1 thread |");
    console.log("|---|---|---|---|---|---|---|---|---|---|---|");
    for (const l of busyLines) console.log(l);
    console.log("");
  }
  for (const n of notes) console.log(n);
  if (args.withoutAmx) console.log("- llama.cpp ran from a copy of node-llama-cpp without its AMX library (--llama-without-amx): its SIMD speed.");
  if (notes.some((n) => n.includes("AMX"))) {
    console.log(
      "- AMX: this CPU has Intel AMX, and llama.cpp runs its products of AMX-buffer weights on the AMX tiles (a matrix unit; " +
        "WebAssembly has only 128-bit SIMD). Its prompt speed on those types is then not a SIMD baseline: `npm run bench -- --llama-without-amx` gives that.",
    );
  }
  console.log(`\nTotal bench time ${((performance.now() - t0) / 60000).toFixed(1)} min.`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
