// `npm run test:electron`: the same mocha suites in a VS Code downloaded by @vscode/test-electron
// (needs the internet; on machines that reach only the npm registry, `npm run test:e2e` runs them
// in code-server instead). The workspace and its e2e.json are made as the code-server runner does.
import { runTests } from "@vscode/test-electron";
import { join } from "node:path";
import { makeWorkspace } from "./workspace.ts";

async function main(): Promise<void> {
  const root = join(__dirname, "..", "..");
  const { workspace } = await makeWorkspace(root);
  await runTests({
    extensionDevelopmentPath: root,
    extensionTestsPath: join(__dirname, "index.js"),
    launchArgs: [workspace, "--disable-extensions", "--disable-workspace-trust"],
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
