// The remote engine (src/remote) against a loopback server with a real model behind it
// (test/helpers/openai-server.ts: llama.cpp through node-llama-cpp, llama-server's protocols).
// The streamed text of every route must equal node-llama-cpp's own greedy text for the same
// prompt tokens, built here independently (the FIM and ChatML tokens by id from the fixture's
// vocabulary, greedy decoding through test/conformance/llama-reference.ts). Then cancellation
// (the server sees the connection close), stats, and every failure the server can be made to show.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { makeModelFixture, type ModelFixture } from "../conformance/fixtures.ts";
import { LlamaReference } from "../conformance/llama-reference.ts";
import { startOpenAiServer, type OpenAiTestServer } from "../helpers/openai-server.ts";
import { startConnectProxy, makeSelfSignedCert } from "../helpers/http-server.ts";
import { splitThinking } from "../../src/chat/thinking.ts";
import { CancelFlag } from "../../src/engine/cancel.ts";
import {
  RemoteApiError,
  RemoteAuthError,
  RemoteConnectError,
  RemoteEngine,
  RemoteHttpError,
  RemoteModelError,
  RemoteProtocolError,
  RemoteStreamError,
  RemoteTimeoutError,
  RemoteTlsError,
  SET_API_KEY_COMMAND,
  type Generation,
  type RemoteEngineOptions,
} from "../../src/remote/index.ts";
import * as http from "node:http";
import * as net from "node:net";

const CONTEXT = 512;
const SECRET = "sk-hearth-test-7f3a9c-secret";

let fixture: ModelFixture;
let ref: LlamaReference;
let llamaServer: OpenAiTestServer;
let openaiServer: OpenAiTestServer;
let keyServer: OpenAiTestServer;

before(async () => {
  // qwen2 fixture: a real byte-level BPE vocabulary with <|fim_prefix|>/<|fim_suffix|>/<|fim_middle|>
  // (llama.cpp finds them by their text, as llama-server does) and a ChatML template.
  fixture = makeModelFixture({ arch: "qwen2", weights: "F32" });
  ref = await LlamaReference.load(fixture.path, { contextSize: CONTEXT });
  llamaServer = await startOpenAiServer({ modelPath: fixture.path, contextSize: CONTEXT });
  openaiServer = await startOpenAiServer({ modelPath: fixture.path, contextSize: CONTEXT, flavor: "openai", alias: "org/coder-7b" });
  keyServer = await startOpenAiServer({ modelPath: fixture.path, contextSize: CONTEXT, apiKey: SECRET });
});

after(async () => {
  await llamaServer?.close();
  await openaiServer?.close();
  await keyServer?.close();
  await ref?.dispose();
});

/** node-llama-cpp's greedy text after `ids`: up to `n` tokens, ending before an end-of-generation token. */
async function greedyText(ids: number[], n: number): Promise<{ text: string; tokens: number }> {
  const toks = await ref.greedy(ids, n);
  const eog = toks.findIndex((t) => ref.llamaModel.isEogToken(t as never));
  const kept = eog < 0 ? toks : toks.slice(0, eog);
  return { text: ref.detokenize(kept), tokens: kept.length };
}

const special = (name: string): number => {
  const id = fixture.vocab.special[name];
  assert.ok(id !== undefined, `fixture has ${name}`);
  return id;
};

/** llama-server's FIM prompt (server-common.cpp format_prompt_infill, no FIM_REP/FIM_SEP tokens). */
function fimIds(prefix: string, suffix: string, extra: string[] = []): number[] {
  const snippets = extra.flatMap((t) => [...ref.tokenize("\n\n--- snippet ---\n\n"), ...ref.tokenize(t)]);
  return [...snippets, special("<|fim_prefix|>"), ...ref.tokenize(prefix), special("<|fim_suffix|>"), ...ref.tokenize(suffix), special("<|fim_middle|>")];
}

function chatIds(messages: { role: string; content: string }[]): number[] {
  const text = messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join("") + "<|im_start|>assistant\n";
  return ref.tokenize(text, { special: true, addBos: true });
}

async function collect(g: Generation): Promise<string> {
  let text = "";
  for await (const d of g) text += d;
  return text;
}

/** The error a generation fails with (its loop and its stats reject alike). */
async function failure(g: Generation): Promise<Error> {
  const [loop, stats] = await Promise.allSettled([collect(g), g.stats]);
  assert.equal(loop.status, "rejected", "the loop should fail");
  assert.equal(stats.status, "rejected", "the stats should fail");
  assert.equal((loop as PromiseRejectedResult).reason, (stats as PromiseRejectedResult).reason);
  return (loop as PromiseRejectedResult).reason as Error;
}

const logs: string[] = [];
function engine(server: { url: string } | string, o: Partial<RemoteEngineOptions> = {}): RemoteEngine {
  return new RemoteEngine({
    role: "completion",
    endpoint: typeof server === "string" ? server : server.url,
    retryDelayMs: 10,
    log: { info: (m) => logs.push(m), warn: (m) => logs.push(m) },
    ...o,
  });
}

const PREFIX = "def add(a, b):\n    ";
const SUFFIX = "\n\nprint(add(1, 2))\n";

describe("remote engine against llama-server's protocol", () => {
  test("probe: llama-server found by /props, its model and context", async () => {
    const info = await engine(llamaServer).probe();
    assert.deepEqual(info, { api: "llama-server", model: "test-model", models: ["test-model"], contextSize: CONTEXT, build: "b0-hearth-test" });
    const paths = llamaServer.requests.map((r) => r.path);
    assert.ok(paths.includes("/props") && paths.includes("/v1/models"));
  });

  test("probe: an OpenAI-style server (no /props) is used through /v1", async () => {
    const info = await engine(openaiServer).probe();
    assert.equal(info.api, "openai");
    assert.equal(info.model, "org/coder-7b");
    // "/v1" in the endpoint setting is the same server
    assert.equal((await engine(`${openaiServer.url}/v1/`).probe()).api, "openai");
  });

  test("complete through /infill: the text equals llama.cpp's greedy FIM continuation", async () => {
    const extra = [{ filename: "util.py", text: "def mul(a, b):\n    return a * b\n" }];
    const n = llamaServer.requests.length;
    const g = engine(llamaServer).complete({ prefix: PREFIX, suffix: SUFFIX, extra, maxTokens: 24 });
    const text = await collect(g);
    const stats = await g.stats;
    const ids = fimIds(PREFIX, SUFFIX, extra.map((e) => e.text));
    const want = await greedyText(ids, 24);
    assert.equal(text, want.text);
    assert.ok(text.length > 0);
    assert.equal(stats.generatedTokens, want.tokens);
    assert.equal(stats.promptTokens, ids.length);
    assert.equal(stats.evaluatedTokens, ids.length);
    assert.equal(stats.stopReason, want.tokens === 24 ? "length" : "eog");
    const req = llamaServer.requests.slice(n).find((r) => r.path === "/infill");
    assert.ok(req, "POST /infill");
    assert.deepEqual(
      { ...req.body },
      { input_prefix: PREFIX, input_suffix: SUFFIX, input_extra: extra, prompt: "", n_predict: 24, temperature: 0, stop: [], stream: true, cache_prompt: true },
    );
    assert.equal(req.authorization, undefined, "no key configured, none sent");
  });

  test("complete through /v1/completions with suffix (api forced to openai, and a vLLM-like server)", async () => {
    const want = await greedyText(fimIds(PREFIX, SUFFIX), 20);
    for (const server of [llamaServer, openaiServer]) {
      const n = server.requests.length;
      const g = engine(server, { api: "openai" }).complete({ prefix: PREFIX, suffix: SUFFIX, extra: [], maxTokens: 20 });
      assert.equal(await collect(g), want.text);
      const stats = await g.stats;
      assert.equal(stats.generatedTokens, want.tokens);
      assert.equal(stats.promptTokens, fimIds(PREFIX, SUFFIX).length);
      const req = server.requests.slice(n).find((r) => r.path === "/v1/completions");
      assert.equal(req?.body?.suffix, SUFFIX);
      assert.equal(req?.body?.stream, true);
    }
    // No suffix: a plain prompt.
    const plain = await greedyText(ref.tokenize("Once upon a time", { addBos: true }), 16);
    assert.equal(await collect(engine(openaiServer).complete({ prefix: "Once upon a time", suffix: "", extra: [], maxTokens: 16 })), plain.text);
  });

  test("stop strings end the text before them (server-side)", async () => {
    const full = (await greedyText(fimIds(PREFIX, SUFFIX), 24)).text;
    const stop = full.slice(6, 8);
    assert.ok(stop.length === 2);
    const text = await collect(engine(llamaServer).complete({ prefix: PREFIX, suffix: SUFFIX, extra: [], maxTokens: 24, stop: [stop] }));
    assert.equal(text, full.slice(0, full.indexOf(stop)));
  });

  test("chat through /v1/chat/completions: the text equals llama.cpp's greedy reply to the ChatML prompt", async () => {
    const messages = [
      { role: "system" as const, content: "You are terse." },
      { role: "user" as const, content: "What is a closure?" },
      { role: "assistant" as const, content: "A function with its scope." },
      { role: "user" as const, content: "Example?" },
    ];
    const want = await greedyText(chatIds(messages), 30);
    for (const server of [llamaServer, openaiServer]) {
      const g = engine(server, { role: "chat" }).chat({ messages, maxTokens: 30, temperature: 0 });
      assert.equal(await collect(g), want.text);
      const stats = await g.stats;
      assert.equal(stats.generatedTokens, want.tokens);
      assert.equal(stats.promptTokens, chatIds(messages).length);
      assert.equal(stats.stopReason, want.tokens === 30 ? "length" : "stop");
    }
  });

  test("chat: reasoning_content deltas arrive as <think>…</think> text the chat's splitter shows", async () => {
    const messages = [{ role: "user" as const, content: "Think first." }];
    const want = await greedyText(chatIds(messages), 12);
    llamaServer.misbehave({ reasoningTokens: 4 });
    try {
      const n = llamaServer.requests.length;
      const text = await collect(engine(llamaServer, { role: "chat" }).chat({ messages, maxTokens: 12, temperature: 0, enableThinking: true }));
      assert.ok(text.startsWith("<think>"), text);
      assert.equal(text.match(/<\/think>/g)?.length, 1);
      assert.equal(text.replace("<think>", "").replace("</think>", ""), want.text);
      const split = splitThinking(text);
      assert.equal(split.thinkingOpen, false);
      assert.ok(split.thinking !== undefined);
      const req = llamaServer.requests.slice(n).find((r) => r.path === "/v1/chat/completions");
      assert.deepEqual(req?.body?.chat_template_kwargs, { enable_thinking: true });
    } finally {
      llamaServer.misbehave(undefined);
    }
  });
});

describe("cancellation", () => {
  test("cancelling aborts the HTTP request: the server sees the connection close and stops generating", async () => {
    const cancel = new CancelFlag();
    const n = llamaServer.requests.length;
    const g = engine(llamaServer).complete({ prefix: PREFIX, suffix: SUFFIX, extra: [], maxTokens: 400 }, { cancel });
    let got = "";
    for await (const d of g) {
      got += d;
      cancel.cancel();
    }
    assert.ok(got.length > 0);
    const stats = await g.stats;
    assert.equal(stats.stopReason, "cancelled");
    const req = llamaServer.requests.slice(n).find((r) => r.path === "/infill");
    assert.ok(req);
    await req.finished;
    assert.equal(req.closedByClient, true, "the server saw the connection close");
    // the generation loop stopped at its next token (nothing else runs here)
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(req.generated < 400, `stopped early (${req.generated} tokens)`);
  });

  test("leaving the loop early cancels too; a flag set before the start sends nothing", async () => {
    const n = llamaServer.requests.length;
    const g = engine(llamaServer, { role: "chat" }).chat({ messages: [{ role: "user", content: "Tell a long story." }], maxTokens: 400, temperature: 0 });
    for await (const first of g) if (first !== undefined) break;
    assert.equal((await g.stats).stopReason, "cancelled");
    const req = llamaServer.requests.slice(n).find((r) => r.path === "/v1/chat/completions");
    await req?.finished;
    assert.equal(req?.closedByClient, true);

    const cancel = new CancelFlag();
    cancel.cancel();
    const e = engine(llamaServer);
    await e.probe();
    const before = llamaServer.requests.length;
    const g2 = e.complete({ prefix: "x", suffix: "", extra: [], maxTokens: 4 }, { cancel });
    assert.equal(await collect(g2), "");
    assert.equal((await g2.stats).stopReason, "cancelled");
    assert.equal(llamaServer.requests.length, before, "no request sent");
  });
});

describe("errors", () => {
  const req = { prefix: PREFIX, suffix: SUFFIX, extra: [], maxTokens: 8 };
  /** Every message, and its stack, without the key. */
  const noKey = (err: Error): Error => {
    assert.ok(!err.message.includes(SECRET) && !(err.stack ?? "").includes(SECRET), `key leaked: ${err.message}`);
    return err;
  };

  test("connection refused names the endpoint setting", async () => {
    const port = await freePort();
    const err = noKey(await failure(engine(`http://127.0.0.1:${port}`, { apiKey: SECRET }).complete(req)));
    assert.ok(err instanceof RemoteConnectError, String(err));
    assert.match(err.message, /refused the connection/);
    assert.match(err.message, /hearth\.completion\.endpoint/);
  });

  test("TLS: https to a plain-HTTP server, and an untrusted certificate; a trusted one works, also through a CONNECT proxy", async (t) => {
    const err = noKey(await failure(engine(llamaServer.url.replace("http:", "https:"), { apiKey: SECRET, role: "chat" }).chat({ messages: [{ role: "user", content: "hi" }], maxTokens: 4, temperature: 0 })));
    assert.ok(err instanceof RemoteTlsError, String(err));
    assert.match(err.message, /http:\/\//);
    assert.match(err.message, /hearth\.chat\.endpoint/);

    const cert = makeSelfSignedCert();
    if (!cert) return t.skip("openssl not available");
    const tlsServer = await startOpenAiServer({ modelPath: fixture.path, contextSize: CONTEXT, tls: cert });
    try {
      const bad = noKey(await failure(engine(tlsServer, { apiKey: SECRET }).complete(req)));
      assert.ok(bad instanceof RemoteTlsError, String(bad));
      assert.match(bad.message, /certificate/);
      const want = await greedyText(fimIds(PREFIX, SUFFIX), 8);
      assert.equal(await collect(engine(tlsServer, { net: { ca: cert.cert } }).complete(req)), want.text);
      // Through a proxy (as the downloader: CONNECT, then TLS to the real host inside the tunnel).
      const proxy = await startConnectProxy(() => ({ host: "127.0.0.1", port: tlsServer.port }));
      try {
        const e = engine(`https://hub.hearth.test:${tlsServer.port}`, { net: { ca: cert.cert, proxy: proxy.url } });
        assert.equal(await collect(e.complete(req)), want.text);
        assert.ok(proxy.tunnels.includes(`hub.hearth.test:${tlsServer.port}`));
      } finally {
        await proxy.close();
      }
    } finally {
      await tlsServer.close();
    }
  });

  test("a plain-HTTP LAN endpoint goes through an HTTP proxy as an absolute-URI request (HTTP_PROXY); loopback never does", async () => {
    const seen: string[] = [];
    const proxy = http.createServer((req, res) => {
      seen.push(req.url ?? "");
      const target = new URL(req.url ?? "/");
      const up = http.request({ host: "127.0.0.1", port: target.port, path: target.pathname, method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
    try {
      const env = { HTTP_PROXY: `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}` };
      const lan = `http://gpu-box.lan:${llamaServer.port}`;
      const want = await greedyText(fimIds(PREFIX, SUFFIX), 8);
      assert.equal(await collect(engine(lan, { net: { env } }).complete(req)), want.text);
      assert.ok(seen.includes(`${lan}/infill`), seen.join(", "));
      const before = seen.length;
      await collect(engine(llamaServer, { net: { env } }).complete(req));
      assert.equal(seen.length, before, "loopback is not proxied");
    } finally {
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    }
  });

  test("401: no key, a wrong key (even echoed back by the server) — the message says to set it; the right key is sent as Bearer", async () => {
    const none = await failure(engine(keyServer).complete(req));
    assert.ok(none instanceof RemoteAuthError, String(none));
    assert.match(none.message, /HTTP 401/);
    assert.match(none.message, /needs an API key/);
    assert.ok(none.message.includes(SET_API_KEY_COMMAND));

    const wrongKey = `${SECRET}-wrong`;
    keyServer.misbehave({ status: 401, body: { error: { code: 401, message: `Invalid API Key: Bearer ${wrongKey}`, type: "authentication_error" } } });
    const wrong = await failure(engine(keyServer, { apiKey: wrongKey }).complete(req));
    assert.ok(wrong instanceof RemoteAuthError);
    assert.ok(!wrong.message.includes(wrongKey) && !(wrong.stack ?? "").includes(wrongKey), wrong.message);
    assert.match(wrong.message, /not accepted/);

    keyServer.misbehave({ status: 403, body: { error: "forbidden" } });
    const forbidden = noKey(await failure(engine(keyServer, { apiKey: SECRET }).complete(req)));
    assert.ok(forbidden instanceof RemoteAuthError);
    assert.match(forbidden.message, /HTTP 403: forbidden/);

    const n = keyServer.requests.length;
    const want = await greedyText(fimIds(PREFIX, SUFFIX), 8);
    assert.equal(await collect(engine(keyServer, { apiKey: SECRET }).complete(req)), want.text);
    assert.ok(keyServer.requests.slice(n).every((r) => r.authorization === `Bearer ${SECRET}`));
    assert.ok(!logs.some((l) => l.includes(SECRET) || l.includes(wrongKey)), "no key in a log line");
  });

  test("404 model: the probe lists what the server has; a 404 naming the model at generation too", async () => {
    const err = noKey(await failure(engine(openaiServer, { model: "org/coder-70b", apiKey: SECRET }).complete(req)));
    assert.ok(err instanceof RemoteModelError, String(err));
    assert.equal(err.message, `The server at ${new URL(openaiServer.url).host} has no model "org/coder-70b"; it has "org/coder-7b". Set hearth.completion.remoteModel to one of them, or leave it empty to use the server's first model.`);
    assert.deepEqual(err.available, ["org/coder-7b"]);

    openaiServer.misbehave({ status: 404, body: { error: { message: "The model `org/coder-7b` does not exist.", type: "NotFoundError", code: 404 } } });
    const late = await failure(engine(openaiServer, { model: "org/coder-7b" }).complete(req));
    assert.ok(late instanceof RemoteModelError, String(late));
    assert.match(late.message, /has no model "org\/coder-7b"; it has "org\/coder-7b"/);

    // A missing route is not a model problem: /infill on a server that is not llama-server.
    const forced = await failure(engine(openaiServer, { api: "llama-server" }).complete(req));
    assert.ok(forced instanceof RemoteApiError, String(forced));
    assert.match(forced.message, /hearth\.completion\.remoteApi/);
  });

  test("429 then ok: retried with backoff before the first byte; bounded: the error after the last retry", async () => {
    const n = llamaServer.requests.length;
    llamaServer.misbehave({ status: 429, times: 2, retryAfter: "0" });
    const want = await greedyText(fimIds(PREFIX, SUFFIX), 8);
    assert.equal(await collect(engine(llamaServer, { retries: 2 }).complete(req)), want.text);
    assert.deepEqual(llamaServer.requests.slice(n).filter((r) => r.path === "/infill").map((r) => r.status), [429, 429, 200]);

    const m = llamaServer.requests.length;
    llamaServer.misbehave({ status: 429, times: 10 });
    const busy = await failure(engine(llamaServer, { retries: 2 }).complete(req));
    assert.ok(busy instanceof RemoteHttpError && busy.kind === "busy", String(busy));
    assert.match(busy.message, /HTTP 429 \(still after 2 retries\)/);
    assert.equal(llamaServer.requests.slice(m).filter((r) => r.path === "/infill").length, 3, "1 + 2 retries");
    llamaServer.misbehave(undefined);
  });

  test("5xx: retried, then the server's message with the next step", async () => {
    const m = llamaServer.requests.length;
    llamaServer.misbehave({ status: 500, times: 10, body: { error: { code: 500, message: "slot unavailable", type: "server_error" } } });
    const err = await failure(engine(llamaServer, { retries: 1, role: "chat" }).chat({ messages: [{ role: "user", content: "hi" }], maxTokens: 4, temperature: 0 }));
    assert.ok(err instanceof RemoteHttpError && err.kind === "server", String(err));
    assert.match(err.message, /HTTP 500 \(still after 1 retry\): slot unavailable\)\. Check the server's log/);
    assert.equal(llamaServer.requests.slice(m).filter((r) => r.path === "/v1/chat/completions").length, 2);
    llamaServer.misbehave(undefined);
  });

  test("a stream that stops midway: text so far arrives, then a clear error (connection cut, or ended without its end marker)", async () => {
    for (const m of [{ dropAfterEvents: 3 }, { endAfterEvents: 3 }]) {
      llamaServer.misbehave(m);
      const g = engine(llamaServer, { role: "chat" }).chat({ messages: [{ role: "user", content: "Go on." }], maxTokens: 20, temperature: 0 });
      let got = "";
      let err: unknown;
      try {
        for await (const d of g) got += d;
      } catch (e) {
        err = e;
      }
      await assert.rejects(g.stats);
      assert.ok(err instanceof RemoteStreamError, `${JSON.stringify(m)}: ${String(err)}`);
      assert.match(err.message, /midway|middle of its answer/);
      assert.ok(got.length > 0, "the text before the break was delivered");
    }
    llamaServer.misbehave(undefined);
  });

  test("malformed SSE: a clear error quoting the line", async () => {
    llamaServer.misbehave({ malformedAfterEvents: 1, malformedLine: "<html>502 Bad Gateway</html>" });
    const err = await failure(engine(llamaServer).complete(req));
    assert.ok(err instanceof RemoteProtocolError, String(err));
    assert.match(err.message, /malformed event stream line: "<html>502 Bad Gateway<\/html>"/);
    llamaServer.misbehave({ malformedAfterEvents: 1, malformedLine: "data: {not json" });
    const bad = await failure(engine(llamaServer).complete(req));
    assert.ok(bad instanceof RemoteProtocolError, String(bad));
    assert.match(bad.message, /not a JSON object/);
    llamaServer.misbehave(undefined);
  });

  test("nothing hangs: a server that stalls (no headers, or mid-stream) times out", async () => {
    for (const stallAfterEvents of [-1, 2]) {
      llamaServer.misbehave({ stallAfterEvents, times: 1 });
      const started = performance.now();
      const err = noKey(await failure(engine(llamaServer, { idleTimeoutMs: 400, apiKey: SECRET }).complete(req)));
      assert.ok(err instanceof RemoteTimeoutError, `${stallAfterEvents}: ${String(err)}`);
      assert.match(err.message, /No answer from .* for 0 s|No answer from/);
      assert.ok(performance.now() - started < 5000);
    }
    llamaServer.misbehave(undefined);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}
