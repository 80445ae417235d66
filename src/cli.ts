// `hearth` command-line front end of the engine. A small dispatcher over subcommands (inspect,
// tokenize, generate, logits, chat): each subcommand parses its own arguments and returns an exit
// status. Usage errors exit 2 with usage on stderr; a bad input file or request exits 1 with a
// one-line message (no stack trace); only unexpected bugs print a stack. These forms are used by
// our own checks: keep them stable.

import { parseArgs } from "node:util";
import { cpus } from "node:os";
import { createInterface } from "node:readline";
import { describeJson, describeText } from "./engine/gguf/describe.ts";
import { GgufError } from "./engine/gguf/errors.ts";
import { readGguf } from "./engine/gguf/reader.ts";
import { Engine } from "./engine/engine.ts";
import { ContextOverflowError, type GenerateStats } from "./engine/session.ts";
import type { ChatMessage } from "./engine/chat-template.ts";

class UsageError extends Error {}

type Options = Record<string, string | boolean | undefined>;

/** Parses `args` with node's parseArgs; unknown options and stray arguments are usage errors. */
function options(args: readonly string[], spec: Record<string, "string" | "boolean">): Options {
  try {
    const { values } = parseArgs({
      args: [...args],
      options: Object.fromEntries(Object.entries(spec).map(([k, type]) => [k, { type }])),
      strict: true,
      allowPositionals: false,
    });
    return values as Options;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function required(o: Options, name: string): string {
  const v = o[name];
  if (typeof v !== "string" || v === "") throw new UsageError(`--${name} is required`);
  return v;
}

function intOption(o: Options, name: string, fallback: number, min = 0): number {
  const v = o[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min}`);
  return n;
}

function numberOption(o: Options, name: string, fallback: number): number {
  const v = o[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${name} must be a number ≥ 0`);
  return n;
}

/** Threads: as asked, else the number of cores minus one (the editor keeps one), at least 1. */
function threadsOption(o: Options): number {
  return intOption(o, "threads", Math.max(1, cpus().length - 1), 1);
}

async function loadEngine(o: Options): Promise<Engine> {
  return Engine.load(required(o, "model"), {
    threads: threadsOption(o),
    contextSize: o.context === undefined ? undefined : intOption(o, "context", 0, 16),
  });
}

function statsLine(s: GenerateStats): string {
  const tps = s.generateMs > 0 ? (s.generatedTokens / s.generateMs) * 1000 : 0;
  const pps = s.promptMs > 0 ? (s.evaluatedTokens / s.promptMs) * 1000 : 0;
  return `[prompt: ${s.promptTokens} tokens (${s.reusedTokens} reused, ${s.restoredTokens} restored, ${s.evaluatedTokens} evaluated, ${pps.toFixed(1)} tok/s); generated ${s.generatedTokens} tokens, ${tps.toFixed(1)} tok/s; stop: ${s.stopReason}]`;
}

interface Command {
  readonly summary: string;
  readonly usage: string;
  run(args: readonly string[]): Promise<number>;
}

const commands: Record<string, Command> = {
  inspect: {
    summary: "print a GGUF file's metadata and tensors",
    usage: "hearth inspect <file.gguf> [--json]",
    async run(args) {
      let json = false;
      const files: string[] = [];
      for (const a of args) {
        if (a === "--json") json = true;
        else if (a.startsWith("-")) throw new UsageError(`unknown option ${a}`);
        else files.push(a);
      }
      if (files.length !== 1) throw new UsageError("expected exactly one file");
      const f = await readGguf(files[0]);
      process.stdout.write(json ? JSON.stringify(describeJson(f), null, 2) + "\n" : describeText(f));
      return 0;
    },
  },

  tokenize: {
    summary: "print the token ids of a text",
    usage: "hearth tokenize --model FILE --text TEXT [--bos] [--json]",
    async run(args) {
      const o = options(args, { model: "string", text: "string", bos: "boolean", json: "boolean" });
      const text = o.text;
      if (typeof text !== "string") throw new UsageError("--text is required");
      const file = await readGguf(required(o, "model"));
      const { Tokenizer } = await import("./engine/tokenizer/index.ts");
      const tokenizer = Tokenizer.fromGguf(file);
      // --bos: add BOS/EOS as the model asks (llama.cpp's add_special); special-token text is parsed.
      const ids = tokenizer.encode(text, { addSpecial: o.bos === true, parseSpecial: true });
      process.stdout.write(o.json ? JSON.stringify({ ids }) + "\n" : ids.join(" ") + "\n");
      return 0;
    },
  },

  generate: {
    summary: "continue a prompt, streaming the text",
    usage:
      "hearth generate --model FILE --prompt TEXT [--max-tokens N] [--temperature T] [--seed S] [--threads N] [--context N] [--prompt-cache DIR] [--json]",
    async run(args) {
      const o = options(args, {
        model: "string", prompt: "string", "max-tokens": "string", temperature: "string", seed: "string",
        "top-k": "string", "top-p": "string", "min-p": "string", threads: "string", context: "string", "prompt-cache": "string", json: "boolean",
      });
      const prompt = o.prompt;
      if (typeof prompt !== "string") throw new UsageError("--prompt is required");
      const maxTokens = intOption(o, "max-tokens", 128, 0);
      const sampling = {
        temperature: numberOption(o, "temperature", 0),
        seed: intOption(o, "seed", 0),
        topK: intOption(o, "top-k", 40),
        topP: numberOption(o, "top-p", 0.95),
        minP: numberOption(o, "min-p", 0.05),
      };
      const engine = await loadEngine(o);
      try {
        // --prompt-cache DIR: the prompt's longest stored prefix is restored, and the prompt is
        // stored for the next run (the same files and format as the extension's cache).
        const cacheDir = o["prompt-cache"];
        if (typeof cacheDir === "string") {
          await engine.usePrefixCache({ dir: cacheDir, log: (_level, message) => process.stderr.write(`${message}\n`) });
        }
        const ids: number[] = [];
        let text = "";
        const promptIds = engine.tokenize(prompt);
        const gen = engine.generate({ slot: "completion", prompt: promptIds, maxTokens, sampling });
        let r = await gen.next();
        for (; !r.done; r = await gen.next()) {
          if (r.value.token >= 0) ids.push(r.value.token);
          text += r.value.text;
          if (!o.json) process.stdout.write(r.value.text);
        }
        if (typeof cacheDir === "string") await engine.session.savePrefix("completion", promptIds.length);
        if (o.json) process.stdout.write(JSON.stringify({ ids, text, stats: r.value }) + "\n");
        else process.stdout.write("\n" + statsLine(r.value) + "\n");
      } finally {
        await engine.dispose();
      }
      return 0;
    },
  },

  logits: {
    summary: "print the logits after a sequence of token ids",
    usage: "hearth logits --model FILE --ids 1,2,3 [--threads N] [--json]",
    async run(args) {
      const o = options(args, { model: "string", ids: "string", threads: "string", context: "string", json: "boolean" });
      const ids = required(o, "ids").split(",").map((s) => Number(s.trim()));
      if (ids.some((n) => !Number.isInteger(n) || n < 0)) throw new UsageError("--ids must be comma-separated token ids");
      const engine = await loadEngine(o);
      try {
        const logits = Array.from(await engine.logits(ids));
        process.stdout.write(o.json ? JSON.stringify({ logits }) + "\n" : logits.map((x) => x.toFixed(6)).join(" ") + "\n");
      } finally {
        await engine.dispose();
      }
      return 0;
    },
  },

  chat: {
    summary: "talk with the model (its chat template), one turn per line",
    usage: "hearth chat --model FILE [--system TEXT] [--max-tokens N] [--temperature T] [--threads N] [--context N]",
    async run(args) {
      const o = options(args, {
        model: "string", system: "string", "max-tokens": "string", temperature: "string", seed: "string",
        threads: "string", context: "string", think: "boolean",
      });
      const engine = await loadEngine(o);
      const rl = createInterface({ input: process.stdin, terminal: false });
      const messages: ChatMessage[] = typeof o.system === "string" ? [{ role: "system", content: o.system }] : [];
      try {
        if (engine.chatTemplate.isFallback) process.stderr.write("(the model has no chat template: using ChatML)\n");
        const showPrompt = (): void => {
          if (process.stdin.isTTY) process.stdout.write("> ");
        };
        showPrompt();
        // Iterating the lines (not rl.question) keeps lines that arrive during a reply (piped input).
        for await (const line of rl) {
          if (!line.trim()) {
            showPrompt();
            continue;
          }
          messages.push({ role: "user", content: line });
          const t = engine.tokenizer;
          const text = engine.chatTemplate.render(messages, {
            enableThinking: o.think === true,
            bosToken: t.bos >= 0 ? t.tokenText(t.bos) : "",
            eosToken: t.eos >= 0 ? t.tokenText(t.eos) : "",
          });
          const ids = engine.tokenizer.encode(text, { addSpecial: true, parseSpecial: true });
          let reply = "";
          const gen = engine.session.generate({
            slot: "chat", prompt: ids, maxTokens: intOption(o, "max-tokens", 512, 1),
            sampling: { temperature: numberOption(o, "temperature", 0.6), seed: intOption(o, "seed", 0), topK: 40, topP: 0.95, minP: 0.05 },
          });
          let r = await gen.next();
          for (; !r.done; r = await gen.next()) {
            reply += r.value.text;
            process.stdout.write(r.value.text);
          }
          process.stdout.write("\n" + statsLine(r.value) + "\n");
          messages.push({ role: "assistant", content: reply });
          showPrompt();
        }
      } finally {
        rl.close();
        await engine.dispose();
      }
      return 0;
    },
  },
};

function usage(): string {
  const lines = Object.values(commands).map((c) => `  ${c.usage.padEnd(40)} ${c.summary}`);
  return `usage: hearth <command> [args]\n\ncommands:\n${lines.join("\n")}\n`;
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    (name === undefined ? process.stderr : process.stdout).write(usage());
    return name === undefined ? 2 : 0;
  }
  const cmd = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!cmd) {
    process.stderr.write(`hearth: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`hearth ${name}: ${e.message}\nusage: ${cmd.usage}\n`);
      return 2;
    }
    if (e instanceof GgufError || e instanceof ContextOverflowError) {
      process.stderr.write(`hearth ${name}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`hearth: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
