// vscode.Memento's two methods on a Map (the extension's workspace state, for tests and benches
// that run the completion controller without VS Code). Values are copied as VS Code stores them.
import type { Memento } from "../../src/completion/prompt-memory.ts";

export function mapMemento(): Memento & { data: Map<string, unknown> } {
  const data = new Map<string, unknown>();
  return { data, get: <T>(k: string) => data.get(k) as T | undefined, update: async (k, v) => void data.set(k, structuredClone(v)) };
}
