// The file format of one prefix-cache entry: the keys and values of a token prefix, written by
// one model and readable only by the same model with the same KV layout.
//
//   offset  size  what
//   0       8     magic "HEARTHKV"
//   8       4     format version (u32 LE)
//   12      4     J: bytes of the JSON header (u32 LE, a multiple of 4)
//   16      32    sha256 of everything after this field (JSON, tokens, payload)
//   48      J     JSON: { model, layout, tokens: n, payloadBytes, tag? } padded with spaces
//   48+J    4n    the n tokens (i32 LE)
//   …             payload, per layer: each KV head's keys of positions 0..n-1 (f16), then each
//                 head's values (the layout string says so: "f16 by head …")
//
// Every way a file can be bad (truncated, a flipped byte, another model's, an older format) is a
// KvFileError with the reason: the cache deletes such files and evaluates the prompt instead.
import { createHash, type Hash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";

export const KV_FILE_MAGIC = "HEARTHKV";
export const KV_FILE_VERSION = 1;
const FIXED = 48;

export interface KvFileHeader {
  /** The model file's identity (model/identity.ts). */
  model: string;
  /** The KV layout and the numerics that produced it (see PrefixCache.layoutOf). */
  layout: string;
  tokens: number;
  payloadBytes: number;
  /** Who wrote it (e.g. a document), so a newer state of the same document can replace it. */
  tag?: string;
}

export type KvFileProblem = "truncated" | "corrupt" | "foreign model" | "other layout" | "old version" | "not a cache file";

export class KvFileError extends Error {
  override readonly name = "KvFileError";
  constructor(
    readonly problem: KvFileProblem,
    detail: string,
  ) {
    super(`${problem}: ${detail}`);
  }
}

/** What a reader expects a file to be for: entries of other models or layouts are refused. */
export interface KvFileExpectation {
  model: string;
  layout: string;
}

/** The head of a file: everything before the payload. */
export interface KvFileHead {
  header: KvFileHeader;
  tokens: number[];
  checksum: Buffer;
  payloadOffset: number;
  fileBytes: number;
}

/** Starts a file: returns its head bytes (checksum still zero) and the hash to feed the payload to. */
export function beginKvFile(header: KvFileHeader, tokens: readonly number[]): { head: Buffer; hash: Hash } {
  let json = JSON.stringify(header);
  json += " ".repeat((4 - (Buffer.byteLength(json) % 4)) % 4);
  const jsonBytes = Buffer.from(json, "utf8");
  const head = Buffer.alloc(FIXED + jsonBytes.length + 4 * tokens.length);
  head.write(KV_FILE_MAGIC, 0, "latin1");
  head.writeUInt32LE(KV_FILE_VERSION, 8);
  head.writeUInt32LE(jsonBytes.length, 12);
  jsonBytes.copy(head, FIXED);
  for (let i = 0; i < tokens.length; i++) head.writeInt32LE(tokens[i], FIXED + jsonBytes.length + 4 * i);
  const hash = createHash("sha256").update(head.subarray(FIXED));
  return { head, hash };
}

/** Puts the finished checksum into the head made by beginKvFile. */
export function sealKvFile(head: Buffer, hash: Hash): void {
  hash.digest().copy(head, 16);
}

/** Reads and checks the head of an open file (not the checksum: that needs the whole file, see parseKvFile). */
export async function readKvHead(fh: FileHandle, expect: KvFileExpectation): Promise<KvFileHead> {
  const { size } = await fh.stat();
  let buf: Buffer = Buffer.alloc(0);
  for (;;) {
    const r = headFrom(buf, size, expect);
    if (!("need" in r)) return r;
    buf = await readExactly(fh, r.need);
  }
}

/** Checks a whole file's bytes (head and checksum); returns its head and its payload. */
export function parseKvFile(bytes: Buffer, expect: KvFileExpectation): { head: KvFileHead; payload: Buffer } {
  const head = headFrom(bytes, bytes.length, expect);
  if ("need" in head) throw new KvFileError("truncated", `${bytes.length} bytes, ${head.need} needed`);
  const sum = createHash("sha256").update(bytes.subarray(FIXED)).digest();
  if (!sum.equals(head.checksum)) throw new KvFileError("corrupt", "checksum mismatch");
  return { head, payload: bytes.subarray(head.payloadOffset) };
}

/** The head in `buf` (the first bytes of a file of `size` bytes), or how many bytes it needs. */
function headFrom(buf: Buffer, size: number, expect: KvFileExpectation): KvFileHead | { need: number } {
  if (size < FIXED) throw new KvFileError("truncated", `${size} bytes, not even the fixed header`);
  if (buf.length < FIXED) return { need: FIXED };
  if (buf.toString("latin1", 0, 8) !== KV_FILE_MAGIC) throw new KvFileError("not a cache file", "no HEARTHKV magic");
  const version = buf.readUInt32LE(8);
  if (version !== KV_FILE_VERSION) throw new KvFileError("old version", `format version ${version}, this build reads ${KV_FILE_VERSION}`);
  const jsonBytes = buf.readUInt32LE(12);
  if (FIXED + jsonBytes > size) throw new KvFileError("truncated", `the header needs ${FIXED + jsonBytes} bytes, the file has ${size}`);
  if (buf.length < FIXED + jsonBytes) return { need: FIXED + jsonBytes };
  const header = parseHeader(buf.toString("utf8", FIXED, FIXED + jsonBytes));
  if (header.model !== expect.model) throw new KvFileError("foreign model", `written by model ${header.model.slice(0, 12)}…, not ${expect.model.slice(0, 12)}…`);
  if (header.layout !== expect.layout) throw new KvFileError("other layout", `layout ${header.layout}, not ${expect.layout}`);
  const payloadOffset = FIXED + jsonBytes + 4 * header.tokens;
  const fileBytes = payloadOffset + header.payloadBytes;
  if (size < fileBytes) throw new KvFileError("truncated", `${size} of ${fileBytes} bytes`);
  if (size > fileBytes) throw new KvFileError("corrupt", `${size - fileBytes} bytes after the payload`);
  if (buf.length < payloadOffset) return { need: payloadOffset };
  const tokens = Array.from({ length: header.tokens }, (_, i) => buf.readInt32LE(FIXED + jsonBytes + 4 * i));
  return { header, tokens, checksum: Buffer.from(buf.subarray(16, FIXED)), payloadOffset, fileBytes };
}

function parseHeader(text: string): KvFileHeader {
  let h: unknown;
  try {
    h = JSON.parse(text);
  } catch {
    throw new KvFileError("corrupt", "the JSON header does not parse");
  }
  const o = h as Record<string, unknown>;
  const count = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
  if (typeof o?.model !== "string" || typeof o.layout !== "string" || !count(o.tokens) || !count(o.payloadBytes) || (o.tag !== undefined && typeof o.tag !== "string")) {
    throw new KvFileError("corrupt", "the JSON header lacks model, layout, tokens or payloadBytes");
  }
  return { model: o.model, layout: o.layout, tokens: o.tokens, payloadBytes: o.payloadBytes, tag: o.tag as string | undefined };
}

async function readExactly(fh: FileHandle, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  for (let done = 0; done < length; ) {
    const { bytesRead } = await fh.read(buf, done, length - done, done);
    if (bytesRead === 0) throw new KvFileError("truncated", `the file ended at ${done} bytes`);
    done += bytesRead;
  }
  return buf;
}
