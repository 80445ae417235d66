// The remote engine's pieces without a server: the SSE parser (data lines, multi-line events,
// comments, line endings split across chunks, llama-server's `error:` line, malformed lines),
// the endpoint setting's parsing, node network errors as messages with the next step, redaction.
import { test } from "node:test";
import assert from "node:assert/strict";
import { SseParser } from "../../src/remote/sse.ts";
import { RemoteConfigError, RemoteConnectError, RemoteProtocolError, RemoteTlsError, networkError, parseEndpoint, redact, serverText } from "../../src/remote/index.ts";

/** Feeds `text` in pieces of `size` characters. */
function parse(text: string, size = text.length) {
  const p = new SseParser("The server");
  const events = [];
  for (let i = 0; i < text.length; i += size) events.push(...p.push(text.slice(i, i + size)));
  return { events, midEvent: p.midEvent };
}

test("SSE: data lines, multi-line events, comments, event names and [DONE], in any chunking and line ending", () => {
  const stream = ': ping\n\ndata: {"a":1}\n\nevent: update\ndata: line one\ndata:line two\nid: 7\nretry: 100\n\n:comment\ndata: [DONE]\n\n';
  const want = [
    { event: "message", data: '{"a":1}' },
    { event: "update", data: "line one\nline two" },
    { event: "message", data: "[DONE]" },
  ];
  for (const eol of ["\n", "\r\n", "\r"]) {
    const text = stream.replace(/\n/g, eol);
    for (const size of [1, 2, 3, 7, text.length]) {
      const r = parse(text, size);
      assert.deepEqual(r.events, want, `eol ${JSON.stringify(eol)} size ${size}`);
      assert.equal(r.midEvent, false);
    }
  }
});

test("SSE: a stream cut inside an event is visible (midEvent); llama-server's error line is an event", () => {
  assert.equal(parse('data: {"a":1}\n').midEvent, true);
  assert.equal(parse('data: {"a"').midEvent, true);
  assert.deepEqual(parse('error: {"code":500,"message":"boom"}\n\n').events, [{ event: "error", data: '{"code":500,"message":"boom"}' }]);
});

test("SSE: a line with an unknown field is malformed, quoted in the error", () => {
  assert.throws(() => parse("data: ok\n\n<!DOCTYPE html>\n"), (e: unknown) => e instanceof RemoteProtocolError && /malformed event stream line: "<!DOCTYPE html>"/.test(e.message));
  assert.throws(() => parse("garbage\n"), RemoteProtocolError);
});

test("endpoint: host:port, trailing slashes and /v1 all name the same base; bad ones say what to set", () => {
  assert.equal(parseEndpoint("gpu-box:8080", "chat").toString(), "http://gpu-box:8080/");
  assert.equal(parseEndpoint("http://localhost:11434/v1/", "chat").toString(), "http://localhost:11434/");
  assert.equal(parseEndpoint("https://llm.example.com/api/v1", "completion").toString(), "https://llm.example.com/api/");
  assert.throws(() => parseEndpoint("ftp://x", "chat"), (e: unknown) => e instanceof RemoteConfigError && /hearth\.chat\.endpoint/.test(e.message));
  assert.throws(() => parseEndpoint("http://user:pw@x", "chat"), (e: unknown) => e instanceof RemoteConfigError && /API key/.test(e.message) && !e.message.includes("pw"));
});

test("network errors: DNS, unreachable, TLS codes name the host and the setting", () => {
  const url = new URL("http://gpu-box.lan:8080/");
  const dns = networkError(Object.assign(new Error("getaddrinfo ENOTFOUND gpu-box.lan"), { code: "ENOTFOUND" }), url, "completion", false);
  assert.ok(dns instanceof RemoteConnectError);
  assert.equal(dns.message, "The host name gpu-box.lan could not be looked up (ENOTFOUND). Check hearth.completion.endpoint.");
  const unreachable = networkError(Object.assign(new Error("x"), { code: "EHOSTUNREACH" }), url, "chat", false);
  assert.match(unreachable.message, /cannot be reached \(EHOSTUNREACH\).*hearth\.chat\.endpoint/);
  const cert = networkError(Object.assign(new Error("x"), { code: "CERT_HAS_EXPIRED" }), url, "chat", false);
  assert.ok(cert instanceof RemoteTlsError);
  assert.match(cert.message, /not trusted \(CERT_HAS_EXPIRED\)/);
});

test("redaction: the key never survives in server text", () => {
  assert.equal(redact("Bearer sk-1 and sk-1", "sk-1"), "Bearer <api key> and <api key>");
  assert.equal(serverText(`bad key sk-abc\n\n${"x".repeat(300)}`, "sk-abc").startsWith("bad key <api key> x"), true);
  assert.ok(serverText("y".repeat(500), undefined).length <= 201);
});
