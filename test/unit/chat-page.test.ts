// The webview page: a strict Content Security Policy (no remote content, scripts only by nonce,
// no inline styles), one script and one stylesheet from the extension.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chatPage, contentSecurityPolicy, makeNonce } from "../../src/chat/html.ts";

test("the CSP allows nothing remote and no inline script", () => {
  const csp = contentSecurityPolicy("https://file+.vscode-resource.vscode-cdn.net", "abc123");
  const rules = Object.fromEntries(csp.split(/;\s*/).map((r) => [r.split(" ")[0], r.split(" ").slice(1)]));
  assert.deepEqual(rules["default-src"], ["'none'"]);
  assert.deepEqual(rules["script-src"], ["'nonce-abc123'"]);
  assert.deepEqual(rules["style-src"], ["https://file+.vscode-resource.vscode-cdn.net"]);
  assert.deepEqual(rules["img-src"], ["https://file+.vscode-resource.vscode-cdn.net"]);
  assert.deepEqual(rules["connect-src"], ["'none'"]);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*|http:/);
});

test("the page loads exactly one script, by nonce, and has no inline script or style", () => {
  const html = chatPage({ cspSource: "vscode-resource:", script: "vscode-resource:/dist/chat.js", style: "vscode-resource:/dist/chat.css", nonce: "N0nce" });
  const scripts = [...html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
  assert.equal(scripts.length, 1);
  assert.match(scripts[0][1], /nonce="N0nce"/);
  assert.match(scripts[0][1], /src="vscode-resource:\/dist\/chat.js"/);
  assert.equal(scripts[0][2].trim(), "", "no inline code");
  assert.doesNotMatch(html, /<style|style="|\son[a-z]+=/i);
  assert.match(html, /Content-Security-Policy/);
});

test("nonces are fresh and alphanumeric", () => {
  const a = makeNonce();
  assert.match(a, /^[A-Za-z0-9]{16,}$/);
  assert.notEqual(a, makeNonce());
});
