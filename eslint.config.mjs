// Lint TypeScript sources and tests with typescript-eslint's recommended rules, plus the layer
// rules of ../shared/DESIGN.md's table ("may import"), one @typescript-eslint/no-restricted-imports
// block per folder (the core rule's patterns plus allowTypeImports): an import that
// crosses a boundary the table does not allow is an error naming the rule
// (test/unit/lint-layers.test.ts proves each rule fails on a violation).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

// Every source import is relative and names its .ts file, so a layer is the first folder after
// the "../" that leave the importing file's folder (src/engine's own subfolders - gguf, quant,
// wasm, model, tokenizer - share no name with a layer).
const up = String.raw`^(\.\./)+`;
const layer = (names) => `${up}(${names.join("|")})(/|\\.ts$)`;

/**
 * One folder's rule: `forbidden` import patterns (regex), each with why; a third element `true`
 * still allows `import type` from what it matches (typescript-eslint's allowTypeImports).
 */
function layerRule(files, why, forbidden) {
  // Test-only code (the GGUF writer, reference quantisers) lives in test/ and is never shipped.
  if (files.every((f) => f.startsWith("src/"))) forbidden = [...forbidden, [String.raw`^(\.\./)+test/`, "src/ ships without test/"]];
  const patterns = forbidden.map(([regex, what, typesOnly]) => ({ regex, message: `${what}: ${why}`, allowTypeImports: typesOnly === true }));
  return { files, rules: { "@typescript-eslint/no-restricted-imports": ["error", { patterns }] } };
}

const vscode = ["^vscode$", "vscode"];

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", ".vscode-test/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
    },
  },
  layerRule(["src/engine/**/*.ts"], "src/engine runs in the worker, the CLI and tests, and imports only itself and the kernels' output (DESIGN.md)", [
    [layer(["worker", "client", "chat", "completion", "models", "commands", "extension", "cli", "remote", "routing"]), "the engine imports no other layer"],
    vscode,
  ]),
  layerRule(["src/worker/**/*.ts"], "src/worker may import src/engine only (DESIGN.md)", [
    [layer(["client", "chat", "completion", "models", "commands", "extension", "cli", "remote", "routing"]), "the worker imports no extension-side code"],
    vscode,
  ]),
  // The client talks to the worker through its protocol only. protocol.ts re-exports the
  // import-free CancelFlag (src/engine/cancel.ts: 4 bytes of shared memory both sides must lay
  // out the same), which is why the client may import that one file's values, not only types.
  layerRule(["src/client/**/*.ts"], "src/client may import worker/protocol.ts only (DESIGN.md)", [
    [layer(["engine", "chat", "completion", "models", "commands", "extension", "cli", "remote", "routing"]), "the client imports no engine, feature or command code"],
    [`${up}worker/(?!protocol\\.ts$)`, "of the worker, only its protocol"],
    vscode,
  ]),
  // Features and the extension-side commands (status bar, actions, ids, settings: not in
  // DESIGN.md's table, and like the features they act for the user through the client) reach the
  // engine through src/client only; they may name the protocol's types (`import type` from
  // worker/protocol.ts: the client's methods take and return them), never import worker code.
  // commands/settings.ts and commands/ids.ts are leaves every extension-side folder reads: the
  // settings and the command ids in one place each.
  ...[
    ["src/completion/**/*.ts", "chat"],
    ["src/chat/**/*.ts", "completion"],
    // completion/config.ts: the completion settings' shape and defaults (no imports), which
    // commands/settings.ts reads with every other setting.
    ["src/commands/**/*.ts", String.raw`chat|completion(?!/config\.ts$)`],
  ].map(([files, others]) =>
    layerRule([files], "features and commands may import src/client and vscode only (DESIGN.md)", [
      [layer(["engine", "models", "extension", "cli", ...others.split("|")]), "through src/client, not around it"],
      // A server as a role's engine (issue 17): extension.ts hands the features its engine; they
      // may name src/remote's and src/routing's types (the requests they build), never run their code.
      [layer(["remote", "routing"]), "a server's engine comes from extension.ts: only its types (import type)", true],
      [`${up}worker/(?!protocol\\.ts$)`, "no worker code on the extension host"],
      [`${up}worker/protocol\\.ts$`, "only the protocol's types (import type)", true],
      ...(files.startsWith("src/commands") ? [] : [[`${up}commands/(?!(settings|ids)\\.ts$)`, "of src/commands, only settings.ts and ids.ts"]]),
    ]),
  ),
  layerRule(["src/models/**/*.ts"], "src/models may import vscode and node only (DESIGN.md); GGUF headers are read by the worker (the inspect request)", [
    [layer(["engine", "worker", "client", "chat", "completion", "extension", "cli", "remote", "routing"]), "the models module gets the engine as a ModelEngine from extension.ts"],
    [`${up}commands/(?!(settings|ids)\\.ts$)`, "of src/commands, only settings.ts and ids.ts"],
  ]),
  // src/remote: a user-configured inference server as a role's engine (issue 17). Plain node,
  // tested without VS Code; it shares the downloader's proxy handling (models/net.ts), the client's
  // delta stream and generation shape (client/stream.ts), the cancel flag and the protocol's types.
  layerRule(["src/remote/**/*.ts"], "src/remote may import worker/protocol.ts (types), engine/cancel.ts, client/stream.ts and models/net.ts only", [
    [layer(["chat", "completion", "commands", "extension", "cli", "routing"]), "no feature or command code in the remote engine"],
    [`${up}engine/(?!cancel\\.ts$)`, "of the engine, only cancel.ts"],
    [`${up}worker/(?!protocol\\.ts$)`, "of the worker, only its protocol"],
    [`${up}worker/protocol\\.ts$`, "only the protocol's types (import type)", true],
    [`${up}client/(?!stream\\.ts$)`, "of the client, only stream.ts"],
    [`${up}models/(?!net\\.ts$)`, "of the models module, only net.ts"],
    vscode,
  ]),
  // src/routing: which role a server serves, and its engine (issue 17). Plain node like src/remote
  // (tested with fakes); it builds RemoteEngines and tracks their states for the status bar.
  layerRule(["src/routing/**/*.ts"], "src/routing may import src/remote, client/stream.ts, engine/cancel.ts and the protocol's types only", [
    [layer(["chat", "completion", "commands", "models", "extension", "cli"]), "no feature or command code: extension.ts wires them"],
    [`${up}engine/(?!cancel\\.ts$)`, "of the engine, only cancel.ts"],
    [`${up}worker/(?!protocol\\.ts$)`, "of the worker, only its protocol"],
    [`${up}worker/protocol\\.ts$`, "only the protocol's types (import type)", true],
    [`${up}client/(?!stream\\.ts$)`, "of the client, only stream.ts"],
    vscode,
  ]),
  layerRule(["src/cli.ts"], "the CLI may import src/engine and src/worker only (DESIGN.md)", [
    [String.raw`^\./(client|chat|completion|models|commands)/`, "no extension-side code in the CLI"],
    vscode,
  ]),
  // The webview bundle: webview-side libraries, plus the two import-free files it shares with
  // the chat's host side (the message types and the thinking-block splitter).
  layerRule(["media/**/*.ts"], "media/ may import webview-side libraries only (DESIGN.md)", [
    [String.raw`^(\.\./)+src/(?!chat/(protocol|thinking)\.ts$)`, "of src/, only chat/protocol.ts and chat/thinking.ts"],
    ["^node:", "no node modules in the webview"],
    vscode,
  ]),
  layerRule(["src/chat/protocol.ts", "src/chat/thinking.ts"], "bundled into the webview too (media/chat), so they import nothing", [
    ["^(?!\\./(protocol|thinking)\\.ts$)", "nothing but each other"],
  ]),
);
