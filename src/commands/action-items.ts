// The status bar item's quick pick, as plain data (unit-tested without vscode). With no model the
// first items are the ways to get one: that is what the user clicked the item for.
import { COMMANDS, FOCUS_CHAT } from "./ids.ts";

export interface ActionItem {
  label: string;
  description?: string;
  /** The command the item runs; undefined for a separator. */
  command?: string;
  /** The command's arguments. */
  args?: unknown[];
}

export const ACTION_COMMANDS = {
  download: COMMANDS.downloadModel,
  selectFile: COMMANDS.selectModelFile,
  walkthrough: COMMANDS.openWalkthrough,
  toggle: COMMANDS.toggleInlineCompletion,
  chat: FOCUS_CHAT,
  log: COMMANDS.showLog,
  apiKey: COMMANDS.setRemoteApiKey,
} as const;

export function actionItems(v: { modelConfigured: boolean; completionEnabled: boolean; models?: { completion: string; chat: string }; remoteRoles?: readonly ("completion" | "chat")[] }): ActionItem[] {
  const c = ACTION_COMMANDS;
  const toggle: ActionItem = v.completionEnabled
    ? { label: "$(circle-slash) Disable Inline Completion", command: c.toggle }
    : { label: "$(check) Enable Inline Completion", command: c.toggle };
  const log: ActionItem = { label: "$(output) Show Log", command: c.log };
  const remote = v.remoteRoles ?? [];
  if (!v.modelConfigured && remote.length === 0) {
    return [
      { label: "$(cloud-download) Download a Model…", description: "recommended models for chat and completion", command: c.download },
      { label: "$(file) Use a GGUF File on Disk…", command: c.selectFile },
      { label: "$(book) Get Started", description: "the first steps, one by one", command: c.walkthrough },
      { label: "" },
      toggle,
      log,
    ];
  }
  // A role served by a server gets its API key item (the 401/403 messages name the same command);
  // a local role its file item (the command's arguments: no path, the role).
  const role = (r: "completion" | "chat", name: string): ActionItem =>
    remote.includes(r)
      ? { label: `$(key) Set ${name} Server API Key…`, description: "kept in VS Code's secret storage", command: c.apiKey, args: [r] }
      : { label: `$(file) Select ${name} Model File…`, description: shortName(v.models?.[r]), command: c.selectFile, args: [null, r] };
  return [
    toggle,
    { label: "$(comment-discussion) Open Chat", command: c.chat },
    role("completion", "Completion"),
    role("chat", "Chat"),
    { label: "$(cloud-download) Download Model…", description: "each catalogue model is selected for its role", command: c.download },
    log,
  ];
}

/** A model setting as the quick pick shows it: a file's name, or a catalogue id as it is. */
function shortName(value: string | undefined): string | undefined {
  return value?.split(/[\\/]/).pop();
}
