// Entry point of the second mocha run, in a new extension host on the same state folder as the
// first (what a window reload or a restart keeps: global storage, settings): runs the
// *.after-reload.js bundles, whose suites check what survives a reload.
import { readdirSync } from "node:fs";
import { runFiles } from "./index.ts";

export function run(): Promise<void> {
  return runFiles(readdirSync(__dirname).filter((f) => f.endsWith(".after-reload.js")).sort());
}
