// A model's hyper-parameters and per-architecture switches, all read from GGUF metadata with
// llama.cpp's defaults for optional keys. Nothing about a model is hard-coded elsewhere.
import type { GgufFile } from "../gguf/reader.ts";
import { GgufError } from "../gguf/errors.ts";

export const SUPPORTED_ARCHITECTURES = ["llama", "smollm3", "qwen2", "qwen3"] as const;
export type Architecture = (typeof SUPPORTED_ARCHITECTURES)[number];

export enum RopeMode {
  /** ggml GGML_ROPE_TYPE_NORM: rotates adjacent pairs (x[2i], x[2i+1]). */
  Normal = 0,
  /** ggml GGML_ROPE_TYPE_NEOX: rotates (x[i], x[i + n_dims/2]). */
  NeoX = 2,
}

export interface HParams {
  readonly arch: Architecture;
  readonly nLayer: number;
  readonly nEmbd: number;
  readonly nFF: number;
  readonly nHead: number;
  readonly nHeadKV: number;
  /** Dimension of one query/key head (may differ from nEmbd / nHead, e.g. qwen3). */
  readonly headDimK: number;
  readonly headDimV: number;
  readonly nVocab: number;
  readonly nCtxTrain: number;
  readonly rmsEps: number;
  readonly ropeFreqBase: number;
  readonly ropeFreqScale: number;
  /** Dimensions of each head that RoPE rotates. */
  readonly ropeDims: number;
  readonly ropeMode: RopeMode;
  /** Per layer: whether it applies rotary embeddings (SmolLM3's NoPE layers do not). */
  readonly useRope: readonly boolean[];
  /** qwen2: Q/K/V projections carry biases. */
  readonly qkvBias: boolean;
  /** qwen3: RMSNorm of each Q and K head before RoPE. */
  readonly qkNorm: boolean;
}

/** llama.cpp's rule for smollm3: every 4th layer ((i+1) % 4 == 0) uses no positional encoding. */
const SMOLLM3_NO_ROPE_LAYER_STEP = 4;

export function readHParams(file: GgufFile): HParams {
  const arch = file.architecture;
  if (arch === undefined) throw new GgufError(file.path, "missing metadata key \"general.architecture\"");
  if (!(SUPPORTED_ARCHITECTURES as readonly string[]).includes(arch)) {
    throw new GgufError(file.path, `architecture "${arch}" is not supported (supported: ${SUPPORTED_ARCHITECTURES.join(", ")})`);
  }
  const a = arch as Architecture;
  const key = (k: string): string => `${a}.${k}`;
  const nEmbd = file.getNumber(key("embedding_length"));
  const nHead = file.getNumber(key("attention.head_count"));
  const nHeadKV = file.optNumber(key("attention.head_count_kv")) ?? nHead;
  const nLayer = file.getNumber(key("block_count"));
  if (nHead <= 0 || nHeadKV <= 0 || nHead % nHeadKV !== 0) {
    throw new GgufError(file.path, `${nHead} attention heads cannot share ${nHeadKV} key/value heads`);
  }
  const headDimK = file.optNumber(key("attention.key_length")) ?? nEmbd / nHead;
  const headDimV = file.optNumber(key("attention.value_length")) ?? nEmbd / nHead;
  const tokens = file.optStringArray("tokenizer.ggml.tokens");
  const nVocab = file.optNumber(key("vocab_size")) ?? tokens?.length ?? file.requireTensor("token_embd.weight").dims[1];
  const noRopeStep = a === "smollm3" ? SMOLLM3_NO_ROPE_LAYER_STEP : 0;
  const useRope = Array.from({ length: nLayer }, (_, i) => noRopeStep === 0 || (i + 1) % noRopeStep !== 0);
  const scalingType = file.optString(key("rope.scaling.type"));
  const scalingFactor = file.optNumber(key("rope.scaling.factor"));
  const ropeFreqScale =
    file.optNumber(key("rope.freq_scale")) ??
    (scalingType === "linear" && scalingFactor ? 1 / scalingFactor : 1);
  return {
    arch: a,
    nLayer,
    nEmbd,
    nFF: file.getNumber(key("feed_forward_length")),
    nHead,
    nHeadKV,
    headDimK,
    headDimV,
    nVocab,
    nCtxTrain: file.optNumber(key("context_length")) ?? 2048,
    rmsEps: file.optNumber(key("attention.layer_norm_rms_epsilon")) ?? 1e-5,
    ropeFreqBase: file.optNumber(key("rope.freq_base")) ?? 10000,
    ropeFreqScale,
    ropeDims: file.optNumber(key("rope.dimension_count")) ?? headDimK,
    ropeMode: a === "qwen2" || a === "qwen3" ? RopeMode.NeoX : RopeMode.Normal,
    useRope,
    qkvBias: a === "qwen2",
    qkNorm: a === "qwen3",
  };
}
