// Runs the bundled CLI (dist/cli.js) as a user would. `npm test` builds first; when a test file is
// run alone and the bundle is missing, `ensureCliBuilt` builds it with `node esbuild.mjs`.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(__dirname, "..", "..");
const CLI = join(ROOT, "dist", "cli.js");

export function ensureCliBuilt(): void {
  if (existsSync(CLI)) return;
  const r = spawnSync(process.execPath, ["esbuild.mjs"], { cwd: ROOT, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
}

export function hearth(args: readonly string[], options: { input?: string; timeout?: number } = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: options.timeout ?? 60_000, input: options.input });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
