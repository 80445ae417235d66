// An inference server as the engine of one role (completion or chat): llama.cpp's llama-server,
// or any OpenAI-style server (vLLM, Ollama's /v1). The same shape as the local engine client's
// generations — an async iterable of text deltas with `stats` — so a feature does not care which
// engine serves it.
//
// Protocols (request and response shapes from llama-server's tools/server/README.md and its tests,
// and the OpenAI API that vLLM and Ollama follow):
// - probe: GET /props (llama-server only: default_generation_settings, model_path, build_info),
//   GET /v1/models ({data: [{id}]}).
// - completion, llama-server: POST /infill {input_prefix, input_suffix, input_extra, prompt,
//   n_predict, stream, cache_prompt}; the server builds the FIM prompt from the model's own FIM
//   tokens. SSE `data: {content, stop, stop_type, timings, tokens_evaluated, tokens_cached}`
//   until `stop: true`.
// - completion, OpenAI: POST /v1/completions {model, prompt, suffix, max_tokens, stream}; SSE
//   `data: {choices: [{text, finish_reason}]}`, a usage chunk, `data: [DONE]`.
// - chat: POST /v1/chat/completions {model, messages, max_tokens, temperature, stream}; SSE
//   `data: {choices: [{delta: {content, reasoning_content}, finish_reason}]}`, usage (and
//   llama-server's timings), `data: [DONE]`. Reasoning deltas are emitted as "<think>…</think>"
//   text, which the chat's splitter (src/chat/thinking.ts) shows as a local model's thinking.
//
// Cancelling (the CancelFlag, or leaving the loop early) aborts the HTTP request: the server sees
// the connection close and stops generating. 429 and 5xx answers are retried a bounded number of
// times with backoff, but only before the first byte of a stream: text already shown is never
// generated twice. No `vscode` import: tested in plain node against a real model behind a
// loopback server (test/helpers/openai-server.ts).
import type * as http from "node:http";
import { DeltaStream } from "../client/stream.ts";
import { AbortError, CancelFlag, isAbort } from "../engine/cancel.ts";
import type { ChatMessage, GenerateStats } from "../worker/protocol.ts";
import {
  RemoteApiError,
  RemoteAuthError,
  RemoteConfigError,
  RemoteError,
  RemoteHttpError,
  RemoteModelError,
  RemoteProtocolError,
  RemoteStreamError,
  SET_API_KEY_COMMAND,
  apiSetting,
  endpointSetting,
  errorBodyMessage,
  modelSetting,
  networkError,
  redact,
  serverText,
} from "./errors.ts";
import { readBody, send } from "./http.ts";
import { SseParser, type SseEvent } from "./sse.ts";
import type { RemoteApi, RemoteCompleteRequest, RemoteEngineOptions, RemoteInfo, RemoteRole } from "./types.ts";

/** A streamed generation, the same shape as src/client/engine-client.ts's Generation. */
export type Generation = AsyncIterable<string> & { readonly stats: Promise<GenerateStats> };

export interface RemoteChatRequest {
  messages: ChatMessage[];
  maxTokens: number;
  temperature: number;
  /** The template's reasoning switch (`chat_template_kwargs.enable_thinking`); undefined: not sent. */
  enableThinking?: boolean;
}

export interface RemoteRequestOptions {
  cancel?: CancelFlag;
}

/** How llama-server separates input_extra chunks for a model without FIM repo tokens (server-common.cpp). */
const SNIPPET_SEPARATOR = "\n\n--- snippet ---\n\n";

const DEFAULTS = { idleTimeoutMs: 60_000, retries: 2, retryDelayMs: 500, maxRetryDelayMs: 4_000 };

/** What a stream reported, gathered while it runs. */
interface Tally {
  started: number;
  firstText?: number;
  chunks: number;
  finish?: GenerateStats["stopReason"];
  usage?: { prompt_tokens?: number; completion_tokens?: number; prompt_tokens_details?: { cached_tokens?: number } };
  timings?: { prompt_n?: number; prompt_ms?: number; predicted_n?: number; predicted_ms?: number; cache_n?: number };
  tokensEvaluated?: number;
  tokensCached?: number;
}

export class RemoteEngine {
  readonly role: RemoteRole;
  private readonly root: URL;
  private readonly opts: Required<Pick<RemoteEngineOptions, "idleTimeoutMs" | "retries" | "retryDelayMs" | "maxRetryDelayMs">> & RemoteEngineOptions;
  private probing: Promise<RemoteInfo> | undefined;

  constructor(options: RemoteEngineOptions) {
    this.role = options.role;
    this.opts = { ...DEFAULTS, ...options };
    this.root = parseEndpoint(options.endpoint, options.role);
  }

  /** The endpoint's origin and path, without a trailing "/v1" (for messages and logs; no secret in it). */
  get endpoint(): string {
    return this.root.toString().replace(/\/$/, "");
  }

  /**
   * Which API the server speaks and which model to use, asked once and remembered (`refresh`
   * asks again). A failed probe is forgotten, so the next request asks again.
   */
  probe({ refresh = false }: { refresh?: boolean } = {}): Promise<RemoteInfo> {
    if (refresh || !this.probing) {
      const p = this.runProbe().catch((err: unknown) => {
        if (this.probing === p) this.probing = undefined;
        throw this.scrub(err);
      });
      this.probing = p;
    }
    return this.probing;
  }

  /** Inline completion: text between `prefix` and `suffix`. */
  complete(req: RemoteCompleteRequest, { cancel }: RemoteRequestOptions = {}): Generation {
    return this.generate(cancel, async (info) => {
      if (info.api === "llama-server") {
        return {
          path: "infill",
          body: {
            ...(this.opts.model ? { model: info.model } : {}),
            input_prefix: req.prefix,
            input_suffix: req.suffix,
            input_extra: req.extra.map((e) => ({ filename: e.filename, text: e.text })),
            // llama-server puts `prompt` after the prefix (server-common.cpp format_prompt_infill):
            // all of the text before the cursor is in input_prefix already.
            prompt: "",
            n_predict: req.maxTokens,
            temperature: req.temperature ?? 0,
            stop: req.stop ?? [],
            stream: true,
            cache_prompt: true,
          },
        };
      }
      const extra = req.extra.map((e) => e.text + SNIPPET_SEPARATOR).join("");
      return {
        path: "v1/completions",
        body: {
          model: info.model,
          prompt: extra + req.prefix,
          ...(req.suffix ? { suffix: req.suffix } : {}),
          max_tokens: req.maxTokens,
          temperature: req.temperature ?? 0,
          ...(req.stop?.length ? { stop: req.stop } : {}),
          stream: true,
          stream_options: { include_usage: true },
        },
      };
    });
  }

  /** A chat reply to `messages` (system prompt first, history, the new user turn last). */
  chat(req: RemoteChatRequest, { cancel }: RemoteRequestOptions = {}): Generation {
    return this.generate(cancel, async (info) => ({
      path: "v1/chat/completions",
      body: {
        model: info.model,
        messages: req.messages.map((m) => ({ role: m.role, content: m.content })),
        max_tokens: req.maxTokens,
        temperature: req.temperature,
        stream: true,
        stream_options: { include_usage: true },
        ...(req.enableThinking === undefined ? {} : { chat_template_kwargs: { enable_thinking: req.enableThinking } }),
      },
    }));
  }

  // -------------------------------------------------------------------------------------------

  private generate(cancelFlag: CancelFlag | undefined, build: (info: RemoteInfo) => Promise<{ path: string; body: Record<string, unknown> }>): Generation {
    const cancel = cancelFlag ?? new CancelFlag();
    const abort = new AbortController();
    const stream = new DeltaStream(() => cancel.cancel());
    const sub = cancel.onCancel(() => {
      abort.abort();
      stream.end();
    });
    const tally: Tally = { started: performance.now(), chunks: 0 };
    const stats = (async (): Promise<GenerateStats> => {
      try {
        const info = await untilCancelled(this.probe(), cancel);
        const { path, body } = await build(info);
        const url = new URL(path, this.root);
        const res = await this.post(url, body, abort.signal, info);
        await this.readStream(res, url, tally, path === "v1/chat/completions" ? chatDelta(stream) : textDelta(stream, path === "infill"));
        return statsOf(tally, tally.finish ?? "length");
      } catch (err) {
        if (cancel.cancelled || isAbort(err)) return statsOf(tally, "cancelled");
        throw this.scrub(err);
      } finally {
        sub.dispose();
      }
    })();
    stats.then(
      () => stream.end(),
      (err) => stream.fail(err),
    );
    return Object.assign(stream, { stats });
  }

  private async runProbe(): Promise<RemoteInfo> {
    const api: RemoteApi = this.opts.api ?? "auto";
    const log = this.opts.log;
    let kind: RemoteInfo["api"] = "openai";
    let contextSize: number | undefined;
    let build: string | undefined;
    if (api !== "openai") {
      const props = await this.getJson(new URL("props", this.root), api === "llama-server");
      const p = props as { default_generation_settings?: { n_ctx?: number }; model_path?: string; build_info?: string; n_ctx?: number } | undefined;
      if (p && typeof p === "object" && (p.default_generation_settings !== undefined || p.model_path !== undefined || p.build_info !== undefined)) {
        kind = "llama-server";
        contextSize = p.default_generation_settings?.n_ctx ?? p.n_ctx;
        build = p.build_info;
      } else if (api === "llama-server") {
        throw new RemoteApiError("api", `The server at ${this.root.host} does not answer /props as llama-server does: it is not llama.cpp's server. Set ${apiSetting(this.role)} to "openai" (or "auto"), or check ${endpointSetting(this.role)}.`);
      }
    }
    const list = (await this.getJson(new URL("v1/models", this.root), kind === "openai")) as { data?: { id?: unknown }[]; models?: { name?: unknown; model?: unknown }[] } | undefined;
    const models = [
      ...(list?.data ?? []).map((m) => m.id),
      ...(list?.models ?? []).map((m) => m.model ?? m.name), // llama-server also lists `models`
    ].filter((id): id is string => typeof id === "string");
    const unique = [...new Set(models)];
    const wanted = this.opts.model?.trim() ?? "";
    let model = unique[0] ?? "";
    if (wanted) {
      const found = unique.find((m) => m === wanted || m === `${wanted}:latest`);
      if (!found && unique.length > 0) throw this.noModel(wanted, unique);
      model = found ?? wanted;
    }
    log?.info(`remote ${this.role} engine at ${this.endpoint}: ${kind}${build ? ` ${build}` : ""}, model ${model || "(server default)"}${unique.length > 1 ? ` (of ${unique.length})` : ""}${contextSize ? `, context ${contextSize}` : ""}`);
    return { api: kind, model, models: unique, ...(contextSize ? { contextSize } : {}), ...(build ? { build } : {}) };
  }

  /**
   * GET a JSON document. `required`: a 404 or a body that is not JSON is an error; otherwise
   * undefined (the probe asks /props of servers that may not have it). 401/403 always throw.
   */
  private async getJson(url: URL, required: boolean): Promise<unknown> {
    const res = await send({ method: "GET", url, headers: this.authHeaders(), idleTimeoutMs: this.opts.idleTimeoutMs, net: this.opts.net, role: this.role });
    const status = res.statusCode ?? 0;
    const body = await readBody(res).catch((err: unknown) => {
      throw networkError(err, url, this.role, true);
    });
    if (status === 401 || status === 403) throw this.httpError(status, body, url);
    if (status >= 300) {
      if (!required && status < 500) return undefined;
      throw this.httpError(status, body, url);
    }
    try {
      return JSON.parse(body) as unknown;
    } catch {
      if (!required) return undefined;
      throw new RemoteApiError("api", `The server at ${url.host} answered /${url.pathname.replace(/^\//, "")} with something that is not JSON: it does not look like an inference server. Check ${endpointSetting(this.role)}.`);
    }
  }

  /** POST with bounded retries of 429 / 5xx (nothing has streamed yet when those arrive). */
  private async post(url: URL, body: Record<string, unknown>, signal: AbortSignal, info: RemoteInfo): Promise<http.IncomingMessage> {
    const { retries, retryDelayMs, maxRetryDelayMs, log } = this.opts;
    for (let attempt = 0; ; attempt++) {
      const res = await send({ method: "POST", url, body, headers: this.authHeaders(), signal, idleTimeoutMs: this.opts.idleTimeoutMs, net: this.opts.net, role: this.role });
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) return res;
      const text = await readBody(res).catch(() => "");
      const retryable = status === 429 || status >= 500;
      if (retryable && attempt < retries) {
        const after = retryAfterMs(res.headers["retry-after"]);
        const wait = Math.min(maxRetryDelayMs, after ?? retryDelayMs * 2 ** attempt);
        log?.warn(`remote ${this.role} engine: HTTP ${status} from ${url.host}${url.pathname}, retry ${attempt + 1} of ${retries} in ${wait} ms`);
        await sleep(wait, signal);
        continue;
      }
      throw this.httpError(status, text, url, info, retryable ? attempt : undefined);
    }
  }

  /** Reads the SSE (or, from a server that ignored `stream`, one JSON) answer into `onData`. */
  private readStream(res: http.IncomingMessage, url: URL, tally: Tally, onData: (json: Record<string, unknown>, tally: Tally) => void): Promise<void> {
    const where = `The server at ${url.host}`;
    const type = String(res.headers["content-type"] ?? "");
    if (type.includes("application/json")) {
      // Not streamed: one answer with everything.
      return readBody(res, 64 << 20).then((text) => {
        onData(parseJson(text, where), tally);
        if (!tally.finish) tally.finish = "stop";
      });
    }
    return new Promise<void>((resolve, reject) => {
      const parser = new SseParser(where);
      const decoder = new TextDecoder();
      let done = false;
      let failed = false;
      const fail = (err: unknown): void => {
        if (done || failed) return;
        failed = true;
        res.destroy();
        reject(err);
      };
      const finish = (): void => {
        if (done || failed) return;
        done = true;
        resolve();
      };
      const handle = (ev: SseEvent): void => {
        if (ev.event === "error") {
          const msg = errorBodyMessage(ev.data) ?? ev.data;
          throw new RemoteStreamError("stream", `${where} reported an error in the middle of its answer: ${serverText(msg, this.opts.apiKey)}. Try again; if it keeps happening, check the server's log.`);
        }
        if (ev.data === "[DONE]") {
          finish();
          return;
        }
        if (ev.data === "") return;
        onData(parseJson(ev.data, where), tally);
      };
      res.on("data", (chunk: Buffer) => {
        if (done || failed) return;
        try {
          for (const ev of parser.push(decoder.decode(chunk, { stream: true }))) {
            handle(ev);
            if (done) break;
          }
        } catch (err) {
          fail(err);
        }
      });
      res.once("end", () => {
        if (done || failed) return;
        try {
          for (const ev of parser.push(decoder.decode() + "\n\n")) handle(ev);
        } catch (err) {
          return fail(err);
        }
        // llama-server's /infill ends after its `stop: true` chunk, without [DONE].
        if (tally.finish && !parser.midEvent) return finish();
        fail(new RemoteStreamError("stream", `${where} stopped its answer midway (the stream ended ${tally.chunks ? `after ${tally.chunks} chunks ` : ""}without its end marker). Try again; if it keeps happening, check the server's log (it may have crashed or run out of memory).`));
      });
      res.once("error", (err) => fail(isAbort(err) ? err : networkError(err, url, this.role, true)));
      // A body cut short also emits 'error' (the reason: a reset, our idle timeout, an abort);
      // 'close' without either is the last resort, a turn later so that reason wins.
      res.once("close", () => setImmediate(() => fail(new RemoteStreamError("stream", `${where} closed the connection in the middle of its answer. Try again; if it keeps happening, check the server's log.`))));
    });
  }

  private authHeaders(): http.OutgoingHttpHeaders {
    return this.opts.apiKey ? { authorization: `Bearer ${this.opts.apiKey}` } : {};
  }

  private noModel(wanted: string, available: readonly string[], status?: number): RemoteModelError {
    const list = available.length ? `it has ${available.map((m) => `"${m}"`).join(", ")}` : "it did not list its models";
    return new RemoteModelError(
      `The server at ${this.root.host} has no model "${wanted}"; ${list}. Set ${modelSetting(this.role)} to one of them, or leave it empty to use the server's first model.`,
      wanted,
      available,
      status,
    );
  }

  private httpError(status: number, body: string, url: URL, info?: RemoteInfo, retried?: number): RemoteError {
    const key = this.opts.apiKey;
    const said = serverText(errorBodyMessage(body) ?? (body.trim().startsWith("<") ? "" : body), key);
    const why = said ? `: ${said}` : "";
    const host = url.host;
    const path = url.pathname;
    if (status === 401 || status === 403) {
      const step = key
        ? `the API key was not accepted. Set the right key with the command "${SET_API_KEY_COMMAND}"`
        : `it needs an API key. Set it with the command "${SET_API_KEY_COMMAND}"`;
      return new RemoteAuthError("auth", `The server at ${host} refused the request (HTTP ${status}${why}): ${step}.`, status);
    }
    if (status === 404) {
      const model = this.opts.model?.trim() || info?.model;
      if (model && /model/i.test(said)) return this.noModel(model, info?.models ?? [], status);
      const hint =
        path.endsWith("/infill") || path.endsWith("/props")
          ? `it is not llama.cpp's server: set ${apiSetting(this.role)} to "openai"`
          : `it may not be an OpenAI-compatible server, or the URL's path is wrong`;
      return new RemoteApiError("api", `The server at ${host} has no ${path} (HTTP 404${why}): ${hint}. Check ${endpointSetting(this.role)}.`, status);
    }
    const tries = retried ? ` (still after ${retried} ${retried === 1 ? "retry" : "retries"})` : "";
    if (status === 429) {
      return new RemoteHttpError("busy", `The server at ${host} is busy or rate-limited (HTTP 429${tries}${why}). Wait a moment and try again.`, status);
    }
    if (status >= 500) {
      return new RemoteHttpError("server", `The server at ${host} failed (HTTP ${status}${tries}${why}). Check the server's log; it may be overloaded or out of memory.`, status);
    }
    return new RemoteHttpError("request", `The server at ${host} rejected the request to ${path} (HTTP ${status}${why}).`, status);
  }

  /** Any error on its way out: a RemoteError, with the API key nowhere in its message. */
  private scrub(err: unknown): Error {
    if (isAbort(err)) return err as Error;
    const key = this.opts.apiKey;
    if (err instanceof RemoteError) {
      err.message = redact(err.message, key);
      if (err.stack) err.stack = redact(err.stack, key);
      return err;
    }
    const e = err instanceof Error ? err : new Error(String(err));
    return new RemoteProtocolError("protocol", redact(`Unexpected answer from the server at ${this.root.host}: ${e.message}`, key));
  }
}

// ---------------------------------------------------------------------------------------------

/** The endpoint setting as a base URL (trailing "/", without an OpenAI "/v1" suffix). */
export function parseEndpoint(endpoint: string, role: RemoteRole): URL {
  const raw = endpoint.trim();
  let url: URL;
  try {
    url = new URL(raw.includes("://") ? raw : `http://${raw}`);
  } catch {
    throw new RemoteConfigError("config", `${endpointSetting(role)} ("${raw}") is not a URL: use e.g. http://gpu-box:8080 or https://llm.example.com.`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new RemoteConfigError("config", `${endpointSetting(role)} must be an http:// or https:// URL, not ${url.protocol}//.`);
  }
  if (url.username || url.password) {
    throw new RemoteConfigError("config", `${endpointSetting(role)} must not hold a user name or password: set the API key with the command "${SET_API_KEY_COMMAND}".`);
  }
  url.search = "";
  url.hash = "";
  url.pathname = url.pathname.replace(/\/+$/, "").replace(/\/v1$/, "") + "/";
  return url;
}

function parseJson(text: string, where: string): Record<string, unknown> {
  try {
    const v = JSON.parse(text) as unknown;
    if (v && typeof v === "object" && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // reported below
  }
  const shown = text.length > 120 ? `${text.slice(0, 120)}…` : text;
  throw new RemoteProtocolError("protocol", `${where} sent an event that is not a JSON object: ${JSON.stringify(shown)}. Is the endpoint an inference server?`);
}

type OnData = (json: Record<string, unknown>, tally: Tally) => void;

/** Usage and llama-server's timings, wherever a chunk carries them. */
function noteUsage(j: Record<string, unknown>, t: Tally): void {
  if (j.usage && typeof j.usage === "object") t.usage = j.usage as Tally["usage"];
  if (j.timings && typeof j.timings === "object") t.timings = j.timings as Tally["timings"];
}

/** /infill (llama-server) and /v1/completions chunks. */
function textDelta(stream: DeltaStream, infill: boolean): OnData {
  return (j, t) => {
    noteUsage(j, t);
    let text: unknown;
    let finish: unknown;
    if (infill) {
      text = j.content;
      if (j.stop === true) finish = j.stop_type ?? "eos";
      if (typeof j.tokens_evaluated === "number") t.tokensEvaluated = j.tokens_evaluated;
      if (typeof j.tokens_cached === "number") t.tokensCached = j.tokens_cached;
    } else {
      const c = (j.choices as { text?: unknown; finish_reason?: unknown }[] | undefined)?.[0];
      text = c?.text;
      finish = c?.finish_reason ?? undefined;
      // A JSON (non-streamed) answer: llama-server's /infill shape has `content`.
      if (c === undefined && typeof j.content === "string") text = j.content;
    }
    if (typeof text === "string" && text) {
      t.firstText ??= performance.now();
      t.chunks++;
      stream.push(text);
    }
    if (typeof finish === "string" && finish) t.finish = stopReason(finish);
  };
}

/** /v1/chat/completions chunks; reasoning text is wrapped in <think>…</think>. */
function chatDelta(stream: DeltaStream): OnData {
  let thinking = false;
  return (j, t) => {
    noteUsage(j, t);
    const c = (j.choices as { delta?: Record<string, unknown>; message?: Record<string, unknown>; finish_reason?: unknown }[] | undefined)?.[0];
    const d = c?.delta ?? c?.message;
    const reasoning = d?.reasoning_content ?? d?.reasoning;
    const content = d?.content;
    if (typeof reasoning === "string" && reasoning) {
      t.firstText ??= performance.now();
      if (!thinking) stream.push("<think>");
      thinking = true;
      t.chunks++;
      stream.push(reasoning);
    }
    if (typeof content === "string" && content) {
      t.firstText ??= performance.now();
      if (thinking) stream.push("</think>");
      thinking = false;
      t.chunks++;
      stream.push(content);
    }
    const finish = c?.finish_reason;
    if (typeof finish === "string" && finish) {
      if (thinking) stream.push("</think>");
      thinking = false;
      t.finish = stopReason(finish);
    }
  };
}

function stopReason(finish: string): GenerateStats["stopReason"] {
  switch (finish) {
    case "length":
    case "limit":
      return "length";
    case "eos":
      return "eog";
    default:
      return "stop"; // "stop", "word", tool calls…
  }
}

function statsOf(t: Tally, stopReason: GenerateStats["stopReason"]): GenerateStats {
  const now = performance.now();
  const timings = t.timings ?? {};
  const usage = t.usage ?? {};
  const reused = timings.cache_n ?? usage.prompt_tokens_details?.cached_tokens ?? t.tokensCached ?? 0;
  const promptTokens = usage.prompt_tokens ?? (timings.prompt_n !== undefined ? timings.prompt_n + (timings.cache_n ?? 0) : undefined) ?? t.tokensEvaluated ?? 0;
  const first = t.firstText ?? now;
  return {
    promptTokens,
    reusedTokens: reused,
    restoredTokens: 0,
    evaluatedTokens: timings.prompt_n ?? Math.max(0, promptTokens - reused),
    generatedTokens: usage.completion_tokens ?? timings.predicted_n ?? t.chunks,
    promptMs: timings.prompt_ms ?? first - t.started,
    generateMs: timings.predicted_ms ?? now - first,
    stopReason,
  };
}

function retryAfterMs(header: string | string[] | undefined): number | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  if (!v) return undefined;
  const s = Number(v);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new AbortError());
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AbortError());
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** `p`, or an AbortError as soon as `cancel` is set (the shared probe itself goes on). */
function untilCancelled<T>(p: Promise<T>, cancel: CancelFlag): Promise<T> {
  if (cancel.cancelled) return Promise.reject(new AbortError());
  return new Promise<T>((resolve, reject) => {
    const sub = cancel.onCancel(() => reject(new AbortError()));
    p.then(
      (v) => {
        sub.dispose();
        resolve(v);
      },
      (e: unknown) => {
        sub.dispose();
        reject(e);
      },
    );
  });
}
