// Starting and stopping code-server (VS Code's server build, from npm) for the e2e runs, and the
// Chromium it is driven with. Each server gets its own state folders under the run's temp folder
// (nothing is written to the home directory) and is stopped with its whole process tree.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";

const ROOT = join(__dirname, "..", "..");
const ENTRY = join(ROOT, "node_modules", "code-server", "out", "node", "entry.js");

/** Process groups of the servers still running: the runner's watchdog kills them on a timeout. */
const running = new Set<number>();

export function killAllServers(): void {
  for (const pid of running) {
    for (const p of [...descendants(pid), pid]) {
      try {
        process.kill(p, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
  running.clear();
}

export interface Server {
  port: number;
  url: string;
  log: string;
  stop(): Promise<void>;
}

function stateEnv(dir: string): NodeJS.ProcessEnv {
  for (const d of ["config", "data", "cache"]) mkdirSync(join(dir, d), { recursive: true });
  return { ...process.env, XDG_CONFIG_HOME: join(dir, "config"), XDG_DATA_HOME: join(dir, "data"), XDG_CACHE_HOME: join(dir, "cache") };
}

function dirs(state: string): string[] {
  return ["--user-data-dir", join(state, "user-data"), "--extensions-dir", join(state, "extensions")];
}

/** `code-server --install-extension <vsix>` into this state folder's extensions dir. */
export function installExtension(state: string, vsix: string): void {
  const r = spawnSync(process.execPath, [ENTRY, ...dirs(state), "--install-extension", vsix], { env: stateEnv(state), encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) throw new Error(`installing ${vsix} failed (${r.status}): ${r.stdout}\n${r.stderr}`);
}

export async function startServer(state: string, workspace: string): Promise<Server> {
  mkdirSync(state, { recursive: true });
  const port = await freePort();
  const config = join(state, "config.yaml");
  writeFileSync(config, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  const log = join(state, "code-server.log");
  const out = openSync(log, "a");
  const args = [
    ENTRY,
    "--config", config,
    "--auth", "none",
    "--bind-addr", `127.0.0.1:${port}`,
    ...dirs(state),
    "--disable-telemetry",
    "--disable-update-check",
    "--disable-workspace-trust",
    "--disable-getting-started-override",
    workspace,
  ];
  // Its own process group, so the whole tree can be stopped even if the runner is interrupted.
  const child = spawn(process.execPath, args, { env: stateEnv(state), stdio: ["ignore", out, out], detached: true });
  if (child.pid !== undefined) running.add(child.pid);
  const url = `http://127.0.0.1:${port}`;
  const server: Server = { port, url, log, stop: () => stopTree(child) };
  try {
    await waitHealthy(url, child, 60_000);
  } catch (err) {
    await server.stop();
    throw new Error(`${(err as Error).message}\n--- code-server log ---\n${readFileSync(log, "utf8").slice(-4000)}`);
  }
  return server;
}

async function waitHealthy(url: string, child: ChildProcess, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`code-server exited with ${child.exitCode} before it was ready`);
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`code-server was not ready within ${ms} ms`);
}

/** SIGTERM to the process group, then SIGKILL to every process still left in the tree. */
async function stopTree(child: ChildProcess): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  running.delete(pid);
  const tree = [pid, ...descendants(pid)];
  try {
    process.kill(-pid, "SIGTERM");
  } catch {
    // already gone
  }
  const end = Date.now() + 3000;
  while (Date.now() < end && tree.some(alive)) await new Promise((r) => setTimeout(r, 100));
  for (const p of [...tree, ...descendants(pid)]) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Every process whose chain of parents reaches `pid` (from /proc). */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    for (const [child, pp] of parent) {
      if (pp !== p) continue;
      out.push(child);
      stack.push(child);
    }
  }
  return out;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Debian's Chromium, headless, with its own profile folder (Playwright's browsers are not downloaded). */
export function launchBrowser(profile: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profile, {
    executablePath: process.env.HEARTH_CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/** Where failed UI steps leave their screenshots (and the runs their servers' logs). */
export const ARTIFACTS = join(ROOT, ".vscode-test", "artifacts");

export interface UiResult {
  name: string;
  ok: boolean;
  ms: number;
}

/**
 * Runs one Playwright UI step: records its result in `results`, logs it with `say`, and on failure
 * keeps a screenshot of the page (named `shotPrefix` + the step's name) in ARTIFACTS.
 */
export async function uiStep(
  results: UiResult[],
  page: Page,
  name: string,
  body: () => Promise<void>,
  say: (line: string) => void,
  shotPrefix = "",
): Promise<boolean> {
  const t0 = Date.now();
  try {
    await body();
    results.push({ name, ok: true, ms: Date.now() - t0 });
    say(`✔ ${name} (${Date.now() - t0} ms)`);
    return true;
  } catch (err) {
    results.push({ name, ok: false, ms: Date.now() - t0 });
    const shot = join(ARTIFACTS, `${shotPrefix}${name.replace(/[^a-z0-9]+/gi, "-").slice(0, 80)}.png`);
    await page.screenshot({ path: shot }).catch(() => {});
    say(`✖ ${name}: ${(err as Error).message.split("\n")[0]}\n    screenshot: ${shot}`);
    return false;
  }
}

/** Runs a command by its palette title (F1, type the title, wait for its row, Enter). */
export async function runCommand(page: Page, title: string): Promise<void> {
  await page.keyboard.press("F1");
  const input = page.locator(".quick-input-widget .quick-input-box input");
  await input.waitFor({ state: "visible", timeout: 10_000 });
  await input.fill(`>${title}`);
  await page.locator(".quick-input-widget .monaco-list-row", { hasText: title }).first().waitFor({ timeout: 10_000 });
  await page.keyboard.press("Enter");
}

/** Opens a workspace file by name through Quick Open (Ctrl+P) and waits for its tab. */
export async function openFile(page: Page, name: string): Promise<void> {
  await page.keyboard.press("Control+P");
  const input = page.locator(".quick-input-widget .quick-input-box input");
  await input.waitFor({ state: "visible", timeout: 10_000 });
  await input.fill(name);
  // Enter opens the highlighted (first) row: wait until the list has been filtered, not only
  // until the file is somewhere in it (recently opened files are listed before the filter runs).
  await page.locator(".quick-input-widget .monaco-list-row", { hasText: name }).first().waitFor({ timeout: 10_000 });
  await page.locator(".quick-input-widget .monaco-list-row[data-index='0']", { hasText: name }).waitFor({ timeout: 10_000 });
  await page.keyboard.press("Enter");
  await page.locator(`.tab.active[aria-label*="${name}"], .tab.active:has-text("${name}")`).first().waitFor({ timeout: 10_000 });
}
