// The log at its default level says what each completion request did (issue 14 item 10): one Info
// line per request when it ends, with the prompt's tokens (reused, restored, evaluated), the time
// to the first text and in all, and the outcome; the generation's own figures only at Debug.
// Through the real controller, engine client and worker (dist/worker.js) with stories260K, the
// log being a sink shaped like VS Code's LogOutputChannel.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { CancelFlag } from "../../src/client/cancellation.ts";
import { EngineClient, type RequestOptions } from "../../src/client/engine-client.ts";
import { CompletionController, type CompletionRecord, type CursorContext } from "../../src/completion/controller.ts";
import { DEFAULTS } from "../../src/completion/config.ts";
import { positionOf } from "../../src/completion/split-point.ts";
import { linesOf } from "../../src/completion/window.ts";
import type { GenerateParams } from "../../src/worker/protocol.ts";

const ROOT = join(__dirname, "..", "..");
const WORKER = join(ROOT, "dist", "worker.js");
const MODEL = join(ROOT, "test", "fixtures", "stories260K.gguf");
if (!existsSync(WORKER)) throw new Error(`${WORKER} is missing: run npm run build first`);

const client = new EngineClient({ workerPath: WORKER });
after(() => client.dispose());

const STORY = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. One day, she saw a big red ball";

/** What a LogOutputChannel would have been told, by level. */
class LogSink {
  readonly lines: { level: "debug" | "info" | "warn"; message: string }[] = [];
  debug = (message: string) => void this.lines.push({ level: "debug", message });
  info = (message: string) => void this.lines.push({ level: "info", message });
  warn = (message: string) => void this.lines.push({ level: "warn", message });
  /** The per-request lines (the controller's other lines name no document). */
  requests(): { level: string; message: string }[] {
    return this.lines.filter((l) => /^completion story\.txt: /.test(l.message));
  }
}

function at(text: string): CursorContext {
  const { line, character } = positionOf(text);
  return { doc: "file:///story.txt", path: "story.txt", languageId: "plaintext", lines: linesOf(text), line, character, before: text, explicit: true };
}

async function setup(generate?: (params: GenerateParams, options?: RequestOptions) => ReturnType<EngineClient["generate"]>) {
  const info = await client.load({ path: MODEL, threads: 1, contextSize: 512 });
  const log = new LogSink();
  const controller = new CompletionController({
    client: { generate: generate ?? client.generate.bind(client), tokenize: client.tokenize.bind(client) },
    model: async () => info,
    settings: () => ({ ...DEFAULTS, maxLines: 1, extraContextTokens: 0, debounceMs: 0, adaptiveDebounce: false, firstLineMs: 60_000 }),
    snippets: () => [],
    log,
  });
  const records: CompletionRecord[] = [];
  controller.onDidFinish((r) => records.push(r));
  /** Until `n` request lines were logged (or 10 s passed: the assertions after it then say what is missing). */
  const ended = (n: number) => new Promise<void>((resolve) => {
    const until = Date.now() + 10_000;
    const poll = () => (log.requests().length >= n || Date.now() > until ? resolve() : setTimeout(poll, 5));
    poll();
  });
  return { controller, log, records, ended };
}

test("a shown suggestion: one Info line with the prompt's tokens as the worker counted them, the first text's time and 'shown'; the generation's figures at Debug", async () => {
  const { controller, log, records, ended } = await setup();
  try {
    const text = await controller.provide(at(STORY), new CancelFlag());
    assert.ok(text, "a suggestion was shown");
    await ended(1);
    const [line] = log.requests();
    const s = records[0].stats;
    assert.equal(line.level, "info");
    assert.match(line.message, new RegExp(`^completion story\\.txt: ${s.promptTokens} prompt tokens \\(${s.reusedTokens} reused, ${s.restoredTokens} restored, ${s.evaluatedTokens} evaluated in \\d+ ms\\), first text after \\d+ ms, \\d+ ms in all: shown$`));
    assert.ok(s.evaluatedTokens > 20, "a cold prompt");
    assert.equal(log.lines.filter((l) => l.level === "info" && /tok\/s|generated|stopped by/.test(l.message)).length, 0, "no generation detail at Info");
    assert.ok(log.lines.some((l) => l.level === "debug" && /^completion generation: \d+ tokens in \d+ ms/.test(l.message)), "the generation's figures at Debug");
  } finally {
    controller.dispose();
  }
});

test("a request the user moved away from logs 'cancelled', and every request gets exactly one line", async () => {
  const { controller, log, ended } = await setup();
  try {
    // The editor moves elsewhere as soon as the request is sent.
    const sub = controller.onDidChangeBusy((busy) => busy && controller.onEdit(undefined));
    const cancel = new CancelFlag();
    await controller.provide(at(`${STORY} and`), cancel);
    sub.dispose();
    await ended(1);
    assert.match(log.requests()[0].message, /: cancelled$/);
    assert.equal(log.requests()[0].level, "info");
    await controller.provide(at(`${STORY} and a`), new CancelFlag());
    await ended(2);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(log.requests().length, controller.counters.requests, log.requests().map((l) => l.message).join("\n"));
    assert.match(log.requests()[1].message, /: shown$/);
  } finally {
    controller.dispose();
  }
});

test("a failed request logs its line at Warn with 'error' and the reason", async () => {
  const { controller, log, ended } = await setup((params, options) => {
    const g = client.generate(params, options);
    const failed = g.stats.then(() => Promise.reject(new Error("the engine worker stopped (exit code 1)")));
    // The stream fails too, as it does when the worker dies.
    return Object.assign(g, { stats: failed, [Symbol.asyncIterator]: () => ({ next: () => failed }) });
  });
  try {
    await controller.provide(at(STORY), new CancelFlag());
    await ended(1);
    const [line] = log.requests();
    assert.equal(line.level, "warn");
    assert.match(line.message, /^completion story\.txt: no prompt evaluated, no text, \d+ ms in all: error \(the engine worker stopped \(exit code 1\)\)$/);
  } finally {
    controller.dispose();
  }
});
