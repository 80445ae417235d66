// For npm run bench -- --llama-without-amx: llama.cpp's SIMD speed on a CPU with AMX. node-llama-cpp
// loads the ggml CPU library that scores highest on this CPU; with AMX that is the sapphirerapids
// one, which runs the products of Q4_K, Q6_K and Q8_0 weights on the AMX tiles (a matrix unit that
// WebAssembly cannot reach). This makes a copy of node-llama-cpp without that library, so llama.cpp
// loads the best of the others (zen4: AVX-512 with VNNI, and its own repacked Q4_K products):
// a directory under os.tmpdir() whose node_modules links to every package of the project except
// node-llama-cpp and @node-llama-cpp/linux-x64, which are copied (node resolves a package's imports
// from its real path, so a link would lead back to the original), and a copy of run-one.ts there.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const AMX_LIBRARY = "libggml-cpu-sapphirerapids.so";

/** The copy's run-one.ts (run it as the original) and a function that removes the copy. */
export function llamaWithoutAmx(root: string): { script: string; remove: () => void } {
  const modules = join(root, "node_modules");
  const bins = join(modules, "@node-llama-cpp", "linux-x64", "bins", "linux-x64");
  if (!existsSync(join(bins, AMX_LIBRARY))) {
    throw new Error(`--llama-without-amx: no ${AMX_LIBRARY} in ${bins} (node-llama-cpp's Linux x64 binaries only)`);
  }
  const dir = mkdtempSync(join(tmpdir(), "hearth-llama-without-amx-"));
  try {
    const copyModules = join(dir, "node_modules");
    mkdirSync(join(copyModules, "@node-llama-cpp"), { recursive: true });
    for (const name of readdirSync(modules)) {
      if (name !== "node-llama-cpp" && name !== "@node-llama-cpp") symlinkSync(join(modules, name), join(copyModules, name));
    }
    for (const name of readdirSync(join(modules, "@node-llama-cpp"))) {
      if (name !== "linux-x64") symlinkSync(join(modules, "@node-llama-cpp", name), join(copyModules, "@node-llama-cpp", name));
    }
    cpSync(join(modules, "node-llama-cpp"), join(copyModules, "node-llama-cpp"), { recursive: true });
    cpSync(join(modules, "@node-llama-cpp", "linux-x64"), join(copyModules, "@node-llama-cpp", "linux-x64"), { recursive: true });
    unlinkSync(join(copyModules, "@node-llama-cpp", "linux-x64", "bins", "linux-x64", AMX_LIBRARY));
    const script = join(dir, "test", "bench", "run-one.ts");
    mkdirSync(join(dir, "test", "bench"), { recursive: true });
    cpSync(join(root, "test", "bench", "run-one.ts"), script);
    return { script, remove: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
