// One error class for every problem found in a GGUF file, so callers (CLI, model loader, worker)
// can tell "bad file" apart from a bug and show the message without a stack trace.

export class GgufError extends Error {
  override readonly name = "GgufError";

  /**
   * @param file the path (or in-memory name) of the file, always part of the message
   * @param problem what is wrong, in words a user can act on
   */
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}
