// The attention kernel (kernels/ops-attention.c) run once in a kernel instance, for the tests that
// compare its bytes across thread counts and builds or against the reference.
import { attention } from "../../src/engine/wasm/kernel-exports.ts";
import type { Kernels } from "../../src/engine/wasm/kernels.ts";
import type { AttentionShape } from "../reference/ops.ts";

/** Attention of q over the f16 caches keys and values; the output starts as NaN, so every element must be written. */
export function runAttention(k: Kernels, s: AttentionShape, q: Float32Array, keys: Uint16Array, values: Uint16Array): Float32Array {
  const mark = k.mark();
  try {
    const n = s.nTokens * s.nHead * s.headDim;
    const out = k.alloc(n * 4);
    const scratch = k.alloc(k.exports.attention_scratch_floats(s.firstPos + s.nTokens, s.headDim, s.nHead, s.nHeadKv) * 4, 16);
    k.f32(out, n).fill(NaN);
    attention(k.exports, {
      out, q: k.put(q), keys: k.put(keys), values: k.put(values), nTokens: s.nTokens, nHead: s.nHead,
      nHeadKV: s.nHeadKv, headDim: s.headDim, kvStride: s.kvStride, firstPos: s.firstPos, scale: s.scale, scratch,
    });
    return Float32Array.from(k.f32(out, n));
  } finally {
    k.reset(mark);
  }
}
