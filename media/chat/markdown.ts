// Model output → HTML. The model's text is untrusted: markdown-it runs with raw HTML off (any
// "<script>" or "<img onerror>" in the text comes out as escaped text), images off (nothing is
// fetched), and links limited to http(s) and mailto. Code blocks are highlighted by highlight.js
// (which escapes) and get Copy / Insert buttons that we write, not the model. The webview then
// passes the result through DOMPurify as a second line of defence (main.ts). Runs in node too,
// for the tests.
import MarkdownIt from "markdown-it";
import hljs from "highlight.js/lib/core";
import bash from "highlight.js/lib/languages/bash";
import c from "highlight.js/lib/languages/c";
import cpp from "highlight.js/lib/languages/cpp";
import csharp from "highlight.js/lib/languages/csharp";
import css from "highlight.js/lib/languages/css";
import diff from "highlight.js/lib/languages/diff";
import go from "highlight.js/lib/languages/go";
import java from "highlight.js/lib/languages/java";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import markdown from "highlight.js/lib/languages/markdown";
import python from "highlight.js/lib/languages/python";
import rust from "highlight.js/lib/languages/rust";
import shell from "highlight.js/lib/languages/shell";
import sql from "highlight.js/lib/languages/sql";
import typescript from "highlight.js/lib/languages/typescript";
import xml from "highlight.js/lib/languages/xml";
import yaml from "highlight.js/lib/languages/yaml";

const LANGUAGES = { bash, c, cpp, csharp, css, diff, go, java, javascript, json, markdown, python, rust, shell, sql, typescript, xml, yaml };
for (const [name, lang] of Object.entries(LANGUAGES)) hljs.registerLanguage(name, lang);
// VS Code language ids that differ from highlight.js names.
hljs.registerAliases(["typescriptreact", "tsx"], { languageName: "typescript" });
hljs.registerAliases(["javascriptreact", "jsx"], { languageName: "javascript" });
hljs.registerAliases(["html", "svg"], { languageName: "xml" });
hljs.registerAliases(["shellscript", "sh", "zsh"], { languageName: "bash" });

const SAFE_LINK = /^(https?:|mailto:)/i;

function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

export function highlight(code: string, lang: string): string {
  const name = lang.trim().split(/\s+/)[0]?.toLowerCase() ?? "";
  if (name && hljs.getLanguage(name)) {
    try {
      return hljs.highlight(code, { language: name, ignoreIllegals: true }).value;
    } catch {
      // fall through to plain text
    }
  }
  return escapeHtml(code);
}

function createMarkdown(): MarkdownIt {
  const md = new MarkdownIt({ html: false, linkify: true, breaks: false, typographer: false });
  md.disable("image");
  md.validateLink = (url) => SAFE_LINK.test(url.trim());
  md.renderer.rules.fence = (tokens, idx) => {
    const t = tokens[idx];
    const lang = t.info.trim().split(/\s+/)[0] ?? "";
    const label = lang ? `<span class="code-lang">${escapeHtml(lang)}</span>` : "";
    return (
      `<div class="code-block">` +
      `<div class="code-toolbar">${label}` +
      `<button class="code-action" data-action="copy" title="Copy"><span class="codicon codicon-copy"></span> Copy</button>` +
      `<button class="code-action" data-action="insert" title="Insert at cursor"><span class="codicon codicon-insert"></span> Insert</button>` +
      `</div>` +
      `<pre><code class="hljs">${highlight(t.content, lang)}</code></pre></div>\n`
    );
  };
  // Links open outside (VS Code routes them to the browser); never as our page.
  const link = md.renderer.rules.link_open ?? ((tokens, idx, options, _env, self) => self.renderToken(tokens, idx, options));
  md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
    tokens[idx].attrSet("rel", "noopener noreferrer");
    return link(tokens, idx, options, env, self);
  };
  return md;
}

const md = createMarkdown();

/** Markdown → HTML string, safe without further sanitising (DOMPurify still runs in the view). */
export function renderMarkdown(source: string): string {
  return md.render(source);
}
