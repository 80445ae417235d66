// The recommended models: what each is for, where it lives on the Hugging Face hub, and what we
// know about the file. No `vscode` import (unit-tested in plain node).
//
// Pinning: where the exact revision, byte size and sha256 (the LFS oid) are known they are written
// here, and the download URL names that revision, so the bytes behind it cannot change and the
// checksum stays valid. Where they are not known, the revision is `main` and the size and sha256
// come from the hub's LFS metadata at download time (`x-linked-size` / `x-linked-etag` headers on
// the resolve URL's redirect); the file is verified against those just the same.
import { join } from "node:path";

export type ModelRole = "completion" | "chat";

export interface CatalogueEntry {
  /** Stable id, usable as the value of the model settings. */
  readonly id: string;
  readonly label: string;
  /** What it is for, in a few words (shown in the picker). */
  readonly purpose: string;
  /** The role the model is selected for after a download; `alsoGood` may be filled when empty. */
  readonly role: ModelRole;
  readonly alsoGood?: readonly ModelRole[];
  /** How completion prompts this model: fill-in-the-middle or prefix only. */
  readonly completionStyle: "fim" | "prefix";
  /** Hugging Face repository (owner/name) and file in it. */
  readonly repo: string;
  readonly file: string;
  /** A commit id when pinned, else "main". */
  readonly revision: string;
  /** Rough size for display and the first disk-space check (bytes). */
  readonly approxBytes: number;
  /** Exact size in bytes, when pinned. */
  readonly sizeBytes?: number;
  /** sha256 of the file (the hub's LFS oid), lower-case hex, when pinned. */
  readonly sha256?: string;
  /** SPDX id of the model's licence. */
  readonly licence: string;
}

export const DEFAULT_HUB_URL = "https://huggingface.co";

export const CATALOGUE: readonly CatalogueEntry[] = [
  {
    id: "smollm3-3b-q4_k_m",
    label: "SmolLM3 3B (Q4_K_M)",
    purpose: "chat, explain selection, and prefix completion",
    role: "chat",
    alsoGood: ["completion"],
    completionStyle: "prefix",
    repo: "ggml-org/SmolLM3-3B-GGUF",
    file: "SmolLM3-Q4_K_M.gguf",
    // Pinned: revision, size and LFS sha256 as the hub lists them for this commit.
    revision: "4965cb60b150737b68a0408c36aeefb65078f894",
    approxBytes: 1_915_305_312,
    sizeBytes: 1_915_305_312,
    sha256: "8334b850b7bd46238c16b0c550df2138f0889bf433809008cc17a8b05761863e",
    licence: "Apache-2.0",
  },
  {
    // The base (not instruct) model: fill-in-the-middle is what it was trained for.
    id: "qwen2.5-coder-0.5b-q4_k_m",
    label: "Qwen2.5-Coder 0.5B (Q4_K_M)",
    purpose: "fastest fill-in-the-middle completion",
    role: "completion",
    completionStyle: "fim",
    repo: "bartowski/Qwen2.5-Coder-0.5B-GGUF",
    file: "Qwen2.5-Coder-0.5B-Q4_K_M.gguf",
    // Pinned revision and sha256; the exact size comes from the hub at download time.
    revision: "01c1b8072277dfbfd0d051ec95b7a43bb23d2f6a",
    approxBytes: 398_000_000,
    sha256: "fefe9d34df79d3ad3db33519d81112be76096626a5fdb87a98092035dc79ad68",
    licence: "Apache-2.0",
  },
  {
    id: "qwen2.5-coder-1.5b-q4_k_m",
    label: "Qwen2.5-Coder 1.5B (Q4_K_M)",
    purpose: "better fill-in-the-middle completion, still fast",
    role: "completion",
    completionStyle: "fim",
    repo: "bartowski/Qwen2.5-Coder-1.5B-GGUF",
    file: "Qwen2.5-Coder-1.5B-Q4_K_M.gguf",
    // Not pinned: size and sha256 from the hub's LFS metadata at download time.
    revision: "main",
    approxBytes: 986_000_000,
    licence: "Apache-2.0",
  },
];

export function findCatalogueEntry(id: string): CatalogueEntry | undefined {
  const want = id.trim().toLowerCase();
  return CATALOGUE.find((e) => e.id === want);
}

/** The hub's resolve URL of an entry (the hub answers it with a redirect to its CDN). */
export function resolveUrl(entry: Pick<CatalogueEntry, "repo" | "revision" | "file">, hubUrl = DEFAULT_HUB_URL): string {
  const base = hubUrl.replace(/\/+$/, "");
  const file = entry.file.split("/").map(encodeURIComponent).join("/");
  return `${base}/${entry.repo}/resolve/${encodeURIComponent(entry.revision)}/${file}`;
}

/** Checks a repository and file name given from outside the catalogue (a command argument). */
export function checkHubFile(repo: string, file: string): string | undefined {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/.test(repo) || repo.includes("..")) {
    return `"${repo}" is not a Hugging Face repository name (owner/name)`;
  }
  const parts = file.split("/");
  if (parts.some((p) => p === "" || p === "." || p === "..") || !/\.gguf$/i.test(file)) {
    return `"${file}" is not a .gguf file name in a repository`;
  }
  return undefined;
}

/**
 * Where a downloaded model lives: `<storage>/models/<owner>--<name>/<file>` (the hub cache's
 * naming), so two repositories' files of the same name never collide.
 */
export function modelPath(storageDir: string, entry: Pick<CatalogueEntry, "repo" | "file">): string {
  const dir = entry.repo.replace(/[^A-Za-z0-9._-]+/g, "--");
  const file = entry.file.split("/").pop() ?? entry.file;
  return join(storageDir, "models", dir, file);
}
