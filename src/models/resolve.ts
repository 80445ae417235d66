// The model settings (`hearth.completion.modelPath`, `hearth.chat.modelPath`) hold either a
// catalogue id ("smollm3-3b-q4_k_m": the file in the extension's storage) or a path to any GGUF
// file. This turns a setting's value into what to load, or into "download it first".
// No `vscode` import.
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { findCatalogueEntry, modelPath, type CatalogueEntry } from "./catalogue.ts";

export type ResolvedModel =
  | { kind: "none" }
  | { kind: "file"; path: string }
  | { kind: "catalogue"; entry: CatalogueEntry; path: string }
  | { kind: "needs-download"; entry: CatalogueEntry; path: string };

/**
 * Catalogue id → its downloaded file (or "needs-download" when it is not there yet);
 * anything else → a file path (`~` expanded, relative paths against the home directory).
 * A path is returned as given even when the file is missing: loading says so with the path.
 */
export function resolveModelSetting(value: string | undefined, storageDir: string): ResolvedModel {
  const v = (value ?? "").trim();
  if (!v) return { kind: "none" };
  const entry = findCatalogueEntry(v);
  if (entry) {
    const path = modelPath(storageDir, entry);
    return existsSync(path) ? { kind: "catalogue", entry, path } : { kind: "needs-download", entry, path };
  }
  if (v === "~" || v.startsWith("~/") || v.startsWith("~\\")) return { kind: "file", path: join(homedir(), v.slice(1)) };
  return { kind: "file", path: isAbsolute(v) ? v : resolve(homedir(), v) };
}
