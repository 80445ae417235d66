// What the status bar item says for the two roles' models: no vscode here, so it is unit-tested
// in node. One model serving both roles reads as before ("ready", "loading n%"); two models say
// which one is loading or failed, and the tooltip lists each role's model and state. A role served
// by a server (hearth.<role>.engine = "openai") shows its endpoint, model and connection state
// instead of its local model's; its error's message ends with the next step.
import type { ClientState, Role } from "../client/engine-client.ts";
import type { RemoteRoleState } from "../routing/remote-roles.ts";

export interface StatusView {
  /** Each role's model state (the same model when one serves both). */
  roles: Record<Role, ClientState>;
  /** Tokens per second of the last finished generation, if any. */
  tokensPerSecond: number | undefined;
  completionEnabled: boolean;
  /** An inline completion is being computed. */
  completing?: boolean;
  /** A completion's prompt is being evaluated: tokens done of those it needs. */
  reading?: { done: number; total: number };
  /** The roles a server serves (src/routing's RemoteRoleState); absent: local. */
  remote?: Partial<Record<Role, RemoteRoleState>>;
}

/** Prompts shorter than this are read in a blink: no "reading file…" for them (it would flicker). */
export const MIN_READING_SHOWN = 32;

const ROLE_NAMES: Record<Role, string> = { completion: "completion", chat: "chat" };

/** The file a state is about, if any. */
function pathOf(s: ClientState): string | undefined {
  return s.kind === "ready" ? s.info.path : s.kind === "loading" ? s.path : undefined;
}

/** One role's line in the tooltip. */
function roleLine(role: Role, s: ClientState, remote?: RemoteRoleState): string {
  const name = ROLE_NAMES[role].replace(/^./, (c) => c.toUpperCase());
  if (remote) {
    const where = `server ${remote.endpoint || "(no endpoint set)"}${remote.model ? `, model ${remote.model}` : ""}`;
    if (remote.kind === "connecting") return `${name}: ${where}: connecting…`;
    if (remote.kind === "ready") return `${name}: ${where}: ready`;
    return `${name}: ${where}: error: ${remote.message ?? "unknown"}`;
  }
  switch (s.kind) {
    case "none":
      return `${name}: not loaded yet (loads when first needed)`;
    case "loading":
      return `${name}: loading ${s.path} (${Math.floor(s.fraction * 100)}%)`;
    case "ready":
      return `${name}: ${s.info.name ?? s.info.path} (${s.info.architecture}, context ${s.info.contextSize})`;
    case "error":
      return `${name}: error: ${s.message}`;
  }
}

export function statusText(v: StatusView): { text: string; tooltip: string; error: boolean } {
  const off = v.completionEnabled ? "" : " (completion off)";
  const { completion, chat } = v.roles;
  const remote = v.remote ?? {};
  const anyRemote = remote.completion !== undefined || remote.chat !== undefined;
  // One model for both roles (or only one role has a state yet): said as one model.
  const shared = !anyRemote && pathOf(completion) !== undefined && pathOf(completion) === pathOf(chat) && completion.kind === chat.kind;
  const both = (["completion", "chat"] as const).map((r) => roleLine(r, v.roles[r], remote[r])).join("\n");
  // A remote role's state stands for the role; its local model (if any) does not count.
  const kindOf = (r: Role): ClientState["kind"] | "connecting" => remote[r]?.kind ?? v.roles[r].kind;
  const failed = (["completion", "chat"] as const).filter((r) => kindOf(r) === "error");
  if (failed.length > 0) {
    const which = failed.length === 2 || shared ? "" : ` (${ROLE_NAMES[failed[0]]})`;
    return { text: `$(error) Hearth: error${which}${off}`, tooltip: `Hearth:\n${both}\nClick for actions.`, error: true };
  }
  const connecting = (["completion", "chat"] as const).filter((r) => kindOf(r) === "connecting");
  if (connecting.length > 0) {
    const which = connecting.length === 2 ? "" : ` (${ROLE_NAMES[connecting[0]]})`;
    return { text: `$(sync~spin) Hearth: connecting${which}${off}`, tooltip: `Hearth:\n${both}`, error: false };
  }
  const loading = (["completion", "chat"] as const).filter((r) => kindOf(r) === "loading");
  if (loading.length > 0) {
    const s = v.roles[loading[0]] as Extract<ClientState, { kind: "loading" }>;
    const which = shared || loading.length === 2 ? "" : ` ${ROLE_NAMES[loading[0]]}`;
    return { text: `$(sync~spin) Hearth: loading${which} ${Math.floor(s.fraction * 100)}%`, tooltip: shared ? `Hearth: loading ${s.path}` : `Hearth:\n${both}`, error: false };
  }
  if (kindOf("completion") === "none" && kindOf("chat") === "none") {
    return { text: `$(circle-slash) Hearth: no model${off}`, tooltip: "Hearth: no model loaded. Click to download a model or use a GGUF file on disk.", error: false };
  }
  const r = v.reading;
  if (r && r.total >= MIN_READING_SHOWN && r.done < r.total) {
    const percent = Math.floor((r.done / r.total) * 100);
    const n = (x: number) => x.toLocaleString("en-US");
    const tooltip = `Hearth: reading the file for a suggestion: ${n(r.done)} of ${n(r.total)} tokens. The first suggestion in a file reads the part of it that fits a few seconds of this machine, and idle moments read more; the next ones reuse what was read.`;
    return { text: `$(loading~spin) Hearth: reading file… ${percent}%${off}`, tooltip, error: false };
  }
  const tps = v.tokensPerSecond !== undefined ? ` · ${v.tokensPerSecond.toFixed(1)} tok/s` : "";
  const icon = v.completing ? "$(loading~spin)" : "$(check)";
  const busy = v.completing ? ": computing a completion" : "";
  let tooltip: string;
  if (shared && completion.kind === "ready") {
    const i = completion.info;
    tooltip = `Hearth: ${i.name ?? i.path} (${i.architecture}, context ${i.contextSize}) for completion and chat${busy}`;
  } else tooltip = `Hearth${busy}:\n${both}`;
  return { text: `${icon} Hearth: ready${tps}${off}`, tooltip, error: false };
}

/** The view after a change: tokens/s belong to the model that produced them, so a load or "no model" forgets them. */
export function nextStatusView(v: StatusView, change: Partial<StatusView>): StatusView {
  const next = { ...v, ...change };
  const unloaded = change.roles && Object.values(change.roles).some((s, i) => s !== Object.values(v.roles)[i] && (s.kind === "loading" || s.kind === "none"));
  if (unloaded && change.tokensPerSecond === undefined) next.tokensPerSecond = undefined;
  return next;
}
