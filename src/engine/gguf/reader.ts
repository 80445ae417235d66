// GGUF reader: the header (metadata + tensor placements) without loading the file.
// The file is read as a growing prefix: start with 8 MiB, and when the parser reaches the end of
// what is loaded (NeedMore) load at least twice as much and parse again. The parse is synchronous
// over bytes in memory, so 100k vocabulary strings cost no async calls; re-parsing after doubling
// costs at most 2x a single parse of the header. Tensor data is never read here.

import { openSync, closeSync, fstatSync, readSync } from "node:fs";
import { open } from "node:fs/promises";
import { Cursor, NeedMore } from "./cursor.ts";
import { GgufError } from "./errors.ts";
import { GgufFile } from "./file.ts";
import { parseHeader } from "./parse.ts";
import type { GgufTensorInfo } from "./types.ts";

export { GgufError } from "./errors.ts";
export { GgufFile } from "./file.ts";
export * from "./types.ts";

// 8 MiB: the headers of real vocabularies (150k tokens and merges: 3 MiB) parse once instead of
// three times (1, 2, 4 MiB); measured 58-80 -> 33-65 ms for the 0.5B bench file.
const INITIAL_PREFIX = 8 << 20;

/** Reads the header of a GGUF file (v2/v3). Throws GgufError for a bad file. */
export async function readGguf(path: string): Promise<GgufFile> {
  let fh;
  try {
    fh = await open(path, "r");
  } catch (e) {
    throw new GgufError(path, `cannot open: ${(e as Error).message}`);
  }
  try {
    const { size } = await fh.stat();
    let prefix: Uint8Array = new Uint8Array(0);
    for (;;) {
      const next = tryParse(path, prefix, size);
      if (next instanceof GgufFile) return next;
      const buf = grownBuffer(prefix, next, size);
      for (let done = prefix.length; done < buf.length; ) {
        const { bytesRead } = await fh.read(buf, done, buf.length - done, done);
        if (bytesRead === 0) throw new GgufError(path, "file shrank while reading its header");
        done += bytesRead;
      }
      prefix = buf;
    }
  } finally {
    await fh.close();
  }
}

/** Synchronous variant of readGguf (same checks, same result). */
export function readGgufSync(path: string): GgufFile {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw new GgufError(path, `cannot open: ${(e as Error).message}`);
  }
  try {
    const { size } = fstatSync(fd);
    let prefix: Uint8Array = new Uint8Array(0);
    for (;;) {
      const next = tryParse(path, prefix, size);
      if (next instanceof GgufFile) return next;
      const buf = grownBuffer(prefix, next, size);
      for (let done = prefix.length; done < buf.length; ) {
        const n = readSync(fd, buf, done, buf.length - done, done);
        if (n === 0) throw new GgufError(path, "file shrank while reading its header");
        done += n;
      }
      prefix = buf;
    }
  } finally {
    closeSync(fd);
  }
}

/** Parses a whole GGUF file held in memory; `name` stands for the path in messages. */
export function parseGguf(bytes: Uint8Array, name = "<memory>"): GgufFile {
  const r = tryParse(name, bytes, bytes.length);
  if (r instanceof GgufFile) return r; // with the whole file loaded, NeedMore cannot happen
  throw new GgufError(name, "internal error: parser asked for bytes beyond a complete buffer");
}

/** The bytes of one tensor, read from the file (for tests and tools; the loader reads into wasm memory). */
export async function readTensorData(file: GgufFile, tensor: GgufTensorInfo): Promise<Uint8Array> {
  const fh = await open(file.path, "r");
  try {
    const buf = new Uint8Array(tensor.byteSize);
    let done = 0;
    while (done < buf.length) {
      const { bytesRead } = await fh.read(buf, done, buf.length - done, tensor.offset + done);
      if (bytesRead === 0) throw new GgufError(file.path, `file shrank while reading tensor "${tensor.name}"`);
      done += bytesRead;
    }
    return buf;
  } finally {
    await fh.close();
  }
}

/** A GgufFile, or the prefix length the parser needs next. */
function tryParse(path: string, prefix: Uint8Array, size: number): GgufFile | number {
  try {
    return new GgufFile(path, size, parseHeader(new Cursor(prefix, size, path)));
  } catch (e) {
    if (e instanceof NeedMore) return e.end;
    throw e;
  }
}

/** A copy of `prefix` in a buffer of at least `need` bytes (doubling, capped at the file size). */
function grownBuffer(prefix: Uint8Array, need: number, size: number): Uint8Array {
  const buf = new Uint8Array(Math.min(size, Math.max(need, prefix.length * 2, INITIAL_PREFIX)));
  buf.set(prefix);
  return buf;
}
