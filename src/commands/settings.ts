// The `hearth.*` settings, read in one place with their defaults and bounds, so every feature
// sees the same values (see package.json "contributes.configuration" for the user-facing text).
import * as vscode from "vscode";
import { cpus } from "node:os";

export const SECTION = "hearth";

export interface Settings {
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
 * The model setting the engine worker should follow. The worker holds one model: the completion
 * model, else the chat model (two different files at once are not supported yet). The value is
 * a path or a catalogue id (see src/models/resolve.ts).
 */
export function activeModelSetting(s: Settings): string {
  return s.completionModelPath || s.chatModelPath;
}

/** Settings whose change means the loaded model must be reloaded. */
export const MODEL_KEYS = ["completion.modelPath", "chat.modelPath", "threads", "contextSize", "completion.cacheMemoryMB", "promptCache.maxSizeMB"].map((k) => `${SECTION}.${k}`);
