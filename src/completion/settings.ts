// Reads `hearth.completion.*` (package.json describes each for the user) into CompletionSettings,
// with the defaults and bounds of config.ts, so a hand-edited bad value cannot break completion.
import * as vscode from "vscode";
import { DEFAULTS, type CompletionSettings } from "./config.ts";

export const SECTION = "hearth.completion";

export function readCompletionSettings(): CompletionSettings {
  const c = vscode.workspace.getConfiguration(SECTION);
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
