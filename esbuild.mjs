// Bundles the extension, the engine worker and the CLI for Node. The kernels' .wasm files are
// built by kernels/build.sh into dist/ and loaded at run time from next to the bundles.
import { build } from "esbuild";
import { existsSync } from "node:fs";

const entries = [
  { in: "src/cli.ts", out: "cli", banner: "#!/usr/bin/env node" },
  { in: "src/extension.ts", out: "extension" },
  { in: "src/worker/main.ts", out: "worker" },
].filter((e) => existsSync(e.in));

await Promise.all(
  entries.map((e) =>
    build({
      entryPoints: { [e.out]: e.in },
      outdir: "dist",
      bundle: true,
      platform: "node",
      format: "cjs",
      target: "node20",
      sourcemap: true,
      external: ["vscode"],
      banner: e.banner ? { js: e.banner } : undefined,
      logLevel: "warning",
    }),
  ),
);

// The chat webview (runs in the browser-like webview; its CSS pulls in the codicon font).
await build({
  entryPoints: { chat: "media/chat/main.ts" },
  outdir: "dist",
  bundle: true,
  platform: "browser",
  format: "iife",
  target: "es2022",
  minify: true,
  sourcemap: true,
  loader: { ".ttf": "file" },
  assetNames: "[name]",
  logLevel: "warning",
});
