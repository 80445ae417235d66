// `hearth` command-line front end of the engine. A small dispatcher over subcommands (inspect now;
// generate, tokenize, logits, chat later): each subcommand parses its own arguments and returns an
// exit status. Usage errors exit 2 with usage on stderr; a bad input file exits 1 with a one-line
// message (no stack trace); only unexpected bugs print a stack.

import { describeJson, describeText } from "./engine/gguf/describe.ts";
import { GgufError } from "./engine/gguf/errors.ts";
import { readGguf } from "./engine/gguf/reader.ts";

class UsageError extends Error {}

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
    if (e instanceof GgufError) {
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
