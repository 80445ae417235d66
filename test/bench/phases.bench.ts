// npm run bench:phases — why one bench run's prompt ratios differ from the next on these VMs: Hearth
// and llama.cpp (run-one.ts processes, as in bench.ts) take turns on the same prompt, and around
// every measurement this process looks at the vCPU (vector-pipes.bench.ts, phaseProbe: the clock
// from dependent adds, and the Q4_K tile's chunk loop in cycles). A measurement whose probes before
// and after both find the chunk within QUIET of the run's fastest is "quiet"; the others ran at
// least partly while the vector pipes were slower (the probe cannot see inside a measurement, so
// some slow ones pass as quiet). Prints every measurement and the two sides' figures, quiet and
// not; asserts nothing. Needs clang-19 (the probe's loops are built at run time).
//
// The npm script runs it under `taskset -c 0`, and the sides inherit that: the probe must look at
// the vCPU the measurements run on (unpinned, a side's slow runs came between quiet probes, taken
// on the other vCPU). So it is meant for 1 thread.
//
//   npm run bench:phases -- [--shape smollm3-3b] [--tokens 512] [--rounds 8] [--threads 1]
import { join } from "node:path";
import { option } from "./args.ts";
import { benchModelFile } from "./model-files.ts";
import { SideProcess } from "./side-process.ts";
import { median } from "./stats.ts";
import { loadPipes, phaseProbe } from "./vector-pipes.bench.ts";

/** A probe's chunk within this factor of the run's fastest counts as the vCPU's quiet state. */
const QUIET = 1.1;

interface Sample {
  side: "hearth" | "llama";
  round: number;
  tokPerS: number;
  /** The chunk's cycles in the probes just before and just after the measurement. */
  cycles: [number, number];
}

async function main(): Promise<void> {
  const shape = option("shape") ?? "smollm3-3b";
  const threads = Number(option("threads") ?? 1);
  const tokens = Number(option("tokens") ?? 512);
  const rounds = Number(option("rounds") ?? 8);
  const path = benchModelFile(shape, (s) => console.error(s));
  const context = Math.ceil((tokens + 128) / 256) * 256;
  const pipes = loadPipes();
  const start = async (side: Sample["side"]): Promise<SideProcess> => (await SideProcess.start(side, join(__dirname, "run-one.ts"), path, threads, context)).proc;
  const sides = { hearth: await start("hearth"), llama: await start("llama") };
  console.log(`${shape}, ${threads} thread(s), ${tokens}-token prompts, Node ${process.version}\n`);
  console.log("| s | side | tok/s | clock before, GHz | chunk cycles before | after |");
  console.log("|---|---|---|---|---|---|");
  const samples: Sample[] = [];
  const t0 = Date.now();
  for (let round = 0; round < rounds; round++) {
    // Each round starts with the side that ended the last: each side goes first as often as second.
    const order: ("hearth" | "llama")[] = round % 2 ? ["llama", "hearth"] : ["hearth", "llama"];
    for (const side of order) {
      const before = phaseProbe(pipes);
      const at = ((Date.now() - t0) / 1000).toFixed(0);
      const tokPerS = Number(await sides[side].request(`pp ${tokens} ${round + 3}`, "PP"));
      const after = phaseProbe(pipes);
      samples.push({ side, round, tokPerS, cycles: [before.chunkCycles, after.chunkCycles] });
      console.log(`| ${at} | ${side} | ${tokPerS.toFixed(2)} | ${before.ghz.toFixed(2)} | ${before.chunkCycles.toFixed(2)} | ${after.chunkCycles.toFixed(2)} |`);
    }
  }
  await Promise.all(Object.values(sides).map((s) => s.end()));

  const fastest = Math.min(...samples.flatMap((s) => s.cycles));
  const quiet = (s: Sample): boolean => Math.max(...s.cycles) <= QUIET * fastest;
  const rates = (side: Sample["side"], q: boolean): number[] => samples.filter((s) => s.side === side && quiet(s) === q).map((s) => s.tokPerS);
  const fmt = (xs: number[]): string => (xs.length ? `${median(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}, ${xs.length})` : "–");
  console.log(`\nQuiet: both probes' chunk ≤ ${QUIET} × the fastest, ${fastest.toFixed(2)} cycles. tok/s: median (min–max, count).\n`);
  console.log("| side | quiet | not quiet |");
  console.log("|---|---|---|");
  for (const side of ["hearth", "llama"] as const) console.log(`| ${side} | ${fmt(rates(side, true))} | ${fmt(rates(side, false))} |`);
  const ratios = (pairs: Sample[][]): number[] => pairs.map(([a, b]) => (a.side === "hearth" ? a.tokPerS / b.tokPerS : b.tokPerS / a.tokPerS));
  const pairs = Array.from({ length: rounds }, (_, r) => samples.filter((s) => s.round === r));
  console.log(`\nHearth ÷ llama.cpp, each round's pair: all ${fmt(ratios(pairs))}; both quiet ${fmt(ratios(pairs.filter((p) => p.every(quiet))))}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
