// A varied corpus for comparing our tokenizer with llama.cpp: code in several languages, unicode,
// whitespace runs, numbers, contractions and special-token text.

const python = `import os\n\ndef main(argv: list[str]) -> int:\n    """Entry point."""\n    for i, a in enumerate(argv):\n        if a.startswith("--"):\n            print(f"{i}: {a!r}")\n    return 0\n\n\nif __name__ == "__main__":\n    raise SystemExit(main(os.sys.argv))\n`;
const ts = `export async function fetchAll<T>(urls: readonly string[]): Promise<T[]> {\n  const out: T[] = [];\n  for (const u of urls) {\n    const r = await fetch(u);\n    if (!r.ok) throw new Error(\`HTTP \${r.status}\`);\n    out.push((await r.json()) as T);\n  }\n  return out;\n}\n// => arrow, !== strict, ?? nullish, ?. optional\n`;
const rust = `use std::collections::HashMap;\n\nfn count(words: &[&str]) -> HashMap<&str, usize> {\n    let mut m = HashMap::new();\n    for w in words {\n        *m.entry(*w).or_insert(0) += 1;\n    }\n    m\n}\n\n#[derive(Debug, Clone)]\nstruct P<'a> { name: &'a str, age: u8 }\n`;
const c = `#include <stdio.h>\n\nint main(int argc, char **argv) {\n\tfor (int i = 0; i < argc; ++i) {\n\t\tif (argv[i][0] == '-') {\n\t\t\tprintf("%d: %s\\n", i, argv[i]);\n\t\t}\n\t}\n\treturn 0; /* done */\n}\n`;
const misc = [
  "Hello world",
  " Hello world",
  "Hello World!",
  "hello   world",
  "  leading and trailing  ",
  "\t\ttabs\tand\tmore\t",
  "\n\nnewlines\n\n\n",
  "mixed \t \n \r\n whitespace \u00a0nbsp\u3000ideographic",
  "   ",
  "\n",
  " \n \n",
  "a\r\nb\rc",
  "12345678901234567890",
  "3.14159 2,718 1e-10 0x1F -42 +7 1_000_000",
  "I'm you're he's we've they'll she'd can't WON'T I'M It'S",
  "' quoted ' and 's lone",
  "中文分词测试，你好世界！",
  "日本語のテキストとカタカナ、ひらがな。",
  "한국어 텍스트입니다",
  "emoji 🦙🔥👍🏽 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵",
  "accents: café naïve résumé Ångström Äpfel ÿ",
  "\uFEFFbyte-order mark at the start, and\uFEFFinside",
  "combining: cafe\u0301 n\u0303",
  "العربية من اليمين إلى اليسار",
  "עברית מימין לשמאל",
  "Привет, мир! Ёлка",
  "Ελληνικά γράμματα",
  "math ∑∫√∞ ≤ ≥ ≠ → ⇒ ∀x∈ℝ",
  "symbols ~!@#$%^&*()_+-=[]{}|;:'\",.<>/?`",
  "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n",
  "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
  "<|endoftext|> <tool_call>{}</tool_call> <think>hmm</think>",
  "<|fim_prefix|>def f():<|fim_suffix|>\n<|fim_middle|>",
  "<s> </s> <unk> [INST] text [/INST]",
  "a<|im_start|>b<|im_end|>c",
  "\u00a0\u2009thin\u200bzero\u2060width\u00adsoft",
  "private \ue000 use \u{10ffff} end",
  "controls \u0001\u0002\u0007 bell",
  "ÿþýüûúùø",
  "llama.cpp's tokenizer: 1,234,567 tokens/s — ok?",
  "URL https://example.com/path?q=1&r=two#frag",
  "snake_case camelCase PascalCase SCREAMING_CASE kebab-case",
];
const longWs = ["x" + " ".repeat(17) + "y", "x" + "\t".repeat(9) + "y", "x" + "\n".repeat(7) + "y", " \t \t\n \n\t "];

/**
 * Words that are single tokens of the Llama-3 vocabulary but that its merges would split: llama.cpp's
 * "llama-bpe" emits them whole (ignore_merges), "smaug-bpe" does not.
 */
export const IGNORE_MERGES_TEXT = "lardan\nmektedir jeho nhanh dikkat zdrav iyordu";

export const CORPUS: readonly string[] = [python, ts, rust, c, ...misc, ...longWs, IGNORE_MERGES_TEXT, [python, c, misc.slice(16, 24).join(" ")].join("\n")];

/** Texts whose tokens split multi-byte characters (for the streaming decoder). */
export const EMOJI_TEXTS: readonly string[] = ["🦙", "👨‍👩‍👧‍👦 family", "ok 🔥🔥 done", "中文🦙日本", "é🇫🇷"];
