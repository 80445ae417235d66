// When VS Code's suggestion list opens by itself and hides ghost text (see suggest-hint.ts): plain
// logic on the editor settings, unit-tested without vscode.

/** Whether `editor.quickSuggestions` (boolean, or per kind of token) opens the list as you type code. */
export function quickSuggestionsOn(value: unknown): boolean {
  if (typeof value === "boolean") return value;
  if (value && typeof value === "object") {
    const other = (value as Record<string, unknown>).other;
    return other === true || other === "on";
  }
  return value === undefined; // VS Code's default opens it for code
}

/** Whether the hint applies to a document: the list opens by itself and does not yield to ghost text. */
export function needsSuggestHint(editor: { quickSuggestions: unknown; suppressSuggestions: boolean | undefined }): boolean {
  return quickSuggestionsOn(editor.quickSuggestions) && editor.suppressSuggestions !== true;
}
