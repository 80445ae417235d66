// The completion controller with a fake engine client and fake time: debounce, cancellation of
// the running generation (through the flag the client shares with the worker), following a
// streaming generation while typing, the suggestion cache, refresh when the suggestion grows,
// the first-line time budget, per-language switches and the busy signal.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CancelFlag } from "../../src/client/cancellation.ts";
import type { RequestOptions } from "../../src/client/engine-client.ts";
import { DeltaStream } from "../../src/client/stream.ts";
import { CompletionController, type CursorContext } from "../../src/completion/controller.ts";
import { AdaptiveDebounce } from "../../src/completion/debounce.ts";
import { DEFAULTS, type CompletionSettings } from "../../src/completion/config.ts";
import { linesOf } from "../../src/completion/window.ts";
import type { Anchor } from "../../src/completion/anchor.ts";
import type { GenerateParams, GenerateStats, ModelInfo } from "../../src/worker/protocol.ts";

const STATS: GenerateStats = { promptTokens: 10, reusedTokens: 0, restoredTokens: 0, evaluatedTokens: 10, generatedTokens: 3, promptMs: 1, generateMs: 1, stopReason: "eog" };

interface Call {
  params: GenerateParams;
  cancelled: boolean;
  push(text: string): void;
  end(): void;
}

class FakeClient {
  readonly calls: Call[] = [];
  generate(params: GenerateParams, options?: RequestOptions) {
    const stream = new DeltaStream(() => {});
    let settle!: (s: GenerateStats) => void;
    const stats = new Promise<GenerateStats>((r) => (settle = r));
    const call: Call = {
      params,
      cancelled: false,
      push: (t) => stream.push(t),
      end: () => {
        stream.end();
        settle(STATS);
      },
    };
    options?.cancel?.onCancel(() => {
      call.cancelled = true;
      stream.end();
      settle({ ...STATS, stopReason: "cancelled" });
    });
    this.calls.push(call);
    return Object.assign(stream, { stats });
  }
  async tokenize() {
    return [1, 2, 3];
  }
  get last(): Call {
    return this.calls[this.calls.length - 1];
  }
}

const INFO = { path: "/m.gguf", name: "m", architecture: "qwen2", contextSize: 4096, fim: undefined } as unknown as ModelInfo;

function setup(over: Partial<CompletionSettings> = {}, info: ModelInfo = INFO) {
  const client = new FakeClient();
  const sleeps: number[] = [];
  const refreshes: Anchor[] = [];
  let clock = 0;
  const busy: boolean[] = [];
  const settings = { ...DEFAULTS, extraContextTokens: 0, firstLineMs: 10_000, ...over };
  const controller = new CompletionController({
    client,
    model: async () => info,
    settings: () => settings,
    snippets: () => [],
    log: { debug() {}, info() {}, warn() {} },
    refresh: (a) => refreshes.push(a),
    sleep: async (ms) => void sleeps.push(ms),
    now: () => clock,
  });
  controller.onDidChangeBusy((b) => busy.push(b));
  return { client, controller, sleeps, refreshes, busy, settings, tick: (ms: number) => (clock += ms) };
}

/** The cursor at the end of `text` in a plain-text file. */
function at(text: string, explicit = false, languageId = "plaintext"): CursorContext {
  const lines = linesOf(text);
  const line = lines.lineCount - 1;
  return { doc: "file:///a.txt", path: "a.txt", languageId, lines, line, character: lines.lineAt(line).length, before: text, explicit };
}

const tick = () => new Promise((r) => setImmediate(r));

test("a keystroke waits for the debounce, then the first complete line is shown while generation goes on", async () => {
  const { client, controller, sleeps, busy } = setup();
  const token = new CancelFlag();
  const shown = controller.provide(at("Once upon"), token);
  await tick();
  assert.deepEqual(sleeps, [DEFAULTS.debounceMs]);
  assert.equal(client.calls.length, 1);
  assert.equal(client.last.params.slot, "completion");
  assert.equal(client.last.params.prompt, "Once upon", "plain text, prefix-only model: the text itself");
  assert.deepEqual(client.last.params.sampling, { temperature: 0 });
  client.last.push(" a ti");
  client.last.push("me\nthere");
  assert.equal(await shown, " a time");
  assert.equal(client.last.cancelled, false, "still generating the next lines");
  assert.deepEqual(busy, [true]);
  client.last.end();
  await tick();
  assert.deepEqual(busy, [true, false]);
});

test("an explicit trigger skips the debounce", async () => {
  const { client, controller, sleeps } = setup();
  const p = controller.provide(at("x", true), new CancelFlag());
  await tick();
  assert.deepEqual(sleeps, []);
  client.last.push("y\n");
  assert.equal(await p, "y");
});

test("a keystroke that does not follow the suggestion cancels the running generation in the client (and so in the worker)", async () => {
  const { client, controller } = setup();
  const first = new CancelFlag();
  const p1 = controller.provide(at("abc"), first);
  await tick();
  client.last.push("def");
  first.cancel(); // VS Code cancels the old request when the user types
  assert.equal(await p1, undefined);
  assert.equal(client.calls[0].cancelled, false, "the next request decides");
  const p2 = controller.provide(at("abcX"), new CancelFlag());
  await tick();
  assert.equal(client.calls[0].cancelled, true, "cancelled before the debounce even ends");
  assert.equal(client.calls.length, 2);
  client.last.push("yz\n");
  assert.equal(await p2, "yz");
  assert.equal(controller.counters.cancelled, 1);
});

test("moving the cursor elsewhere (onEdit) cancels at once; typing along does not", async () => {
  const { client, controller } = setup();
  void controller.provide(at("abc"), new CancelFlag());
  await tick();
  client.last.push("def");
  await tick();
  controller.onEdit({ doc: "file:///a.txt", before: "abcd", lineAfter: "" });
  assert.equal(client.last.cancelled, false, "typed 'd' as suggested");
  controller.onEdit({ doc: "file:///a.txt", before: "abcx", lineAfter: "" });
  assert.equal(client.last.cancelled, true);
  assert.equal(controller.busy, false);
});

test("typing along a streaming suggestion follows it: no new request, the rest grows", async () => {
  const { client, controller } = setup();
  const p1 = controller.provide(at("let x"), new CancelFlag());
  await tick();
  client.last.push(" = 1;\ny = 2;\n");
  assert.equal(await p1, " = 1;\ny = 2;");
  const p2 = controller.provide(at("let x ="), new CancelFlag());
  assert.equal(await p2, " 1;\ny = 2;");
  assert.equal(client.calls.length, 1);
  assert.equal(controller.counters.followed, 1);
});

test("when the shown suggestion grows, the editor is asked to query again", async () => {
  const { client, controller, refreshes } = setup();
  const p = controller.provide(at("a"), new CancelFlag());
  await tick();
  client.last.push("b\n");
  assert.equal(await p, "b");
  assert.equal(refreshes.length, 0);
  client.last.push("c\n");
  await tick();
  assert.equal(refreshes.length, 1);
  assert.equal(refreshes[0].before, "a");
  // The re-query gets the longer suggestion at once.
  assert.equal(await controller.provide(at("a", true), new CancelFlag()), "b\nc");
});

test("after the generation ends, typing along is answered from the suggestion cache", async () => {
  const { client, controller } = setup();
  const p = controller.provide(at("fo"), new CancelFlag());
  await tick();
  client.last.push("o(bar)");
  client.last.end();
  assert.equal(await p, "o(bar)");
  await tick();
  // Some other request in between replaces the in-flight generation...
  const other = controller.provide({ ...at("zzz"), doc: "file:///b.txt" }, new CancelFlag());
  await tick();
  client.last.push("1");
  client.last.end();
  await other;
  await tick();
  // ...but coming back and typing along the first suggestion needs no request.
  assert.equal(await controller.provide(at("foo(b"), new CancelFlag()), "ar)");
  assert.equal(client.calls.length, 2);
  assert.equal(controller.counters.cacheHits, 1);
});

test("a request cancelled during the debounce sends nothing to the engine", async () => {
  const { client, controller } = setup();
  const source = new CancelFlag();
  source.cancel();
  assert.equal(await controller.provide(at("x"), source), undefined);
  assert.equal(client.calls.length, 0);
});

test("an unfinished first line is shown when the first-line budget runs out", async () => {
  const { client, controller } = setup({ firstLineMs: 20 });
  const p = controller.provide(at("The cat"), new CancelFlag());
  await tick();
  client.last.push(" sat on");
  assert.equal(await p, " sat on");
});

test("languages switched off get nothing and start nothing", async () => {
  const { client, controller } = setup({ languages: { "*": true, plaintext: false } });
  assert.equal(await controller.provide(at("x"), new CancelFlag()), undefined);
  assert.equal(client.calls.length, 0);
});

test("no model loaded: nothing is suggested", async () => {
  const client = new FakeClient();
  const controller = new CompletionController({ client, model: async () => undefined, settings: () => DEFAULTS, snippets: () => [], log: { debug() {}, info() {}, warn() {} }, sleep: async () => {} });
  assert.equal(await controller.provide(at("x"), new CancelFlag()), undefined);
  assert.equal(client.calls.length, 0);
});

test("a FIM model gets prefix, suffix and middle; single-line when text follows the cursor", async () => {
  const fim = { prefix: "<|fim_prefix|>", suffix: "<|fim_suffix|>", middle: "<|fim_middle|>" };
  const { client, controller } = setup({}, { ...INFO, fim } as ModelInfo);
  const lines = linesOf("foo(\nnext");
  const ctx: CursorContext = { doc: "file:///a.ts", path: "a.ts", languageId: "typescript", lines, line: 0, character: 4, before: "foo(", explicit: true };
  const p = controller.provide({ ...ctx, lines: linesOf("foo()\nnext"), character: 4 }, new CancelFlag());
  await tick();
  await tick();
  assert.equal(client.last.params.prompt, "<|fim_prefix|>// Language: typescript\n// Path: a.ts\nfoo(<|fim_suffix|>)\nnext<|fim_middle|>");
  assert.ok(client.last.params.stop?.includes("\n"), "single line: the engine stops at the newline");
  client.last.push("a, b)");
  client.last.end();
  assert.equal(await p, "a, b");
});

test("the adaptive debounce waits a little longer than a fast typist's gap, and the base otherwise", () => {
  let t = 0;
  const d = new AdaptiveDebounce(() => t);
  const keystroke = (base: number, adaptive: boolean) => (d.keystroke(), d.delay(base, adaptive));
  assert.equal(keystroke(75, true), 75);
  for (let i = 0; i < 10; i++) {
    t += 150;
    keystroke(75, true);
  }
  t += 150;
  assert.equal(keystroke(75, true), 180, "1.2 × 150 ms");
  t += 5000; // a pause is not learnt: typing on after it, the typist's speed still counts
  assert.equal(keystroke(75, true), 180);
  t += 150;
  assert.equal(keystroke(75, false), 75, "adaptive off");
  for (let i = 0; i < 20; i++) {
    t += 400;
    keystroke(75, true);
  }
  t += 400;
  assert.equal(keystroke(75, true), 75, "slow typing: the base");
});

test("a keystroke before any text arrived is checked when the text comes: a mismatch cancels and asks anew", async () => {
  const { client, controller } = setup();
  void controller.provide(at("abc"), new CancelFlag());
  await tick();
  const p = controller.provide(at("abcQ"), new CancelFlag());
  await tick();
  assert.equal(client.calls.length, 1, "nothing generated yet: 'Q' may still be what comes");
  client.calls[0].push("def\n");
  await tick();
  await tick();
  assert.equal(client.calls[0].cancelled, true);
  assert.equal(client.calls.length, 2, "a new request at the new position");
  client.last.push("R\n");
  assert.equal(await p, "R");
});

test("FIM while typing: the prompt keeps its prefix and suffix and the typed text follows the middle marker; a cursor move starts a new split", async () => {
  const fim = { prefix: "<|fim_prefix|>", suffix: "<|fim_suffix|>", middle: "<|fim_middle|>" };
  const { client, controller } = setup({}, { ...INFO, fim } as ModelInfo);
  const doc = (typed: string, cursorLine = 1) => {
    const text = `function f() {\n  return ${typed}\n}\n`;
    const lines = linesOf(text);
    const character = cursorLine === 1 ? "  return ".length + typed.length : "function f()".length;
    const before = text.slice(0, lines.offsetAt(cursorLine) + character);
    return { doc: "file:///a.ts", path: "a.ts", languageId: "typescript", lines, line: cursorLine, character, before, explicit: true } satisfies CursorContext;
  };
  const prompts: string[] = [];
  for (const typed of ["", "a", "a +", "a + b"]) {
    void controller.provide(doc(typed), new CancelFlag());
    await tick();
    await tick();
    prompts.push(client.last.params.prompt as string);
    client.last.push("QQQ\n"); // a suggestion the typing does not follow: every keystroke asks anew
    await tick();
  }
  const head = "<|fim_prefix|>// Language: typescript\n// Path: a.ts\nfunction f() {\n  return <|fim_suffix|>\n}\n<|fim_middle|>";
  assert.deepEqual(prompts, [head, head + "a", head + "a +", head + "a + b"]);
  void controller.provide(doc("a + b", 0), new CancelFlag());
  await tick();
  await tick();
  assert.equal(client.last.params.prompt, "<|fim_prefix|>// Language: typescript\n// Path: a.ts\nfunction f()<|fim_suffix|> {\n  return a + b\n}\n<|fim_middle|>", "moved: a new split at the cursor");
});

test("the debounce learns the typist's pace from keystrokes only: cursor moves and Alt+\\ in between do not count", async () => {
  const { client, controller, sleeps, tick: advance } = setup();
  const flags: CancelFlag[] = [];
  const ask = async (ctx: CursorContext) => {
    flags.push(new CancelFlag());
    void controller.provide(ctx, flags[flags.length - 1]);
    await tick();
    // A suggestion the next key does not follow: every key waits out the debounce anew.
    if (!ctx.explicit) client.last.push("Q\n");
  };
  let version = 0;
  let text = "";
  // Keys 450 ms apart (slower than 4 × the base: the base applies), with a cursor move (same
  // version) and an explicit trigger 150 ms apart in between.
  for (let i = 0; i < 8; i++) {
    text += "x";
    await ask({ ...at(text), version: ++version });
    advance(150);
    await ask({ ...at(text), version });
    advance(150);
    await ask({ ...at(text, true), version });
    advance(150);
  }
  const before = sleeps.length;
  await ask({ ...at(text + "x"), version: ++version });
  assert.equal(sleeps.length, before + 1);
  assert.equal(sleeps[sleeps.length - 1], DEFAULTS.debounceMs, "keys 450 ms apart: the base, not 1.2 × 150 ms");
  // Keys 150 ms apart are learnt.
  for (let i = 0; i < 8; i++) {
    advance(150);
    text += "y";
    await ask({ ...at(text), version: ++version });
  }
  assert.equal(sleeps.length, before + 9, "every key waited");
  assert.equal(sleeps[sleeps.length - 1], 216, "1.2 × the learnt gap (450 ms moving towards 150 ms)");
  for (const f of flags) f.cancel();
});

test("a cancelled generation never shows its unfinished line: coming back, the cache has its complete lines only", async () => {
  const { client, controller, refreshes } = setup();
  const p = controller.provide(at("abc"), new CancelFlag());
  await tick();
  client.last.push("def\ngh");
  assert.equal(await p, "def");
  controller.onEdit({ doc: "file:///a.txt", before: "abcQ", lineAfter: "" });
  assert.equal(client.last.cancelled, true);
  await tick();
  assert.equal(refreshes.length, 0);
  assert.equal(await controller.provide(at("abc", true), new CancelFlag()), "def");
  assert.equal(client.calls.length, 1, "answered from the cache");
});

test("a suggestion the rules end is complete: the editor gets its last line at once, and the cache keeps it", async () => {
  const { client, controller, refreshes } = setup();
  const p = controller.provide(at("function f() {"), new CancelFlag());
  await tick();
  client.last.push("\n  return 1;\n");
  assert.equal(await p, "\n  return 1;");
  client.last.push("}\nconst after = 1;\n"); // one delta: the closing line and what follows
  await tick();
  await tick();
  assert.equal(client.last.cancelled, true, "the rules stopped the engine");
  assert.equal(refreshes.length, 1, "the closing line is shown without waiting for a keystroke");
  assert.equal(controller.cache.get({ doc: "file:///a.txt", before: "function f() {", lineAfter: "" }), "\n  return 1;\n}");
  assert.equal(await controller.provide(at("function f() {", true), new CancelFlag()), "\n  return 1;\n}");
});

test("a FIM model's tokens and file separator come from its info: the first request makes no tokenize round trip for them", async () => {
  const fim = { prefix: "<|fim_prefix|>", suffix: "<|fim_suffix|>", middle: "<|fim_middle|>", fileSep: "<|file_sep|>" };
  const { client, controller } = setup({}, { ...INFO, fim } as ModelInfo);
  let tokenized = 0;
  client.tokenize = async () => (tokenized++, [1]);
  void controller.provide({ ...at("let a = 1;\nlet b"), doc: "file:///a.ts", path: "a.ts", languageId: "typescript", explicit: true }, new CancelFlag());
  await tick();
  assert.equal(client.last.params.prompt, "<|file_sep|>a.ts\n<|fim_prefix|>let a = 1;\nlet b<|fim_suffix|><|fim_middle|>");
  assert.ok(client.last.params.stop?.includes("<|file_sep|>"));
  assert.equal(tokenized, 0, "a short file: no calibration either");
});
