// Loads the WASM SIMD kernels on one shared memory and starts the helper workers of their thread
// pool. Everything else in the engine talks to the kernels through this object.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { Arena, MAX_MEMORY_BYTES } from "./arena.ts";
import { HELPER_WORKER_SOURCE } from "./helper-worker.ts";
import { kernelExports, type KernelExports } from "./kernel-exports.ts";

export type { KernelExports } from "./kernel-exports.ts";

/** Bytes of C stack each helper worker gets (the caller's stack is the module's own, 1 MiB). */
const HELPER_STACK_BYTES = 1 << 20;

export interface KernelOptions {
  /** Threads taking part in each kernel call, the caller included (default 1). */
  threads?: number;
  /** Path of the .wasm file (default: the best build this host validates, see defaultWasmPath). */
  wasmPath?: string;
  /** Which build to use when wasmPath is not given (default "auto"). */
  variant?: KernelVariant;
}

/**
 * "relaxed": dist/kernels-relaxed.wasm (relaxed SIMD dot products, faster); "simd128":
 * dist/kernels.wasm; "auto": the relaxed build when WebAssembly.validate accepts it (Electron of
 * current VS Code; Node 20 only with --experimental-wasm-relaxed-simd), else the SIMD128 build.
 */
export type KernelVariant = "auto" | "relaxed" | "simd128";

function findDist(file: string): string | undefined {
  // Bundled: dist/*.wasm beside dist/*.js. From sources (tests, tsx): the repository's dist/.
  const candidates = [join(__dirname, file), join(__dirname, "..", "..", "..", "dist", file), join(process.cwd(), "dist", file)];
  return candidates.find((p) => existsSync(p));
}

const validated = new Map<string, boolean>();
function hostValidates(path: string): boolean {
  let ok = validated.get(path);
  if (ok === undefined) {
    ok = WebAssembly.validate(readFileSync(path));
    validated.set(path, ok);
  }
  return ok;
}

/** Path of the kernels build to load: see KernelVariant. */
export function defaultWasmPath(variant: KernelVariant = "auto"): string {
  if (variant !== "simd128") {
    const relaxed = findDist("kernels-relaxed.wasm");
    if (relaxed && hostValidates(relaxed)) return relaxed;
    if (variant === "relaxed") {
      throw new Error(
        relaxed
          ? "this host does not validate the relaxed-SIMD kernels (Node 20: run with --experimental-wasm-relaxed-simd)"
          : "kernels-relaxed.wasm not found; run npm run build",
      );
    }
  }
  const found = findDist("kernels.wasm");
  if (!found) throw new Error("kernels.wasm not found (looked beside the bundle, in ../../../dist and ./dist); run npm run build");
  return found;
}

/** "relaxed" or "simd128": the build `defaultWasmPath()` picks on this host. */
export function kernelsVariant(): "relaxed" | "simd128" {
  return /kernels-relaxed\.wasm$/.test(defaultWasmPath()) ? "relaxed" : "simd128";
}

/**
 * Whether the relaxed build's products should sum by the dot-add (kernels/repack.c, set_dot_add):
 * one instruction where the engine compiles it to AVX-VNNI's vpdpbusd (V8 13.6 and later: Node 24,
 * current VS Code), three where it does not (Node 20, or a CPU without AVX-VNNI). No API tells,
 * so the probe's two ways are timed against each other, alternating, best of each (30 ms, once per
 * process and build); the dot-add must win clearly, and give the i16 dot's bytes in every round,
 * from the engine's first, baseline code to its optimised code (Node 20's baseline code sums
 * wrong by the dot-add, in both tiles). HEARTH_DOT_ADD=0 or 1 decides instead (1 under Node 20:
 * wrong sums in the first ~100 tile calls).
 */
const dotAddChoice = new Map<string, boolean>();
function dotAddPays(path: string, e: KernelExports, arena: Arena, memory: WebAssembly.Memory): boolean {
  const forced = process.env.HEARTH_DOT_ADD;
  if (forced === "0" || forced === "1") return forced === "1";
  let pays = dotAddChoice.get(path);
  if (pays === undefined) {
    const mark = arena.mark();
    const scratch = arena.alloc(e.dot_add_probe_bytes(), 64);
    e.dot_add_probe_fill(scratch);
    const outBytes = e.dot_add_probe_out_bytes();
    const outputs = () => new Uint8Array(memory.buffer, scratch, outBytes).slice();
    // Rounds for 30 ms at least: the tiles' optimised code arrives after ~9 ms of the first,
    // baseline code (V8's dynamic tiering), and the best time of each way is its optimised one.
    const best = [Infinity, Infinity];
    let same = true;
    const start = performance.now();
    for (let round = 0; round < 200 && (round < 10 || performance.now() - start < 30); round++) {
      const got: Uint8Array[] = [];
      for (const mode of [0, 1]) {
        const t = performance.now();
        e.dot_add_probe(scratch, 200, mode);
        best[mode] = Math.min(best[mode], performance.now() - t);
        got.push(outputs());
      }
      same &&= Buffer.compare(got[0], got[1]) === 0;
    }
    arena.reset(mark);
    pays = same && best[1] < 0.9 * best[0];
    dotAddChoice.set(path, pays);
  }
  return pays;
}

interface Compiled {
  path: string;
  module: WebAssembly.Module;
  /** The minimum size, in pages, of the memory the module imports (smaller fails to link). */
  minPages: number;
}
let compiled: Compiled | undefined;

function compile(path: string): Compiled {
  if (compiled?.path !== path) {
    const bytes = readFileSync(path);
    compiled = { path, module: new WebAssembly.Module(bytes), minPages: importedMemoryMinimum(bytes) };
  }
  return compiled;
}

export class Kernels {
  private closed = false;

  private constructor(
    /** The .wasm file these kernels were compiled from (its bytes decide the numerics). */
    readonly wasmPath: string,
    readonly memory: WebAssembly.Memory,
    readonly exports: KernelExports,
    readonly arena: Arena,
    private readonly helpers: Worker[],
    /** The repacked products sum by the dot-add (see dotAddPays). */
    readonly dotAdd: boolean,
  ) {}

  static async create(options: KernelOptions = {}): Promise<Kernels> {
    const threads = Math.max(1, Math.floor(options.threads ?? 1));
    const wasmPath = options.wasmPath ?? defaultWasmPath(options.variant);
    const { module, minPages } = compile(wasmPath);
    const memory = new WebAssembly.Memory({ initial: minPages, maximum: MAX_MEMORY_BYTES / 65536, shared: true });
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    const exports = kernelExports(instance, wasmPath);
    exports.init_tables(); // before any kernel runs (the helpers share the memory)
    const arena = new Arena(memory, exports.__heap_base.value as number);
    // The SIMD128 build has one way (set_dot_add(1) answers 0): nothing to time.
    const twoWays = exports.set_dot_add(1) === 1;
    const dotAdd = twoWays && exports.set_dot_add(dotAddPays(wasmPath, exports, arena, memory) ? 1 : 0) === 1;
    const helpers: Worker[] = [];
    const generation = exports.pool_generation();
    try {
      for (let ith = 1; ith < threads; ith++) {
        const stackTop = arena.alloc(HELPER_STACK_BYTES, 16) + HELPER_STACK_BYTES;
        const worker = new Worker(HELPER_WORKER_SOURCE, {
          eval: true,
          workerData: { module, memory, stackTop, ith, generation },
        });
        helpers.push(worker);
        await waitReady(worker, ith);
        worker.unref();
      }
    } catch (err) {
      await Promise.all(helpers.map((w) => w.terminate()));
      throw err;
    }
    exports.pool_set_helpers(helpers.length);
    exports.pool_set_threads(threads);
    return new Kernels(wasmPath, memory, exports, arena, helpers, dotAdd);
  }

  get threads(): number {
    return this.exports.pool_threads();
  }

  /** Threads taking part in the next kernel calls: 1 .. the number this pool was created with. */
  setThreads(n: number): void {
    if (n < 1 || n > this.helpers.length + 1) throw new Error(`threads must be 1..${this.helpers.length + 1}`);
    this.exports.pool_set_threads(n);
  }

  alloc(bytes: number, align = 64): number {
    return this.arena.alloc(bytes, align);
  }
  mark(): number {
    return this.arena.mark();
  }
  reset(mark: number): void {
    this.arena.reset(mark);
  }

  // Views are made afresh on every call: growing the memory replaces its buffer.
  bytes(ptr: number, length: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, ptr, length);
  }
  f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, length);
  }
  u16(ptr: number, length: number): Uint16Array {
    return new Uint16Array(this.memory.buffer, ptr, length);
  }

  /** Copies `data` into fresh engine memory and returns its address. */
  put(data: Uint8Array | Float32Array | Uint16Array, align = 64): number {
    const ptr = this.alloc(data.byteLength, align);
    this.bytes(ptr, data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return ptr;
  }

  /** Stops the helper workers; the object is unusable afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.helpers.length > 0) {
      // Helpers are unref'd so an idle pool does not keep the process alive; ref them while
      // waiting for them to stop, or the event loop may end before their exit events.
      const stopped = this.helpers.map((w) => {
        w.ref();
        return new Promise((resolve) => w.once("exit", resolve));
      });
      this.exports.pool_shutdown();
      await Promise.all(stopped);
    }
  }
}

/** Reads the imported memory's minimum from the binary's import section (the JS API hides it). */
export function importedMemoryMinimum(bytes: Uint8Array): number {
  let at = 8; // magic and version
  const leb = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[at++];
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
    }
  };
  const skipName = (): void => {
    const len = leb();
    at += len;
  };
  while (at < bytes.length) {
    const id = bytes[at++];
    const size = leb();
    if (id !== 2) {
      at += size;
      continue;
    }
    for (let count = leb(); count > 0; count--) {
      skipName();
      skipName();
      const kind = bytes[at++];
      if (kind === 0) leb();
      else if (kind === 1 || kind === 2) {
        if (kind === 1) at++; // reference type
        const flags = bytes[at++];
        const min = leb();
        if (flags & 1) leb();
        if (kind === 2) return min;
      } else if (kind === 3) at += 2;
      else break;
    }
    break;
  }
  throw new Error("kernels.wasm imports no memory");
}

function waitReady(worker: Worker, ith: number): Promise<void> {
  return new Promise((resolve, reject) => {
    worker.once("message", () => resolve());
    worker.once("error", (err) => reject(new Error(`kernel helper ${ith} failed to start: ${err.message}`)));
    worker.once("exit", (code) => reject(new Error(`kernel helper ${ith} exited (${code}) before it was ready`)));
  });
}
