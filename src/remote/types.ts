// The remote engine's public types: what a role is configured with and what a probe found.

/** The two roles a remote engine can serve (hearth.<role>.*). */
export type RemoteRole = "completion" | "chat";

/**
 * Which protocol to use: "llama-server" (llama.cpp's server: /props, /infill, and its OpenAI
 * routes), "openai" (OpenAI-style only: /v1/models, /v1/completions with `suffix`,
 * /v1/chat/completions — vLLM, Ollama's /v1), or "auto" (ask /props first).
 */
export type RemoteApi = "auto" | "llama-server" | "openai";

export interface RemoteLogger {
  info(message: string): void;
  warn(message: string): void;
}

/** Proxy and certificate options, as the model downloader takes them (src/models/net.ts). */
export interface RemoteNetOptions {
  /** Proxy URL; undefined: from HTTPS_PROXY / HTTP_PROXY / NO_PROXY; "": none. */
  proxy?: string;
  /** Extra Proxy-Authorization header (VS Code's `http.proxyAuthorization`). */
  proxyAuthorization?: string;
  /** Check certificates of TLS connections made through the proxy (default true). */
  proxyStrictSSL?: boolean;
  /** Extra trusted CA certificates. */
  ca?: string | Buffer | (string | Buffer)[];
  /** Environment the proxy variables are read from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface RemoteEngineOptions {
  role: RemoteRole;
  /**
   * Base URL of the server: `http://gpu-box:8080`, `https://llm.example.com`, or with the
   * OpenAI prefix `http://localhost:11434/v1` (both forms work).
   */
  endpoint: string;
  /** The server's model name (hearth.<role>.remoteModel); empty: the first the server lists. */
  model?: string;
  /** Default "auto". */
  api?: RemoteApi;
  /** Sent as `Authorization: Bearer …`; never logged, never in an error message. */
  apiKey?: string;
  net?: RemoteNetOptions;
  /** Milliseconds without any data (connecting, waiting for the first byte, between chunks) before the request fails (default 60 s). */
  idleTimeoutMs?: number;
  /** Retries of a 429 / 5xx answer, before the first byte of a stream only (default 2). */
  retries?: number;
  /** First retry delay in ms, doubled each time (default 500); a Retry-After header is honoured up to `maxRetryDelayMs`. */
  retryDelayMs?: number;
  /** Longest wait between two attempts (default 4000). */
  maxRetryDelayMs?: number;
  log?: RemoteLogger;
}

/** What `probe()` found out about the server. */
export interface RemoteInfo {
  /** The protocol in use (never "auto"). */
  api: "llama-server" | "openai";
  /** The model name sent with requests (the configured one, or the server's first). */
  model: string;
  /** The models the server lists (/v1/models ids). */
  models: string[];
  /** The server's context size per slot, when it says (llama-server's /props). */
  contextSize?: number;
  /** llama-server's build ("b1234-abcdef"), when it says. */
  build?: string;
}

/** A completion request: the text around the cursor and context from other files. */
export interface RemoteCompleteRequest {
  prefix: string;
  suffix: string;
  /** Other files' snippets (llama-server's input_extra chunks). */
  extra: { filename: string; text: string }[];
  maxTokens: number;
  stop?: string[];
  /** Default 0 (greedy). */
  temperature?: number;
}
