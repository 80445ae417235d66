// The KV cache: named slots (e.g. "completion", "chat"), each holding f16 keys and values for up
// to `nCtx` positions of every layer, and the tokens whose keys/values they hold. A request
// reuses the longest common prefix of its tokens and the slot's, and evaluates only the rest.
import type { Kernels } from "./wasm/kernels.ts";

export interface KvLayout {
  readonly nLayer: number;
  readonly nCtx: number;
  /** f16 elements of one position's keys (n_head_kv × head_dim_k) and values. */
  readonly kDim: number;
  readonly vDim: number;
}

export class KvSlot {
  /** Tokens whose keys and values are in the cache, position by position. */
  private cached: number[] = [];

  constructor(
    readonly name: string,
    readonly layout: KvLayout,
    /** Per layer: address of the keys [nCtx][kDim] and the values [nCtx][vDim], f16. */
    readonly keys: readonly number[],
    readonly values: readonly number[],
  ) {}

  get tokens(): readonly number[] {
    return this.cached;
  }

  /** Length of the common prefix of the cached tokens and `tokens`. */
  commonPrefix(tokens: readonly number[]): number {
    const n = Math.min(tokens.length, this.cached.length);
    let i = 0;
    while (i < n && tokens[i] === this.cached[i]) i++;
    return i;
  }

  /** Forgets everything from position `n` on (the cache's contents there become stale). */
  truncate(n: number): void {
    if (n < this.cached.length) this.cached.length = n;
  }

  /** Records that `tokens` now occupy positions cached.length .. cached.length + tokens.length. */
  append(tokens: readonly number[]): void {
    if (this.cached.length + tokens.length > this.layout.nCtx) throw new Error(`KV slot "${this.name}" is full`);
    for (const t of tokens) this.cached.push(t);
  }

  clear(): void {
    this.cached = [];
  }
}

/** Bytes the cache takes for `slots` slots. */
export function kvCacheBytes(layout: KvLayout, slots: number): number {
  return slots * layout.nLayer * layout.nCtx * (layout.kDim + layout.vDim) * 2;
}

export function allocateSlot(k: Kernels, name: string, layout: KvLayout): KvSlot {
  const keys: number[] = [];
  const values: number[] = [];
  for (let l = 0; l < layout.nLayer; l++) {
    keys.push(k.alloc(layout.nCtx * layout.kDim * 2, 64));
    values.push(k.alloc(layout.nCtx * layout.vDim * 2, 64));
  }
  return new KvSlot(name, layout, keys, values);
}
