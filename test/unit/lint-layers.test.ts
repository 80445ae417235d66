// The layer rules of eslint.config.mjs (DESIGN.md's "may import" column) hold: for each folder an
// import across a forbidden boundary is an error, and the imports the table allows are not.
// Linted as text with the repository's own config, so a rule deleted or loosened fails here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ESLint } from "eslint";

const ROOT = join(__dirname, "..", "..");
const eslint = new ESLint({ cwd: ROOT });

/** The layer rule's messages for `code` as if it were the file at `path`. */
async function layerErrors(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(ROOT, path) });
  return result.messages.filter((m) => m.ruleId === "@typescript-eslint/no-restricted-imports").map((m) => m.message);
}

/** A module name stands for a value import of it; a whole statement is taken as it is. */
const statement = (spec: string) => (spec.startsWith("import ") ? `${spec}\n` : `import { x } from "${spec}";\nexport { x };\n`);
const TYPES = `import type { GenerateParams } from "../worker/protocol.ts";\nexport type { GenerateParams };`;

const CASES: { file: string; forbidden: string[]; allowed: string[] }[] = [
  {
    file: "src/engine/model/probe.ts",
    forbidden: ["../../worker/protocol.ts", "../../chat/session.ts", "../../models/memory.ts", "vscode", "../../../test/reference/gguf-writer.ts"],
    allowed: ["../gguf/reader.ts", "../session.ts", "node:fs"],
  },
  {
    file: "src/worker/probe.ts",
    forbidden: ["../chat/history.ts", "../client/engine-client.ts", "../completion/prompt.ts", "vscode", "../../test/reference/quant/quantize.ts"],
    allowed: ["../engine/engine.ts", "../engine/chat-prompt.ts", "./protocol.ts"],
  },
  {
    file: "src/client/probe.ts",
    forbidden: ["../engine/cancel.ts", "../worker/service.ts", "../chat/session.ts", "vscode"],
    allowed: ["../worker/protocol.ts", "./stream.ts", "node:worker_threads"],
  },
  {
    file: "src/chat/probe.ts",
    forbidden: ["../engine/chat-template.ts", "../worker/protocol.ts", "../worker/scheduler.ts", "../completion/index.ts", "../models/commands.ts", "../commands/actions.ts"],
    allowed: [TYPES, "../client/engine-client.ts", "../commands/settings.ts", "../commands/ids.ts", "vscode"],
  },
  {
    file: "src/completion/probe.ts",
    forbidden: ["../engine/tokenizer/index.ts", "../worker/protocol.ts", "../chat/index.ts", "../../test/helpers/gguf-fixtures.ts"],
    allowed: [TYPES, "../client/cancellation.ts", "vscode"],
  },
  {
    file: "src/commands/probe.ts",
    forbidden: ["../engine/gguf/reader.ts", "../worker/protocol.ts", "../models/commands.ts"],
    allowed: ["../client/engine-client.ts", "./settings.ts", "vscode"],
  },
  {
    file: "src/models/probe.ts",
    forbidden: ["../engine/gguf/reader.ts", "../engine/wasm/arena.ts", "../client/engine-client.ts", "../worker/protocol.ts", TYPES, "../commands/actions.ts"],
    allowed: ["./catalogue.ts", "../commands/settings.ts", "../commands/ids.ts", "vscode", "node:fs"],
  },
  {
    file: "src/cli.ts",
    forbidden: ["./client/engine-client.ts", "./models/memory.ts", "vscode"],
    allowed: ["./engine/engine.ts", "./worker/protocol.ts"],
  },
  {
    file: "media/chat/probe.ts",
    forbidden: ["../../src/chat/session.ts", "../../src/engine/cancel.ts", "node:fs", "vscode"],
    allowed: ["../../src/chat/protocol.ts", "../../src/chat/thinking.ts", "./markdown.ts", "dompurify"],
  },
  {
    file: "src/chat/protocol.ts",
    forbidden: ["./session.ts", "../client/cancellation.ts"],
    allowed: ["./thinking.ts"],
  },
];

for (const c of CASES) {
  test(`layer rule for ${c.file}: ${c.forbidden.length} imports refused, ${c.allowed.length} allowed`, async () => {
    for (const spec of c.forbidden) {
      const errors = await layerErrors(c.file, statement(spec));
      assert.equal(errors.length, 1, `${c.file} importing ${spec} must fail`);
      assert.match(errors[0], /DESIGN\.md|webview/, "the message says which rule");
    }
    for (const spec of c.allowed) assert.deepEqual(await layerErrors(c.file, statement(spec)), [], `${c.file} may import ${spec}`);
  });
}
