// A loopback inference server with a real model behind it: llama.cpp through node-llama-cpp 3.21.1
// (prebuilt CPU binary, `build: "never"`, nothing downloaded), speaking llama-server's protocols
// so src/remote is tested against a real engine rather than canned text.
//
// Request and response shapes follow llama.cpp's own documentation and tests (ggml-org/llama.cpp):
// - tools/server/README.md: GET /props (default_generation_settings.n_ctx, model_path,
//   build_info), GET /v1/models ({object: "list", data: [{id, object: "model", owned_by,
//   meta}]}), POST /infill (input_prefix, input_suffix, input_extra [{filename, text}], prompt,
//   n_predict, stream, cache_prompt; streamed chunks {content, tokens, stop} and a last one with
//   stop: true, stop_type "eos" | "limit" | "word", timings, tokens_evaluated, tokens_cached),
//   POST /v1/completions, POST /v1/chat/completions (usage, timings {cache_n, prompt_n,
//   prompt_ms, predicted_n, predicted_ms}, reasoning in `reasoning_content`).
// - tools/server/tests/unit/test_infill.py (the /infill request), test_completion.py (streamed
//   /completion chunks: `stop` on each, the last with timings and stop_type; /v1/completions
//   finish_reason "length"), test_chat_completion.py (the first chunk's delta {role: "assistant",
//   content: null}, finish_reason only on the last choice chunk with no content, then a chunk with
//   empty choices and usage), test_security.py (401 with error.type "authentication_error" for a
//   missing or wrong key; /health and /models public).
// - The FIM prompt is built as llama-server's format_prompt_infill (tools/server/server-common.cpp)
//   builds it from the model's FIM tokens: input_extra chunks first (without FIM_REP/FIM_SEP
//   tokens — node-llama-cpp does not expose them, and the fixture has none — each chunk is
//   "\n\n--- snippet ---\n\n" + text), then BOS if the model adds one, FIM_PRE, the prefix, the
//   `prompt` (the code appends it to the prefix, before FIM_SUF, where the README says "after
//   FIM_MID"), FIM_SUF, the suffix, FIM_MID. Texts are tokenised without parsing special tokens,
//   as tokenize_mixed(…, false, false) does. The n_batch-based truncation is left out (tests send
//   short texts). /v1/completions with a `suffix` builds the same prompt (as vLLM and Ollama do with
//   a FIM model); without one the prompt is the text (BOS first if the model adds one).
// - Chat prompts: the GGUF's own chat template rendered with jinja (llama-server --jinja), with
//   chat_template_kwargs (enable_thinking), tokenised with special tokens parsed.
//
// Generation is greedy (temperature 0, whatever the request says), so the streamed text is
// deterministic and equals node-llama-cpp's greedy text for the same tokens. Requests are served
// one at a time (one sequence), each from an empty context. A client closing its connection stops
// the generation at the next token, and the request log records it.
//
// `misbehave` makes it fail on request: an HTTP status (401, 404, 429 with Retry-After, 500…) for
// the next N requests, a stream that is cut (socket destroyed, or ended cleanly without its end
// marker) after N events, a malformed SSE line, a stall (headers or events stop coming), and
// reasoning: the first N generated tokens sent as `reasoning_content`, as llama-server does with a
// thinking model's "<think>" text.
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { sharedLlama, type EvalInput, type LlamaModel, type Token } from "../conformance/llama-reference.ts";
import { ChatTemplate, type ChatMessage } from "../../src/engine/chat-template.ts";


export interface Misbehaviour {
  /** Answer with this HTTP status instead (with `body`, default an OpenAI-style error object). */
  status?: number;
  body?: unknown;
  retryAfter?: string;
  /** How many requests get `status` (default 1); after that the server behaves. */
  times?: number;
  /** Paths it applies to (default: the generation routes). */
  paths?: string[];
  /** Destroy the socket after this many SSE events (the stream breaks off). */
  dropAfterEvents?: number;
  /** End the response cleanly after this many events, without the end marker. */
  endAfterEvents?: number;
  /** Send `malformedLine` (default "garbage without a field") after this many events. */
  malformedAfterEvents?: number;
  malformedLine?: string;
  /** Stop writing after this many events, the connection left open; -1: not even the headers. */
  stallAfterEvents?: number;
  /** Chat: the first N generated tokens are sent as `reasoning_content`. */
  reasoningTokens?: number;
}

export interface LoggedRequest {
  method: string;
  path: string;
  body: Record<string, unknown> | undefined;
  authorization: string | undefined;
  status: number;
  /** SSE events written. */
  events: number;
  /** Tokens the model generated for it. */
  generated: number;
  /** The client closed the connection before the answer was complete. */
  closedByClient: boolean;
  /** Settles when the request is over on the server's side (answer ended or connection closed). */
  finished: Promise<void>;
}

export interface OpenAiServerOptions {
  modelPath: string;
  /** "llama-server" (default): every route; "openai": no /props or /infill (like vLLM), and a wrong `model` is a 404. */
  flavor?: "llama-server" | "openai";
  /** The model's id in /v1/models (default "test-model"). */
  alias?: string;
  /** Require `Authorization: Bearer <apiKey>` on non-public routes. */
  apiKey?: string;
  tls?: { key: string; cert: string };
  contextSize?: number;
}

export interface OpenAiTestServer {
  readonly url: string;
  readonly port: number;
  readonly requests: LoggedRequest[];
  readonly model: LlamaModel;
  misbehave(m: Misbehaviour | undefined): void;
  close(): Promise<void>;
}

const GENERATION_PATHS = ["/infill", "/completion", "/v1/completions", "/v1/chat/completions"];
const PUBLIC_PATHS = new Set(["/health", "/v1/health", "/models", "/v1/models"]);
const SNIPPET_SEPARATOR = "\n\n--- snippet ---\n\n";
const GREEDY = { temperature: 0 } as const;

export async function startOpenAiServer(opts: OpenAiServerOptions): Promise<OpenAiTestServer> {
  const llama = await sharedLlama();
  const contextSize = opts.contextSize ?? 512;
  const model = await llama.loadModel({ modelPath: opts.modelPath, gpuLayers: 0, useMmap: true });
  const context = await model.createContext({ contextSize, batchSize: contextSize, sequences: 1, threads: 1, flashAttention: false });
  const sequence = context.getSequence();
  const alias = opts.alias ?? "test-model";
  const flavor = opts.flavor ?? "llama-server";
  const requests: LoggedRequest[] = [];
  let mis: Misbehaviour | undefined;
  let misLeft = 0;
  let queue: Promise<unknown> = Promise.resolve();
  const template = new ChatTemplate(metadataTemplate(model));

  const bos = (): Token[] => (model.tokens.bos !== null && model.tokens.shouldPrependBosToken ? [model.tokens.bos] : []);
  const tok = (text: string, special = false): Token[] => (text ? (model.tokenize(text, special) as Token[]) : []);

  function infillPrompt(prefix: string, suffix: string, prompt: string, extra: { filename?: string; text?: string }[]): Token[] {
    const fim = model.tokens.infill;
    if (fim.prefix === null || fim.suffix === null || fim.middle === null) throw new HttpError(501, "the model has no FIM tokens", "not_supported_error");
    const extraTokens = extra.flatMap((c) => [...tok(SNIPPET_SEPARATOR), ...tok(c.text ?? "")]);
    return [...extraTokens, ...bos(), fim.prefix, ...tok(prefix), ...tok(prompt), fim.suffix, ...tok(suffix), fim.middle];
  }

  /** Greedy generation from an empty context; `emit` gets stable text pieces (never half a character or a possible stop string's start). */
  function generate(
    ids: Token[],
    maxTokens: number,
    stops: string[],
    emit: (text: string, tokenIndex: number) => void,
    closed: () => boolean,
  ): Promise<{ generated: number; stopType: "eos" | "limit" | "word"; promptMs: number; predictedMs: number }> {
    const run = async () => {
      await sequence.clearHistory();
      const t0 = performance.now();
      let t1 = t0;
      const out: Token[] = [];
      let sent = 0;
      let stopType: "eos" | "limit" | "word" = "limit";
      let input: EvalInput = ids.map((id, i) => (i === ids.length - 1 ? [id, { generateNext: { token: true, options: GREEDY } }] : id)) as EvalInput;
      while (out.length < maxTokens && !closed()) {
        const res = await sequence.controlledEvaluate(input);
        if (out.length === 0) t1 = performance.now();
        const next = res[input.length - 1]?.next.token;
        if (next === undefined || next === null) throw new Error("llama.cpp generated no token");
        if (model.isEogToken(next)) {
          stopType = "eos";
          break;
        }
        out.push(next);
        const text = model.detokenize(out);
        const hit = firstStop(text, stops, sent);
        if (hit >= 0) {
          if (hit > sent) emit(text.slice(sent, hit), out.length - 1);
          sent = hit;
          stopType = "word";
          break;
        }
        const stable = stableEnd(text, stops);
        if (stable > sent) {
          emit(text.slice(sent, stable), out.length - 1);
          sent = stable;
        }
        input = [[next, { generateNext: { token: true, options: GREEDY } }]] as EvalInput;
      }
      if (stopType !== "word" && !closed()) {
        const text = model.detokenize(out);
        if (text.length > sent) emit(text.slice(sent), out.length - 1);
      }
      const t2 = performance.now();
      return { generated: out.length, stopType, promptMs: t1 - t0, predictedMs: t2 - t1 };
    };
    const p = queue.then(run, run);
    queue = p.catch(() => undefined);
    return p;
  }

  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    let resolveFinished!: () => void;
    const log: LoggedRequest = {
      method: req.method ?? "",
      path: new URL(req.url ?? "/", "http://x").pathname,
      body: undefined,
      authorization: req.headers.authorization,
      status: 0,
      events: 0,
      generated: 0,
      closedByClient: false,
      finished: new Promise<void>((r) => (resolveFinished = r)),
    };
    requests.push(log);
    res.on("close", () => {
      if (!res.writableFinished) log.closedByClient = true;
      resolveFinished();
    });
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      if (raw) {
        try {
          log.body = JSON.parse(raw) as Record<string, unknown>;
        } catch {
          return sendError(res, log, new HttpError(400, "invalid JSON body", "invalid_request_error"));
        }
      }
      route(req, res, log).catch((err: unknown) => {
        if (err instanceof HttpError) return sendError(res, log, err);
        if (!res.headersSent) sendError(res, log, new HttpError(500, (err as Error).message, "server_error"));
        else res.destroy();
      });
    });
  };

  async function route(req: http.IncomingMessage, res: http.ServerResponse, log: LoggedRequest): Promise<void> {
    const path = log.path;
    // Misbehaviour by status: counted per matching request.
    if (mis && misLeft > 0 && (mis.paths ?? GENERATION_PATHS).includes(path)) {
      if (mis.stallAfterEvents === -1) return; // never answer
      if (mis.status) {
        misLeft--;
        const headers: http.OutgoingHttpHeaders = { "content-type": "application/json" };
        if (mis.retryAfter) headers["retry-after"] = mis.retryAfter;
        log.status = mis.status;
        res.writeHead(mis.status, headers).end(JSON.stringify(mis.body ?? { error: { code: mis.status, message: `test failure ${mis.status}`, type: "server_error" } }));
        return;
      }
    }
    if (opts.apiKey && !PUBLIC_PATHS.has(path) && req.headers.authorization !== `Bearer ${opts.apiKey}`) {
      throw new HttpError(401, "Invalid API Key", "authentication_error");
    }
    const body = log.body ?? {};
    if (req.method === "GET" && (path === "/health" || path === "/v1/health")) return json(res, log, { status: "ok" });
    if (req.method === "GET" && (path === "/v1/models" || path === "/models")) {
      return json(res, log, {
        object: "list",
        data: [{ id: alias, object: "model", created: 1735142223, owned_by: "llamacpp", meta: { n_ctx_train: contextSize, n_vocab: model.fileInfo.metadata.tokenizer?.ggml?.tokens?.length ?? 0 } }],
      });
    }
    if (flavor === "llama-server" && req.method === "GET" && path === "/props") {
      return json(res, log, {
        default_generation_settings: { id: 0, n_ctx: contextSize, params: { n_predict: -1, temperature: 0 } },
        total_slots: 1,
        model_path: opts.modelPath,
        chat_template: template.source ?? "",
        build_info: "b0-hearth-test",
      });
    }
    if (req.method !== "POST") throw new HttpError(404, "File Not Found", "not_found_error");
    if (flavor === "openai" && typeof body.model === "string" && body.model !== alias && GENERATION_PATHS.includes(path)) {
      // vLLM's answer (its OpenAI server): 404 with the model named.
      throw new HttpError(404, `The model \`${body.model}\` does not exist.`, "NotFoundError");
    }
    const maxTokens = num(body.n_predict) ?? num(body.max_tokens) ?? 16;
    const stops = Array.isArray(body.stop) ? body.stop.filter((s): s is string => typeof s === "string") : typeof body.stop === "string" ? [body.stop] : [];
    if (flavor === "llama-server" && path === "/infill") {
      const extra = Array.isArray(body.input_extra) ? (body.input_extra as { filename?: unknown; text?: unknown }[]) : [];
      for (const c of extra) if (typeof c !== "object" || c === null || typeof c.text !== "string") throw new HttpError(400, '"input_extra" chunks need a "text" string', "invalid_request_error");
      const ids = infillPrompt(str(body.input_prefix), str(body.input_suffix), str(body.prompt), extra as { text: string }[]);
      return streamLlama(res, log, ids, maxTokens, stops);
    }
    if (path === "/v1/completions") {
      const prompt = str(body.prompt);
      const ids = typeof body.suffix === "string" && body.suffix ? infillPrompt(prompt, body.suffix, "", []) : [...bos(), ...tok(prompt)];
      return streamOpenAi(res, log, ids, maxTokens, stops, "text_completion", 0);
    }
    if (path === "/v1/chat/completions") {
      const messages = body.messages as ChatMessage[] | undefined;
      if (!Array.isArray(messages) || messages.some((m) => typeof m?.role !== "string" || typeof m?.content !== "string")) {
        throw new HttpError(400, "'messages' must be an array of {role, content}", "invalid_request_error");
      }
      const kwargs = (body.chat_template_kwargs ?? {}) as { enable_thinking?: boolean };
      const text = template.render(messages, { enableThinking: kwargs.enable_thinking ?? false });
      const ids = [...bos(), ...tok(text, true)];
      return streamOpenAi(res, log, ids, maxTokens, stops, "chat.completion.chunk", mis?.reasoningTokens ?? 0);
    }
    throw new HttpError(404, "File Not Found", "not_found_error");
  }

  /** An SSE writer with the misbehaviours applied; false once the stream is cut or stalled. */
  function sse(res: http.ServerResponse, log: LoggedRequest): { event(data: unknown): boolean; end(done?: boolean): void } {
    log.status = 200;
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.write(": ping\n\n"); // a comment, as llama-server's keep-alive pings
    const m = mis;
    let stopped = false;
    return {
      event(data) {
        if (stopped || res.destroyed) return false;
        if (m?.malformedAfterEvents !== undefined && log.events === m.malformedAfterEvents) {
          res.write(`${m.malformedLine ?? "garbage without a field"}\n\n`);
        }
        if (m?.dropAfterEvents !== undefined && log.events >= m.dropAfterEvents) {
          stopped = true;
          res.socket?.destroy();
          return false;
        }
        if (m?.endAfterEvents !== undefined && log.events >= m.endAfterEvents) {
          stopped = true;
          res.end();
          return false;
        }
        if (m?.stallAfterEvents !== undefined && m.stallAfterEvents >= 0 && log.events >= m.stallAfterEvents) {
          stopped = true;
          return false;
        }
        log.events++;
        // Multi-line data: every line of the JSON text on its own `data:` line (the client joins them).
        res.write(JSON.stringify(data, null, log.events % 2 === 0 ? 1 : undefined).split("\n").map((l) => `data: ${l}\n`).join("") + "\n");
        return true;
      },
      end(done = false) {
        if (stopped || res.destroyed) return;
        if (done) res.write("data: [DONE]\n\n");
        res.end();
      },
    };
  }

  async function streamLlama(res: http.ServerResponse, log: LoggedRequest, ids: Token[], maxTokens: number, stops: string[]): Promise<void> {
    const out = sse(res, log);
    const r = await generate(ids, maxTokens, stops, (text, i) => out.event({ index: 0, content: text, tokens: [i], stop: false, id_slot: 0, tokens_predicted: i + 1, tokens_evaluated: ids.length }), () => res.destroyed || log.closedByClient);
    log.generated = r.generated;
    out.event({
      index: 0,
      content: "",
      tokens: [],
      stop: true,
      id_slot: 0,
      model: alias,
      stop_type: r.stopType,
      stopping_word: "",
      tokens_predicted: r.generated,
      tokens_evaluated: ids.length,
      tokens_cached: 0,
      truncated: false,
      generation_settings: { n_predict: maxTokens, temperature: 0 },
      timings: timings(ids.length, r),
    });
    out.end(false);
  }

  async function streamOpenAi(res: http.ServerResponse, log: LoggedRequest, ids: Token[], maxTokens: number, stops: string[], object: string, reasoningTokens: number): Promise<void> {
    const out = sse(res, log);
    const chat = object === "chat.completion.chunk";
    const base = { id: chat ? "chatcmpl-hearth" : "cmpl-hearth", created: 1735142223, model: alias, system_fingerprint: "b0-hearth-test", object };
    if (chat) out.event({ ...base, choices: [{ index: 0, finish_reason: null, delta: { role: "assistant", content: null } }] });
    const r = await generate(
      ids,
      maxTokens,
      stops,
      (text, i) => {
        const choice = chat ? { index: 0, finish_reason: null, delta: i < reasoningTokens ? { reasoning_content: text } : { content: text } } : { index: 0, text, logprobs: null, finish_reason: null };
        out.event({ ...base, choices: [choice] });
      },
      () => res.destroyed || log.closedByClient,
    );
    log.generated = r.generated;
    const finish = r.stopType === "limit" ? "length" : "stop";
    out.event({ ...base, choices: [chat ? { index: 0, finish_reason: finish, delta: {} } : { index: 0, text: "", logprobs: null, finish_reason: finish }] });
    out.event({
      ...base,
      choices: [],
      usage: { completion_tokens: r.generated, prompt_tokens: ids.length, total_tokens: ids.length + r.generated, prompt_tokens_details: { cached_tokens: 0 } },
      timings: timings(ids.length, r),
    });
    out.end(true);
  }

  const server = opts.tls ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, handler) : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${opts.tls ? "https" : "http"}://127.0.0.1:${port}`,
    port,
    requests,
    model,
    misbehave(m) {
      mis = m;
      misLeft = m?.times ?? 1;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await queue;
      await context.dispose();
      await model.dispose();
    },
  };
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
  ) {
    super(message);
  }
}

function sendError(res: http.ServerResponse, log: LoggedRequest, err: HttpError): void {
  log.status = err.status;
  res.writeHead(err.status, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: err.status, message: err.message, type: err.type } }));
}

function json(res: http.ServerResponse, log: LoggedRequest, body: unknown): void {
  log.status = 200;
  res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
}

function timings(promptN: number, r: { generated: number; promptMs: number; predictedMs: number }) {
  return {
    cache_n: 0,
    prompt_n: promptN,
    prompt_ms: r.promptMs,
    prompt_per_token_ms: r.promptMs / Math.max(1, promptN),
    prompt_per_second: (promptN * 1000) / Math.max(1e-6, r.promptMs),
    predicted_n: r.generated,
    predicted_ms: r.predictedMs,
    predicted_per_token_ms: r.predictedMs / Math.max(1, r.generated),
    predicted_per_second: (r.generated * 1000) / Math.max(1e-6, r.predictedMs),
  };
}

function metadataTemplate(model: LlamaModel): string | undefined {
  const t = (model.fileInfo.metadata as { tokenizer?: { chat_template?: unknown } }).tokenizer?.chat_template;
  return typeof t === "string" ? t : undefined;
}

const str = (v: unknown): string => (typeof v === "string" ? v : "");
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined);

/** Index of the first stop string found in `text` at or after `from - longest stop` (text before is already sent), or -1. */
function firstStop(text: string, stops: string[], from: number): number {
  let best = -1;
  for (const s of stops) {
    if (!s) continue;
    const i = text.indexOf(s, Math.max(0, from - s.length));
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}

/** How much of `text` can be sent: not a trailing U+FFFD (half a character) nor a trailing start of a stop string. */
function stableEnd(text: string, stops: string[]): number {
  let end = text.length;
  while (end > 0 && text[end - 1] === "\uFFFD") end--;
  for (const s of stops) {
    for (let k = Math.min(s.length - 1, end); k > 0; k--) {
      if (text.slice(end - k, end) === s.slice(0, k)) {
        end -= k;
        break;
      }
    }
  }
  return end;
}
