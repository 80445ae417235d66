// "Hearth: Set Remote API Key…": the key a role's server wants (sent as `Authorization: Bearer …`),
// kept in VS Code's SecretStorage under hearth.<role>.apiKey — never in settings, never in a log.
// extension.ts rebuilds that role's engine when the secret changes. Arguments (role, key) make it
// scriptable and testable; without them it asks: which role, then the key in a password box.
import * as vscode from "vscode";
import type { Role } from "../worker/protocol.ts";
import { apiKeySecret, readRemoteSettings } from "./settings.ts";

const ROLES: readonly Role[] = ["completion", "chat"];

/** Stores (or, given an empty key, removes) `role`'s API key; returns the role, or undefined when the user cancelled. */
export async function setRemoteApiKey(secrets: vscode.SecretStorage, roleArg?: unknown, keyArg?: unknown): Promise<Role | undefined> {
  const role = ROLES.includes(roleArg as Role) ? (roleArg as Role) : await pickRole();
  if (!role) return undefined;
  const endpoint = readRemoteSettings(role).endpoint;
  const key =
    typeof keyArg === "string"
      ? keyArg
      : await vscode.window.showInputBox({
          title: `Hearth: API key of the ${role} server`,
          prompt: `Sent as "Authorization: Bearer …" to ${endpoint || `the server in hearth.${role}.endpoint`} only. Kept in VS Code's secret storage, not in settings. Leave empty to remove the key.`,
          password: true,
          ignoreFocusOut: true,
        });
  if (key === undefined) return undefined;
  if (key.trim()) await secrets.store(apiKeySecret(role), key.trim());
  else await secrets.delete(apiKeySecret(role));
  void vscode.window.setStatusBarMessage(`Hearth: the ${role} server's API key is ${key.trim() ? "saved" : "removed"}`, 3000);
  return role;
}

/** The role whose key to set: the one served by a server when only one is, else asked. */
async function pickRole(): Promise<Role | undefined> {
  const remote = ROLES.filter((r) => readRemoteSettings(r).engine === "openai");
  if (remote.length === 1) return remote[0];
  const items = ROLES.map((role) => {
    const s = readRemoteSettings(role);
    return { label: role === "completion" ? "Completion" : "Chat", description: s.engine === "openai" ? s.endpoint || "no endpoint set" : "local engine (no server set)", role };
  });
  const picked = await vscode.window.showQuickPick(items, { title: "Hearth: Set Remote API Key", placeHolder: "The key of which role's server?" });
  return picked?.role;
}
