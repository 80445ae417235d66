// node --import tsx test/bench/inspect.bench.ts [FILE] (after npm run build) — what checking a
// model file costs the extension host: the GGUF header read on the host's own thread (how
// Select Model File, the memory check and download validation worked before) against the
// worker's `inspect` request (how they work now), cold (the request starts the worker) and warm.
// "host blocked" is the longest stretch the host's event loop could not run (the largest
// lateness of a 1 ms timer): what the editor would feel. Default FILE: the 0.5B-shaped bench model.
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { readGguf } from "../../src/engine/gguf/reader.ts";
import { EngineClient } from "../../src/client/engine-client.ts";
import { benchModelFile } from "./model-files.ts";

const WORKER = join(__dirname, "..", "..", "dist", "worker.js");
const REPEATS = 5;

function blockMeter(): () => number {
  let last = performance.now();
  let worst = 0;
  const t = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - 1);
    last = now;
  }, 1);
  return () => {
    clearInterval(t);
    return worst;
  };
}

async function timed(label: string, f: () => Promise<unknown>): Promise<void> {
  const stop = blockMeter();
  await new Promise((r) => setTimeout(r, 5));
  const t0 = performance.now();
  await f().catch(() => {});
  const ms = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 3));
  console.log(`| ${label} | ${ms.toFixed(1)} | ${stop().toFixed(1)} |`);
}

async function main(): Promise<void> {
  const file = process.argv[2] ?? benchModelFile("qwen2.5-coder-0.5b", (s) => console.error(s));
  console.log(`${file}\n\n| what | ms | host blocked ≤ ms |\n|---|---|---|`);
  for (let i = 1; i <= REPEATS; i++) await timed(`host readGguf #${i}`, () => readGguf(file));
  const client = new EngineClient({ workerPath: WORKER });
  await timed("worker inspect, cold (starts the worker)", () => client.inspect(file));
  for (let i = 2; i <= REPEATS + 1; i++) await timed(`worker inspect #${i}`, () => client.inspect(file));
  await client.dispose();
}

void main();
