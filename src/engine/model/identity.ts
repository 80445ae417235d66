// A model file's identity for the prefix cache on disk: keys and values stored for one file must
// never be restored for another. Hashing a 2 GB file would cost seconds at every load, so the
// identity is the sha256 of what tells files apart cheaply: size, modification time, the whole
// GGUF header (metadata, tokenizer, tensor table) and the first and last MiB of tensor data.
// Computed once per file state and remembered for the process (a changed mtime or size is a new
// state, so an edited file gets a new identity).
import { createHash } from "node:crypto";
import { open } from "node:fs/promises";

const SAMPLE = 1 << 20;
const memo = new Map<string, Promise<string>>();

/** Hex sha256 identity of the model file at `path` whose data section starts at `dataOffset`. */
export async function modelIdentity(path: string, dataOffset: number): Promise<string> {
  const fh = await open(path, "r");
  try {
    const { size, mtimeMs } = await fh.stat();
    const key = `${path}\0${size}\0${mtimeMs}`;
    let id = memo.get(key);
    if (!id) {
      id = hashFile(fh, size, mtimeMs, dataOffset);
      memo.set(key, id);
      id.catch(() => memo.delete(key));
    }
    return await id;
  } finally {
    await fh.close();
  }
}

async function hashFile(fh: Awaited<ReturnType<typeof open>>, size: number, mtimeMs: number, dataOffset: number): Promise<string> {
  const h = createHash("sha256").update(`hearth-model-identity\0${size}\0${mtimeMs}\0`);
  const dataBytes = Math.max(0, size - dataOffset);
  const ranges: [number, number][] = [
    [0, Math.min(size, dataOffset)],
    [dataOffset, Math.min(SAMPLE, dataBytes)],
    [Math.max(dataOffset, size - SAMPLE), Math.min(SAMPLE, dataBytes)],
  ];
  for (const [at, length] of ranges) {
    const buf = Buffer.alloc(length);
    for (let done = 0; done < length; ) {
      const { bytesRead } = await fh.read(buf, done, length - done, at + done);
      if (bytesRead === 0) throw new Error("the model file shrank while its identity was computed");
      done += bytesRead;
    }
    h.update(buf);
  }
  return h.digest("hex");
}
