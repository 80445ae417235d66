// Downloads one model file, safely: nothing half-written is ever at the destination.
//
//   1. Free disk space is checked (with the size known in advance, then with the exact size).
//   2. The body streams into `<dest>.part`; `<dest>.part.json` records the URL, the size and the
//      validator (the sha256 the hub reports, else a strong ETag) the bytes belong to.
//   3. After an interruption (dropped connection, cancel, editor closed) the next attempt sends
//      `Range: bytes=<part size>-` and appends only when the server answers 206 from exactly that
//      offset and the validator is unchanged; a 200 (Range ignored) or a changed validator starts
//      again from zero. A dropped connection is retried (resuming) a few times by itself.
//   4. The whole file's sha256 is checked (the pinned one, else the hub's LFS oid); a mismatch
//      deletes the temporary file. Then the GGUF header is validated (tensor data inside the
//      file), and only then is the file renamed into place — atomic on one file system.
//
// Cancelling keeps `<dest>.part` (and its .json) so a 2 GB download can resume later;
// `discardPartial` removes it. No `vscode` import.
import { createHash, type Hash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { dirname } from "node:path";
import { Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ensureDiskSpace, type StatfsFn } from "./disk.ts";
import { DownloadError, isAbortError } from "./errors.ts";
import { openUrl, type NetOptions, type Opened } from "./net.ts";

export interface DownloadProgress {
  /** Bytes of the file on disk so far (resumed bytes included). */
  received: number;
  /** The file's size, when known. */
  total?: number;
  /** Bytes per second over the last few seconds. */
  bytesPerSecond: number;
  /** Bytes that were already on disk when this attempt started. */
  resumedFrom: number;
}

export interface DownloadOptions extends NetOptions {
  url: string;
  /** Final path; the temporary file is `<dest>.part` next to it. */
  dest: string;
  /** Pinned sha256 (hex). When absent the hub's `x-linked-etag` is used; with neither we refuse. */
  sha256?: string;
  /** Pinned exact size. */
  size?: number;
  /** Rough size, for the disk-space check before the first byte. */
  approxSize?: number;
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  /** Notes for the log (resume decisions, retries). */
  onLog?: (message: string) => void;
  /** Extra attempts after a dropped connection or a 5xx (default 3); each resumes when it can. */
  retries?: number;
  /** Pause before a retry, doubled each time (default 1000 ms). */
  retryDelayMs?: number;
  statfs?: StatfsFn;
  reserveBytes?: number;
  /**
   * Checks the complete file before it is moved into place; throws when it is not a usable model.
   * The extension asks the engine worker to read the GGUF header (no GGUF parsing on the host).
   */
  validate: (path: string) => Promise<void>;
}

export interface DownloadResult {
  path: string;
  size: number;
  sha256: string;
  /** Bytes already on disk that the last attempt resumed from (0: full download). */
  resumedFrom: number;
  /** Attempts made (1 when nothing failed). */
  attempts: number;
}

/** What `<dest>.part.json` holds. */
interface PartState {
  url: string;
  /** The sha256 the server reported (x-linked-etag), not the pinned one: it says what is served. */
  linkedSha256?: string;
  etag?: string;
  total?: number;
}

export const partPath = (dest: string): string => `${dest}.part`;
const statePath = (dest: string): string => `${dest}.part.json`;

/** Bytes of a resumable partial download of `dest` (0 when there is none). */
export async function partialBytes(dest: string): Promise<number> {
  try {
    await stat(statePath(dest));
    return (await stat(partPath(dest))).size;
  } catch {
    return 0;
  }
}

/** Deletes a partial download of `dest` (temporary file and its state). */
export async function discardPartial(dest: string): Promise<void> {
  await rm(partPath(dest), { force: true });
  await rm(statePath(dest), { force: true });
}

export async function downloadFile(opts: DownloadOptions): Promise<DownloadResult> {
  const retries = opts.retries ?? 3;
  const log = opts.onLog ?? (() => {});
  await mkdir(dirname(opts.dest), { recursive: true });
  const known = opts.size ?? opts.approxSize;
  if (known !== undefined) {
    await ensureDiskSpace(dirname(opts.dest), known - (await partialBytes(opts.dest)), opts);
  }
  for (let attempt = 1; ; attempt++) {
    try {
      return { ...(await attemptDownload(opts, log)), attempts: attempt };
    } catch (err) {
      if (opts.signal?.aborted || isAbortError(err)) {
        const kept = await partialBytes(opts.dest);
        throw new DownloadError(
          "cancelled",
          kept > 0 ? `download cancelled; ${kept} bytes kept in ${partPath(opts.dest)} to resume next time` : "download cancelled",
        );
      }
      if (!(err instanceof DownloadError) || !err.retryable || attempt > retries) throw err;
      const delay = (opts.retryDelayMs ?? 1000) * 2 ** (attempt - 1);
      log(`attempt ${attempt} failed (${err.message}); retrying in ${delay} ms`);
      await sleep(delay, opts.signal);
    }
  }
}

/** The hub's LFS metadata and the final response's validator. */
interface Remote {
  sha256?: string;
  size?: number;
  etag?: string;
}

function remoteMetadata(opened: Opened): Remote {
  const all: IncomingHttpHeaders[] = [...opened.hops.map((h) => h.headers), opened.response.headers];
  const first = (name: string): string | undefined => {
    for (const h of all) {
      const v = h[name];
      if (typeof v === "string" && v) return v;
    }
    return undefined;
  };
  const linkedEtag = first("x-linked-etag")?.replace(/^W\//, "").replace(/"/g, "").toLowerCase();
  const linkedSize = Number(first("x-linked-size"));
  const etag = opened.response.headers.etag;
  return {
    sha256: linkedEtag && /^[0-9a-f]{64}$/.test(linkedEtag) ? linkedEtag : undefined,
    size: Number.isSafeInteger(linkedSize) && linkedSize > 0 ? linkedSize : undefined,
    // Weak ETags promise nothing about bytes: not a validator for ranges.
    etag: etag && !etag.startsWith("W/") ? etag : undefined,
  };
}

async function attemptDownload(opts: DownloadOptions, log: (m: string) => void): Promise<Omit<DownloadResult, "attempts">> {
  const { dest } = opts;
  const part = partPath(dest);
  const { opened, res, remote, offset } = await openResumable(opts, log);
  const { sha256, total } = await expectedFile(opts, res, remote, offset);
  await writeFile(statePath(dest), JSON.stringify({ url: opts.url, linkedSha256: remote.sha256, etag: remote.etag, total } satisfies PartState));

  // Hash what is already on disk, then the new bytes as they are written.
  const hash = createHash("sha256");
  if (offset > 0) await hashFile(part, hash);
  const meter = new ProgressMeter(offset, total, opts.onProgress);
  try {
    await pipeline(res, meter.transform(hash), createWriteStream(part, { flags: offset > 0 ? "a" : "w" }), { signal: opts.signal });
  } catch (err) {
    meter.stop();
    if (opts.signal?.aborted || isAbortError(err)) throw err;
    if (err instanceof DownloadError) throw err;
    throw new DownloadError("network", `the connection to ${new URL(opened.url).host} broke after ${meter.received} bytes: ${(err as Error).message}`);
  }
  meter.finish();
  const size = (await stat(part)).size;
  const digest = hash.digest("hex");
  await checkComplete(opts, { size, total, digest, sha256 });
  await fsyncFile(part);
  await rename(part, dest);
  await rm(statePath(dest), { force: true });
  return { path: dest, size, sha256: digest, resumedFrom: offset };
}

/** Opens the URL, resuming from the bytes already on disk when the server still has the same file. */
async function openResumable(opts: DownloadOptions, log: (m: string) => void): Promise<{ opened: Opened; res: IncomingMessage; remote: Remote; offset: number }> {
  const { dest } = opts;
  const saved = await readState(dest);
  let offset = saved && saved.url === opts.url ? await partialBytes(dest) : 0;
  if (offset === 0) await discardPartial(dest);

  let opened = await openUrl(opts.url, { ...opts, headers: offset > 0 ? { range: `bytes=${offset}-` } : {} });
  let res = opened.response;
  let remote = remoteMetadata(opened);

  if (offset > 0) {
    const decision = resumeDecision(res, offset, saved, remote);
    if (decision !== "resume") {
      log(`not resuming ${opts.url} from byte ${offset}: ${decision}; starting again from zero`);
      await discardPartial(dest);
      offset = 0;
      if (res.statusCode !== 200) {
        // A 206 for stale bytes is useless: ask again for the whole file.
        res.destroy();
        opened = await openUrl(opts.url, { ...opts, headers: {} });
        res = opened.response;
        remote = remoteMetadata(opened);
      }
    } else {
      log(`resuming ${opts.url} from byte ${offset}`);
    }
  }
  const status = res.statusCode ?? 0;
  if (status !== 200 && !(status === 206 && offset > 0)) {
    res.resume();
    throw new DownloadError("http", httpMessage(status, opts.url), status);
  }
  return { opened, res, remote, offset };
}

/** What the file must be (sha256, size), refusing before any byte is written when that is unknown or contradicts the pins, or the disk is too full. */
async function expectedFile(opts: DownloadOptions, res: IncomingMessage, remote: Remote, offset: number): Promise<{ sha256: string; total: number | undefined }> {
  const sha256 = opts.sha256?.toLowerCase() ?? remote.sha256;
  if (opts.sha256 && remote.sha256 && remote.sha256 !== opts.sha256.toLowerCase()) {
    res.destroy();
    await discardPartial(opts.dest);
    throw new DownloadError("checksum", `the server's file (sha256 ${remote.sha256}) is not the pinned one (sha256 ${opts.sha256}); nothing was downloaded`);
  }
  if (!sha256) {
    res.destroy();
    throw new DownloadError("policy", `no sha256 is known for ${opts.url} (not pinned, and the server sent no x-linked-etag): refusing an unverifiable download`);
  }
  const total = opts.size ?? remote.size ?? contentTotal(res, offset);
  if (opts.size !== undefined && remote.size !== undefined && remote.size !== opts.size) {
    res.destroy();
    throw new DownloadError("checksum", `the server's file is ${remote.size} bytes, the pinned size is ${opts.size}; nothing was downloaded`);
  }
  if (total !== undefined) {
    try {
      await ensureDiskSpace(dirname(opts.dest), total - offset, opts);
    } catch (err) {
      res.destroy();
      throw err;
    }
  }
  return { sha256, total };
}

/** The received file is whole, has the expected sha256 and is a usable model; else it is deleted (or kept to resume, when cut short). */
async function checkComplete(opts: DownloadOptions, got: { size: number; total: number | undefined; digest: string; sha256: string }): Promise<void> {
  const { size, total, digest, sha256 } = got;
  if (total !== undefined && size < total) {
    throw new DownloadError("network", `the connection closed after ${size} of ${total} bytes`);
  }
  if (total !== undefined && size > total) {
    await discardPartial(opts.dest);
    throw new DownloadError("checksum", `received ${size} bytes, more than the expected ${total}; the temporary file was deleted`);
  }
  if (digest !== sha256) {
    await discardPartial(opts.dest);
    throw new DownloadError("checksum", `wrong checksum: the downloaded file's sha256 is ${digest}, expected ${sha256}; the temporary file was deleted`);
  }
  try {
    await opts.validate(partPath(opts.dest));
  } catch (err) {
    await discardPartial(opts.dest);
    throw new DownloadError("format", `the downloaded file is not a usable GGUF model (${(err as Error).message}); the temporary file was deleted`);
  }
}

/** "resume", or why not. */
function resumeDecision(res: IncomingMessage, offset: number, saved: PartState | undefined, now: Remote): string {
  if (res.statusCode === 200) return "the server ignored the Range request (200)";
  if (res.statusCode !== 206) return `the server answered ${res.statusCode} to the Range request`;
  const start = /^bytes (\d+)-/.exec(res.headers["content-range"] ?? "")?.[1];
  if (Number(start) !== offset) return `the server's range starts at ${start ?? "?"}, not ${offset}`;
  // The hub's content hash is the better validator (a CDN may re-tag identical bytes); else ETag.
  if (saved?.linkedSha256 && now.sha256) return saved.linkedSha256 === now.sha256 ? "resume" : "the file changed on the server (sha256)";
  if (saved?.etag && now.etag) return saved.etag === now.etag ? "resume" : "the file changed on the server (ETag)";
  return "no validator proves the file is unchanged";
}

function contentTotal(res: IncomingMessage, offset: number): number | undefined {
  const range = /\/(\d+)$/.exec(res.headers["content-range"] ?? "");
  if (range) return Number(range[1]);
  const len = Number(res.headers["content-length"]);
  return Number.isSafeInteger(len) && res.headers["content-length"] !== undefined ? len + (res.statusCode === 206 ? offset : 0) : undefined;
}

function httpMessage(status: number, url: string): string {
  if (status === 404) return `${url} was not found (HTTP 404)`;
  if (status === 401 || status === 403) return `${url} needs authorisation (HTTP ${status}); only public models are supported`;
  if (status === 416) return `the server refused the byte range (HTTP 416) for ${url}`;
  return `HTTP ${status} from ${new URL(url).host}`;
}

async function readState(dest: string): Promise<PartState | undefined> {
  try {
    return JSON.parse(await readFile(statePath(dest), "utf8")) as PartState;
  } catch {
    return undefined;
  }
}

async function hashFile(path: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, "r+");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Counts bytes, feeds the hash, and reports progress at most every 100 ms. */
class ProgressMeter {
  received: number;
  private readonly samples: { t: number; bytes: number }[] = [];
  private lastReport = 0;
  private pending: NodeJS.Timeout | undefined;

  constructor(
    private readonly resumedFrom: number,
    private readonly total: number | undefined,
    private readonly onProgress?: (p: DownloadProgress) => void,
  ) {
    this.received = resumedFrom;
    this.samples.push({ t: Date.now(), bytes: resumedFrom });
  }

  transform(hash: Hash): Transform {
    return new Transform({
      transform: (chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) => {
        hash.update(chunk);
        this.received += chunk.length;
        this.tick(false);
        cb(null, chunk);
      },
    });
  }

  finish(): void {
    this.stop();
    this.tick(true);
  }

  /** Drops a pending trailing report (after an error). */
  stop(): void {
    if (this.pending) clearTimeout(this.pending);
    this.pending = undefined;
  }

  private tick(force: boolean): void {
    if (!this.onProgress) return;
    const now = Date.now();
    if (!force && now - this.lastReport < 100) {
      // Throttled: make sure the latest count is still reported if no more data comes (a stall).
      this.pending ??= setTimeout(() => {
        this.pending = undefined;
        this.tick(true);
      }, 100 - (now - this.lastReport));
      return;
    }
    this.stop();
    this.lastReport = now;
    this.samples.push({ t: now, bytes: this.received });
    while (this.samples.length > 2 && now - this.samples[0].t > 3000) this.samples.shift();
    const first = this.samples[0];
    const seconds = (now - first.t) / 1000;
    const bytesPerSecond = seconds > 0 ? (this.received - first.bytes) / seconds : 0;
    this.onProgress({ received: this.received, total: this.total, bytesPerSecond, resumedFrom: this.resumedFrom });
  }
}
