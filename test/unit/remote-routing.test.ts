// A server as a role's engine (issue 17, phase 2), with fakes: src/routing's RemoteRoles (which
// role is remote, its engine built from its settings and key, rebuilt per role, its state for the
// status bar), the completion controller's remote plan (the same debounce, cache, streaming,
// post-processing and cancellation as the local engine; the request carries the text around the
// cursor), the chat's remote generate (history fitted to the server's context, errors with the
// next step in the reply's note, history kept), the status bar's text and the actions.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CancelFlag } from "../../src/client/cancellation.ts";
import { DeltaStream } from "../../src/client/stream.ts";
import { CompletionController, type CursorContext } from "../../src/completion/controller.ts";
import { DEFAULTS } from "../../src/completion/config.ts";
import { buildRemoteCompletion, REMOTE_CHARS_PER_TOKEN } from "../../src/completion/remote-request.ts";
import { linesOf } from "../../src/completion/window.ts";
import { fitHistory, remoteChatGenerate } from "../../src/chat/remote.ts";
import { ChatSession } from "../../src/chat/session.ts";
import { RemoteRoles, lazyGeneration, type RemoteEngineLike, type RemoteRoleConfig } from "../../src/routing/remote-roles.ts";
import { RemoteAuthError, SET_API_KEY_COMMAND, type RemoteChatRequest, type RemoteCompleteRequest, type RemoteEngineOptions } from "../../src/remote/index.ts";
import { statusText } from "../../src/commands/status-text.ts";
import { ACTION_COMMANDS, actionItems } from "../../src/commands/action-items.ts";
import type { GenerateStats, Role } from "../../src/worker/protocol.ts";

const STATS: GenerateStats = { promptTokens: 10, reusedTokens: 0, restoredTokens: 0, evaluatedTokens: 10, generatedTokens: 3, promptMs: 1, generateMs: 1, stopReason: "stop" };
const tick = () => new Promise((r) => setImmediate(r));

interface Call<R> {
  req: R;
  cancelled: boolean;
  push(text: string): void;
  end(): void;
  fail(err: Error): void;
}

/** A server engine whose generations the test drives. */
class FakeServer implements RemoteEngineLike {
  readonly completes: Call<RemoteCompleteRequest>[] = [];
  readonly chats: Call<RemoteChatRequest>[] = [];
  probes = 0;
  probeError: Error | undefined;
  constructor(readonly options: RemoteEngineOptions) {}
  get endpoint() {
    return this.options.endpoint;
  }
  async probe() {
    this.probes++;
    if (this.probeError) throw this.probeError;
    return { api: "llama-server" as const, model: this.options.model || "served-model", models: ["served-model"], contextSize: 100 };
  }
  complete(req: RemoteCompleteRequest, options?: { cancel?: CancelFlag }) {
    return this.start(this.completes, req, options?.cancel);
  }
  chat(req: RemoteChatRequest, options?: { cancel?: CancelFlag }) {
    return this.start(this.chats, req, options?.cancel);
  }
  private start<R>(calls: Call<R>[], req: R, cancel: CancelFlag | undefined) {
    const stream = new DeltaStream(() => cancel?.cancel());
    let settle!: (s: GenerateStats) => void;
    let reject!: (e: Error) => void;
    const stats = new Promise<GenerateStats>((res, rej) => ((settle = res), (reject = rej)));
    stats.catch(() => {});
    const call: Call<R> = {
      req,
      cancelled: false,
      push: (t) => stream.push(t),
      end: () => {
        stream.end();
        settle(STATS);
      },
      fail: (e) => {
        stream.fail(e);
        reject(e);
      },
    };
    cancel?.onCancel(() => {
      call.cancelled = true;
      stream.end();
      settle({ ...STATS, stopReason: "cancelled" });
    });
    calls.push(call);
    return Object.assign(stream, { stats });
  }
}

function roles(config: Partial<Record<Role, Partial<RemoteRoleConfig>>>, keys: Partial<Record<Role, string>> = {}) {
  const built: FakeServer[] = [];
  const cfg = { ...config };
  const r = new RemoteRoles({
    config: (role) => ({ engine: "local", endpoint: "", model: "", api: "auto", ...cfg[role] }),
    apiKey: async (role) => keys[role],
    net: () => ({ proxy: "http://proxy:3128" }),
    create: (o) => {
      const s = new FakeServer(o);
      built.push(s);
      return s;
    },
  });
  return { r, built, cfg, keys };
}

test("routing: a local role has no engine and sends nothing; an openai role is built from its settings, key and proxy, probed, then ready", async () => {
  const { r, built } = roles({ chat: { engine: "openai", endpoint: "http://gpu:8080", model: "qwen", api: "llama-server" } }, { chat: "sk-1" });
  const states: string[] = [];
  r.onDidChangeState((role, s) => states.push(`${role}:${s?.kind}`));
  await r.reload("completion");
  assert.equal(r.engineOf("completion"), undefined);
  assert.equal(built.length, 0, "nothing built (nothing sent) for a local role");
  const p = r.reload("chat");
  assert.equal(r.isRemote("chat"), true, "known at once, before the key is read");
  assert.equal(r.stateOf("chat")?.kind, "connecting");
  await p;
  assert.deepEqual(states, ["chat:connecting", "chat:ready"]);
  assert.deepEqual(r.stateOf("chat"), { kind: "ready", endpoint: "http://gpu:8080", model: "qwen" });
  const o = built[0].options;
  assert.deepEqual([o.role, o.endpoint, o.model, o.api, o.apiKey, o.net?.proxy], ["chat", "http://gpu:8080", "qwen", "llama-server", "sk-1", "http://proxy:3128"]);
  assert.equal(r.engineOf("chat")?.label, "http://gpu:8080 (qwen)");
  assert.equal(r.engineOf("chat")?.info?.contextSize, 100);
});

test("routing: reloading one role rebuilds that role only; switching back to local drops its engine", async () => {
  const { r, built, cfg } = roles({ completion: { engine: "openai", endpoint: "http://a:1" }, chat: { engine: "openai", endpoint: "http://b:2" } });
  await Promise.all([r.reload("completion"), r.reload("chat")]);
  const chat = r.engineOf("chat");
  cfg.completion = { engine: "openai", endpoint: "http://a:9" };
  await r.reload("completion");
  assert.equal(built.length, 3);
  assert.equal(r.engineOf("chat"), chat, "the chat role's engine is untouched");
  assert.equal(r.stateOf("completion")?.endpoint, "http://a:9");
  cfg.completion = { engine: "local" };
  await r.reload("completion");
  assert.equal(r.engineOf("completion"), undefined);
  assert.equal(r.stateOf("completion"), undefined);
});

test("routing: no endpoint, or a failed probe, is an error state whose message names the next step; requests fail with it", async () => {
  const { r, built } = roles({ completion: { engine: "openai", endpoint: "" } });
  await r.reload("completion");
  assert.equal(r.stateOf("completion")?.kind, "error");
  assert.match(r.stateOf("completion")!.message!, /set hearth\.completion\.endpoint/);
  assert.equal(built.length, 0);
  const gen = r.engineOf("completion")!.complete({ prefix: "a", suffix: "", extra: [], maxTokens: 4 }, { cancel: new CancelFlag() });
  await assert.rejects(async () => {
    for await (const _ of gen) void _;
  }, /hearth\.completion\.endpoint/);

  const other = roles({ chat: { engine: "openai", endpoint: "http://x:1" } });
  const auth = new RemoteAuthError("auth", `The server at x:1 refused the request (HTTP 401): it needs an API key. Set it with the command "${SET_API_KEY_COMMAND}".`, 401);
  other.r["deps"].create = (o: RemoteEngineOptions) => {
    const s = new FakeServer(o);
    s.probeError = auth;
    other.built.push(s);
    return s;
  };
  await other.r.reload("chat");
  assert.equal(other.r.stateOf("chat")?.kind, "error");
  assert.match(other.r.stateOf("chat")!.message!, /Set Remote API Key/);
});

test("routing: a failed request turns the state to error, the next good one back to ready", async () => {
  const { r, built } = roles({ chat: { engine: "openai", endpoint: "http://x:1" } });
  await r.reload("chat");
  const e = r.engineOf("chat")!;
  const g1 = e.chat({ messages: [], maxTokens: 4, temperature: 0 }, { cancel: new CancelFlag() });
  await tick();
  built[0].chats[0].fail(new Error("The server at x:1 failed (HTTP 500). Check the server's log."));
  await assert.rejects(g1.stats);
  await tick();
  assert.equal(r.stateOf("chat")?.kind, "error");
  const g2 = e.chat({ messages: [], maxTokens: 4, temperature: 0 }, { cancel: new CancelFlag() });
  await tick();
  built[0].chats[1].end();
  await g2.stats;
  await tick();
  await tick();
  assert.equal(r.stateOf("chat")?.kind, "ready");
});

test("lazyGeneration: a cancel before the engine exists ends the request quietly; leaving the loop cancels it", async () => {
  let resolve!: (e: FakeServer) => void;
  const later = new Promise<FakeServer>((r) => (resolve = r));
  const server = new FakeServer({ role: "chat", endpoint: "http://x" });
  const cancel = new CancelFlag();
  const gen = lazyGeneration(later.then((s) => s.chat({ messages: [], maxTokens: 1, temperature: 0 }, { cancel })), cancel);
  cancel.cancel();
  resolve(server);
  assert.equal((await gen.stats).stopReason, "cancelled");

  const c2 = new CancelFlag();
  const g2 = lazyGeneration(Promise.resolve(server.chat({ messages: [], maxTokens: 1, temperature: 0 }, { cancel: c2 })), c2);
  server.chats[1].push("hello");
  for await (const d of g2) {
    assert.equal(d, "hello");
    break;
  }
  assert.equal(server.chats[1].cancelled, true);
});

// ---------------------------------------------------------------------------------------------

function at(text: string, after = "", languageId = "typescript"): CursorContext {
  const lines = linesOf(text + after);
  const before = linesOf(text);
  const line = before.lineCount - 1;
  return { doc: "file:///a.ts", path: "a.ts", languageId, lines, line, character: before.lineAt(line).length, before: text, explicit: false };
}

function remoteController(over: Partial<typeof DEFAULTS> = {}) {
  const server = new FakeServer({ role: "completion", endpoint: "http://gpu:8080" });
  let remote = true;
  let localCalls = 0;
  let modelAsked = 0;
  const settings = { ...DEFAULTS, firstLineMs: 10_000, ...over };
  const controller = new CompletionController({
    client: {
      generate: () => {
        localCalls++;
        throw new Error("the local engine must not be asked");
      },
      tokenize: async () => [],
    },
    model: async () => {
      modelAsked++;
      return undefined;
    },
    settings: () => settings,
    snippets: (_doc, budget) => [{ path: "b.ts", languageId: "typescript", text: "export const b = 1;".slice(0, budget) }],
    log: { debug() {}, info() {}, warn() {} },
    sleep: async () => {},
    remote: () => (remote ? { label: "http://gpu:8080", complete: (req, o) => server.complete(req, o) } : undefined),
  });
  return { controller, server, counts: () => ({ localCalls, modelAsked }), setRemote: (v: boolean) => (remote = v) };
}

test("completion: the remote request carries the text before and after the cursor and other files' snippets, within the character budgets", () => {
  const s = { ...DEFAULTS, prefixTokens: 4, suffixTokens: 2, extraContextTokens: 10, maxLines: 8 };
  const long = "line one\nline two\nconst x = ";
  const r = buildRemoteCompletion(at(long, ";\nnext line\n"), s, (budget) => [{ path: "b.ts", languageId: "typescript", text: "y".repeat(budget) }]);
  assert.ok(r.request.prefix.length <= 4 * REMOTE_CHARS_PER_TOKEN && long.endsWith(r.request.prefix), JSON.stringify(r.request.prefix));
  assert.equal(r.request.suffix, ";");
  assert.deepEqual(r.request.extra, [{ filename: "b.ts", text: "y".repeat(10 * REMOTE_CHARS_PER_TOKEN) }]);
  assert.deepEqual(r.request.stop, ["\n"], "text after the cursor on its line: one line");
  assert.equal(r.request.temperature, 0);
  assert.equal(r.prompt, r.request.prefix);
  const multi = buildRemoteCompletion(at("function f() {\n  "), { ...DEFAULTS, extraContextTokens: 0 }, () => assert.fail("no snippets asked with a zero budget"));
  assert.deepEqual(multi.request.stop, ["\n\n"]);
  assert.equal(multi.request.prefix, "function f() {\n  ");
  assert.deepEqual(multi.request.extra, []);
});

test("completion: a remote role goes through the controller's pipeline: post-processing, cache, following, and a keystroke aborts the request", async () => {
  const { controller, server, counts } = remoteController();
  const p1 = controller.provide(at("function add(a: number, b: number) {\n  "), new CancelFlag());
  await tick();
  assert.equal(server.completes.length, 1);
  assert.equal(server.completes[0].req.prefix, "function add(a: number, b: number) {\n  ");
  assert.deepEqual(server.completes[0].req.extra, [{ filename: "b.ts", text: "export const b = 1;" }]);
  server.completes[0].push("return a + b;\n}\n\nfunction");
  server.completes[0].end();
  assert.equal(await p1, "return a + b;", "the first line at once, as for local text");
  await tick();
  assert.equal(await controller.provide(at("function add(a: number, b: number) {\n  "), new CancelFlag()), "return a + b;", "answered from the suggestion cache");
  assert.equal(await controller.provide(at("function add(a: number, b: number) {\n  ret"), new CancelFlag()), "urn a + b;", "typing along the suggestion");
  assert.equal(server.completes.length, 1);

  const p2 = controller.provide(at("const s = "), new CancelFlag());
  await tick();
  server.completes[1].push("'he");
  await tick();
  // A keystroke that does not continue the suggestion: the running request is aborted.
  const p3 = controller.provide(at("const s = 4"), new CancelFlag());
  await tick();
  assert.equal(server.completes[1].cancelled, true, "the HTTP request is aborted (its cancel flag is set)");
  server.completes[2].push("2;");
  server.completes[2].end();
  assert.equal(await p3, "2;");
  void p2;
  assert.deepEqual(counts(), { localCalls: 0, modelAsked: 0 }, "neither the local engine nor its model was asked");
});

test("completion: switching the role back to local uses the local engine again; a remote role is never pre-warmed", async () => {
  const { controller, setRemote, counts } = remoteController();
  assert.equal(await controller.prewarm(at("x")), undefined);
  setRemote(false);
  assert.equal(await controller.provide(at("abc"), new CancelFlag()), undefined, "no local model (the fake has none)");
  assert.equal(counts().modelAsked, 1);
});

// ---------------------------------------------------------------------------------------------

test("chat: the history is fitted to the server's context, oldest exchanges first; the system prompt and the question stay", () => {
  const sys = { role: "system" as const, content: "S" };
  const turn = (q: string, a: string) => [
    { role: "user" as const, content: q },
    { role: "assistant" as const, content: a },
  ];
  const messages = [sys, ...turn("q1", "a".repeat(100)), ...turn("q2", "b".repeat(100)), { role: "user" as const, content: "q3" }];
  assert.deepEqual(fitHistory(messages, 10_000), { messages, droppedTurns: 0 });
  const fitted = fitHistory(messages, 150);
  assert.equal(fitted.droppedTurns, 1);
  assert.deepEqual(fitted.messages, [sys, ...turn("q2", "b".repeat(100)), { role: "user", content: "q3" }]);
  assert.deepEqual(fitHistory(messages, 1).messages, [sys, { role: "user", content: "q3" }]);
});

test("chat: a remote reply streams into the session (thinking text as the splitter expects), and a server error becomes the reply's note with the next step, history kept", async () => {
  const server = new FakeServer({ role: "chat", endpoint: "http://gpu:8080" });
  const engine = { label: "http://gpu:8080", info: { contextSize: 4096 }, chat: (req: RemoteChatRequest, o?: { cancel?: CancelFlag }) => server.chat(req, o) };
  const store = new Map<string, unknown>();
  const session = new ChatSession({
    generate: remoteChatGenerate(engine),
    store: { get: <T>(k: string) => store.get(k) as T | undefined, update: async (k: string, v: unknown) => void store.set(k, v) },
    settings: () => ({ systemPrompt: "Be brief.", maxTokens: 64, temperature: 0.5 }),
    ensureModel: async () => true,
  });
  const asked = session.ask("What is 2+2?");
  await tick();
  await tick();
  const req = server.chats[0].req;
  assert.deepEqual(req.messages, [
    { role: "system", content: "Be brief." },
    { role: "user", content: "What is 2+2?" },
  ]);
  assert.deepEqual([req.maxTokens, req.temperature, req.enableThinking], [64, 0.5, false]);
  server.chats[0].push("<think>add</think>");
  server.chats[0].push("4");
  server.chats[0].end();
  const reply = await asked;
  assert.equal(reply.text, "<think>add</think>4");
  assert.equal(reply.status, "done");

  const second = session.ask("And 3+3?");
  await tick();
  await tick();
  assert.deepEqual(
    server.chats[1].req.messages.map((m) => m.content),
    ["Be brief.", "What is 2+2?", "4", "And 3+3?"],
    "the history goes with it (the answer without its thinking)",
  );
  const err = new RemoteAuthError("auth", `The server at gpu:8080 refused the request (HTTP 401): it needs an API key. Set it with the command "${SET_API_KEY_COMMAND}".`, 401);
  server.chats[1].fail(err);
  const failed = await second;
  assert.equal(failed.status, "error");
  assert.equal(failed.note, err.message, "the server's message as it is: what failed and the next step");
  assert.deepEqual(
    session.entries.map((e) => e.text),
    ["What is 2+2?", "<think>add</think>4", "And 3+3?", ""],
    "nothing lost from the history",
  );
});

// ---------------------------------------------------------------------------------------------

test("status bar: a remote role shows its endpoint, model and state; a failed probe is an error whose tooltip has the next step", () => {
  const none = { kind: "none" as const };
  const base = { roles: { completion: none, chat: none }, tokensPerSecond: undefined, completionEnabled: true };
  const connecting = statusText({ ...base, remote: { completion: { kind: "connecting", endpoint: "http://gpu:8080", model: "" } } });
  assert.match(connecting.text, /connecting \(completion\)/);
  const ready = statusText({ ...base, remote: { completion: { kind: "ready", endpoint: "http://gpu:8080", model: "qwen-7b" } } });
  assert.equal(ready.text, "$(check) Hearth: ready");
  assert.match(ready.tooltip, /Completion: server http:\/\/gpu:8080, model qwen-7b: ready/);
  assert.match(ready.tooltip, /Chat: not loaded yet/);
  const message = `The server at gpu:8080 refused the request (HTTP 401): it needs an API key. Set it with the command "${SET_API_KEY_COMMAND}".`;
  const failed = statusText({ ...base, remote: { chat: { kind: "error", endpoint: "http://gpu:8080", model: "", message } } });
  assert.equal(failed.error, true);
  assert.match(failed.text, /error \(chat\)/);
  assert.ok(failed.tooltip.includes(message));
});

test("actions: a remote role offers its API key command with the role as argument instead of a model file", () => {
  const items = actionItems({ modelConfigured: false, completionEnabled: true, remoteRoles: ["chat"] });
  const key = items.find((i) => i.command === ACTION_COMMANDS.apiKey);
  assert.ok(key, JSON.stringify(items));
  assert.deepEqual(key.args, ["chat"]);
  assert.ok(items.some((i) => i.command === ACTION_COMMANDS.selectFile && i.args?.[1] === "completion"), "the local role keeps its model file item");
  assert.equal(ACTION_COMMANDS.apiKey, "hearth.setRemoteApiKey");
});
