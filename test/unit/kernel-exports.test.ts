// The typed kernel interface (src/engine/wasm/kernel-exports.ts) against the built modules: every
// export of both builds is typed and every typed export exists, so a kernel added in C without its
// type (or a stale .wasm) is caught here and at load, not by a call that passes the wrong numbers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { EXPORT_NAMES, kernelExports } from "../../src/engine/wasm/kernel-exports.ts";

setFlagsFromString("--experimental-wasm-relaxed-simd"); // Node 20 compiles the relaxed build only so

const DIST = join(__dirname, "..", "..", "dist");

for (const file of ["kernels.wasm", "kernels-relaxed.wasm"]) {
  test(`${file}: its exports are exactly those KernelExports types`, () => {
    const names = WebAssembly.Module.exports(new WebAssembly.Module(readFileSync(join(DIST, file)))).map((e) => e.name);
    assert.deepEqual(
      names.filter((n) => !EXPORT_NAMES.includes(n as never)),
      [],
      "exported by the .wasm but not typed: add them to KernelExports and EXPORT_NAMES",
    );
    assert.deepEqual(
      EXPORT_NAMES.filter((n) => !names.includes(n)),
      [],
      "typed but not exported by the .wasm",
    );
  });
}

test("a module without the kernels' exports is refused with their names and what to do", () => {
  const empty = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0])));
  assert.throws(() => kernelExports(empty, "old/kernels.wasm"), /old\/kernels\.wasm lacks the kernel exports __stack_pointer, .*attention, .*; run npm run build/);
});
