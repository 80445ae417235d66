// What can go wrong talking to a user-configured inference server, as error classes whose message
// a user understands and whose last sentence is the next step (the setting to check, the command
// to run). The API key never appears in a message: every text that came from the server goes
// through `redact` first (a server may echo request headers in an error body).
import type { RemoteRole } from "./types.ts";

/** The command (palette title) that stores the API key in VS Code's SecretStorage. */
export const SET_API_KEY_COMMAND = "Hearth: Set Remote API Key…";

export type RemoteErrorKind =
  | "connect" // refused, DNS, unreachable, reset before an answer
  | "timeout" // no data for the idle timeout
  | "tls" // certificate or TLS handshake
  | "auth" // 401 / 403
  | "model" // the server has no such model
  | "api" // the server does not speak the API asked of it (404 on the endpoint, bad JSON…)
  | "busy" // 429 after the retries
  | "server" // 5xx after the retries
  | "request" // 4xx the server explains (bad parameters, prompt too long…)
  | "stream" // the stream stopped midway
  | "protocol" // malformed SSE
  | "config"; // the endpoint setting itself is unusable

export class RemoteError extends Error {
  override name = "RemoteError";
  constructor(
    readonly kind: RemoteErrorKind,
    message: string,
    /** HTTP status, when the server answered. */
    readonly status?: number,
  ) {
    super(message);
  }
}

export class RemoteConnectError extends RemoteError {
  override name = "RemoteConnectError";
}
export class RemoteTimeoutError extends RemoteError {
  override name = "RemoteTimeoutError";
}
export class RemoteTlsError extends RemoteError {
  override name = "RemoteTlsError";
}
export class RemoteAuthError extends RemoteError {
  override name = "RemoteAuthError";
}
export class RemoteModelError extends RemoteError {
  override name = "RemoteModelError";
  constructor(
    message: string,
    /** The model asked for. */
    readonly model: string,
    /** The models the server said it has (may be empty when it would not say). */
    readonly available: readonly string[],
    status?: number,
  ) {
    super("model", message, status);
  }
}
export class RemoteApiError extends RemoteError {
  override name = "RemoteApiError";
}
export class RemoteHttpError extends RemoteError {
  override name = "RemoteHttpError";
}
export class RemoteStreamError extends RemoteError {
  override name = "RemoteStreamError";
}
export class RemoteProtocolError extends RemoteError {
  override name = "RemoteProtocolError";
}
export class RemoteConfigError extends RemoteError {
  override name = "RemoteConfigError";
}

/** Replaces every occurrence of the secret (and of its Bearer form) in `text`. */
export function redact(text: string, secret: string | undefined): string {
  if (!secret) return text;
  return text.split(secret).join("<api key>");
}

/** A server-provided text, redacted, on one line, cut to a readable length. */
export function serverText(text: string, secret: string | undefined, max = 200): string {
  const one = redact(text, secret).replace(/\s+/g, " ").trim();
  return one.length > max ? `${one.slice(0, max)}…` : one;
}

/** The `error.message` (OpenAI, llama-server, vLLM) or `error` string (Ollama) of a JSON error body. */
export function errorBodyMessage(body: string): string | undefined {
  try {
    const j = JSON.parse(body) as { error?: unknown; message?: unknown; detail?: unknown };
    if (typeof j.error === "string") return j.error;
    if (j.error && typeof j.error === "object" && typeof (j.error as { message?: unknown }).message === "string") {
      return (j.error as { message: string }).message;
    }
    if (typeof j.message === "string") return j.message;
    if (typeof j.detail === "string") return j.detail;
  } catch {
    // not JSON: the caller uses the text itself
  }
  return undefined;
}

export const endpointSetting = (role: RemoteRole): string => `hearth.${role}.endpoint`;
export const modelSetting = (role: RemoteRole): string => `hearth.${role}.remoteModel`;
export const apiSetting = (role: RemoteRole): string => `hearth.${role}.remoteApi`;

const TLS_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "ERR_SSL_WRONG_VERSION_NUMBER",
  "EPROTO",
]);

/**
 * A node network error (before or during the answer) as a RemoteError naming the host and the
 * setting to check. `answered`: the server had already sent its status line.
 */
export function networkError(err: unknown, url: URL, role: RemoteRole, answered: boolean): RemoteError {
  if (err instanceof RemoteError) return err;
  const e = err as NodeJS.ErrnoException;
  const code = e?.code ?? "";
  const host = url.host;
  const check = `Check ${endpointSetting(role)}.`;
  if (TLS_CODES.has(code) || /^ERR_SSL_|^ERR_TLS_|CERT/.test(code)) {
    const hint =
      code === "ERR_SSL_WRONG_VERSION_NUMBER" || code === "EPROTO"
        ? `the server at ${host} does not speak HTTPS here: if it serves plain HTTP, use an http:// URL in ${endpointSetting(role)}.`
        : `its certificate is not trusted (${code}): use a certificate from a trusted authority, add the authority to the system (NODE_EXTRA_CA_CERTS), or check ${endpointSetting(role)}.`;
    return new RemoteTlsError("tls", `The secure connection to ${host} failed: ${hint}`);
  }
  if (code === "ECONNREFUSED") {
    return new RemoteConnectError("connect", `The inference server at ${host} refused the connection: is it running, and listening on that address and port? ${check}`);
  }
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") {
    return new RemoteConnectError("connect", `The host name ${url.hostname} could not be looked up (${code}). ${check}`);
  }
  if (code === "EHOSTUNREACH" || code === "ENETUNREACH" || code === "ETIMEDOUT" || code === "EADDRNOTAVAIL") {
    return new RemoteConnectError("connect", `The inference server at ${host} cannot be reached (${code}): check the network, then ${endpointSetting(role)}.`);
  }
  if (answered) {
    return new RemoteStreamError("stream", `The inference server at ${host} closed the connection in the middle of its answer (${code || e?.message || "connection lost"}). Try again; if it keeps happening, check the server's log.`);
  }
  return new RemoteConnectError("connect", `The connection to ${host} failed before an answer (${code || e?.message || "unknown error"}). ${check}`);
}
