// The catalogue's entries, URLs and storage paths; settings values (catalogue id or path); the
// URL policy and proxy selection rules of the downloader's network layer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { CATALOGUE, checkHubFile, findCatalogueEntry, modelPath, resolveUrl } from "../../src/models/catalogue.ts";
import { resolveModelSetting } from "../../src/models/resolve.ts";
import { checkUrlAllowed, proxyFor } from "../../src/models/net.ts";
import { makeTmpDir } from "../helpers/gguf-fixtures.ts";

test("catalogue: the recommended models, each with repo, file, size, licence and role", () => {
  const ids = CATALOGUE.map((e) => e.id);
  assert.deepEqual(ids, ["smollm3-3b-q4_k_m", "qwen2.5-coder-0.5b-q4_k_m", "qwen2.5-coder-1.5b-q4_k_m"]);
  assert.equal(new Set(ids).size, ids.length);
  for (const e of CATALOGUE) {
    assert.equal(checkHubFile(e.repo, e.file), undefined, e.id);
    assert.ok(e.approxBytes > 100e6 && e.approxBytes < 3e9, e.id);
    assert.ok(e.licence && e.purpose && e.label, e.id);
    if (e.sha256) assert.match(e.sha256, /^[0-9a-f]{64}$/, e.id);
    if (e.sizeBytes) assert.equal(e.approxBytes, e.sizeBytes, e.id);
    // A pinned checksum only holds for a pinned revision.
    if (e.sha256) assert.match(e.revision, /^[0-9a-f]{40}$/, `${e.id}: sha256 pinned, so the revision must be too`);
  }
  const smol = findCatalogueEntry("SmolLM3-3B-Q4_K_M")!;
  assert.equal(smol.repo, "ggml-org/SmolLM3-3B-GGUF");
  assert.equal(smol.role, "chat");
  assert.equal(findCatalogueEntry("qwen2.5-coder-0.5b-q4_k_m")?.completionStyle, "fim");
});

test("resolve URLs and storage paths", () => {
  const e = findCatalogueEntry("smollm3-3b-q4_k_m")!;
  assert.equal(resolveUrl(e), `https://huggingface.co/ggml-org/SmolLM3-3B-GGUF/resolve/${e.revision}/SmolLM3-Q4_K_M.gguf`);
  assert.equal(resolveUrl(e, "http://127.0.0.1:9/"), `http://127.0.0.1:9/ggml-org/SmolLM3-3B-GGUF/resolve/${e.revision}/SmolLM3-Q4_K_M.gguf`);
  assert.equal(modelPath("/s", e), join("/s", "models", "ggml-org--SmolLM3-3B-GGUF", "SmolLM3-Q4_K_M.gguf"));
});

test("names from outside the catalogue cannot escape the storage folder", () => {
  assert.equal(checkHubFile("org/repo", "sub/model.gguf"), undefined);
  assert.ok(checkHubFile("../x", "m.gguf"));
  assert.ok(checkHubFile("org/..", "m.gguf"));
  assert.ok(checkHubFile("org/repo", "../m.gguf"));
  assert.ok(checkHubFile("org/repo", "m.bin"));
  assert.ok(checkHubFile("org", "m.gguf"));
});

test("resolveModelSetting: catalogue id → its file or 'needs-download'; anything else → a path", async () => {
  const tmp = await makeTmpDir();
  try {
    assert.deepEqual(resolveModelSetting("", tmp.dir), { kind: "none" });
    assert.deepEqual(resolveModelSetting(undefined, tmp.dir), { kind: "none" });
    const entry = findCatalogueEntry("qwen2.5-coder-1.5b-q4_k_m")!;
    const path = modelPath(tmp.dir, entry);
    assert.deepEqual(resolveModelSetting(" qwen2.5-coder-1.5b-q4_k_m ", tmp.dir), { kind: "needs-download", entry, path });
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, "x");
    assert.deepEqual(resolveModelSetting("qwen2.5-coder-1.5b-q4_k_m", tmp.dir), { kind: "catalogue", entry, path });
    assert.deepEqual(resolveModelSetting("/models/a.gguf", tmp.dir), { kind: "file", path: "/models/a.gguf" });
    assert.deepEqual(resolveModelSetting("~/m/a.gguf", tmp.dir), { kind: "file", path: join(homedir(), "m", "a.gguf") });
  } finally {
    await tmp.cleanup();
  }
});

test("URL policy: HTTPS; plain HTTP only to loopback and only with the test option", () => {
  checkUrlAllowed(new URL("https://huggingface.co/x"));
  checkUrlAllowed(new URL("http://127.0.0.1:8080/x"), true);
  checkUrlAllowed(new URL("http://[::1]:8080/x"), true);
  assert.throws(() => checkUrlAllowed(new URL("http://127.0.0.1:8080/x")), /HTTPS only/);
  assert.throws(() => checkUrlAllowed(new URL("http://huggingface.co/x"), true), /HTTPS only/);
  assert.throws(() => checkUrlAllowed(new URL("ftp://huggingface.co/x"), true), /HTTPS only/);
});

test("proxy: explicit setting, then HTTPS_PROXY / HTTP_PROXY; NO_PROXY and loopback bypass it", () => {
  const hub = new URL("https://huggingface.co/x");
  assert.equal(proxyFor(hub, { env: {} }), undefined);
  assert.equal(proxyFor(hub, { proxy: "http://p:3128", env: {} })?.host, "p:3128");
  assert.equal(proxyFor(hub, { proxy: "p:3128", env: {} })?.href, "http://p:3128/");
  assert.equal(proxyFor(hub, { proxy: "", env: { HTTPS_PROXY: "http://e:1" } }), undefined, "an empty setting means no proxy");
  assert.equal(proxyFor(hub, { env: { https_proxy: "http://e:1" } })?.host, "e:1");
  assert.equal(proxyFor(hub, { env: { HTTP_PROXY: "http://h:2" } })?.host, "h:2");
  assert.equal(proxyFor(hub, { env: { HTTPS_PROXY: "http://e:1", NO_PROXY: "example.org, .huggingface.co" } }), undefined);
  assert.equal(proxyFor(hub, { env: { HTTPS_PROXY: "http://e:1", NO_PROXY: "huggingface.co:80" } })?.host, "e:1", "port must match");
  assert.equal(proxyFor(hub, { env: { HTTPS_PROXY: "http://e:1", NO_PROXY: "*" } }), undefined);
  assert.equal(proxyFor(new URL("https://127.0.0.1/x"), { proxy: "http://p:1" }), undefined);
  assert.throws(() => proxyFor(hub, { proxy: "socks5://p:1" }), /not a usable http\(s\) proxy/);
});
