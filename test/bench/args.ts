// The benches' command-line options: `--name value` pairs after the script.

/** The value after `--name` on the command line, or undefined when the option is not given. */
export function option(name: string): string | undefined {
  const a = process.argv.slice(2);
  const i = a.indexOf(`--${name}`);
  return i >= 0 ? a[i + 1] : undefined;
}
