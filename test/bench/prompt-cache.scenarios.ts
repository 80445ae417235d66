// The prompt-cache scenarios of `npm run bench:completion` (issue "Never evaluate the same prefix
// twice"): what a user meets when they switch files, reload the window, open a new file or ask
// the chat something after a reload. Same machinery as the typing replay (the real completion
// controller, the engine client and the worker); the engine is loaded as the extension loads it:
// several completion slots (one per recently used document) and the prefix cache on disk in a
// fresh folder. Per shape:
//   - cold: the first keystroke in each of 4 newly opened files, no pre-warm (the slow case);
//   - switch back: keystrokes that alternate between those 4 files (each one returns to a file
//     edited 3 switches ago), first ghost text;
//   - pre-warm: a newly opened 200-line file warmed at idle priority (its time), then its first
//     keystroke;
//   - pre-warm's cost to user requests: keystrokes in the 4 files while a pre-warm of a far
//     place in another file is running, against the same keystrokes with nothing running;
//   - after a reload: a new worker and a new controller (a reloaded window) on the same cache
//     folder, the first keystroke in each of the 4 files (prefixes restored from disk);
//   - chat after a reload: a 200-token question in a new worker; its system prompt is restored.
// Prints markdown rows; asserts nothing.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { freemem, tmpdir } from "node:os";
import { join } from "node:path";
import { CancelFlag } from "../../src/client/cancellation.ts";
import { EngineClient } from "../../src/client/engine-client.ts";
import { CompletionController, type CompletionRecord, type CursorContext } from "../../src/completion/controller.ts";
import { DEFAULTS } from "../../src/completion/config.ts";
import { positionOf } from "../../src/completion/split-point.ts";
import type { Memento } from "../../src/completion/prompt-memory.ts";
import { linesOf } from "../../src/completion/window.ts";
import type { ChatPrompt, GenerateStats, ModelInfo } from "../../src/worker/protocol.ts";
import { SHAPES } from "./model-files.ts";
import { median, pct } from "./stats.ts";
import { mapMemento } from "../helpers/memento.ts";

const ROOT = join(__dirname, "..", "..");
const WORKER = join(ROOT, "dist", "worker.js");
/** The extension's default context (hearth.contextSize). */
const CONTEXT = 2048;
/** As many documents as the scenario switches between, plus the pre-warmed ones. */
const SLOTS = 6;
const SWITCH_FILES = ["src/engine/session.ts", "src/engine/kv-cache.ts", "src/engine/prefix-cache.ts", "src/worker/scheduler.ts"];
const NEW_FILE = "src/client/engine-client.ts";
const FAR_FILE = "src/completion/controller.ts";
const SYSTEM_PROMPT =
  "You are Hearth, a coding assistant inside the user's editor. Answer briefly and precisely. When you show code, use fenced code " +
  "blocks with the language named. If a question is unclear, say what you would need to know. Never invent APIs.";

/**
 * A document being typed in: the user retypes `source` from `start` on, one character a key; the
 * rest of the file, after the stretch being retyped, stays as it is (as in the typing replay).
 */
export interface TypedDoc {
  uri: string;
  path: string;
  source: string;
  start: number;
  typed: number;
}

/** The stretch a user retypes: longer than any scenario types in one document. */
const STRETCH = 400;

export function typedDoc(relPath: string, opts: { uri?: string; lines?: number } = {}): TypedDoc {
  let source = readFileSync(join(ROOT, relPath), "utf8");
  if (opts.lines) source = source.split("\n").slice(0, opts.lines).join("\n");
  // In the middle of the file: the prefix window is full from the first key.
  const start = source.indexOf("\n", Math.floor(source.length / 2)) + 1;
  return { uri: opts.uri ?? `file:///${relPath}`, path: relPath, source, start, typed: 0 };
}

/** The cursor in `doc` after its typed characters (the rest of the file follows unchanged). */
export function cursorIn(doc: TypedDoc): CursorContext {
  const before = doc.source.slice(0, doc.start + doc.typed);
  const lines = linesOf(before + doc.source.slice(doc.start + STRETCH));
  return { doc: doc.uri, path: doc.path, languageId: "typescript", lines, ...positionOf(before), before, explicit: false };
}

export interface KeySample {
  firstTextMs: number;
  stats: GenerateStats;
}

/** A completion controller as the extension sets it up, minus debounce and the time budget. */
export function benchController(client: EngineClient, info: ModelInfo, memory?: Memento): CompletionController {
  return new CompletionController({
    memory,
    client,
    model: async () => info,
    settings: () => ({ ...DEFAULTS, debounceMs: 0, adaptiveDebounce: false, extraContextTokens: 0, firstLineMs: 60_000 }),
    snippets: () => [],
    log: { debug() {}, info() {}, warn: (m) => console.error(m) },
  });
}

/**
 * Types the next character of `doc` and waits for the first text of its request; the generation
 * is then stopped (the user's next key would) and its stats returned. Undefined when the key was
 * answered without a request (the suggestion cache, or typed along the running generation).
 */
export async function press(controller: CompletionController, doc: TypedDoc): Promise<KeySample | undefined> {
  doc.typed++;
  const ctx = cursorIn(doc);
  const requests = controller.counters.requests;
  let firstTextMs: number | undefined;
  const finished = new Promise<CompletionRecord>((resolve) => {
    const a = controller.onDidReceiveFirstText((anchor, ms) => {
      if (anchor.before !== ctx.before || anchor.doc !== ctx.doc) return;
      firstTextMs = ms;
      a.dispose();
      controller.cancelInflight();
    });
    const b = controller.onDidFinish((r) => {
      if (r.anchor.before !== ctx.before || r.anchor.doc !== ctx.doc) return;
      a.dispose();
      b.dispose();
      resolve(r);
    });
  });
  const cancel = new CancelFlag();
  await controller.provide(ctx, cancel);
  if (controller.counters.requests === requests) return undefined;
  const r = await finished;
  return { firstTextMs: firstTextMs ?? r.firstTextMs ?? NaN, stats: r.stats };
}

const ms = (x: number): string => (Number.isFinite(x) ? x.toFixed(0) : "-");

/** A table row: first-text times and token counts of `samples`. */
function row(shape: string, scenario: string, samples: KeySample[], note = ""): string {
  const t = samples.map((s) => s.firstTextMs);
  const st = (f: (s: GenerateStats) => number) => ms(median(samples.map((s) => f(s.stats))));
  return `| ${shape} | ${scenario} | ${samples.length} | ${ms(median(t))} | ${ms(pct(t, 90))} | ${ms(pct(t, 99))} | ${st((s) => s.promptTokens)} | ${st((s) => s.reusedTokens)} | ${st((s) => s.restoredTokens)} | ${st((s) => s.evaluatedTokens)} | ${note} |`;
}

export const SCENARIO_HEADER =
  "| model | scenario | requests | first text median (ms) | p90 (ms) | p99 (ms) | prompt tokens | reused | restored from disk | evaluated | note |\n" +
  "|---|---|---|---|---|---|---|---|---|---|---|";

async function pressAll(controller: CompletionController, docs: TypedDoc[], count: number): Promise<KeySample[]> {
  const out: KeySample[] = [];
  for (let i = 0; i < count; i++) {
    const s = await press(controller, docs[i % docs.length]);
    if (s) out.push(s);
  }
  return out;
}

/** Waits until the idle saver has written at least `n` files under `dir` (or `ms` passed). */
async function filesOnDisk(dir: string, n: number, ms: number): Promise<number> {
  const count = () => readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith(".kv")).length;
  const end = Date.now() + ms;
  while (count() < n && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
  return count();
}

function diskBytes(dir: string): number {
  return readdirSync(dir, { recursive: true }).reduce((s, f) => {
    const st = statSync(join(dir, String(f)));
    return s + (st.isFile() ? st.size : 0);
  }, 0);
}

/** A chat request's first text (ms after sending) and stats. */
async function chatTurn(client: EngineClient, prompt: ChatPrompt): Promise<KeySample> {
  const t0 = performance.now();
  let first = NaN;
  const gen = client.generate({ slot: "chat", prompt, maxTokens: 4, sampling: { temperature: 0 } });
  for await (const text of gen) if (Number.isNaN(first) && text) first = performance.now() - t0;
  return { firstTextMs: first, stats: await gen.stats };
}

export interface ScenarioOptions {
  threads: number;
  switches: number;
  delayTrials: number;
}

/**
 * Runs every scenario on `modelPath` (bench shape `shape`); returns the table rows and memory
 * notes. One function on purpose: the scenarios run in order on one worker and then on a second
 * (the reload), sharing the documents, the workspace state and the cache folder the first left.
 */
export async function promptCacheScenarios(shape: string, modelPath: string, o: ScenarioOptions): Promise<{ rows: string[]; notes: string[] }> {
  const name = SHAPES[shape].name;
  const s = SHAPES[shape];
  const kvPerToken = s.nLayer * s.nHeadKV * s.headDim * 2 * 2; // f16 keys and values
  const slotBytes = kvPerToken * CONTEXT;
  const autoSlots = Math.max(2, Math.min(8, Math.floor(Math.min(1 << 30, freemem() / 4) / slotBytes)));
  const notes = [
    `${name}: KV ${(kvPerToken / 1024).toFixed(0)} KiB per token; a slot of ${CONTEXT} tokens is ${(slotBytes / 2 ** 20).toFixed(0)} MiB; ` +
      `the automatic budget (a quarter of free memory, at most 1 GiB) gives ${autoSlots} completion slots here (${((autoSlots * slotBytes) / 2 ** 20).toFixed(0)} MiB) + chat's; this run: ${SLOTS} + 1`,
  ];
  const rows: string[] = [];
  const push = (r: string) => {
    rows.push(r);
    console.log(r);
  };
  const dir = mkdtempSync(join(tmpdir(), "hearth-bench-prompt-cache-"));
  const load = { path: modelPath, threads: o.threads, contextSize: CONTEXT, completionSlots: SLOTS, promptCache: { dir } };
  const docs = SWITCH_FILES.map((f) => typedDoc(f));
  // Opened later and pre-warmed, so its window grows to the configured size (prompt-budget.ts).
  const fresh = typedDoc(NEW_FILE, { uri: "file:///new-200-lines.ts", lines: 200 });
  // The extension's workspace state: split points, windows and token ratios survive the reload in it.
  const state = mapMemento();
  const system: ChatPrompt = { messages: [{ role: "system", content: SYSTEM_PROMPT }] };
  const question = (seed: string): ChatPrompt => ({
    messages: [...system.messages, { role: "user", content: `${seed} `.repeat(200).slice(0, 200) }],
  });
  let systemTokens = 0;
  try {
    {
      const client = new EngineClient({ workerPath: WORKER });
      try {
        const info = await client.load(load);
        const controller = benchController(client, info, state);
        push(row(name, "first key in a newly opened file, no pre-warm (cold)", await pressAll(controller, docs, docs.length)));
        push(row(name, "switch back to one of the last 4 edited files", await pressAll(controller, docs, o.switches)));

        controller.cancelInflight();
        const warm = await controller.prewarm(cursorIn(fresh));
        const afterWarm = await press(controller, fresh);
        push(row(name, "newly opened 200-line file, after its pre-warm finished", afterWarm ? [afterWarm] : [], warm ? `pre-warm ${ms(warm.ms)} ms for ${warm.evaluatedTokens} of ${warm.promptTokens} tokens` : "no pre-warm"));

        // Pre-warm's cost: the same keys with nothing running, then each with a pre-warm of a
        // far place in another file started 0–150 ms before it.
        const quiet = await pressAll(controller, docs, o.delayTrials);
        const far = typedDoc(FAR_FILE, { uri: "file:///far.ts" });
        const busy: KeySample[] = [];
        const warms: Promise<unknown>[] = [];
        for (let i = 0; i < o.delayTrials; i++) {
          controller.cancelInflight();
          far.start = (far.start + Math.floor(far.source.length / 3)) % (far.source.length - STRETCH); // a new place: a cold prompt
          far.typed = 0;
          // Each pre-warm replaces the one before it (the worker drops the older one).
          warms.push(controller.prewarm(cursorIn(far)).catch(() => undefined));
          await new Promise((r) => setTimeout(r, (i * 37) % 150));
          const k = await press(controller, docs[i % docs.length]);
          if (k) busy.push(k);
        }
        await Promise.all(warms);
        const added = pct(busy.map((b) => b.firstTextMs), 99) - pct(quiet.map((b) => b.firstTextMs), 99);
        push(row(name, "keys with nothing else running", quiet));
        push(row(name, "keys during a pre-warm of another file", busy, `p99 ${ms(added)} ms above the quiet keys (each key preempts a running pre-warm)`));

        // Chat: the system prompt is pre-warmed after a load (as the extension does), then a turn.
        const w = await client.warm({ slot: "chat", prompt: { ...system } });
        systemTokens = w?.promptTokens ?? 0;
        await chatTurn(client, question("explain"));
        await filesOnDisk(dir, docs.length + 1, 30_000);
        await client.unload(); // flushes what the idle saver has not written yet
      } finally {
        await client.dispose();
      }
    }
    notes.push(`${name}: prefix cache on disk after the first session: ${readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith(".kv")).length} files, ${(diskBytes(dir) / 2 ** 20).toFixed(1)} MiB`);
    {
      // A window reload: a new worker and a new controller, the same cache folder.
      const client = new EngineClient({ workerPath: WORKER });
      try {
        const info = await client.load(load);
        const controller = benchController(client, info, state);
        push(row(name, "first key in each file after a window reload (prefix from disk)", await pressAll(controller, docs, docs.length)));
        const grown = await press(controller, fresh);
        push(row(name, "after the reload, the first key in the pre-warmed 200-line file", grown ? [grown] : []));
        const chat = await chatTurn(client, question("review"));
        push(row(name, "chat after a reload: 200-token question, first token", [chat], `system prompt ${systemTokens} tokens; restored ${chat.stats.restoredTokens}`));
      } finally {
        await client.dispose();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { rows, notes };
}
