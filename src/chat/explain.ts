// "Hearth: Explain Selection": what is asked of the model. The request names the file's language
// and workspace-relative path and quotes the code in a fence long enough for any backticks in it.

export interface ExplainTarget {
  code: string;
  languageId: string;
  /** Workspace-relative path (or the untitled name). */
  path: string;
  /** 1-based, inclusive. */
  startLine: number;
  endLine: number;
  /** True when there was no selection and the current line stands in for it. */
  wholeLine: boolean;
}

export function explainRequest(t: ExplainTarget): string {
  const longest = Math.max(2, ...[...t.code.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = "`".repeat(longest + 1);
  const lines = t.startLine === t.endLine ? `line ${t.startLine}` : `lines ${t.startLine}–${t.endLine}`;
  return `Explain this ${t.languageId} code from \`${t.path}\` (${lines}${t.wholeLine ? ", the line under the cursor" : ""}): what it does, how, and anything surprising.\n\n${fence}${t.languageId}\n${t.code}\n${fence}`;
}

/** The line to explain when nothing is selected, or undefined when it is blank. */
export function lineTarget(lineText: string): string | undefined {
  return lineText.trim() ? lineText : undefined;
}
