// Entry point of the mocha run inside the extension host (test-electron's `extensionTestsPath`,
// or code-server's through the page URL's payload): runs every *.e2e.js bundle next to this one
// and rejects when a test failed, which the host turns into the exit code. (after-reload.ts is
// the entry of the second run, in the same state folder: what a window reload keeps.)
import Mocha from "mocha";
import { readdirSync } from "node:fs";
import { join } from "node:path";

export function run(): Promise<void> {
  // extension.e2e first: it needs an extension host where no model has been loaded yet.
  const files = readdirSync(__dirname).filter((f) => f.endsWith(".e2e.js")).sort();
  return runFiles([...files.filter((f) => f === "extension.e2e.js"), ...files.filter((f) => f !== "extension.e2e.js")]);
}

/** Runs the mocha bundles `files` (names in this folder) in order. */
export function runFiles(files: readonly string[]): Promise<void> {
  const mocha = new Mocha({ ui: "tdd", color: false, timeout: 60_000, reporter: "spec" });
  for (const f of files) mocha.addFile(join(__dirname, f));
  return new Promise((resolve, reject) => {
    const runner = mocha.run((failures) => {
      // The runner outside reads this line (and the exit code) to count the results. A failed
      // hook counts as a failure and its tests as not run.
      console.log(`mocha: ${runner.stats?.passes ?? 0} passed, ${failures} failed`);
      if (failures > 0) reject(new Error(`${failures} e2e test(s) failed`));
      else resolve();
    });
  });
}
