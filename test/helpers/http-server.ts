// A loopback-only test server that behaves like the Hugging Face hub for one file at a time: the
// resolve URL answers with redirect(s) carrying the LFS metadata (x-linked-size, x-linked-etag),
// the last hop serves the bytes with an ETag and byte ranges. Each file's behaviour can be bent
// for a test (drop the connection after N bytes, ignore Range, change the ETag, lie about the
// sha256, redirect too often), and every request is logged with the body bytes actually sent, so
// tests can prove what was (not) downloaded twice. Also: a self-signed certificate made with
// `openssl` for HTTPS, and a CONNECT proxy that records the tunnels it opened.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";

export interface ServedFile {
  body: Uint8Array;
  /** The strong ETag of the bytes (default: derived from their sha256). */
  etag?: string;
  /** Sent as x-linked-etag on the first redirect (default: the body's sha256; null: not sent). */
  linkedSha256?: string | null;
  /** Redirects from the resolve URL to the bytes (default 1, like the hub's redirect to its CDN). */
  redirects?: number;
  /** Answer Range requests with 200 and the whole file. */
  ignoreRange?: boolean;
  /** For each next body response in turn: destroy the connection after this many body bytes. */
  dropAfter?: number[];
  /** Stop (hang) after this many body bytes without closing, until the client gives up. */
  stallAfter?: number;
}

export interface RequestLog {
  path: string;
  range?: string;
  status: number;
  /** Body bytes written to the socket for this request. */
  bodyBytes: number;
}

export interface TestServer {
  readonly origin: string;
  readonly files: Map<string, ServedFile>;
  readonly requests: RequestLog[];
  /** Registers `file` at `/<repo>/resolve/<revision>/<name>`; returns the full URL. */
  serve(repo: string, name: string, file: ServedFile, revision?: string): string;
  /** Body bytes sent for requests whose path starts with `prefix`. */
  bytesSent(prefix?: string): number;
  close(): Promise<void>;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Starts the server on 127.0.0.1 (HTTP, or HTTPS with `tls`). */
export async function startTestServer(opts: { tls?: { key: string; cert: string } } = {}): Promise<TestServer> {
  const files = new Map<string, ServedFile>();
  const requests: RequestLog[] = [];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const url = new URL(req.url ?? "/", "http://x");
    const file = files.get(url.pathname);
    const log: RequestLog = { path: url.pathname, range: req.headers.range, status: 0, bodyBytes: 0 };
    requests.push(log);
    if (!file) {
      log.status = 404;
      res.writeHead(404).end("not found");
      return;
    }
    const sha = sha256Hex(file.body);
    const hop = Number(url.searchParams.get("hop") ?? 0);
    if (hop < (file.redirects ?? 1)) {
      const headers: http.OutgoingHttpHeaders = { location: `${url.pathname}?hop=${hop + 1}` };
      if (hop === 0) {
        headers["x-linked-size"] = String(file.body.length);
        if (file.linkedSha256 !== null) headers["x-linked-etag"] = `"${file.linkedSha256 ?? sha}"`;
      }
      log.status = 302;
      res.writeHead(302, headers).end();
      return;
    }
    serveBody(file, sha, req, res, log);
  };
  const server = opts.tls ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, handler) : http.createServer(handler);
  const sockets = new Set<net.Socket>();
  server.on("connection", (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `${opts.tls ? "https" : "http"}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    files,
    requests,
    serve(repo, name, file, revision = "main") {
      const path = `/${repo}/resolve/${revision}/${name}`;
      files.set(path, file);
      return origin + path;
    },
    bytesSent: (prefix = "/") => requests.filter((r) => r.path.startsWith(prefix)).reduce((s, r) => s + r.bodyBytes, 0),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function serveBody(file: ServedFile, sha: string, req: http.IncomingMessage, res: http.ServerResponse, log: RequestLog): void {
  const size = file.body.length;
  const headers: http.OutgoingHttpHeaders = {
    etag: file.etag ?? `"${sha.slice(0, 32)}"`,
    "accept-ranges": file.ignoreRange ? "none" : "bytes",
    "content-type": "application/octet-stream",
  };
  let start = 0;
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
  if (range && !file.ignoreRange) {
    start = Number(range[1]);
    if (start >= size) {
      log.status = 416;
      res.writeHead(416, { "content-range": `bytes */${size}` }).end();
      return;
    }
    headers["content-range"] = `bytes ${start}-${size - 1}/${size}`;
    log.status = 206;
  } else {
    log.status = 200;
  }
  headers["content-length"] = String(size - start);
  res.writeHead(log.status, headers);
  const body = file.body.subarray(start);
  const drop = file.dropAfter?.shift();
  const cut = drop ?? file.stallAfter;
  if (cut === undefined || cut >= body.length) {
    log.bodyBytes = body.length;
    res.end(body);
    return;
  }
  log.bodyBytes = cut;
  res.write(body.subarray(0, cut), () => {
    // Give the bytes time to reach the client, then break (or just stop, for a stall).
    if (drop !== undefined) setTimeout(() => res.socket?.destroy(), 30);
  });
}

/** A self-signed certificate for 127.0.0.1 (and hub.hearth.test, reached through the proxy) made by `openssl`, or undefined when it is not on PATH. */
export function makeSelfSignedCert(): { key: string; cert: string } | undefined {
  const dir = mkdtempSync(join(tmpdir(), "hearth-cert-"));
  try {
    execFileSync(
      "openssl",
      ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:hub.hearth.test", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")],
      { stdio: "ignore" },
    );
    return { key: readFileSync(join(dir, "key.pem"), "utf8"), cert: readFileSync(join(dir, "cert.pem"), "utf8") };
  } catch {
    return undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface ConnectProxy {
  readonly url: string;
  /** "host:port" of every CONNECT it was asked for. */
  readonly tunnels: string[];
  /** Proxy-Authorization headers it saw. */
  readonly auth: (string | undefined)[];
  close(): Promise<void>;
}

/**
 * An HTTP proxy on 127.0.0.1 that only does CONNECT, to any target given by `route` (so a test
 * can send "huggingface.co:443" to the loopback HTTPS server).
 */
export async function startConnectProxy(route: (authority: string) => { host: string; port: number }): Promise<ConnectProxy> {
  const tunnels: string[] = [];
  const auth: (string | undefined)[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((_req, res) => res.writeHead(405).end("CONNECT only"));
  server.on("connect", (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    tunnels.push(req.url ?? "");
    auth.push(req.headers["proxy-authorization"]);
    sockets.add(client);
    const target = route(req.url ?? "");
    const upstream = net.connect(target.port, target.host, () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    upstream.on("error", end);
    client.on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    tunnels,
    auth,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
