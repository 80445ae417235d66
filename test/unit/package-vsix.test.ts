// The .vsix holds only what runs: `vsce package` (as `npm run package` does, minus the build that
// `npm test` has already done) is read back from the zip's central directory and compared with
// the expected file list; .vscodeignore must exclude everything by default; the manifest's entry
// points exist in the package. The size is reported as a test diagnostic.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(__dirname, "..", "..");

/** Names and uncompressed sizes of a zip's entries (central directory; no unzip binary needed). */
function zipEntries(zip: Buffer): Map<string, number> {
  let eocd = zip.length - 22;
  while (eocd >= 0 && zip.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  assert.ok(eocd >= 0, "zip end-of-central-directory record");
  const count = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  const out = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    assert.equal(zip.readUInt32LE(at), 0x02014b50, "central directory entry");
    const size = zip.readUInt32LE(at + 24);
    const nameLen = zip.readUInt16LE(at + 28);
    const extraLen = zip.readUInt16LE(at + 30);
    const commentLen = zip.readUInt16LE(at + 32);
    out.set(zip.toString("utf8", at + 46, at + 46 + nameLen), size);
    at += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

test(".vscodeignore excludes everything, then names what runs", () => {
  const lines = readFileSync(join(ROOT, ".vscodeignore"), "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  assert.equal(lines[0], "**");
  assert.deepEqual(lines.slice(1).sort(), ["!LICENSE", "!README.md", "!dist/*.wasm", "!dist/chat.css", "!dist/chat.js", "!dist/codicon.ttf", "!dist/extension.js", "!dist/worker.js", "!media/**/*.{png,svg,css,js,html}", "!media/walkthrough/*.md", "!package.json"].sort());
});

test("the .vsix contains exactly the bundles, the kernels, media, manifest, README and LICENSE", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "hearth-vsix-"));
  try {
    const vsix = join(dir, "hearth.vsix");
    execFileSync(join(ROOT, "node_modules", ".bin", "vsce"), ["package", "--no-dependencies", "--out", vsix], { cwd: ROOT, stdio: "pipe" });
    const entries = zipEntries(readFileSync(vsix));
    const files = [...entries.keys()].filter((n) => n.startsWith("extension/")).map((n) => n.slice("extension/".length));
    const wasm = files.filter((f) => /^dist\/[^/]+\.wasm$/.test(f));
    assert.ok(wasm.includes("dist/kernels.wasm"), "the SIMD128 kernels");
    const media = files.filter((f) => f.startsWith("media/"));
    assert.ok(media.includes("media/icon.png"));
    const manifestSteps = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).contributes.walkthroughs.flatMap((w: { steps: { media: { markdown?: string } }[] }) => w.steps);
    for (const s of manifestSteps) if (s.media.markdown) assert.ok(media.includes(s.media.markdown), `the walkthrough page ${s.media.markdown} is packaged`);
    const rest = files.filter((f) => !wasm.includes(f) && !media.includes(f)).sort();
    assert.deepEqual(rest, ["LICENSE.txt", "dist/chat.css", "dist/chat.js", "dist/codicon.ttf", "dist/extension.js", "dist/worker.js", "package.json", "readme.md"]);
    for (const f of files) assert.doesNotMatch(f, /\.map$|\.ts$|node_modules|^src\/|^test\//, `${f} does not belong in the package`);
    const manifest = JSON.parse(execFileSync("node", ["-p", "JSON.stringify(require('./package.json'))"], { cwd: ROOT, encoding: "utf8" }));
    assert.ok(files.includes(manifest.main), `main (${manifest.main}) is packaged`);
    assert.ok(files.includes(manifest.icon), `icon (${manifest.icon}) is packaged`);
    const size = statSync(vsix).size;
    const unpacked = [...entries.values()].reduce((s, n) => s + n, 0);
    t.diagnostic(`hearth.vsix: ${(size / 1024).toFixed(1)} KiB (${(unpacked / 1024).toFixed(1)} KiB unpacked), ${files.length} files: ${files.join(", ")}`);
    assert.ok(size < 2 * 1024 * 1024, `the package stays small: ${size} bytes`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
