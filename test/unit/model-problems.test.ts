// Bad model files: the notification leads with a plain sentence made from the reader's exact
// message (which follows it). Real files: stories260K cut short, a text file, an unknown type.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { readGguf } from "../../src/engine/gguf/reader.ts";
import { Engine } from "../../src/engine/engine.ts";
import { plainModelProblem } from "../../src/models/errors.ts";
import { makeTmpDir, STORIES_PATH } from "../helpers/gguf-fixtures.ts";

const tmp = makeTmpDir();
after(async () => (await tmp).cleanup());

async function problemOf(bytes: Uint8Array, name: string, load = false): Promise<string> {
  const path = await (await tmp).write(name, bytes);
  const err = await (load ? Engine.load(path) : readGguf(path)).then(
    () => undefined,
    (e: Error) => e,
  );
  assert.ok(err, `${name} is refused`);
  return err.message;
}

test("a file cut short says it is incomplete and to download it again", async () => {
  const whole = readFileSync(STORIES_PATH);
  const detail = await problemOf(whole.subarray(0, 2000), "cut-header.gguf");
  assert.equal(plainModelProblem(detail), "The file is incomplete: download it again.", detail);
  const inData = await problemOf(whole.subarray(0, Math.floor(whole.length * 0.6)), "cut-data.gguf", true);
  assert.equal(plainModelProblem(inData), "The file is incomplete: download it again.", inData);
});

test("a file that is not GGUF says so", async () => {
  const detail = await problemOf(new TextEncoder().encode("hello, world\n"), "hello.gguf");
  assert.equal(plainModelProblem(detail), "This is not a GGUF model file.", detail);
});
