// The model downloader against a loopback server that behaves like the hub (redirect with LFS
// metadata, then the bytes): full download, resume after a dropped connection (bytes not sent
// twice, counted on the server), Range ignored, file changed between attempts, wrong checksum,
// truncated / not-GGUF files, disk-space refusal, cancellation, redirect limits, HTTPS-only rule,
// and HTTPS through a CONNECT proxy with a self-signed certificate.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { buildGguf, str, u32 } from "../reference/gguf-writer.ts";
import { GgmlType } from "../../src/engine/quant/types.ts";
import { readGguf } from "../../src/engine/gguf/reader.ts";
import { discardPartial, downloadFile as download, partPath, partialBytes, type DownloadOptions } from "../../src/models/downloader.ts";
import { DownloadError, downloadFailureText } from "../../src/models/errors.ts";
import { makeTmpDir, seededBytes } from "../helpers/gguf-fixtures.ts";
import { makeSelfSignedCert, sha256Hex, startConnectProxy, startTestServer, type TestServer } from "../helpers/http-server.ts";

/**
 * The downloader with the check the extension gives it (the engine worker's header read, here
 * the same reader in-process): a file without a readable header or architecture is refused.
 */
function downloadFile(opts: Omit<DownloadOptions, "validate"> & { validate?: DownloadOptions["validate"] }) {
  const validate = async (path: string) => {
    if (!(await readGguf(path)).architecture) throw new Error("no general.architecture in its metadata");
  };
  return download({ validate, ...opts });
}

/** A valid GGUF of ~256 KiB (one F32 tensor of seeded bytes), so "half-way" means something. */
function fixtureGguf(seed = 1): Uint8Array {
  return buildGguf({
    metadata: { "general.architecture": str("llama"), "general.name": str(`download fixture ${seed}`), "llama.block_count": u32(1) },
    tensors: [{ name: "token_embd.weight", type: GgmlType.F32, dims: [256, 256], data: seededBytes(256 * 256 * 4, seed) }],
  });
}

const GGUF = fixtureGguf(1);
const GGUF_B = fixtureGguf(2);

let server: TestServer;
let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
let n = 0;

before(async () => {
  server = await startTestServer();
  tmp = await makeTmpDir();
});
after(async () => {
  await server.close();
  await tmp.cleanup();
});

/** A fresh destination and URL per test; the options every test shares. */
function setup(file: Parameters<TestServer["serve"]>[2], name = "model.gguf") {
  n++;
  const url = server.serve(`org/repo${n}`, name, file);
  const dest = join(tmp.dir, `t${n}`, name);
  const base: Omit<DownloadOptions, "validate"> = { url, dest, allowHttpLoopback: true, retryDelayMs: 0, reserveBytes: 0 };
  const bodyRequests = () => server.requests.filter((r) => r.path === new URL(url).pathname && r.status !== 302);
  return { url, dest, base, bodyRequests, prefix: `/org/repo${n}/` };
}

function leftovers(dest: string): string[] {
  const dir = join(dest, "..");
  return existsSync(dir) ? readdirSync(dir) : [];
}

describe("model download", () => {
  test("full download: verified against the hub's sha256, in place, no temporary files left", async () => {
    const { dest, base, bodyRequests } = setup({ body: GGUF });
    const progress: number[] = [];
    const r = await downloadFile({ ...base, onProgress: (p) => progress.push(p.received) });
    assert.equal(r.path, dest);
    assert.equal(r.sha256, sha256Hex(GGUF));
    assert.equal(r.size, GGUF.length);
    assert.equal(r.resumedFrom, 0);
    assert.equal(r.attempts, 1);
    assert.deepEqual(new Uint8Array(await readFile(dest)), GGUF);
    assert.deepEqual(leftovers(dest), ["model.gguf"]);
    assert.equal(progress.at(-1), GGUF.length, "the last progress report is the whole file");
    assert.equal(bodyRequests().length, 1);
  });

  test("a pinned sha256 and size are used (and must agree with the hub)", async () => {
    const { dest, base } = setup({ body: GGUF });
    await downloadFile({ ...base, sha256: sha256Hex(GGUF).toUpperCase(), size: GGUF.length });
    assert.ok(existsSync(dest));

    const other = setup({ body: GGUF });
    await assert.rejects(downloadFile({ ...other.base, sha256: sha256Hex(GGUF_B) }), (e: DownloadError) => e.kind === "checksum" && /not the pinned one/.test(e.message));
    assert.deepEqual(leftovers(other.dest), [], "nothing written when the hub's file is not the pinned one");
  });

  test("connection dropped half-way: the retry resumes with Range and the first half is not sent again", async () => {
    const half = Math.floor(GGUF.length / 2);
    const { dest, base, bodyRequests } = setup({ body: GGUF, dropAfter: [half] });
    const logs: string[] = [];
    const r = await downloadFile({ ...base, onLog: (m) => logs.push(m) });
    assert.deepEqual(new Uint8Array(await readFile(dest)), GGUF);
    const reqs = bodyRequests();
    assert.equal(reqs.length, 2);
    assert.equal(reqs[0].status, 200);
    assert.equal(reqs[0].bodyBytes, half);
    // The client resumes from the bytes it kept: all the server wrote before the drop, less any
    // still in flight when the socket broke (none on an idle loopback; some on a loaded machine).
    const from = r.resumedFrom;
    assert.ok(from > 0 && from <= half, `resumed from ${from}`);
    assert.equal(reqs[1].range, `bytes=${from}-`);
    assert.equal(reqs[1].status, 206);
    assert.equal(reqs[1].bodyBytes, GGUF.length - from, "only the missing bytes were sent again");
    assert.equal(r.attempts, 2);
    assert.ok(logs.some((l) => l.includes(`resuming`) && l.includes(String(from))), logs.join("\n"));
    assert.deepEqual(leftovers(dest), ["model.gguf"]);
  });

  test("with no retries left the partial file stays as <dest>.part; the next call resumes it", async () => {
    const cut = 70_000;
    const { dest, base, bodyRequests } = setup({ body: GGUF, dropAfter: [cut] });
    await assert.rejects(downloadFile({ ...base, retries: 0 }), (e: DownloadError) => e.kind === "network");
    assert.equal(existsSync(dest), false, "nothing at the destination");
    const kept = await partialBytes(dest);
    assert.ok(kept > 0 && kept <= cut, `kept ${kept} bytes`);
    const r = await downloadFile(base);
    assert.equal(r.resumedFrom, kept);
    assert.equal(bodyRequests()[1].bodyBytes, GGUF.length - kept);
    assert.deepEqual(new Uint8Array(await readFile(dest)), GGUF);
  });

  test("a server that ignores Range: the download restarts from zero with that response", async () => {
    const cut = 100_000;
    const { dest, base, bodyRequests } = setup({ body: GGUF, dropAfter: [cut], ignoreRange: true });
    const logs: string[] = [];
    const r = await downloadFile({ ...base, onLog: (m) => logs.push(m) });
    assert.deepEqual(new Uint8Array(await readFile(dest)), GGUF);
    const reqs = bodyRequests();
    assert.equal(reqs.length, 2);
    assert.equal(reqs[1].range, `bytes=${cut}-`, "a resume was asked for");
    assert.equal(reqs[1].status, 200);
    assert.equal(reqs[1].bodyBytes, GGUF.length, "the whole file came again");
    assert.equal(r.resumedFrom, 0);
    assert.ok(logs.some((l) => /ignored the Range request/.test(l)), logs.join("\n"));
  });

  test("the file changed on the server between attempts (validator differs): restart from zero", async () => {
    const cut = 90_000;
    const file = { body: GGUF, dropAfter: [cut] };
    const { dest, base, url, bodyRequests } = setup(file);
    await assert.rejects(downloadFile({ ...base, retries: 0 }), (e: DownloadError) => e.kind === "network");
    // The repository's file is replaced: new bytes, new sha256 and ETag.
    server.files.set(new URL(url).pathname, { body: GGUF_B });
    const logs: string[] = [];
    const r = await downloadFile({ ...base, onLog: (m) => logs.push(m) });
    assert.equal(r.resumedFrom, 0);
    assert.equal(r.sha256, sha256Hex(GGUF_B));
    assert.deepEqual(new Uint8Array(await readFile(dest)), GGUF_B, "no mix of old and new bytes");
    const reqs = bodyRequests();
    assert.equal(reqs[1].status, 206, "the server did answer the range…");
    assert.equal(reqs[2].range, undefined, "…but it was dropped and the whole file asked for");
    assert.equal(reqs[2].bodyBytes, GGUF_B.length);
    assert.ok(logs.some((l) => /changed on the server/.test(l)), logs.join("\n"));
  });

  test("only a strong ETag: resumes when unchanged, restarts when it changed (pinned sha256)", async () => {
    const cut = 50_000;
    const same = setup({ body: GGUF, linkedSha256: null, etag: '"v1"', dropAfter: [cut] });
    const r1 = await downloadFile({ ...same.base, sha256: sha256Hex(GGUF) });
    assert.ok(r1.resumedFrom > 0 && r1.resumedFrom <= cut, `resumed from ${r1.resumedFrom}`);

    const changed = setup({ body: GGUF, linkedSha256: null, etag: '"v1"', dropAfter: [cut] });
    await assert.rejects(downloadFile({ ...changed.base, sha256: sha256Hex(GGUF), retries: 0 }));
    server.files.set(new URL(changed.url).pathname, { body: GGUF, linkedSha256: null, etag: '"v2"' });
    const r2 = await downloadFile({ ...changed.base, sha256: sha256Hex(GGUF) });
    assert.equal(r2.resumedFrom, 0);
    assert.deepEqual(new Uint8Array(await readFile(changed.dest)), GGUF);
  });

  test("wrong checksum: the temporary file is deleted and the error says so", async () => {
    const { dest, base } = setup({ body: GGUF, linkedSha256: sha256Hex(GGUF_B) });
    await assert.rejects(downloadFile(base), (e: DownloadError) => {
      assert.equal(e.kind, "checksum");
      assert.match(e.message, /wrong checksum/);
      assert.match(e.message, /temporary file was deleted/);
      assert.ok(e.message.includes(sha256Hex(GGUF)) && e.message.includes(sha256Hex(GGUF_B)), "both hashes named");
      return true;
    });
    assert.deepEqual(leftovers(dest), [], "no .part, no .part.json, nothing in place");
  });

  test("no sha256 known (not pinned, no x-linked-etag): refused before any byte is stored", async () => {
    const { dest, base } = setup({ body: GGUF, linkedSha256: null });
    await assert.rejects(downloadFile(base), (e: DownloadError) => e.kind === "policy" && /no sha256 is known/.test(e.message));
    assert.deepEqual(leftovers(dest), []);
  });

  test("a truncated GGUF (checksum right, tensor data missing): header validation fails, nothing in place", async () => {
    const truncated = GGUF.subarray(0, GGUF.length - 1000);
    const { dest, base } = setup({ body: truncated });
    await assert.rejects(downloadFile(base), (e: DownloadError) => e.kind === "format" && /not a usable GGUF/.test(e.message) && /more than the file/.test(e.message));
    assert.deepEqual(leftovers(dest), []);
  });

  test("not a GGUF at all: refused, nothing in place", async () => {
    const html = new TextEncoder().encode("<html>rate limited</html>\n".repeat(100));
    const { dest, base } = setup({ body: html });
    await assert.rejects(downloadFile(base), (e: DownloadError) => e.kind === "format");
    assert.deepEqual(leftovers(dest), []);
  });

  test("too little disk space: refused before downloading (statfs injected)", async () => {
    const { dest, base, prefix } = setup({ body: GGUF });
    const statfs = async () => ({ bavail: 10, bsize: 4096 }); // 40 KiB free
    // Size known in advance (catalogue): refused before any request.
    await assert.rejects(downloadFile({ ...base, approxSize: GGUF.length, statfs }), (e: DownloadError) => e.kind === "disk" && /not enough disk space/.test(e.message));
    assert.equal(server.bytesSent(prefix), 0);
    // Size known only from the hub: refused after the headers, before the body is stored.
    await assert.rejects(downloadFile({ ...base, statfs }), (e: DownloadError) => e.kind === "disk");
    assert.deepEqual(leftovers(dest), []);
    // The reserve counts too.
    const roomy = async () => ({ bavail: BigInt(GGUF.length + 4096), bsize: 1n });
    await assert.rejects(downloadFile({ ...base, statfs: roomy, reserveBytes: 1 << 20 }), (e: DownloadError) => e.kind === "disk");
    await downloadFile({ ...base, statfs: roomy });
    assert.ok(existsSync(dest));
  });

  test("cancellation: nothing at the destination, only the resumable <dest>.part, which a later call resumes", async () => {
    const stall = 120_000;
    const { dest, base, url, bodyRequests } = setup({ body: GGUF, stallAfter: stall });
    const ac = new AbortController();
    const p = downloadFile({
      ...base,
      signal: ac.signal,
      onProgress: (pr) => {
        if (pr.received >= stall) ac.abort();
      },
    });
    await assert.rejects(p, (e: DownloadError) => e.kind === "cancelled" && /kept/.test(e.message));
    assert.equal(existsSync(dest), false);
    assert.equal(await partialBytes(dest), stall);
    assert.ok(existsSync(partPath(dest)));
    server.files.set(new URL(url).pathname, { body: GGUF });
    const r = await downloadFile(base);
    assert.equal(r.resumedFrom, stall);
    assert.equal(bodyRequests().at(-1)?.bodyBytes, GGUF.length - stall);
    // discardPartial is the user's "throw it away".
    const other = setup({ body: GGUF, dropAfter: [1000] });
    await assert.rejects(downloadFile({ ...other.base, retries: 0 }));
    await discardPartial(other.dest);
    assert.deepEqual(leftovers(other.dest), []);
  });

  test("an already aborted signal downloads nothing", async () => {
    const { dest, base, prefix } = setup({ body: GGUF });
    await assert.rejects(downloadFile({ ...base, signal: AbortSignal.abort() }), (e: DownloadError) => e.kind === "cancelled");
    assert.equal(server.bytesSent(prefix), 0);
    assert.equal(existsSync(dest), false);
  });

  test("redirects are followed within the limit and refused beyond it", async () => {
    const ok = setup({ body: GGUF, redirects: 3 });
    await downloadFile({ ...ok.base, maxRedirects: 3 });
    assert.ok(existsSync(ok.dest));
    const tooMany = setup({ body: GGUF, redirects: 6 });
    await assert.rejects(downloadFile({ ...tooMany.base, maxRedirects: 5 }), (e: DownloadError) => e.kind === "redirects" && /too many redirects/.test(e.message));
    assert.deepEqual(leftovers(tooMany.dest), []);
  });

  test("HTTPS only: plain HTTP is refused, even to loopback, unless the explicit test option is set", async () => {
    const { dest, base, prefix } = setup({ body: GGUF });
    await assert.rejects(downloadFile({ ...base, allowHttpLoopback: false }), (e: DownloadError) => e.kind === "policy" && /HTTPS only/.test(e.message));
    await assert.rejects(downloadFile({ ...base, url: "http://example.com/x.gguf", allowHttpLoopback: true }), (e: DownloadError) => e.kind === "policy");
    await assert.rejects(downloadFile({ ...base, url: "file:///etc/passwd" }), (e: DownloadError) => e.kind === "policy");
    assert.equal(server.bytesSent(prefix), 0);
    assert.equal(existsSync(dest), false);
  });

  test("404 is a clear HTTP error and is not retried", async () => {
    const { base } = setup({ body: GGUF });
    const url = base.url.replace("model.gguf", "missing.gguf");
    await assert.rejects(downloadFile({ ...base, url }), (e: DownloadError) => e.kind === "http" && e.status === 404 && /not found/.test(e.message));
  });

  test("a stalled connection fails after the idle timeout and the retry resumes", async () => {
    const cut = 40_000;
    const file = { body: GGUF, stallAfter: cut };
    const { dest, base, url } = setup(file);
    const done = downloadFile({ ...base, idleTimeoutMs: 300, retries: 1, onLog: () => server.files.set(new URL(url).pathname, { body: GGUF }) });
    const r = await done;
    assert.equal(r.resumedFrom, cut);
    assert.equal((await stat(dest)).size, GGUF.length);
  });
});

describe("model download over HTTPS", () => {
  const cert = makeSelfSignedCert();
  let tlsServer: TestServer;
  before(async () => {
    if (cert) tlsServer = await startTestServer({ tls: cert });
  });
  after(async () => {
    await tlsServer?.close();
  });

  test("HTTPS with a self-signed certificate: trusted only through the explicit CA option", { skip: !cert && "openssl is not on PATH" }, async () => {
    const url = tlsServer.serve("org/tls", "model.gguf", { body: GGUF });
    const dest = join(tmp.dir, "tls", "model.gguf");
    await assert.rejects(downloadFile({ url, dest, retries: 0, reserveBytes: 0 }), (e: DownloadError) => e.kind === "network");
    const r = await downloadFile({ url, dest, ca: cert!.cert, reserveBytes: 0 });
    assert.equal(r.sha256, sha256Hex(GGUF));
  });

  test("through a CONNECT proxy (http.proxy / HTTPS_PROXY), with NO_PROXY and proxy authorisation", { skip: !cert && "openssl is not on PATH" }, async () => {
    const port = Number(new URL(tlsServer.origin).port);
    const proxy = await startConnectProxy(() => ({ host: "127.0.0.1", port }));
    try {
      // hub.hearth.test does not resolve: only the proxy can reach it (it routes to the test server).
      const path = new URL(tlsServer.serve("org/proxied", "model.gguf", { body: GGUF })).pathname;
      const url = `https://hub.hearth.test:${port}${path}`;
      const dest = join(tmp.dir, "proxied", "model.gguf");
      const proxyWithUser = proxy.url.replace("http://", "http://me:s%3Acret@");
      await downloadFile({ url, dest, ca: cert!.cert, proxy: proxyWithUser, reserveBytes: 0 });
      assert.deepEqual(new Uint8Array(await readFile(dest)), GGUF);
      assert.ok(proxy.tunnels.every((t) => t === `hub.hearth.test:${port}`) && proxy.tunnels.length >= 2, `tunnels: ${proxy.tunnels}`);
      assert.equal(proxy.auth[0], `Basic ${Buffer.from("me:s:cret").toString("base64")}`);

      // From the environment; NO_PROXY bypasses it (and then the name does not resolve).
      const dest2 = join(tmp.dir, "proxied-env", "model.gguf");
      const before = proxy.tunnels.length;
      await downloadFile({ url, dest: dest2, ca: cert!.cert, env: { HTTPS_PROXY: proxy.url }, reserveBytes: 0 });
      assert.ok(proxy.tunnels.length > before);
      await assert.rejects(
        downloadFile({ url, dest: join(tmp.dir, "np", "m.gguf"), ca: cert!.cert, env: { HTTPS_PROXY: proxy.url, NO_PROXY: ".hearth.test" }, retries: 0, reserveBytes: 0 }),
        (e: DownloadError) => e.kind === "offline" && /cannot reach hub\.hearth\.test/.test(e.message),
      );
    } finally {
      await proxy.close();
    }
  });
});

describe("offline", () => {
  test("a hub whose name does not resolve fails at once (no backoff retries) as 'offline', and the notification says it in words", async () => {
    const tmp = await makeTmpDir();
    try {
      const url = "https://hub.invalid/org/repo/resolve/main/m.gguf";
      const logs: string[] = [];
      const t0 = Date.now();
      const err = await downloadFile({ url, dest: join(tmp.dir, "m.gguf"), retryDelayMs: 1000, reserveBytes: 0, onLog: (m) => logs.push(m) }).catch((e: unknown) => e);
      assert.ok(err instanceof DownloadError && err.kind === "offline" && err.code === "ENOTFOUND", String(err));
      assert.ok(Date.now() - t0 < 900, `failed after ${Date.now() - t0} ms`);
      assert.deepEqual(logs.filter((l) => /retrying/.test(l)), []);
      const { message, actions } = downloadFailureText("Qwen2.5-Coder 0.5B (Q4_K_M)", url, err);
      assert.equal(message.split(":")[0], "Hearth could not download Qwen2.5-Coder 0.5B (Q4_K_M)");
      assert.match(message, /: no internet connection, or hub\.invalid is blocked \(ENOTFOUND\)\. You can download it by hand from https:\/\/hub\.invalid\/org\/repo\/resolve\/main\/m\.gguf/);
      assert.deepEqual(actions, ["Retry", "Use a File on Disk…", "Copy Link"]);
    } finally {
      await tmp.cleanup();
    }
  });

  test("damaged downloads lead with what to do; refusals are not offered a retry", () => {
    const damaged = downloadFailureText("M", "https://h/x", new DownloadError("checksum", "wrong checksum: …"));
    assert.match(damaged.message, /^Hearth could not use the download of M: the file arrived damaged and was deleted\. Download it again\. \(wrong checksum/);
    assert.deepEqual(downloadFailureText("M", "https://h/x", new DownloadError("policy", "HTTPS only")).actions, ["Show Log"]);
  });
});
