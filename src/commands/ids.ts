// Every command the extension registers, by id, in one place (package.json's
// contributes.commands lists the same ids: test/unit/command-ids.test.ts checks both ways).
// No imports: features, src/models and src/commands all name commands through this file.
export const COMMANDS = {
  selectModelFile: "hearth.selectModelFile",
  downloadModel: "hearth.downloadModel",
  toggleInlineCompletion: "hearth.toggleInlineCompletion",
  showLog: "hearth.showLog",
  showActions: "hearth.showActions",
  openWalkthrough: "hearth.openWalkthrough",
  tryCompletion: "hearth.tryCompletion",
  clearPromptCache: "hearth.clearPromptCache",
  explainSelection: "hearth.explainSelection",
  newChat: "hearth.newChat",
  /** Stores a role's API key for its server in SecretStorage (the remote engine's 401/403 messages name it by its title). */
  setRemoteApiKey: "hearth.setRemoteApiKey",
  /** Developer: stream the editor's text as a chat reply (enabled in development mode only). */
  chatDevReplay: "hearth.chat.devReplay",
} as const;

/** The chat view's focus command, made by VS Code from the view's id (not in contributes.commands). */
export const FOCUS_CHAT = "hearth.chat.focus";
