// Prompt building: FIM (with and without a file separator token) and prefix-only; extra context
// before the local prefix in a stable order; snippets chosen within a budget.
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildPrompt, fileHeader, lineComment, type PromptInput } from "../../src/completion/prompt.ts";
import { chooseSnippets, headLines } from "../../src/completion/snippets.ts";

const QWEN = { prefix: "<|fim_prefix|>", suffix: "<|fim_suffix|>", middle: "<|fim_middle|>" };
const input: PromptInput = {
  path: "src/a.ts",
  languageId: "typescript",
  prefix: "function add(a, b) {\n  return ",
  typed: "",
  suffix: "\n}\n",
  snippets: [{ path: "src/b.ts", languageId: "typescript", text: "export const B = 1;" }],
};

test("FIM with a file separator: other files in Qwen2.5-Coder's repository format, then prefix, suffix, middle", () => {
  const p = buildPrompt(input, { kind: "fim", fim: QWEN, fileSep: "<|file_sep|>" });
  assert.equal(
    p.text,
    "<|file_sep|>src/b.ts\nexport const B = 1;\n<|file_sep|>src/a.ts\n<|fim_prefix|>function add(a, b) {\n  return <|fim_suffix|>\n}\n<|fim_middle|>",
  );
  assert.deepEqual(p.stop, ["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_sep|>"]);
});

test("FIM without a file separator: the context goes inside the prefix part, as comments, before the local prefix", () => {
  const p = buildPrompt(input, { kind: "fim", fim: { prefix: "<fim_prefix>", suffix: "<fim_suffix>", middle: "<fim_middle>" } });
  assert.equal(
    p.text,
    "<fim_prefix>// Path: src/b.ts\nexport const B = 1;\n\n// Language: typescript\n// Path: src/a.ts\nfunction add(a, b) {\n  return <fim_suffix>\n}\n<fim_middle>",
  );
});

test("CodeLlama's spellings lose the leading ▁ in stop strings", () => {
  const p = buildPrompt(input, { kind: "fim", fim: { prefix: "▁<PRE>", suffix: "▁<SUF>", middle: "▁<MID>" } });
  assert.deepEqual(p.stop, ["<PRE>", "<SUF>", "<MID>"]);
});

test("prefix-only (SmolLM3): context, then the path/language header, then the text before the cursor; no suffix", () => {
  const p = buildPrompt(input, { kind: "prefix" });
  assert.equal(p.text, "// Path: src/b.ts\nexport const B = 1;\n\n// Language: typescript\n// Path: src/a.ts\nfunction add(a, b) {\n  return ");
  assert.ok(!p.text.includes("\n}\n"), "no suffix");
  assert.deepEqual(p.stop, []);
});

test("typing only appends to the prompt (prefix-only): its start is unchanged, so its KV stays cached", () => {
  const a = buildPrompt(input, { kind: "prefix" }).text;
  const b = buildPrompt({ ...input, prefix: input.prefix + "a" }, { kind: "prefix" }).text;
  assert.equal(b, a + "a");
});

test("text typed since the split goes after the middle marker (FIM) or after the prefix: only the prompt's end changes", () => {
  const fim = { kind: "fim", fim: QWEN, fileSep: "<|file_sep|>" } as const;
  const split = buildPrompt(input, fim).text;
  const typed = buildPrompt({ ...input, typed: "a +" }, fim).text;
  assert.equal(typed, split + "a +", "prefix, suffix and marker unchanged: the model is asked for a middle that starts with the typed text");
  assert.ok(typed.endsWith("<|fim_suffix|>\n}\n<|fim_middle|>a +"));
  assert.equal(buildPrompt({ ...input, typed: "a +" }, { kind: "prefix" }).text, buildPrompt({ ...input, prefix: input.prefix + "a +" }, { kind: "prefix" }).text);
});

test("comment syntax by language; plain text has no header", () => {
  assert.equal(fileHeader("x.py", "python"), "# Language: python\n# Path: x.py\n");
  assert.equal(lineComment("sql")!("q"), "-- q");
  assert.equal(lineComment("html")!("q"), "<!-- q -->");
  assert.equal(fileHeader("story.txt", "plaintext"), "");
  assert.equal(buildPrompt({ ...input, languageId: "plaintext", snippets: [], prefix: "Once upon a time" }, { kind: "prefix" }).text, "Once upon a time");
});

test("snippets: other files sorted by path (same language first when there are many), recent edits after them, within the budget", () => {
  const files = [
    { path: "z.ts", languageId: "typescript", text: "const z = 1;\nconst zz = 2;" },
    { path: "a.md", languageId: "markdown", text: "# A" },
    { path: "m.ts", languageId: "typescript", text: "const m = 1;" },
    { path: "b.ts", languageId: "typescript", text: "const b = 1;" },
  ];
  const edits = [{ path: "q.ts", languageId: "typescript", text: "0\n1\n2\n3\n4\n5\n6\n7\n8\n9", line: 5 }];
  const s = chooseSnippets(files, edits, 300, "typescript");
  assert.deepEqual(s.map((x) => x.path), ["b.ts", "m.ts", "z.ts", "q.ts"]);
  assert.equal(s[3].text, "2\n3\n4\n5\n6\n7\n8");
  const reordered = chooseSnippets([...files].reverse(), edits, 300, "typescript");
  assert.deepEqual(reordered, s, "the order of open documents does not matter");
  const small = chooseSnippets(files, [], 30, "typescript");
  assert.ok(small.reduce((n, x) => n + x.text.length, 0) <= 30);
  assert.deepEqual(chooseSnippets(files, edits, 0, "typescript"), []);
});

test("headLines cuts at a line end", () => {
  assert.equal(headLines("aaa\nbbb\nccc", 9), "aaa\nbbb");
  assert.equal(headLines("aaaaaaa", 3), "");
  assert.equal(headLines("a\n", 10), "a");
});
