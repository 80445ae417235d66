// Model output is untrusted. Hostile replies (raw HTML, <script>, <img onerror>, javascript:
// links, event-handler attributes, markdown images, HTML in code fences) must come out of the
// renderer as inert text: the only tags and attributes in the HTML are the ones markdown and our
// code-block toolbar produce, and every link is http(s) or mailto. (The webview also runs
// DOMPurify over it; the e2e run checks the live view.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { highlight, renderMarkdown } from "../../media/chat/markdown.ts";

const TAGS = new Set(["p", "em", "strong", "code", "pre", "a", "ul", "ol", "li", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "br", "table", "thead", "tbody", "tr", "th", "td", "s", "span", "div", "button"]);
const ATTRS = new Set(["class", "href", "rel", "title", "data-action", "start"]);

/** Every tag and attribute in `html`, checked against the allow-lists. */
function assertInert(html: string): void {
  for (const m of html.matchAll(/<\/?([a-zA-Z][a-zA-Z0-9-]*)([^>]*)>/g)) {
    const [, tag, attrs] = m;
    assert.ok(TAGS.has(tag.toLowerCase()), `unexpected tag <${tag}> in ${html}`);
    for (const a of attrs.matchAll(/([^\s=]+)(?:="([^"]*)")?/g)) {
      const name = a[1].toLowerCase();
      if (name === "/") continue;
      assert.ok(ATTRS.has(name), `unexpected attribute ${name} on <${tag}> in ${html}`);
      if (name === "href") assert.match(a[2] ?? "", /^(https?:|mailto:)/i, `unsafe link ${a[2]}`);
    }
  }
  // Belt and braces over the allow-lists: none of these tags, raw, anywhere (escaped text is fine).
  assert.doesNotMatch(html, /<(script|img|iframe|svg|style|object|embed|form|input|details)/i);
}

const HOSTILE = [
  `<img src=x onerror="alert(1)">`,
  `<script>alert(document.cookie)</script>`,
  `Hello <b onclick="alert(1)">bold</b> <iframe src="https://evil.example"></iframe>`,
  `[click me](javascript:alert(1)) and [data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==) and [vb](vbscript:msgbox)`,
  `[obfuscated](jav&#x09;ascript:alert(1)) [spaces]( javascript:alert(1) ) [upper](JAVASCRIPT:alert(1))`,
  `<a href="javascript:alert(1)">raw link</a>`,
  `![tracker](https://evil.example/pixel.png) ![x](javascript:alert(1))`,
  `<svg onload=alert(1)><style>body{display:none}</style>`,
  "```html\n<script>alert(1)</script><img src=x onerror=alert(2)>\n```",
  "```\"><img src=x onerror=alert(1)>\nx\n```",
  "`<img src=x onerror=alert(1)>` inline",
  `<details open ontoggle=alert(1)><summary>x</summary></details>`,
  `<form action="https://evil.example"><input name=x></form>`,
  `Autolink <javascript:alert(1)> and <https://ok.example/a?b=<c>>`,
];

for (const source of HOSTILE) {
  test(`hostile output is rendered inert: ${source.slice(0, 50).replace(/\n/g, "⏎")}`, () => {
    const html = renderMarkdown(source);
    assertInert(html);
  });
}

test("hostile HTML survives only as visible, escaped text", () => {
  const html = renderMarkdown(`<img src=x onerror="alert(1)"> and <script>x()</script>`);
  assert.match(html, /&lt;img src=x onerror=&quot;alert\(1\)&quot;&gt;/);
  assert.match(html, /&lt;script&gt;x\(\)&lt;\/script&gt;/);
  const link = renderMarkdown(`[click me](javascript:alert(1))`);
  assert.doesNotMatch(link, /<a /, "a javascript: link is not a link");
  assert.match(link, /\[click me\]\(javascript:alert\(1\)\)/);
});

test("ordinary markdown renders: emphasis, lists, safe links, tables", () => {
  const html = renderMarkdown("**bold** and *it*\n\n- one\n- two\n\n[docs](https://code.visualstudio.com) <mailto:a@b.example>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n");
  assertInert(html);
  assert.match(html, /<strong>bold<\/strong>/);
  assert.match(html, /<li>one<\/li>/);
  assert.match(html, /<a href="https:\/\/code.visualstudio.com" rel="noopener noreferrer">docs<\/a>/);
  assert.match(html, /<table>/);
});

test("code blocks are highlighted, escaped, and get Copy and Insert buttons", () => {
  const html = renderMarkdown("```ts\nconst x: string = \"<b>\"; // hi\n```\n");
  assertInert(html);
  assert.match(html, /<div class="code-block">/);
  assert.match(html, /data-action="copy"/);
  assert.match(html, /data-action="insert"/);
  assert.match(html, /<span class="hljs-keyword">const<\/span>/);
  assert.match(html, /&lt;b&gt;/);
  assert.match(html, /<span class="code-lang">ts<\/span>/);
});

test("unknown languages fall back to escaped plain text; VS Code ids map to highlight.js names", () => {
  assert.equal(highlight("<x> & y", "no-such-language"), "&lt;x&gt; &amp; y");
  assert.match(highlight("const a = 1", "typescriptreact"), /hljs-keyword/);
  assert.match(highlight("echo hi", "shellscript"), /hljs-built_in|echo/);
});
