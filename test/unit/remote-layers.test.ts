// The layer rule of src/remote (eslint.config.mjs): the remote engine may import the protocol's
// types, the cancel flag, the client's delta stream and the downloader's net code, and nothing
// else of src/ (no vscode: it is tested in plain node).
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ESLint } from "eslint";

const ROOT = join(__dirname, "..", "..");
const eslint = new ESLint({ cwd: ROOT });

async function layerErrors(code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(ROOT, "src/remote/probe.ts") });
  return result.messages.filter((m) => m.ruleId === "@typescript-eslint/no-restricted-imports").map((m) => m.message);
}
const value = (spec: string) => `import { x } from "${spec}";\nexport { x };\n`;

const FORBIDDEN = [
  value("vscode"),
  value("../engine/session.ts"),
  value("../worker/protocol.ts"),
  value("../worker/scheduler.ts"),
  value("../client/engine-client.ts"),
  value("../models/downloader.ts"),
  value("../chat/thinking.ts"),
  value("../completion/postprocess.ts"),
  value("../commands/settings.ts"),
  value("../../test/helpers/openai-server.ts"),
];
const ALLOWED = [
  `import type { GenerateStats } from "../worker/protocol.ts";\nexport type { GenerateStats };\n`,
  value("../engine/cancel.ts"),
  value("../client/stream.ts"),
  value("../models/net.ts"),
  value("./sse.ts"),
  value("node:http"),
];

test("src/remote: imports outside its rule are errors", async () => {
  for (const code of FORBIDDEN) assert.ok((await layerErrors(code)).length > 0, `should be forbidden: ${code}`);
});

test("src/remote: the imports its rule allows pass", async () => {
  for (const code of ALLOWED) assert.deepEqual(await layerErrors(code), [], `should be allowed: ${code}`);
});

// src/routing (which role a server serves) and the features' view of it: the features may name
// src/remote's and src/routing's types only (extension.ts hands them the engine), and src/routing
// runs no feature code and no vscode.
async function errorsIn(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(ROOT, file) });
  return result.messages.filter((m) => m.ruleId === "@typescript-eslint/no-restricted-imports").map((m) => m.message);
}

test("src/routing and the features: the remote layers' rules", async () => {
  const cases: [string, string, boolean][] = [
    ["src/routing/x.ts", value("../remote/index.ts"), true],
    ["src/routing/x.ts", value("../client/stream.ts"), true],
    ["src/routing/x.ts", value("vscode"), false],
    ["src/routing/x.ts", value("../completion/controller.ts"), false],
    ["src/routing/x.ts", value("../commands/settings.ts"), false],
    ["src/routing/x.ts", value("../client/engine-client.ts"), false],
    ["src/completion/x.ts", `import type { RemoteCompleteRequest } from "../remote/types.ts";\nexport type { RemoteCompleteRequest };\n`, true],
    ["src/completion/x.ts", value("../remote/engine.ts"), false],
    ["src/chat/x.ts", value("../routing/remote-roles.ts"), false],
    ["src/commands/x.ts", value("../remote/index.ts"), false],
    ["src/remote/x.ts", value("../routing/remote-roles.ts"), false],
    ["src/client/x.ts", value("../remote/index.ts"), false],
  ];
  for (const [file, code, ok] of cases) {
    const errors = await errorsIn(file, code);
    assert.equal(errors.length === 0, ok, `${file}: ${code.split("\n")[0]} should be ${ok ? "allowed" : "forbidden"} (${errors.join("; ")})`);
  }
});
