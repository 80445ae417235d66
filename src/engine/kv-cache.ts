// The KV cache: pools of slots (e.g. "completion" with one slot per recently used document, and
// "chat"), each slot holding f16 keys and values for up to `nCtx` positions of every layer, and
// the tokens whose keys/values they hold. A request reuses the longest common prefix of its
// tokens and its slot's, and evaluates only the rest.
import type { Kernels } from "./wasm/kernels.ts";

export interface KvLayout {
  readonly nLayer: number;
  readonly nCtx: number;
  /** KV heads: a layer's keys are nHeadKV planes of nCtx positions × kDim / nHeadKV, as are its values. */
  readonly nHeadKV: number;
  /** f16 elements of one position's keys (n_head_kv × head_dim_k) and values. */
  readonly kDim: number;
  readonly vDim: number;
}

/** Bytes of keys and values one position takes in every layer (f16). */
export function kvBytesPerToken(layout: Omit<KvLayout, "nCtx">): number {
  return layout.nLayer * (layout.kDim + layout.vDim) * 2;
}

/** Bytes the cache takes for `slots` slots. */
export function kvCacheBytes(layout: KvLayout, slots: number): number {
  return slots * layout.nCtx * kvBytesPerToken(layout);
}

/** Watches a slot for truncations (a reader copying its cache between event-loop turns). */
export interface SlotWatch {
  /** The shortest length the slot was truncated to since the watch began. */
  readonly low: number;
  stop(): void;
}

export class KvSlot {
  /** Tokens whose keys and values are in the cache, position by position. */
  private cached: number[] = [];
  private readonly watches = new Set<{ low: number }>();

  constructor(
    readonly name: string,
    readonly layout: KvLayout,
    /**
     * Per layer: address of the keys [nHeadKV][nCtx][kDim / nHeadKV] and the values
     * [nHeadKV][nCtx][vDim / nHeadKV], f16: each head's positions together, which is how attention
     * reads them (a decoded token's attention reads each head's rows one after the other; see
     * kernels/ops-attention.c).
     */
    readonly keys: readonly number[],
    readonly values: readonly number[],
  ) {}

  get tokens(): readonly number[] {
    return this.cached;
  }

  /** Length of the common prefix of the cached tokens and `tokens`. */
  commonPrefix(tokens: readonly number[]): number {
    return commonPrefixLength(this.cached, tokens);
  }

  /** Forgets everything from position `n` on (the cache's contents there become stale). */
  truncate(n: number): void {
    if (n >= this.cached.length) return;
    this.cached.length = n;
    for (const w of this.watches) w.low = Math.min(w.low, n);
  }

  /** Records that `tokens` now occupy positions cached.length .. cached.length + tokens.length. */
  append(tokens: readonly number[]): void {
    if (this.cached.length + tokens.length > this.layout.nCtx) throw new Error(`KV slot "${this.name}" is full`);
    for (const t of tokens) this.cached.push(t);
  }

  clear(): void {
    this.truncate(0);
  }

  /** Starts watching: positions below `watch.low` have not been rewritten since. */
  watch(): SlotWatch {
    const w = { low: this.cached.length };
    this.watches.add(w);
    return {
      get low() {
        return w.low;
      },
      stop: () => this.watches.delete(w),
    };
  }
}

export function commonPrefixLength(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/**
 * Slots shared by the requests of one kind, one slot per key (a document), least recently used
 * first to go: a key without a slot takes the LRU slot, whose tokens it then reuses as far as
 * they match (usually not at all: the slot is then evaluated afresh).
 */
export class SlotPool {
  /** Keys by slot, most recently used last (a Map keeps insertion order). */
  private readonly byKey = new Map<string, KvSlot>();
  private readonly free: KvSlot[];

  constructor(
    readonly name: string,
    slots: readonly KvSlot[],
  ) {
    if (slots.length === 0) throw new Error(`KV slot pool "${name}" has no slots`);
    this.free = [...slots];
  }

  get size(): number {
    return this.byKey.size + this.free.length;
  }

  /** The slot of `key`, now the most recently used; a new key takes a free or the LRU slot. */
  acquire(key: string): KvSlot {
    let slot = this.byKey.get(key);
    if (slot) {
      this.byKey.delete(key);
    } else {
      slot = this.free.pop();
      if (!slot) {
        const [lruKey, lru] = this.byKey.entries().next().value as [string, KvSlot];
        this.byKey.delete(lruKey);
        slot = lru;
      }
    }
    this.byKey.set(key, slot);
    return slot;
  }

  /** The slot of `key` if it has one (no change to the LRU order). */
  peek(key: string): KvSlot | undefined {
    return this.byKey.get(key);
  }

  /** Keys that have a slot, least recently used first. */
  keys(): string[] {
    return [...this.byKey.keys()];
  }
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
