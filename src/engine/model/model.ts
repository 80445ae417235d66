// A loaded model: hyper-parameters and weights from a GGUF file in the kernels' memory, the KV
// slot pools, and the forward pass. Memory is checked before anything is allocated.
import { readGguf, type GgufFile } from "../gguf/reader.ts";
import { Kernels } from "../wasm/kernels.ts";
import { allocateSlot, kvCacheBytes, SlotPool, type KvLayout, type KvSlot } from "../kv-cache.ts";
import { readHParams, type HParams } from "./hparams.ts";
import { checkFits, loadWeights, weightBytes } from "./weights.ts";
import { Transformer } from "./transformer.ts";
import { modelIdentity } from "./identity.ts";
import { DecodeThreads } from "./decode-threads.ts";
import type { Cancellation } from "../cancel.ts";

export interface ModelOptions {
  /** Kernel threads, the caller included (default 1). */
  threads?: number;
  /** Positions each KV slot holds (default: the model's training context, at most 4096). */
  contextSize?: number;
  /**
   * The KV slot pools and how many slots each has (default: 2 for "completion", one per recently
   * used document, and 1 for "chat"); a list of names means one slot each.
   */
  slots?: readonly string[] | Readonly<Record<string, number>>;
  /** Most tokens evaluated in one forward call (default 64). */
  batchSize?: number;
  onProgress?: (fraction: number) => void;
  /** Repack the matrices of the formats with a repacked product (default REPACK_DEFAULT; off for A/B measurements). */
  repack?: boolean;
}

export class Model {
  /** The thread count of each generated token's forward pass (see decode-threads.ts). */
  readonly decodeThreads: DecodeThreads;

  private constructor(
    readonly file: GgufFile,
    readonly hp: HParams,
    readonly kernels: Kernels,
    readonly transformer: Transformer,
    readonly layout: KvLayout,
    private readonly pools: Map<string, SlotPool>,
  ) {
    this.decodeThreads = new DecodeThreads(kernels.threads);
  }

  static async load(path: string, options: ModelOptions = {}): Promise<Model> {
    const file = await readGguf(path);
    const hp = readHParams(file);
    const nCtx = Math.max(1, Math.min(options.contextSize ?? Math.min(hp.nCtxTrain, 4096), 1 << 20));
    const batch = Math.max(1, Math.min(options.batchSize ?? 64, nCtx));
    const poolSizes = slotCounts(options.slots);
    const layout: KvLayout = { nLayer: hp.nLayer, nCtx, nHeadKV: hp.nHeadKV, kDim: hp.nHeadKV * hp.headDimK, vDim: hp.nHeadKV * hp.headDimV };
    const weights = weightBytes(file, hp, options.repack);
    const kv = kvCacheBytes(layout, [...poolSizes.values()].reduce((a, b) => a + b, 0));
    // Scratch is estimated generously before the kernels exist (activations of every buffer at
    // 4 bytes, plus attention's per thread: one KV head's K and V in f32 over the context, and
    // score rows; kernels/ops-attention.c).
    const group = hp.nHead / hp.nHeadKV;
    const scratchEstimate =
      4 * (batch * (hp.nEmbd * 3 + hp.nHead * hp.headDimK * 3 + layout.kDim * 2 + hp.nFF * 3 + hp.ropeDims) + hp.nVocab) +
      4 * (options.threads ?? 1) * ((2 * nCtx + group + 4) * (hp.headDimK + 4) + group * (nCtx + 4)) +
      (options.threads ?? 1) * (1 << 20);
    checkFits(file, weights + kv + scratchEstimate + (2 << 20));
    const kernels = await Kernels.create({ threads: options.threads ?? 1 });
    try {
      const w = await loadWeights(file, hp, kernels, options.onProgress, options.repack);
      const pools = new Map([...poolSizes].map(([name, n]) => [name, newPool(kernels, layout, name, n)]));
      const transformer = new Transformer(kernels, hp, w, batch, nCtx);
      return new Model(file, hp, kernels, transformer, layout, pools);
    } catch (err) {
      await kernels.close();
      throw err;
    }
  }

  /**
   * One generated token's forward pass (its logits, engine memory), on the threads decodeThreads
   * chooses; the kernels keep all their threads for everything else.
   */
  decode(slot: KvSlot, token: number, pos: number, cancel?: Cancellation): Float32Array {
    const threads = this.decodeThreads.next();
    this.kernels.setThreads(threads);
    try {
      const t0 = performance.now();
      const logits = this.transformer.forward(slot, [token], pos, true, cancel)!;
      this.decodeThreads.report(threads, performance.now() - t0);
      return logits;
    } finally {
      this.kernels.setThreads(this.decodeThreads.max);
    }
  }

  /** The file's identity for the prefix cache (computed once, see identity.ts). */
  identity(): Promise<string> {
    return modelIdentity(this.file.path, this.file.dataOffset);
  }

  get contextSize(): number {
    return this.transformer.nCtx;
  }

  /** The slot of `key` (a document; "" for requests without one) in pool `name`, now its most recently used. */
  slot(name: string, key = ""): KvSlot {
    return this.pool(name).acquire(key);
  }

  /** Slot counts by pool name. */
  poolSizes(): Map<string, number> {
    return new Map([...this.pools].map(([name, p]) => [name, p.size]));
  }

  /**
   * Adds a pool of `n` slots after the load (a model that served one role is asked to serve the
   * other too): its KV memory is allocated now, as the load would have. Throws if it exists.
   */
  addPool(name: string, n: number): void {
    if (this.pools.has(name)) throw new Error(`KV slot pool "${name}" exists`);
    const [[, count]] = slotCounts({ [name]: n });
    this.pools.set(name, newPool(this.kernels, this.layout, name, count));
  }

  pool(name: string): SlotPool {
    const p = this.pools.get(name);
    if (!p) throw new Error(`no KV slot "${name}" (slots: ${[...this.pools.keys()].join(", ")})`);
    return p;
  }

  async dispose(): Promise<void> {
    await this.kernels.close();
  }
}

function newPool(kernels: Kernels, layout: KvLayout, name: string, n: number): SlotPool {
  return new SlotPool(name, Array.from({ length: n }, (_, i) => allocateSlot(kernels, n > 1 ? `${name}#${i}` : name, layout)));
}

function slotCounts(slots: ModelOptions["slots"]): Map<string, number> {
  const counts = new Map<string, number>(
    slots === undefined ? [["completion", 2], ["chat", 1]] : Array.isArray(slots) ? slots.map((n) => [n, 1]) : Object.entries(slots),
  );
  for (const [name, n] of counts) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`KV slot pool "${name}" needs at least one slot, not ${n}`);
  }
  return counts;
}
