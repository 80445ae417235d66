// HTTP(S) GET for model downloads, with the rules the downloader relies on: HTTPS only (plain HTTP
// only to a loopback address, and only when a test asks for it), redirects followed by hand within
// a limit (the hub redirects to its CDN, and every hop is checked against the same rules), an
// idle timeout, cancellation through an AbortSignal, and a proxy.
//
// Proxy: an explicit proxy (VS Code's `http.proxy`, or HTTPS_PROXY / HTTP_PROXY in the
// environment, minus NO_PROXY) is used through an HTTP CONNECT tunnel opened here with node's own
// http module, then TLS to the real host inside it, so no proxy-agent dependency is needed. With
// no explicit proxy, node's default agent is used, which VS Code's extension host may itself
// route through the system proxy. No `vscode` import.
import * as http from "node:http";
import * as https from "node:https";
import * as tls from "node:tls";
import type { Duplex } from "node:stream";
import { DownloadError, isAbortError } from "./errors.ts";

export interface NetOptions {
  /** Test option: allow http:// to 127.0.0.1 / ::1 / localhost. Never set by the extension. */
  allowHttpLoopback?: boolean;
  /**
   * Proxy URL (http://[user:pass@]host:port or https://…). Undefined: from the environment
   * (HTTPS_PROXY, HTTP_PROXY and NO_PROXY, either case). Empty string: no proxy.
   */
  proxy?: string;
  /** Extra header for the proxy (VS Code's `http.proxyAuthorization`). */
  proxyAuthorization?: string;
  /** Check the certificates of TLS connections made through the proxy (default true). */
  proxyStrictSSL?: boolean;
  /** Extra trusted CA certificates (tests use a self-signed one). */
  ca?: string | Buffer | (string | Buffer)[];
  /** Redirects followed before giving up (default 5). */
  maxRedirects?: number;
  /** Milliseconds without any data on the socket before the attempt fails (default 30 s). */
  idleTimeoutMs?: number;
  /** Environment to read proxy variables from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/** One redirect answer on the way to the final response (the hub puts its LFS metadata here). */
export interface Hop {
  url: string;
  status: number;
  headers: http.IncomingHttpHeaders;
}

export interface Opened {
  response: http.IncomingMessage;
  /** URL of the final response. */
  url: string;
  /** Redirect answers, in order, before the final response. */
  hops: Hop[];
}

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "::1", "[::1]", "localhost"]);

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname.toLowerCase()) || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/** Throws a policy error for a URL we must not fetch. */
export function checkUrlAllowed(url: URL, allowHttpLoopback = false): void {
  if (url.protocol === "https:") return;
  if (url.protocol === "http:" && allowHttpLoopback && isLoopbackHost(url.hostname)) return;
  throw new DownloadError(
    "policy",
    url.protocol === "http:"
      ? `refusing to download over plain HTTP (${url.host}): models are fetched over HTTPS only`
      : `refusing to download from ${url.protocol} URL: models are fetched over HTTPS only`,
  );
}

/** The proxy for `url`, or undefined for a direct connection. Loopback is never proxied. */
export function proxyFor(url: URL, opts: Pick<NetOptions, "proxy" | "env"> = {}): URL | undefined {
  if (isLoopbackHost(url.hostname)) return undefined;
  const env = opts.env ?? process.env;
  let raw = opts.proxy;
  if (raw === undefined) {
    raw = url.protocol === "https:" ? (env.HTTPS_PROXY ?? env.https_proxy ?? env.HTTP_PROXY ?? env.http_proxy) : (env.HTTP_PROXY ?? env.http_proxy);
    if (raw && bypassedByNoProxy(url, env.NO_PROXY ?? env.no_proxy ?? "")) return undefined;
  }
  if (!raw) return undefined;
  try {
    const p = new URL(raw.includes("://") ? raw : `http://${raw}`);
    if (p.protocol !== "http:" && p.protocol !== "https:") throw new Error(`unsupported proxy protocol ${p.protocol}`);
    return p;
  } catch (err) {
    throw new DownloadError("policy", `the proxy setting "${raw}" is not a usable http(s) proxy URL: ${(err as Error).message}`);
  }
}

/** NO_PROXY as curl reads it: "*", or host names / domain suffixes, optionally with a port. */
function bypassedByNoProxy(url: URL, noProxy: string): boolean {
  const host = url.hostname.toLowerCase();
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  return noProxy
    .split(/[\s,]+/)
    .filter(Boolean)
    .some((rule) => {
      if (rule === "*") return true;
      const [name, rulePort] = rule.toLowerCase().replace(/^\*?\./, ".").split(":");
      if (rulePort && rulePort !== port) return false;
      const bare = name.replace(/^\./, "");
      return host === bare || host.endsWith(`.${bare}`);
    });
}

/**
 * GET `url`, following redirects. Resolves with the final response (status < 300 or >= 400,
 * body unread) and the redirect answers on the way. Network failures are DownloadErrors of kind
 * "network"; an aborted signal rejects with the signal's AbortError.
 */
export async function openUrl(
  url: string,
  opts: NetOptions & { headers?: http.OutgoingHttpHeaders; signal?: AbortSignal } = {},
): Promise<Opened> {
  const maxRedirects = opts.maxRedirects ?? 5;
  const hops: Hop[] = [];
  let current = new URL(url);
  for (;;) {
    checkUrlAllowed(current, opts.allowHttpLoopback);
    const response = await requestOnce(current, opts);
    const status = response.statusCode ?? 0;
    const location = response.headers.location;
    if (status >= 300 && status < 400 && status !== 304 && location) {
      response.resume(); // drain the redirect's body so the socket is freed
      hops.push({ url: current.toString(), status, headers: response.headers });
      if (hops.length > maxRedirects) {
        throw new DownloadError("redirects", `too many redirects (more than ${maxRedirects}) starting at ${url}`);
      }
      current = new URL(location, current);
      continue;
    }
    return { response, url: current.toString(), hops };
  }
}

function requestOnce(url: URL, opts: NetOptions & { headers?: http.OutgoingHttpHeaders; signal?: AbortSignal }): Promise<http.IncomingMessage> {
  const idle = opts.idleTimeoutMs ?? 30_000;
  const headers = { "user-agent": "hearth-vscode", ...opts.headers };
  const proxy = proxyFor(url, opts);
  return new Promise<http.IncomingMessage>((resolve, reject) => {
    const fail = (err: unknown): void => reject(asNetworkError(err, url, opts.signal));
    const start = (createConnection?: () => Duplex): void => {
      const mod = url.protocol === "https:" ? https : http;
      const req = mod.request(url, {
        method: "GET",
        headers,
        signal: opts.signal,
        ca: opts.ca,
        // With `createConnection` and no agent, node uses our tunnelled socket (agent: false would not).
        ...(createConnection ? { createConnection: createConnection as never } : {}),
      });
      req.setTimeout(idle, () => req.destroy(new DownloadError("network", `no data from ${url.host} for ${idle / 1000} s`)));
      // The request's timeout stays on its socket while the body streams: a stall breaks the read.
      req.once("response", resolve);
      req.once("error", fail);
      req.end();
    };
    if (!proxy) return start();
    // Plain HTTP through a proxy is only ever loopback (never proxied), so a proxy means CONNECT.
    connectTunnel(proxy, url, opts, idle).then(
      (socket) =>
        start(() =>
          tls.connect({
            socket,
            servername: url.hostname,
            ca: opts.ca,
            rejectUnauthorized: opts.proxyStrictSSL ?? true,
          }),
        ),
      fail,
    );
  });
}

/**
 * The Proxy-Authorization header for `proxy`: VS Code's `http.proxyAuthorization` when set, else
 * Basic credentials from the proxy URL's user info, else none (also used by src/remote).
 */
export function proxyAuthorization(proxy: URL, opts: Pick<NetOptions, "proxyAuthorization">): string | undefined {
  if (opts.proxyAuthorization) return opts.proxyAuthorization;
  if (!proxy.username) return undefined;
  return `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString("base64")}`;
}

/**
 * Opens a CONNECT tunnel through `proxy` to the target's host and port (also used by src/remote for
 * a user-configured endpoint behind a proxy).
 */
export function connectTunnel(proxy: URL, target: URL, opts: NetOptions & { signal?: AbortSignal }, idle: number): Promise<Duplex> {
  const port = target.port || "443";
  const authority = `${target.hostname}:${port}`;
  const headers: http.OutgoingHttpHeaders = { host: authority };
  const auth = proxyAuthorization(proxy, opts);
  if (auth) headers["proxy-authorization"] = auth;
  return new Promise((resolve, reject) => {
    const mod = proxy.protocol === "https:" ? https : http;
    const req = mod.request({
      host: proxy.hostname,
      port: proxy.port || (proxy.protocol === "https:" ? 443 : 80),
      method: "CONNECT",
      path: authority,
      headers,
      agent: false,
      signal: opts.signal,
      ca: opts.ca,
    });
    req.setTimeout(idle, () => req.destroy(new DownloadError("network", `proxy ${proxy.host} did not answer for ${idle / 1000} s`)));
    req.once("connect", (res, socket) => {
      req.setTimeout(0);
      if (res.statusCode === 200) return resolve(socket);
      socket.destroy();
      reject(new DownloadError("network", `proxy ${proxy.host} refused the tunnel to ${authority}: HTTP ${res.statusCode} ${res.statusMessage ?? ""}`.trim()));
    });
    req.once("error", reject);
    req.end();
  });
}

function asNetworkError(err: unknown, url: URL, signal?: AbortSignal): Error {
  if (signal?.aborted || isAbortError(err)) return err instanceof Error ? err : new Error(String(err));
  if (err instanceof DownloadError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e.code === "ENOTFOUND" || e.code === "EAI_AGAIN") {
    return new DownloadError("offline", `cannot reach ${url.host}: its name could not be looked up (${e.code}): no internet connection, or the host is blocked`, undefined, e.code);
  }
  return new DownloadError("network", `cannot reach ${url.host}: ${e.code ?? e.message}`, undefined, e.code);
}
