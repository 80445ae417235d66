// One error class for everything that can stop a download, with a kind the UI and the retry loop
// act on. Messages are written for the user: what happened, and what is left on disk. Also the
// plain first sentences the notifications lead with, for failed downloads and bad model files.

export type DownloadErrorKind =
  /** Refused before any byte moved: not HTTPS, a bad name, no checksum known. */
  | "policy"
  /** The connection failed or closed early; the temporary file is kept and the next try resumes. */
  | "network"
  /**
   * The hub's host name could not be looked up (ENOTFOUND, EAI_AGAIN): no internet connection, or
   * the hub is blocked. Not retried in the loop (seconds of backoff change nothing); the UI
   * offers Retry.
   */
  | "offline"
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
    /** For "network" and "offline": the system error code (ENOTFOUND, ECONNREFUSED, ...). */
    readonly code?: string,
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

/** What a failed download's notification says and offers (the first sentence is plain words). */
export interface DownloadFailureText {
  message: string;
  actions: DownloadFailureAction[];
}
export type DownloadFailureAction = "Retry" | "Use a File on Disk…" | "Copy Link" | "Show Log";

export function downloadFailureText(label: string, url: string, err: unknown): DownloadFailureText {
  const host = hostOf(url);
  if (!(err instanceof DownloadError)) return { message: `Hearth could not download ${label}: ${(err as Error).message}.`, actions: ["Retry", "Show Log"] };
  switch (err.kind) {
    case "offline":
      return {
        message: `Hearth could not download ${label}: no internet connection, or ${host} is blocked (${err.code ?? "lookup failed"}). You can download it by hand from ${url} and choose it with “Use a File on Disk…”.`,
        actions: ["Retry", "Use a File on Disk…", "Copy Link"],
      };
    case "network":
      return {
        message: `Hearth could not download ${label}: the connection to ${host} failed (${err.message}). What arrived is kept: Retry resumes from there. Or download it by hand from ${url}.`,
        actions: ["Retry", "Use a File on Disk…", "Copy Link"],
      };
    case "checksum":
    case "format":
      return { message: `Hearth could not use the download of ${label}: the file arrived damaged and was deleted. Download it again. (${err.message})`, actions: ["Retry", "Show Log"] };
    case "disk":
      return { message: `Hearth could not download ${label}: ${err.message}.`, actions: ["Retry", "Show Log"] };
    case "policy":
      return { message: `Hearth will not download ${label}: ${err.message}.`, actions: ["Show Log"] };
    default:
      return { message: `Hearth could not download ${label}: ${err.message}.`, actions: [...(err.retryable ? (["Retry"] as const) : []), "Use a File on Disk…", "Show Log"] };
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/**
 * A plain sentence for a model file's problem (a GgufError's exact, technical message): what the
 * notification says first, with the details after it.
 */
export function plainModelProblem(detail: string): string {
  if (/truncated|ends inside|file shrank|more than the file|but the file ends|bytes left in the file/.test(detail)) return "The file is incomplete: download it again.";
  if (/not a GGUF file|big-endian GGUF/.test(detail)) return "This is not a GGUF model file.";
  if (/unsupported GGUF version/.test(detail)) return "This GGUF file is damaged or of a format version Hearth cannot read.";
  if (/architecture .* is not supported|general\.architecture/.test(detail)) return "Hearth does not support this kind of model yet.";
  if (/tensor type .* is not supported/.test(detail)) return "This model's quantisation is not supported yet: try its Q4_K_M file.";
  if (/cannot open/.test(detail)) return "The file cannot be opened.";
  if (/does not fit|not enough memory|too large/i.test(detail)) return "The model is too large for this machine's memory.";
  return "The file is not a usable model.";
}
