// One error class for everything that can stop a download, with a kind the UI and the retry loop
// act on. Messages are written for the user: what happened, and what is left on disk.

export type DownloadErrorKind =
  /** Refused before any byte moved: not HTTPS, a bad name, no checksum known. */
  | "policy"
  /** The connection failed or closed early; the temporary file is kept and the next try resumes. */
  | "network"
  /** The server answered with an HTTP error status. */
  | "http"
  | "redirects"
  /** Not enough free disk space. */
  | "disk"
  /** The bytes arrived but their sha256 or size is wrong; the temporary file was deleted. */
  | "checksum"
  /** The file is not a valid GGUF; the temporary file was deleted. */
  | "format"
  /** Cancelled by the user; the temporary file is kept for resuming. */
  | "cancelled";

export class DownloadError extends Error {
  override readonly name = "DownloadError";
  constructor(
    readonly kind: DownloadErrorKind,
    message: string,
    /** For "http": the status code. */
    readonly status?: number,
  ) {
    super(message);
  }

  /** Worth another attempt (which resumes from the temporary file when it can). */
  get retryable(): boolean {
    return this.kind === "network" || (this.kind === "http" && this.status !== undefined && (this.status >= 500 || this.status === 429));
  }
}

export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === "AbortError" || (err as NodeJS.ErrnoException).code === "ABORT_ERR");
}
