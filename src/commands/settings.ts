// The `hearth.*` settings (and the editor's and `http.*` settings Hearth follows), read and written in
// one place with their defaults and bounds, so every feature sees the same values (see
// package.json "contributes.configuration" for the user-facing text).
import * as vscode from "vscode";
import { cpus } from "node:os";
import type { Role } from "../worker/protocol.ts";
// Plain data with no imports: what the completion settings are and their defaults.
import { DEFAULTS, type CompletionSettings } from "../completion/config.ts";

export const SECTION = "hearth";

export interface Settings {
  /** Empty: completion uses the chat model. */
  completionModelPath: string;
  /** Empty: chat uses the completion model. */
  chatModelPath: string;
  threads: number;
  contextSize: number;
  completionEnabled: boolean;
  /** Memory for completion KV slots, one per recent document, in bytes; 0: automatic (memory.ts). */
  completionCacheBytes: number;
  /** Total size of the prefix cache on disk in bytes; 0: no prefix cache. */
  promptCacheBytes: number;
  /** Pre-evaluate a document's completion prompt when it becomes active or typing pauses. */
  prewarm: boolean;
}

const MB = 1 << 20;

/** Cores minus one (the editor keeps one), at least 1: the default for `hearth.threads`. */
export function defaultThreads(): number {
  return Math.max(1, cpus().length - 1);
}

export function readSettings(): Settings {
  const c = vscode.workspace.getConfiguration(SECTION);
  const threads = Math.floor(c.get<number>("threads", 0));
  return {
    completionModelPath: c.get<string>("completion.modelPath", "").trim(),
    chatModelPath: c.get<string>("chat.modelPath", "").trim(),
    threads: threads >= 1 ? threads : defaultThreads(),
    contextSize: Math.max(64, Math.floor(c.get<number>("contextSize", 2048))),
    completionEnabled: c.get<boolean>("completion.enabled", true),
    completionCacheBytes: Math.max(0, c.get<number>("completion.cacheMemoryMB", 0)) * MB,
    promptCacheBytes: Math.max(0, c.get<number>("promptCache.maxSizeMB", 1024)) * MB,
    prewarm: c.get<boolean>("completion.prewarm", true),
  };
}

/**
 * The model setting `role` follows: its own, else the other role's (one model then serves both;
 * two different files load two models, each role its own). The value is a path or a catalogue id
 * (see src/models/resolve.ts); empty when neither is set.
 */
export function modelSetting(s: Settings, role: Role): string {
  return role === "completion" ? s.completionModelPath || s.chatModelPath : s.chatModelPath || s.completionModelPath;
}

/** Whether any model is set (for either role). */
export function anyModelSet(s: Settings): boolean {
  return modelSetting(s, "completion") !== "";
}

/** Settings whose change means `role`'s model may have to be reloaded (the other role's is not touched). */
export function modelKeysOf(role: Role): string[] {
  const own = role === "completion" ? ["completion.modelPath", "completion.cacheMemoryMB"] : ["chat.modelPath"];
  return [...own, ...(role === "completion" ? ["chat.modelPath"] : ["completion.modelPath"]), "threads", "contextSize", "promptCache.maxSizeMB"].map((k) => `${SECTION}.${k}`);
}

/** Settings whose change means a loaded model may have to be reloaded. */
export const MODEL_KEYS = ["completion.modelPath", "chat.modelPath", "threads", "contextSize", "completion.cacheMemoryMB", "promptCache.maxSizeMB"].map((k) => `${SECTION}.${k}`);

/** Points `role`'s model setting at `value` (a path or a catalogue id), in user settings. */
export async function writeModelSetting(role: "completion" | "chat", value: string): Promise<void> {
  await vscode.workspace.getConfiguration(SECTION).update(`${role}.modelPath`, value, vscode.ConfigurationTarget.Global);
}

/** Turns inline completion on or off, in user settings. */
export async function writeCompletionEnabled(enabled: boolean): Promise<void> {
  await vscode.workspace.getConfiguration(SECTION).update("completion.enabled", enabled, vscode.ConfigurationTarget.Global);
}

export const COMPLETION_SECTION = `${SECTION}.completion`;

/** Reads inline completion's `hearth.completion.*` tuning, bounded, so a hand-edited bad value cannot break it. */
export function readCompletionSettings(): CompletionSettings {
  const c = vscode.workspace.getConfiguration(COMPLETION_SECTION);
  const int = (key: keyof CompletionSettings, min: number, max: number): number => {
    const v = Number(c.get<number>(key, DEFAULTS[key] as number));
    return Number.isFinite(v) ? Math.min(max, Math.max(min, Math.floor(v))) : (DEFAULTS[key] as number);
  };
  const languages = c.get<Record<string, boolean>>("languages", DEFAULTS.languages);
  return {
    enabled: c.get<boolean>("enabled", DEFAULTS.enabled) !== false,
    languages: languages && typeof languages === "object" ? { ...DEFAULTS.languages, ...languages } : DEFAULTS.languages,
    debounceMs: int("debounceMs", 0, 2000),
    adaptiveDebounce: c.get<boolean>("adaptiveDebounce", DEFAULTS.adaptiveDebounce) !== false,
    maxLines: int("maxLines", 1, 50),
    prefixTokens: int("prefixTokens", 16, 32768),
    suffixTokens: int("suffixTokens", 0, 8192),
    extraContextTokens: int("extraContextTokens", 0, 16384),
    firstLineMs: int("firstLineMs", 0, 5000),
  };
}

export interface ChatSettings {
  systemPrompt: string;
  maxTokens: number;
  temperature: number;
  /** Explain Selection asks with the model's reasoning mode on. */
  explainWithThinking: boolean;
}

export function readChatSettings(): ChatSettings {
  const c = vscode.workspace.getConfiguration(`${SECTION}.chat`);
  return {
    systemPrompt: c.get<string>("systemPrompt", ""),
    maxTokens: Math.max(16, Math.floor(c.get<number>("maxTokens", 512))),
    temperature: Math.max(0, c.get<number>("temperature", 0.6)),
    explainWithThinking: c.get<boolean>("explainWithThinking", false),
  };
}

export interface NetSettings {
  /** Where models are downloaded from (HEARTH_HUB_URL, then `hearth.models.hubUrl`); undefined: the default hub. */
  hubUrl: string | undefined;
  proxy?: string;
  proxyStrictSSL?: boolean;
  proxyAuthorization?: string;
  /** Test hook: HEARTH_ALLOW_HTTP_LOOPBACK=1 permits http:// to 127.0.0.1 only. */
  allowHttpLoopback: boolean;
}

/** VS Code's proxy settings; an empty `http.proxy` leaves HTTPS_PROXY & co. to decide. */
export function readNetSettings(): NetSettings {
  const http = vscode.workspace.getConfiguration("http");
  return {
    hubUrl: process.env.HEARTH_HUB_URL || vscode.workspace.getConfiguration(SECTION).get<string>("models.hubUrl") || undefined,
    proxy: http.get<string>("proxy") || undefined,
    proxyStrictSSL: http.get<boolean>("proxyStrictSSL", true),
    proxyAuthorization: http.get<string | null>("proxyAuthorization") ?? undefined,
    allowHttpLoopback: process.env.HEARTH_ALLOW_HTTP_LOOPBACK === "1",
  };
}

/** The editor settings that decide whether the suggestion list hides ghost text (suggest-list.ts). */
export function readSuggestSettings(document: vscode.TextDocument): { quickSuggestions: unknown; suppressSuggestions: boolean | undefined } {
  const c = vscode.workspace.getConfiguration("editor", document);
  return { quickSuggestions: c.get("quickSuggestions"), suppressSuggestions: c.get<boolean>("inlineSuggest.suppressSuggestions") };
}

/** `editor.inlineSuggest.suppressSuggestions` on, in user settings: ghost text before the suggestion list. */
export async function writeGhostTextFirst(): Promise<void> {
  await vscode.workspace.getConfiguration("editor").update("inlineSuggest.suppressSuggestions", true, vscode.ConfigurationTarget.Global);
}

/** Which engine serves a role: the in-process one, or an OpenAI-compatible server (issue 17). */
export type EngineKind = "local" | "openai";

/** A role's `hearth.<role>.engine`, `endpoint`, `remoteModel` and `remoteApi` (the API key is in SecretStorage). */
export interface RemoteRoleSettings {
  engine: EngineKind;
  /** Base URL of the server; empty: none configured (nothing is ever sent then). */
  endpoint: string;
  /** The server's model name; empty: the first it lists. */
  model: string;
  api: "auto" | "llama-server" | "openai";
}

export function readRemoteSettings(role: Role): RemoteRoleSettings {
  const c = vscode.workspace.getConfiguration(`${SECTION}.${role}`);
  const api = c.get<string>("remoteApi", "auto");
  return {
    engine: c.get<string>("engine", "local") === "openai" ? "openai" : "local",
    endpoint: c.get<string>("endpoint", "").trim(),
    model: c.get<string>("remoteModel", "").trim(),
    api: api === "llama-server" || api === "openai" ? api : "auto",
  };
}

/** The settings whose change rebuilds `role`'s remote engine (the other role's is not touched). */
export function remoteKeysOf(role: Role): string[] {
  return ["engine", "endpoint", "remoteModel", "remoteApi"].map((k) => `${SECTION}.${role}.${k}`);
}

/** Where `role`'s API key is kept in VS Code's SecretStorage (never in settings). */
export function apiKeySecret(role: Role): string {
  return `${SECTION}.${role}.apiKey`;
}
