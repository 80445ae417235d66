// Run by test/unit/kernels-threads.test.ts in a child process (a deadlocked pool blocks its
// thread for good, so the test must be able to kill it): one pool made with 3 threads runs the
// same batched products and attention at 1, 3, 2 and 1 threads in turn, and prints the bytes of
// every result (hex of a Q4_K and a Q5_0 product and of attention) as one JSON line.
import { Kernels } from "../../src/engine/wasm/kernels.ts";
import { runAttention } from "./attention.ts";
import { f32ToF16 } from "../reference/quant/half.ts";
import { GgmlType } from "../../src/engine/quant/types.ts";
import { quantizeTensor } from "../reference/quant/quantize.ts";
import { gaussianArray } from "./random.ts";

const ROWS = 96;
const COLS = 512;
const NTOK = 9;

export function product(k: Kernels, type: GgmlType, seed: number): string {
  const mark = k.mark();
  try {
    const w = k.put(quantizeTensor(type, gaussianArray(seed, ROWS * COLS, 0.5), COLS));
    const x = k.put(gaussianArray(seed + 1, NTOK * COLS));
    const y = k.alloc(ROWS * NTOK * 4);
    const scratch = k.alloc(k.exports.matmul_scratch_bytes(type, COLS, NTOK));
    k.exports.matmul(type, w, ROWS, COLS, x, NTOK, y, scratch);
    return Buffer.from(k.bytes(y, ROWS * NTOK * 4)).toString("hex");
  } finally {
    k.reset(mark);
  }
}

/** Attention of 24 tokens after 8 cached positions (7 query heads per KV head, in shares with scratch per thread). */
export function attend(k: Kernels, seed: number): string {
  const s = { nTokens: 24, nHead: 14, nHeadKv: 2, headDim: 64, kvStride: 2 * 64, firstPos: 8, scale: 1 / 8 };
  const cache = (at: number): Uint16Array => Uint16Array.from(gaussianArray(at, (s.firstPos + s.nTokens) * s.kvStride), f32ToF16);
  const out = runAttention(k, s, gaussianArray(seed, s.nTokens * s.nHead * s.headDim, 2), cache(seed + 1), cache(seed + 2));
  return Buffer.from(out.buffer).toString("hex");
}

async function main(sequence: number[]): Promise<void> {
  const k = await Kernels.create({ threads: Math.max(...sequence) });
  const results: { threads: number; q4k: string; q50: string; attn: string }[] = [];
  for (const threads of sequence) {
    k.setThreads(threads);
    results.push({ threads: k.threads, q4k: product(k, GgmlType.Q4_K, 11), q50: product(k, GgmlType.Q5_0, 12), attn: attend(k, 13) });
  }
  await k.close();
  console.log(JSON.stringify(results));
}

if (process.argv[1]?.endsWith("pool-resize.ts")) void main(process.argv.slice(2).map(Number));
