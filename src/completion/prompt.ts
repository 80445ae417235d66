// Prompt templates by model capability. A model whose vocabulary has fill-in-the-middle tokens
// (read from the GGUF by the engine: Qwen2.5-Coder's `<|fim_prefix|>`, StarCoder's `<fim_prefix>`,
// CodeLlama's `▁<PRE>`, …) gets prefix + suffix in its trained PSM order; a model without them
// (SmolLM3) continues the text: a path/language header and the text before the cursor.
// Order is what keeps the engine's KV cache useful: what changes least comes first (other files,
// recent edits in other files, the file's header), then the local prefix, then (FIM) the suffix
// and the middle marker, and last what was typed since the split (split-point.ts), which is the
// only part that grows while the user types.
import type { FimTokens } from "../worker/protocol.ts";

/** A piece of context from elsewhere: the top of another open file, or a recent edit. */
export interface Snippet {
  path: string;
  languageId: string;
  text: string;
}

export type PromptFormat =
  | { kind: "fim"; fim: FimTokens; /** The family's file separator token, when its vocabulary has one (Qwen: `<|file_sep|>`). */ fileSep?: string }
  | { kind: "prefix" };

export interface PromptInput {
  /** The file's path relative to the workspace (or its name). */
  path: string;
  languageId: string;
  /** The text before the split point (see split-point.ts). */
  prefix: string;
  /** What was typed between the split point and the cursor: the start of the middle. */
  typed: string;
  suffix: string;
  /** In a stable order (see workspace-context.ts). */
  snippets: readonly Snippet[];
}

export interface Prompt {
  text: string;
  /** Strings that end a completion: the template's own markers, should the model emit them. */
  stop: string[];
}

export function buildPrompt(input: PromptInput, format: PromptFormat): Prompt {
  if (format.kind === "prefix") {
    return { text: input.snippets.map(commentedSnippet).join("") + fileHeader(input.path, input.languageId) + input.prefix + input.typed, stop: [] };
  }
  const { fim, fileSep } = format;
  const stop = [fim.prefix, fim.suffix, fim.middle, ...(fileSep ? [fileSep] : [])].map((s) => s.replace(/^▁/, ""));
  if (fileSep) {
    // Qwen2.5-Coder's repository format: each file after a separator and its path.
    const others = input.snippets.map((s) => `${fileSep}${s.path}\n${s.text}\n`).join("");
    return { text: `${others}${fileSep}${input.path}\n${fim.prefix}${input.prefix}${fim.suffix}${input.suffix}${fim.middle}${input.typed}`, stop };
  }
  const before = input.snippets.map(commentedSnippet).join("") + fileHeader(input.path, input.languageId);
  return { text: `${fim.prefix}${before}${input.prefix}${fim.suffix}${input.suffix}${fim.middle}${input.typed}`, stop };
}

/** "// Path: a.ts" then the snippet, or the bare snippet for languages without comments. */
function commentedSnippet(s: Snippet): string {
  const c = lineComment(s.languageId);
  return `${c ? `${c(`Path: ${s.path}`)}\n` : ""}${s.text}\n\n`;
}

/** The current file's header: language and path as comments (nothing for plain text). */
export function fileHeader(path: string, languageId: string): string {
  const c = lineComment(languageId);
  return c ? `${c(`Language: ${languageId}`)}\n${c(`Path: ${path}`)}\n` : "";
}

const SLASHES = new Set(["typescript", "typescriptreact", "javascript", "javascriptreact", "c", "cpp", "csharp", "java", "go", "rust", "swift", "kotlin", "scala", "dart", "php", "objective-c", "objective-cpp", "groovy", "jsonc", "zig", "d", "fsharp", "proto", "glsl", "hlsl", "wgsl", "solidity", "less", "scss", "vue", "svelte"]);
const HASH = new Set(["python", "shellscript", "ruby", "perl", "r", "yaml", "toml", "dockerfile", "makefile", "cmake", "powershell", "elixir", "julia", "nim", "coffeescript", "graphql", "properties", "ini", "nix", "terraform"]);
const DASHES = new Set(["sql", "lua", "haskell", "elm", "ada", "vhdl"]);
const PERCENT = new Set(["latex", "tex", "erlang", "matlab", "prolog"]);
const SEMI = new Set(["clojure", "lisp", "scheme", "racket", "asm"]);
const MARKUP = new Set(["html", "xml", "markdown", "svg", "xsl", "vue-html"]);

/** How to write a one-line comment in a language; undefined when it has none (plain text, JSON). */
export function lineComment(languageId: string): ((text: string) => string) | undefined {
  if (SLASHES.has(languageId)) return (t) => `// ${t}`;
  if (HASH.has(languageId)) return (t) => `# ${t}`;
  if (DASHES.has(languageId)) return (t) => `-- ${t}`;
  if (PERCENT.has(languageId)) return (t) => `% ${t}`;
  if (SEMI.has(languageId)) return (t) => `; ${t}`;
  if (MARKUP.has(languageId)) return (t) => `<!-- ${t} -->`;
  if (languageId === "css") return (t) => `/* ${t} */`;
  return undefined;
}
