// What the status bar item says for a given state: no vscode here, so it is unit-tested in node.
import type { ClientState } from "../client/engine-client.ts";

export interface StatusView {
  state: ClientState;
  /** Tokens per second of the last finished generation, if any. */
  tokensPerSecond: number | undefined;
  completionEnabled: boolean;
  /** An inline completion is being computed. */
  completing?: boolean;
  /** A completion's prompt is being evaluated: tokens done of those it needs. */
  reading?: { done: number; total: number };
}

/** Prompts shorter than this are read in a blink: no "reading file…" for them (it would flicker). */
export const MIN_READING_SHOWN = 32;

export function statusText(v: StatusView): { text: string; tooltip: string; error: boolean } {
  const off = v.completionEnabled ? "" : " (completion off)";
  switch (v.state.kind) {
    case "none":
      return { text: `$(circle-slash) Hearth: no model${off}`, tooltip: "Hearth: no model loaded. Click to download a model or use a GGUF file on disk.", error: false };
    case "loading":
      return { text: `$(sync~spin) Hearth: loading ${Math.floor(v.state.fraction * 100)}%`, tooltip: `Hearth: loading ${v.state.path}`, error: false };
    case "ready": {
      const r = v.reading;
      if (r && r.total >= MIN_READING_SHOWN && r.done < r.total) {
        const percent = Math.floor((r.done / r.total) * 100);
        const n = (x: number) => x.toLocaleString("en-US");
        const tooltip = `Hearth: reading the file for a suggestion: ${n(r.done)} of ${n(r.total)} tokens. The first suggestion in a file reads the part of it that fits a few seconds of this machine, and idle moments read more; the next ones reuse what was read.`;
        return { text: `$(loading~spin) Hearth: reading file… ${percent}%${off}`, tooltip, error: false };
      }
      const tps = v.tokensPerSecond !== undefined ? ` · ${v.tokensPerSecond.toFixed(1)} tok/s` : "";
      const i = v.state.info;
      const icon = v.completing ? "$(loading~spin)" : "$(check)";
      const tooltip = `Hearth: ${i.name ?? i.path} (${i.architecture}, context ${i.contextSize})${v.completing ? ": computing a completion" : ""}`;
      return { text: `${icon} Hearth: ready${tps}${off}`, tooltip, error: false };
    }
    case "error":
      return { text: `$(error) Hearth: error${off}`, tooltip: `Hearth: ${v.state.message}. Click for actions.`, error: true };
  }
}

/** The view after a change: tokens/s belong to the model that produced them, so a load or "no model" forgets them. */
export function nextStatusView(v: StatusView, change: Partial<StatusView>): StatusView {
  const next = { ...v, ...change };
  if (change.state && (change.state.kind === "loading" || change.state.kind === "none") && change.tokensPerSecond === undefined) next.tokensPerSecond = undefined;
  return next;
}
