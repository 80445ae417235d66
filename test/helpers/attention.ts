// The attention kernel (kernels/ops-attention.c) run once in a kernel instance, for the tests that
// compare its bytes across thread counts, builds and cache layouts, or against the reference.
import { attention } from "../../src/engine/wasm/kernel-exports.ts";
import type { Kernels } from "../../src/engine/wasm/kernels.ts";
import type { AttentionShape } from "../reference/ops.ts";

/**
 * The caches [position][kvStride] (the reference's layout) as the engine keeps them: each KV
 * head's positions together, [nHeadKv][positions][headDim].
 */
export function byHead(s: AttentionShape, cache: Uint16Array): Uint16Array {
  const n = s.firstPos + s.nTokens;
  const out = new Uint16Array(s.nHeadKv * n * s.headDim);
  for (let g = 0; g < s.nHeadKv; g++) {
    for (let j = 0; j < n; j++) out.set(cache.subarray(j * s.kvStride + g * s.headDim, j * s.kvStride + (g + 1) * s.headDim), (g * n + j) * s.headDim);
  }
  return out;
}

/**
 * Attention of q over the f16 caches keys and values ([position][kvStride]; with `heads`, copied
 * into the engine's layout by head first); the output starts as NaN, so every element must be written.
 */
export function runAttention(k: Kernels, s: AttentionShape, q: Float32Array, keys: Uint16Array, values: Uint16Array, heads = false): Float32Array {
  const mark = k.mark();
  try {
    const n = s.nTokens * s.nHead * s.headDim;
    const out = k.alloc(n * 4);
    const scratch = k.alloc(k.exports.attention_scratch_floats(s.firstPos + s.nTokens, s.headDim, s.nHead, s.nHeadKv) * 4, 16);
    k.f32(out, n).fill(NaN);
    const strides = heads ? { kvStride: s.headDim, kvHeadStride: (s.firstPos + s.nTokens) * s.headDim } : { kvStride: s.kvStride, kvHeadStride: s.headDim };
    attention(k.exports, {
      out, q: k.put(q), keys: k.put(heads ? byHead(s, keys) : keys), values: k.put(heads ? byHead(s, values) : values), nTokens: s.nTokens,
      nHead: s.nHead, nHeadKV: s.nHeadKv, headDim: s.headDim, ...strides, firstPos: s.firstPos, scale: s.scale, scratch,
    });
    return Float32Array.from(k.f32(out, n));
  } finally {
    k.reset(mark);
  }
}
