// Free disk space, checked before a download starts (and again once the exact size is known), so
// a 2 GB model does not fill the disk half-way. `statfs` is injectable for tests.
import { statfs as nodeStatfs } from "node:fs/promises";
import { humanBytes } from "./bytes.ts";
import { DownloadError } from "./errors.ts";

export type StatfsFn = (path: string) => Promise<{ bavail: number | bigint; bsize: number | bigint }>;

/** Space kept free beyond the file itself: the editor and the OS need some too. */
export const DEFAULT_RESERVE_BYTES = 256 * 1024 * 1024;

/** Bytes available to this user on the file system holding `dir`. */
export async function freeBytes(dir: string, statfs: StatfsFn = nodeStatfs): Promise<number> {
  const s = await statfs(dir);
  return Number(s.bavail) * Number(s.bsize);
}

/** Throws a "disk" DownloadError when `needed` more bytes (plus the reserve) do not fit in `dir`. */
export async function ensureDiskSpace(dir: string, needed: number, opts: { statfs?: StatfsFn; reserveBytes?: number } = {}): Promise<void> {
  if (needed <= 0) return;
  const free = await freeBytes(dir, opts.statfs);
  const reserve = opts.reserveBytes ?? DEFAULT_RESERVE_BYTES;
  if (needed + reserve > free) {
    throw new DownloadError(
      "disk",
      `not enough disk space in ${dir}: the download needs ${humanBytes(needed)}` +
        (reserve > 0 ? ` (plus ${humanBytes(reserve)} kept free)` : "") +
        `, ${humanBytes(free)} is free. Free some space and try again.`,
    );
  }
}
