// A loaded model: hyper-parameters and weights from a GGUF file in the kernels' memory, the KV
// slots, and the forward pass. Memory is checked before anything is allocated.
import { readGguf, type GgufFile } from "../gguf/reader.ts";
import { Kernels } from "../wasm/kernels.ts";
import { allocateSlot, kvCacheBytes, type KvLayout, type KvSlot } from "../kv-cache.ts";
import { readHParams, type HParams } from "./hparams.ts";
import { checkFits, loadWeights, weightBytes } from "./weights.ts";
import { Transformer } from "./transformer.ts";

export interface ModelOptions {
  /** Kernel threads, the caller included (default 1). */
  threads?: number;
  /** Positions each KV slot holds (default: the model's training context, at most 4096). */
  contextSize?: number;
  /** Names of the KV slots (default: "completion" and "chat"). */
  slots?: readonly string[];
  /** Most tokens evaluated in one forward call (default 64). */
  batchSize?: number;
  onProgress?: (fraction: number) => void;
}

export class Model {
  private constructor(
    readonly file: GgufFile,
    readonly hp: HParams,
    readonly kernels: Kernels,
    readonly transformer: Transformer,
    private readonly slotsByName: ReadonlyMap<string, KvSlot>,
  ) {}

  static async load(path: string, options: ModelOptions = {}): Promise<Model> {
    const file = await readGguf(path);
    const hp = readHParams(file);
    const nCtx = Math.max(1, Math.min(options.contextSize ?? Math.min(hp.nCtxTrain, 4096), 1 << 20));
    const batch = Math.max(1, Math.min(options.batchSize ?? 64, nCtx));
    const slotNames = options.slots ?? ["completion", "chat"];
    const layout: KvLayout = { nLayer: hp.nLayer, nCtx, kDim: hp.nHeadKV * hp.headDimK, vDim: hp.nHeadKV * hp.headDimV };
    const weights = weightBytes(file, hp);
    const kv = kvCacheBytes(layout, slotNames.length);
    // Scratch is estimated generously before the kernels exist (activations of every buffer at
    // 4 bytes, plus attention rows for the largest thread count).
    const scratchEstimate =
      4 * (batch * (hp.nEmbd * 3 + hp.nHead * hp.headDimK * 3 + layout.kDim * 2 + hp.nFF * 3 + hp.ropeDims) + hp.nVocab) +
      4 * (options.threads ?? 1) * (nCtx + hp.headDimK + 8) +
      (options.threads ?? 1) * (1 << 20);
    checkFits(file, weights + kv + scratchEstimate + (2 << 20));
    const kernels = await Kernels.create({ threads: options.threads ?? 1 });
    try {
      const w = await loadWeights(file, hp, kernels, options.onProgress);
      const slots = new Map(slotNames.map((name) => [name, allocateSlot(kernels, name, layout)]));
      const transformer = new Transformer(kernels, hp, w, batch, nCtx);
      return new Model(file, hp, kernels, transformer, slots);
    } catch (err) {
      await kernels.close();
      throw err;
    }
  }

  get contextSize(): number {
    return this.transformer.nCtx;
  }

  slot(name: string): KvSlot {
    const s = this.slotsByName.get(name);
    if (!s) throw new Error(`no KV slot "${name}" (slots: ${[...this.slotsByName.keys()].join(", ")})`);
    return s;
  }

  async dispose(): Promise<void> {
    await this.kernels.close();
  }
}
