// What the status bar item says for a given state: no vscode here, so it is unit-tested in node.
import type { ClientState } from "../client/engine-client.ts";

export interface StatusView {
  state: ClientState;
  /** Tokens per second of the last finished generation, if any. */
  tokensPerSecond: number | undefined;
  completionEnabled: boolean;
  /** An inline completion is being computed. */
  completing?: boolean;
}

export function statusText(v: StatusView): { text: string; tooltip: string; error: boolean } {
  const off = v.completionEnabled ? "" : " (completion off)";
  switch (v.state.kind) {
    case "none":
      return { text: `$(circle-slash) Hearth: no model${off}`, tooltip: "Hearth: no model loaded. Click to choose a GGUF model file.", error: false };
    case "loading":
      return { text: `$(sync~spin) Hearth: loading ${Math.floor(v.state.fraction * 100)}%`, tooltip: `Hearth: loading ${v.state.path}`, error: false };
    case "ready": {
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
