// The log's account of completions (issue 14, item 10): one Info line per request when it ends,
// which is what makes a slow suggestion diagnosable from the Output panel at the default level
// (how big the prompt was, how much of it the caches held, how much was evaluated, when the
// first text came and what became of it); the generation's token-level figures stay at Debug.
import type { GenerateStats } from "../worker/protocol.ts";

/**
 * What became of a request: its text reached the editor ("shown"), it was stopped from outside
 * before that ("cancelled": the user typed on or moved away), it ended with nothing to suggest
 * ("empty") or with a suggestion no editor query asked for any more ("not shown"), or it failed.
 */
export type Outcome = "shown" | "cancelled" | "empty" | "not shown" | "error";

export interface RequestEnd {
  /** The document, as the prompt names it (workspace-relative path). */
  path: string;
  /** Undefined when the request failed, or was cancelled before it reached the worker. */
  stats: GenerateStats | undefined;
  /** ms from sending the request to its first text (undefined when none came). */
  firstTextMs: number | undefined;
  totalMs: number;
  outcome: Outcome;
  error?: string;
}

export function outcomeOf(g: { shown: string | undefined; cancelledFromOutside: boolean; text: string; failed: boolean }): Outcome {
  if (g.failed) return "error";
  if (g.shown) return "shown";
  if (g.cancelledFromOutside) return "cancelled";
  return g.text ? "not shown" : "empty";
}

/** The Info line: "completion src/a.ts: 1061 prompt tokens (980 reused, 0 restored, 81 evaluated in 2710 ms), first text after 2950 ms, 3400 ms in all: shown". */
export function requestLine(r: RequestEnd): string {
  const s = r.stats;
  const prompt = s
    ? `${s.promptTokens} prompt tokens (${s.reusedTokens} reused, ${s.restoredTokens} restored, ${s.evaluatedTokens} evaluated in ${Math.round(s.promptMs)} ms)`
    : "no prompt evaluated";
  const first = r.firstTextMs === undefined ? "no text" : `first text after ${Math.round(r.firstTextMs)} ms`;
  return `completion ${r.path}: ${prompt}, ${first}, ${Math.round(r.totalMs)} ms in all: ${r.outcome}${r.error ? ` (${r.error})` : ""}`;
}

/** The Debug line: the generation's own figures. */
export function generationDetail(s: GenerateStats, linesKept: number): string {
  const rate = s.generateMs > 0 ? ` (${((s.generatedTokens / s.generateMs) * 1000).toFixed(1)} tok/s)` : "";
  return `completion generation: ${s.generatedTokens} tokens in ${Math.round(s.generateMs)} ms${rate}, stopped by ${s.stopReason}, ${linesKept} line(s) kept`;
}
