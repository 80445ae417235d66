// Bundles the mocha suites that run inside a real VS Code extension host (test/e2e/suite/*.ts)
// and the @vscode/test-electron runner into .vscode-test/suites/ (git-ignored). Each suite file
// is its own bundle so mocha can load them one by one; `vscode` and `mocha` stay external (the
// host provides the first, node_modules the second).
import { build } from "esbuild";
import { readdirSync } from "node:fs";
import { join } from "node:path";

const here = import.meta.dirname;
const suites = readdirSync(join(here, "suite")).filter((f) => f.endsWith(".ts"));
await build({
  // One flat folder: index.js finds the *.e2e.js bundles next to itself.
  entryPoints: Object.fromEntries([...suites.map((f) => [f.replace(/\.ts$/, ""), join(here, "suite", f)]), ["electron", join(here, "electron.ts")]]),
  outdir: join(here, "..", "..", ".vscode-test", "suites"),
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  sourcemap: "inline",
  external: ["vscode", "mocha", "@vscode/test-electron"],
  logLevel: "warning",
});
