// Command ids live in one place (src/commands/ids.ts): every id there is contributed by
// package.json and every contributed command is there, so a renamed or added command cannot
// leave a stale copy behind (extension-activation.test.ts checks each is also registered).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { COMMANDS, FOCUS_CHAT } from "../../src/commands/ids.ts";

const manifest = JSON.parse(readFileSync(join(__dirname, "..", "..", "package.json"), "utf8"));

test("src/commands/ids.ts and package.json's contributes.commands name the same commands", () => {
  const contributed = manifest.contributes.commands.map((c: { command: string }) => c.command).sort();
  assert.deepEqual(Object.values(COMMANDS).sort(), contributed);
});

test("the chat view's focus command is the one VS Code makes from the view's id", () => {
  const views = Object.values(manifest.contributes.views).flat() as { id: string }[];
  assert.ok(views.some((v) => `${v.id}.focus` === FOCUS_CHAT), FOCUS_CHAT);
});
