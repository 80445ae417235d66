// Shared helpers for GGUF tests: temporary directories, deterministic bytes, and a hand-rolled
// header builder for malformed files the validating writer refuses to produce.

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ByteSink } from "../reference/gguf-writer.ts";

export const STORIES_PATH = join(__dirname, "..", "fixtures", "stories260K.gguf");

/** A temporary directory for one test file; `cleanup` removes it. */
export async function makeTmpDir(): Promise<{ dir: string; write(name: string, bytes: Uint8Array): Promise<string>; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "hearth-gguf-"));
  return {
    dir,
    async write(name, bytes) {
      const p = join(dir, name);
      await writeFile(p, bytes);
      return p;
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Deterministic pseudo-random bytes (xorshift32) so fixtures are the same on every run. */
export function seededBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

export interface RawTensor {
  name: string;
  dims: (number | bigint)[];
  type: number;
  offset: number | bigint;
}

/**
 * A GGUF file written field by field with no validation: header counts, kv pairs given as a
 * callback over the sink, tensor infos, padding to `alignment`, then `dataBytes` zero bytes.
 */
export function rawGguf(opts: {
  magic?: number;
  version?: number;
  tensorCount?: number | bigint;
  kvCount?: number | bigint;
  kvs?: (w: ByteSink) => void;
  tensors?: RawTensor[];
  alignment?: number;
  dataBytes?: number;
}): Uint8Array {
  const w = new ByteSink();
  w.u32(opts.magic ?? 0x46554747);
  w.u32(opts.version ?? 3);
  const tensors = opts.tensors ?? [];
  w.u64(opts.tensorCount ?? tensors.length);
  w.u64(opts.kvCount ?? 0);
  opts.kvs?.(w);
  for (const t of tensors) {
    w.str(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(t.type);
    w.u64(t.offset);
  }
  w.padTo(opts.alignment ?? 32);
  w.bytes(new Uint8Array(opts.dataBytes ?? 0));
  return w.finish();
}
