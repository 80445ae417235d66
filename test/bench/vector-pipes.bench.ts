// npm run bench:pipes — what bounds the Q4_K prompt tile's inner loop on this CPU under this
// Node's V8: the loop itself (vector-pipes.c tile6, 6 tokens per 16-byte weight vector, data in
// L1), the same loop by the dot-add (kernels.ts chooses one of the two at load), then its
// multiplies, adds and splat loads alone: operations per nanosecond and, with the clock estimated
// from a chain of dependent adds, per cycle. The tile's whole product runs its loop at about the
// first figure (README, "Where the Q4_K prompt tile stands"). Needs clang-19 (the kernels'
// compiler) to build the loops; prints a table, asserts nothing.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";

const STEPS = 64; // steps per pass: 1.5 KB of activations and 1 KB of weights, in L1
const REPS = 200_000;

function build(): Uint8Array<ArrayBuffer> {
  const dir = mkdtempSync(join(tmpdir(), "hearth-pipes-"));
  try {
    const out = join(dir, "pipes.wasm");
    execFileSync(process.env.CC ?? "clang-19", [
      "--target=wasm32", "-O3", "-nostdlib", "-msimd128", "-mrelaxed-simd", "-matomics", "-mbulk-memory",
      "-Wl,--no-entry", "-Wl,--import-memory", "-Wl,--shared-memory", "-Wl,--max-memory=4194304",
      join(__dirname, "vector-pipes.c"), "-o", out,
    ]);
    return new Uint8Array(readFileSync(out));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Best of `runs` timed runs of `f(steps, reps)`, in ns per step. */
function nsPerStep(f: (steps: number, reps: number) => void, reps = REPS, runs = 5): number {
  f(STEPS, 1000); // tier-up
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    f(STEPS, reps);
    best = Math.min(best, Number(process.hrtime.bigint() - t));
  }
  return best / (STEPS * reps);
}

/** The loops, built and instantiated, with their data: `e` the exports, x, w, out their arguments. */
export function loadPipes(): { e: Record<string, (...a: number[]) => number>; x: number; w: number; out: number } {
  // Node 20 validates relaxed SIMD only behind this flag (later Nodes have it on and no flag).
  if (Number(process.versions.node.split(".")[0]) < 22) setFlagsFromString("--experimental-wasm-relaxed-simd");
  const memory = new WebAssembly.Memory({ initial: 4, maximum: 64, shared: true });
  const e = new WebAssembly.Instance(new WebAssembly.Module(build()), { env: { memory } }).exports as Record<string, (...a: number[]) => number>;
  const x = 131072, w = x + 4096, out = x + 8192; // past the loops' stack
  const bytes = new Uint8Array(memory.buffer);
  for (let i = x; i < out; i++) bytes[i] = (i * 7) & 127;
  return { e, x, w, out };
}

/**
 * A quick look (~10 ms) at this vCPU's state: the clock from the dependent adds, and tile6's chunk
 * in cycles of it. On these VMs the chunk's cycles go up by a third or more for seconds at a time
 * while the clock holds (another tenant on the core's vector pipes, presumably), and a
 * vector-bound engine then slows more than one with more products per instruction.
 */
export function phaseProbe({ e, x, w, out }: ReturnType<typeof loadPipes>): { ghz: number; chunkCycles: number } {
  const ghz = 4 / nsPerStep((n, reps) => e.clock_adds(n * reps, 1), 20_000, 3);
  return { ghz, chunkCycles: nsPerStep((n, r) => e.tile6(x, w, out, n, r), 20_000, 3) * ghz };
}

function main(): void {
  const { e, x, w, out } = loadPipes();
  const ghz = 4 / nsPerStep((n, reps) => e.clock_adds(n * reps, 1));
  const rows: [string, number, string][] = [
    ["tile6: a chunk of 6 tokens (6 splats, 6 dots, 6 adds, 1 and, 1 load)", nsPerStep((n, r) => e.tile6(x, w, out, n, r)), "chunk"],
    ["tile6_dot_add: the same chunk by the i32 dot-add", nsPerStep((n, r) => e.tile6_dot_add(x, w, out, n, r)), "chunk"],
    ["mul12: relaxed i16 dot (pmaddubsw), 12 independent", nsPerStep((n, r) => e.mul12(x, w, out, n, r)) / 12, "dot"],
    ["add12: i16 add (paddw), 12 independent", nsPerStep((n, r) => e.add12(x, w, out, n, r)) / 12, "add"],
    ["splat6: 4-byte splat load (+ xor), 6 per step", nsPerStep((n, r) => e.splat6(x, w, out, n, r)) / 6, "splat"],
  ];
  console.log(`Node ${process.version}, clock ~${ghz.toFixed(2)} GHz (dependent i32 adds, one per cycle assumed)\n`);
  console.log("| loop | ns each | per ns | per cycle |");
  console.log("|---|---|---|---|");
  for (const [name, ns, unit] of rows) {
    console.log(`| ${name} | ${ns.toFixed(3)} ns per ${unit} | ${(1 / ns).toFixed(2)} | ${(1 / ns / ghz).toFixed(2)} |`);
  }
  const [chunk, , dot, add, splat] = rows.map((r) => r[1]);
  // What a chunk's 6 dots, 6 adds and 6 splats take, each kind alone: the chunk takes at least the
  // largest (dots and adds share the vector pipes, so together they take more).
  console.log(`\nA chunk of tile6 against its parts: 6 dots alone ${(6 * dot).toFixed(3)} ns, 6 adds ${(6 * add).toFixed(3)}, 6 splats ${(6 * splat).toFixed(3)}; the chunk ${chunk.toFixed(3)} ns (${(chunk * ghz).toFixed(1)} cycles), ${(96 / chunk).toFixed(1)} GMAC/s.`);
}

if (process.argv[1]?.endsWith("vector-pipes.bench.ts")) main();
