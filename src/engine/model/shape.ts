// What a model file asks of memory, read from its GGUF header in the engine worker: the numbers
// the extension's memory check needs (src/models/memory.ts declares them as ModelShape; the
// compiler checks the two agree where extension.ts hands the client's inspect to src/models). The
// worker computes them (the `inspect` request) so the extension host never parses a GGUF header
// on its own thread: a 0.5B model's vocabulary alone takes 33–65 ms to read.
import type { GgufFile } from "../gguf/file.ts";
import { MAX_MEMORY_BYTES } from "../wasm/arena.ts";
import { readHParams } from "./hparams.ts";
import { weightBytes } from "./weights.ts";

/**
 * The weights' bytes in engine memory, as the loader will lay them out (repacked matrices take
 * more than the file: Q4_K 640 bytes per 4 rows' super-block against 576); for a file the loader
 * would refuse, the file's tensor bytes.
 */
function engineWeightBytes(file: GgufFile): number {
  try {
    return weightBytes(file, readHParams(file));
  } catch {
    return file.tensors.reduce((s, t) => s + Math.ceil(t.byteSize / 64) * 64, 0);
  }
}

/** The inspect request's result; src/models/memory.ts documents each field (its own ModelShape). */
export type ModelShape = ReturnType<typeof modelShape>;

/** The shape of `file`, with the defaults the engine's hyper-parameters use for missing keys. */
export function modelShape(file: GgufFile) {
  const arch = file.architecture ?? "llama";
  const num = (key: string): number | undefined => file.optNumber(`${arch}.${key}`);
  const nEmbd = num("embedding_length") ?? 0;
  const nHead = num("attention.head_count") ?? 1;
  const headDimK = num("attention.key_length") ?? nEmbd / nHead;
  return {
    path: file.path,
    architecture: file.architecture,
    weightBytes: engineWeightBytes(file),
    nEmbd,
    nHead,
    nHeadKV: num("attention.head_count_kv") ?? nHead,
    nLayer: num("block_count") ?? 0,
    nFF: num("feed_forward_length") ?? 0,
    headDimK,
    headDimV: num("attention.value_length") ?? nEmbd / nHead,
    nVocab: num("vocab_size") ?? file.optStringArray("tokenizer.ggml.tokens")?.length ?? 0,
    ropeDims: num("rope.dimension_count") ?? headDimK,
    engineLimit: MAX_MEMORY_BYTES,
  } satisfies Record<string, string | number | undefined>;
}
