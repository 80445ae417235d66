// The chat webview's page: a strict Content Security Policy (nothing remote, no inline script:
// only our bundle, by nonce; styles and the codicon font from the extension's dist folder).
import { randomBytes } from "node:crypto";

export interface PageResources {
  /** webview.cspSource */
  cspSource: string;
  script: string;
  style: string;
  nonce?: string;
}

export function makeNonce(): string {
  return randomBytes(18).toString("base64").replace(/[^A-Za-z0-9]/g, "");
}

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${cspSource}`,
    `font-src ${cspSource}`,
    // Model output never loads images (markdown images are off); only our own icons could.
    `img-src ${cspSource}`,
    "connect-src 'none'",
    "frame-src 'none'",
    "form-action 'none'",
    "base-uri 'none'",
  ].join("; ");
}

function attr(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
}

export function chatPage(r: PageResources): string {
  const nonce = r.nonce ?? makeNonce();
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${attr(contentSecurityPolicy(r.cspSource, nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${attr(r.style)}">
<title>Hearth Chat</title>
</head>
<body>
<div id="log-area">
  <main id="log" aria-live="polite"></main>
  <button id="jump" class="secondary" title="Scroll to the newest message" hidden><span class="codicon codicon-arrow-down"></span> Jump to latest</button>
</div>
<footer id="composer">
  <textarea id="input" rows="3" placeholder="Ask about your code… (Enter to send, Shift+Enter for a new line)" aria-label="Message"></textarea>
  <div id="controls">
    <label id="thinking-label" title="Let the model reason before answering (enable_thinking)"><input type="checkbox" id="thinking"> Thinking</label>
    <span class="spacer"></span>
    <button id="new-chat" class="secondary" title="New Chat"><span class="codicon codicon-add"></span> New</button>
    <button id="stop" class="secondary" title="Stop generating" hidden><span class="codicon codicon-debug-stop"></span> Stop</button>
    <button id="send" title="Send"><span class="codicon codicon-send"></span> Send</button>
  </div>
</footer>
<script nonce="${nonce}" src="${attr(r.script)}"></script>
</body>
</html>`;
}
