// What every suite running in the extension host needs: the extension's id, the test workspace and
// its e2e.json (written by test/e2e/workspace.ts), and polling for a condition.
import * as assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as vscode from "vscode";
import type { E2eConfig } from "../workspace.ts";

export const EXTENSION_ID = "hearth-dev.hearth";

/** The test workspace's folder. */
export function folder(): string {
  const f = vscode.workspace.workspaceFolders?.[0];
  assert.ok(f, "the test workspace is open");
  return f.uri.fsPath;
}

export function config(): E2eConfig {
  return JSON.parse(readFileSync(join(folder(), "e2e.json"), "utf8"));
}

/** Polls `check` until it returns something truthy (returned), or fails after `ms`. */
export async function waitFor<T>(what: string, check: () => T | undefined | false, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
