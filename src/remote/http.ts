// HTTP(S) requests to a user-configured inference server: JSON bodies, streamed responses, an idle
// timeout (connecting, waiting for the first byte and between chunks alike), cancellation through
// an AbortSignal (the request is destroyed: the server sees the connection close and stops
// generating), and the model downloader's proxy rules (src/models/net.ts: `proxyFor` reads
// VS Code's proxy setting or HTTPS_PROXY / HTTP_PROXY / NO_PROXY; an HTTPS endpoint goes through a
// CONNECT tunnel, a plain HTTP one through the proxy as an absolute-URI request).
//
// Unlike the downloader (HTTPS only), a user-configured endpoint may be plain http:// on any host:
// a GPU box on the LAN or a server on this machine rarely has a certificate, and the user chose
// that URL. Nothing is ever sent anywhere the user did not configure. No `vscode` import.
import * as http from "node:http";
import * as https from "node:https";
import * as tls from "node:tls";
import type { Duplex } from "node:stream";
import { AbortError } from "../engine/cancel.ts";
import { connectTunnel, proxyAuthorization, proxyFor } from "../models/net.ts";
import { RemoteConfigError, RemoteConnectError, RemoteTimeoutError, networkError } from "./errors.ts";
import type { RemoteNetOptions, RemoteRole } from "./types.ts";

export interface HttpRequest {
  method: "GET" | "POST";
  url: URL;
  headers?: http.OutgoingHttpHeaders;
  /** JSON body (POST). */
  body?: unknown;
  signal?: AbortSignal;
  idleTimeoutMs: number;
  net?: RemoteNetOptions;
  role: RemoteRole;
}

/**
 * Sends the request; resolves with the response once its status line and headers arrived (body
 * unread, still under the idle timeout). Network failures reject with RemoteErrors; an aborted
 * signal rejects with an AbortError.
 */
export function send(req: HttpRequest): Promise<http.IncomingMessage> {
  const { url, idleTimeoutMs: idle, role } = req;
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return Promise.reject(new RemoteConfigError("config", `The endpoint ${url.protocol}//${url.host} is not an http:// or https:// URL: check hearth.${role}.endpoint.`));
  }
  let proxy: URL | undefined;
  try {
    proxy = proxyFor(url, req.net ?? {});
  } catch (err) {
    return Promise.reject(new RemoteConfigError("config", (err as Error).message));
  }
  const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
  const headers: http.OutgoingHttpHeaders = {
    "user-agent": "hearth-vscode",
    accept: req.method === "POST" ? "text/event-stream, application/json" : "application/json",
    ...(payload ? { "content-type": "application/json", "content-length": payload.length } : {}),
    ...req.headers,
  };
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      reject(req.signal?.aborted ? abortReason(req.signal) : networkError(err, url, role, false));
    };
    // After the answer began, a request error (idle timeout, abort, reset) ends its body instead.
    const wire = (r: http.ClientRequest): void => {
      let response: http.IncomingMessage | undefined;
      r.once("response", (res) => {
        response = res;
        settled = true;
        resolve(res);
      });
      r.on("error", (err) => (response ? response.destroy(err) : fail(err)));
      r.end(payload);
    };
    const start = (target: URL | string, options: https.RequestOptions): void => {
      const r = (url.protocol === "https:" ? https : http).request(target, { method: req.method, headers, signal: req.signal, ca: req.net?.ca, ...options });
      r.setTimeout(idle, () => r.destroy(new RemoteTimeoutError("timeout", `No answer from ${url.host} for ${Math.round(idle / 1000)} s: the server may be overloaded or the network down. Check hearth.${role}.endpoint, or try again.`)));
      wire(r);
    };
    if (!proxy) return start(url, {});
    if (url.protocol === "http:") {
      // A plain-HTTP endpoint through the proxy: the absolute URI as the request target.
      const auth = proxyAuthorization(proxy, req.net ?? {});
      const r = http.request(
        { host: proxy.hostname, port: proxy.port || 80, method: req.method, path: url.toString(), headers: { ...headers, host: url.host, ...(auth ? { "proxy-authorization": auth } : {}) }, signal: req.signal },
      );
      r.setTimeout(idle, () => r.destroy(new RemoteTimeoutError("timeout", `No answer from ${url.host} (through the proxy ${proxy!.host}) for ${Math.round(idle / 1000)} s. Check hearth.${role}.endpoint and the proxy settings.`)));
      wire(r);
      return;
    }
    connectTunnel(proxy, url, { ...req.net, signal: req.signal }, idle).then(
      (socket: Duplex) =>
        start(url, {
          createConnection: (() =>
            tls.connect({ socket, servername: url.hostname, ca: req.net?.ca, rejectUnauthorized: req.net?.proxyStrictSSL ?? true })) as never,
        }),
      (err: unknown) => {
        if (req.signal?.aborted) return fail(err);
        settled = true;
        reject(new RemoteConnectError("connect", `The proxy ${proxy!.host} did not open a connection to ${url.host}: ${(err as Error).message}. Check the proxy settings (http.proxy) and hearth.${role}.endpoint.`));
      },
    );
  });
}

function abortReason(signal: AbortSignal): Error {
  const r = signal.reason as unknown;
  return r instanceof Error ? r : new AbortError();
}

/** Reads a whole (small) body as text, under the request's idle timeout. */
export function readBody(res: http.IncomingMessage, max = 1 << 20): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on("data", (c: Buffer) => {
      size += c.length;
      if (size <= max) chunks.push(c);
    });
    res.once("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    res.once("error", reject);
    res.once("aborted", () => reject(new Error("aborted")));
  });
}
