// The prefix cache on disk: keys and values of token prefixes a slot evaluated, kept across a
// window reload or an editor restart, so a prompt that starts like an earlier one is restored
// instead of evaluated again. One folder per model identity under the cache's root; one file
// per prefix (format: kv-file.ts) named by the hash of model, layout and tokens; a total size cap
// over every model's files, least recently used (file mtime) deleted first.
//
// Restoring is exact: the keys and values of a position depend only on the tokens up to it, and
// the engine's evaluation is batch-invariant, so a restored prefix gives the logits of a cold
// evaluation bit for bit (test/unit/prefix-cache.test.ts). A bad file (truncated, corrupt,
// another model's, an older format) is deleted with a log line and the prompt is evaluated.
// Saving copies the slot one layer per event-loop turn and gives up when the slot is rewritten
// meanwhile, so a request arriving during a save waits for at most one layer's copy.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, utimes } from "node:fs/promises";
import { join } from "node:path";
import { beginKvFile, KvFileError, parseKvFile, readKvHead, sealKvFile, type KvFileExpectation } from "./kv-file.ts";
import { commonPrefixLength, kvBytesPerToken, type KvLayout, type KvSlot, type SlotWatch } from "./kv-cache.ts";
import type { Kernels } from "./wasm/kernels.ts";

export const DEFAULT_PREFIX_CACHE_BYTES = 1 << 30;

export interface PrefixCacheOptions {
  /** The cache's root folder (the extension's global storage, or the CLI's --prompt-cache). */
  dir: string;
  /** Identity of the model file (model/identity.ts). */
  model: string;
  /** Total bytes of every model's entries under `dir` (default 1 GiB). */
  maxBytes?: number;
  /** Prefixes shorter than this are not worth a file (default 32 tokens). */
  minTokens?: number;
  log?: (level: "info" | "warn", message: string) => void;
}

interface Entry {
  file: string;
  tokens: readonly number[];
  tag: string | undefined;
}

/** What a restore did: `restored` positions now valid in the slot beyond the ones it had. */
export interface RestoreResult {
  restored: number;
  ms: number;
}

const wasmFingerprints = new Map<string, string>();

export class PrefixCache {
  private readonly modelDir: string;
  private readonly expect: KvFileExpectation;
  private readonly maxBytes: number;
  private readonly minTokens: number;
  private readonly bytesPerToken: number;
  /** Entries of this model by file name; refreshed from the folder before each lookup. */
  private index = new Map<string, Entry>();
  /** When the index was last synced with the folder (performance.now()). */
  private refreshed = -Infinity;
  /** Saves run one after another. */
  private saving: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly kernels: Kernels,
    private readonly layout: KvLayout,
    private readonly options: PrefixCacheOptions,
  ) {
    this.modelDir = join(options.dir, options.model.slice(0, 16));
    this.expect = { model: options.model, layout: PrefixCache.layoutOf(kernels, layout) };
    this.maxBytes = options.maxBytes ?? DEFAULT_PREFIX_CACHE_BYTES;
    this.minTokens = options.minTokens ?? 32;
    this.bytesPerToken = kvBytesPerToken(layout);
  }

  /**
   * The KV layout as stored in each file: shapes, element type, and a fingerprint of the kernels'
   * build (a kernel change may round differently: its entries would no longer be exact).
   */
  static layoutOf(kernels: Kernels, layout: KvLayout): string {
    let fp = wasmFingerprints.get(kernels.wasmPath);
    if (!fp) {
      fp = createHash("sha256").update(readFileSync(kernels.wasmPath)).digest("hex").slice(0, 16);
      wasmFingerprints.set(kernels.wasmPath, fp);
    }
    return `f16 by head layers=${layout.nLayer} heads=${layout.nHeadKV} k=${layout.kDim} v=${layout.vDim} kernels=${fp}`;
  }

  /** Longest prefix of `tokens` the cache holds, and the entry holding it. */
  async longest(tokens: readonly number[]): Promise<{ entry: Entry; common: number } | undefined> {
    await this.refresh();
    let best: { entry: Entry; common: number } | undefined;
    for (const entry of this.index.values()) {
      const common = commonPrefixLength(entry.tokens, tokens);
      if (common > 0 && (!best || common > best.common)) best = { entry, common };
    }
    return best;
  }

  /**
   * Restores into `slot` (which holds `tokens[0..from)` already) the longest cached prefix of
   * `tokens[0..upTo)` when it is longer than `from` by at least `minGain` tokens. A bad file is
   * deleted and nothing is restored.
   */
  async restore(slot: KvSlot, tokens: readonly number[], from: number, upTo: number, minGain = 1): Promise<RestoreResult> {
    const t0 = performance.now();
    const none = { restored: 0, ms: 0 };
    const hit = await this.longest(tokens.slice(0, upTo)).catch((err: unknown) => this.warn(err));
    if (!hit || hit.common < from + minGain) return none;
    let bytes: Buffer;
    try {
      bytes = await readFile(join(this.modelDir, hit.entry.file));
    } catch (err) {
      this.index.delete(hit.entry.file); // removed by another window's eviction, or unreadable
      this.warn(err);
      return none;
    }
    let payload: Buffer;
    let stored: readonly number[];
    try {
      const parsed = parseKvFile(bytes, this.expect);
      payload = parsed.payload;
      stored = parsed.head.tokens;
    } catch (err) {
      await this.discard(hit.entry.file, err);
      return none;
    }
    const n = Math.min(commonPrefixLength(stored, tokens), upTo);
    if (n <= from) return none;
    this.copyIn(slot, payload, stored.length, from, n);
    slot.truncate(from);
    slot.append(tokens.slice(from, n));
    const now = new Date();
    await utimes(join(this.modelDir, hit.entry.file), now, now).catch(() => {});
    return { restored: n - from, ms: performance.now() - t0 };
  }

  /**
   * Writes the first `n` positions of `slot` as an entry (tagged, e.g. with its document: an older
   * entry of the same tag is replaced). Returns whether a file was written: not when the prefix is
   * short, already stored, too big for the cap, or the slot changed during the copy. Never throws.
   */
  save(slot: KvSlot, n: number, tag?: string): Promise<boolean> {
    const run = this.saving.then(() => this.saveNow(slot, n, tag));
    this.saving = run.catch(() => {});
    return run.catch((err: unknown) => {
      this.options.log?.("warn", `prefix cache: could not save ${n} tokens: ${(err as Error).message}`);
      return false;
    });
  }

  private async saveNow(slot: KvSlot, n: number, tag: string | undefined): Promise<boolean> {
    // Watched from before its tokens are read to the end of the copy: positions below `n`
    // rewritten meanwhile (a request truncated the slot) would make a torn entry.
    const watch = slot.watch();
    try {
      return await this.write(slot, Math.min(n, slot.tokens.length), tag, watch);
    } finally {
      watch.stop();
    }
  }

  private async write(slot: KvSlot, n: number, tag: string | undefined, watch: SlotWatch): Promise<boolean> {
    const payloadBytes = n * this.bytesPerToken;
    if (n < this.minTokens || payloadBytes > this.maxBytes) return false;
    const tokens = slot.tokens.slice(0, n);
    const covering = await this.longest(tokens);
    if (watch.low < n) return false;
    if (covering && covering.common === n) {
      const now = new Date();
      await utimes(join(this.modelDir, covering.entry.file), now, now).catch(() => {});
      return false;
    }
    const { head, hash } = beginKvFile({ model: this.expect.model, layout: this.expect.layout, tokens: n, payloadBytes, tag }, tokens);
    const payload = Buffer.allocUnsafe(payloadBytes);
    for (let l = 0, at = 0; l < this.layout.nLayer; l++) {
      for (const plane of this.planes(slot, l)) {
        const part = this.kernels.bytes(plane.base, n * plane.dim * 2);
        payload.set(part, at);
        hash.update(payload.subarray(at, at + part.length));
        at += part.length;
      }
      await new Promise((resolve) => setImmediate(resolve));
      if (watch.low < n) return false; // rewritten meanwhile: the copy is not of one state
    }
    sealKvFile(head, hash);
    const file = `${createHash("sha256").update(this.expect.model).update(this.expect.layout).update(head.subarray(48)).digest("hex").slice(0, 40)}.kv`;
    await mkdir(this.modelDir, { recursive: true });
    const tmp = join(this.modelDir, `${file}.${process.pid}.${Math.floor(Math.random() * 1e9)}.tmp`);
    const fh = await open(tmp, "w");
    try {
      await fh.writev([head, payload]);
    } finally {
      await fh.close();
    }
    await rename(tmp, join(this.modelDir, file));
    for (const [name, e] of this.index) {
      if (name !== file && ((tag !== undefined && e.tag === tag) || commonPrefixLength(e.tokens, tokens) === e.tokens.length)) {
        this.index.delete(name);
        await unlink(join(this.modelDir, name)).catch(() => {});
      }
    }
    this.index.set(file, { file, tokens, tag });
    await this.evict();
    return true;
  }

  /** Deletes the least recently used files of every model until the total fits the cap. */
  async evict(): Promise<void> {
    const files = await allEntryFiles(this.options.dir);
    let total = files.reduce((s, f) => s + f.bytes, 0);
    files.sort((a, b) => a.used - b.used);
    for (const f of files) {
      if (total <= this.maxBytes) break;
      await unlink(f.path).catch(() => {});
      total -= f.bytes;
      if (f.path.startsWith(this.modelDir)) this.index.delete(f.path.slice(this.modelDir.length + 1));
    }
  }

  /** Deletes every entry of every model (the "clear cache" command). */
  async clear(): Promise<void> {
    await this.saving;
    await PrefixCache.clearDir(this.options.dir);
    this.index.clear();
  }

  static async clearDir(dir: string): Promise<void> {
    for (const d of await readdir(dir).catch(() => [])) await rm(join(dir, d), { recursive: true, force: true });
  }

  /** Total bytes and entries of every model under the cache's root. */
  async usage(): Promise<{ bytes: number; entries: number }> {
    const files = await allEntryFiles(this.options.dir);
    return { bytes: files.reduce((s, f) => s + f.bytes, 0), entries: files.length };
  }

  /**
   * Syncs the index with the model's folder (another window may have written or evicted), at
   * most once a second: a lookup runs on every keystroke, and this process's own saves and
   * deletions keep the index current anyway.
   */
  private async refresh(): Promise<void> {
    if (performance.now() - this.refreshed < 1000) return;
    this.refreshed = performance.now();
    const names = new Set((await readdir(this.modelDir).catch(() => [])).filter((f) => f.endsWith(".kv")));
    for (const name of this.index.keys()) if (!names.has(name)) this.index.delete(name);
    for (const name of names) {
      if (this.index.has(name)) continue;
      const fh = await open(join(this.modelDir, name), "r").catch(() => undefined);
      if (!fh) continue; // evicted meanwhile
      const head = await readKvHead(fh, this.expect).catch((err: unknown) => err as Error);
      await fh.close();
      if (head instanceof Error) await this.discard(name, head);
      else this.index.set(name, { file: name, tokens: head.tokens, tag: head.header.tag });
    }
  }

  private copyIn(slot: KvSlot, payload: Buffer, stored: number, from: number, to: number): void {
    let at = 0;
    for (let l = 0; l < this.layout.nLayer; l++) {
      for (const { base, dim } of this.planes(slot, l)) {
        this.kernels.bytes(base + from * dim * 2, (to - from) * dim * 2).set(payload.subarray(at + from * dim * 2, at + to * dim * 2));
        at += stored * dim * 2;
      }
    }
  }

  /**
   * Layer l's head planes in the order a file stores them: every KV head's keys, then its values
   * (base address and elements per position). A file holds each plane's first positions together.
   */
  private planes(slot: KvSlot, l: number): { base: number; dim: number }[] {
    const { nCtx, nHeadKV, kDim, vDim } = this.layout;
    const out: { base: number; dim: number }[] = [];
    for (const [base, dim] of [[slot.keys[l], kDim / nHeadKV], [slot.values[l], vDim / nHeadKV]]) {
      for (let g = 0; g < nHeadKV; g++) out.push({ base: base + g * nCtx * dim * 2, dim });
    }
    return out;
  }

  private async discard(name: string, err: unknown): Promise<void> {
    this.index.delete(name);
    const problem = err instanceof KvFileError ? err.message : `unreadable: ${(err as Error).message}`;
    this.options.log?.("warn", `prefix cache: ${name} skipped and deleted (${problem}); the prompt is evaluated instead`);
    await unlink(join(this.modelDir, name)).catch(() => {});
  }

  private warn(err: unknown): undefined {
    this.options.log?.("warn", `prefix cache: ${(err as Error).message}`);
    return undefined;
  }
}

async function allEntryFiles(dir: string): Promise<{ path: string; bytes: number; used: number }[]> {
  const out: { path: string; bytes: number; used: number }[] = [];
  for (const d of await readdir(dir).catch(() => [])) {
    for (const f of await readdir(join(dir, d)).catch(() => [])) {
      const path = join(dir, d, f);
      const s = await stat(path).catch(() => undefined);
      if (!s?.isFile()) continue;
      // Temporary files of a save that died with its process are garbage after an hour.
      if (f.endsWith(".tmp")) {
        if (Date.now() - s.mtimeMs > 3600_000) await unlink(path).catch(() => {});
        continue;
      }
      if (f.endsWith(".kv")) out.push({ path, bytes: s.size, used: s.mtimeMs });
    }
  }
  return out;
}
