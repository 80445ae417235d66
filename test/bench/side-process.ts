// A bench side's child process (run-one.ts): loaded once, then asked for one measurement at a
// time over its stdin and stdout. Children still running when the bench exits are killed.
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import type { Ready } from "./run-one.ts";

const REQUEST_TIMEOUT_MS = 15 * 60 * 1000;

const sideProcesses = new Set<ChildProcess>();
process.once("exit", () => [...sideProcesses].forEach((c) => c.kill("SIGKILL")));

/** One side's process (run-one.ts): loaded once per repeat, then asked for one measurement at a time. */
export class SideProcess {
  private readonly child: ChildProcess;
  private readonly lines: string[] = [];
  private waiting?: () => void;
  private stderr = "";
  private exited = false;

  private constructor(readonly side: "hearth" | "llama", script: string, path: string, threads: number, context: number) {
    this.child = spawn(process.execPath, ["--import", "tsx", script, side, path, String(threads), String(context)], {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, NODE_LLAMA_CPP_SKIP_DOWNLOAD: "true" },
    });
    sideProcesses.add(this.child);
    createInterface({ input: this.child.stdout! }).on("line", (line) => {
      this.lines.push(line);
      this.waiting?.();
    });
    this.child.stderr!.on("data", (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    this.child.on("exit", () => {
      this.exited = true;
      sideProcesses.delete(this.child);
      this.waiting?.();
    });
  }

  /** Starts a side and waits until its model is loaded. */
  static async start(side: "hearth" | "llama", script: string, path: string, threads: number, context: number): Promise<{ proc: SideProcess; ready: Ready }> {
    const proc = new SideProcess(side, script, path, threads, context);
    return { proc, ready: JSON.parse(await proc.reply("READY")) as Ready };
  }

  /** Sends one request and returns the payload of its reply line (`PREFIX payload`). */
  async request(line: string, prefix: string): Promise<string> {
    this.child.stdin!.write(`${line}\n`);
    return this.reply(prefix);
  }

  private async reply(prefix: string): Promise<string> {
    const deadline = Date.now() + REQUEST_TIMEOUT_MS;
    for (;;) {
      const i = this.lines.findIndex((l) => l.startsWith(`${prefix} `));
      if (i >= 0) return this.lines.splice(0, i + 1)[i].slice(prefix.length + 1);
      if (this.exited || Date.now() > deadline) {
        this.child.kill("SIGKILL");
        throw new Error(`${this.side} side: no ${prefix} (${this.exited ? `exited ${this.child.exitCode}` : "timed out"}):\n${this.stderr}`);
      }
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
        setTimeout(resolve, 1000);
      });
    }
  }

  /** Ends the process; returns its peak RSS. */
  async end(): Promise<number> {
    const { peakRssMiB } = JSON.parse(await this.request("end", "END")) as { peakRssMiB: number };
    return peakRssMiB;
  }

  kill(): void {
    this.child.kill("SIGKILL");
  }
}
