// Picks the next token from logits: greedy, or llama.cpp's usual chain — repetition/presence
// penalties over recent tokens, top-k, top-p, min-p, temperature, then a draw from a seeded
// generator (so a seed reproduces a run).

export interface SamplingOptions {
  /** 0 (default) = greedy. */
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  /** Divides positive logits (multiplies negative ones) of recently seen tokens; 1 = off. */
  repeatPenalty?: number;
  /** Subtracted from the logits of recently seen tokens; 0 = off. */
  presencePenalty?: number;
  /** How many recent tokens the penalties look at (default 64). */
  penaltyLastN?: number;
  seed?: number;
}

export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/**
 * Ids of the k largest logits, largest first (ties: lower id first, as a stable sort gives).
 * One pass with a small sorted buffer: sorting a 150k vocabulary for every token would cost
 * more than the sampling itself.
 */
export function topKIds(logits: ArrayLike<number>, k: number): number[] {
  const ids: number[] = [];
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i];
    if (ids.length === k && v <= logits[ids[k - 1]]) continue;
    let j = ids.length < k ? ids.length : k - 1;
    while (j > 0 && logits[ids[j - 1]] < v) {
      if (j < k) ids[j] = ids[j - 1];
      j--;
    }
    ids[j] = i;
    if (ids.length > k) ids.length = k;
  }
  return ids;
}

export class Sampler {
  private state: number;

  constructor(private readonly o: SamplingOptions = {}) {
    this.state = (o.seed ?? 0x2545f491) >>> 0 || 1;
  }

  get greedy(): boolean {
    return !(this.o.temperature && this.o.temperature > 0);
  }

  /** The next token given the logits of the last position and the tokens so far. */
  sample(logits: Float32Array, history: readonly number[]): number {
    const o = this.o;
    const penalised = this.penalties(logits, history);
    if (this.greedy) return argmax(penalised ?? logits);
    const source = penalised ?? logits;
    let ids = o.topK && o.topK > 0 ? topKIds(source, o.topK) : Array.from(source.keys()).sort((a, b) => source[b] - source[a]);
    const temp = o.temperature!;
    const max = source[ids[0]];
    let probs = ids.map((id) => Math.exp((source[id] - max) / temp));
    let sum = probs.reduce((s, p) => s + p, 0);
    probs = probs.map((p) => p / sum);
    let keep = probs.length;
    if (o.topP !== undefined && o.topP < 1) {
      let cum = 0;
      for (let i = 0; i < probs.length; i++) {
        cum += probs[i];
        if (cum >= o.topP) {
          keep = i + 1;
          break;
        }
      }
    }
    if (o.minP && o.minP > 0) {
      const floor = probs[0] * o.minP;
      while (keep > 1 && probs[keep - 1] < floor) keep--;
    }
    ids = ids.slice(0, keep);
    probs = probs.slice(0, keep);
    sum = probs.reduce((s, p) => s + p, 0);
    let r = this.random() * sum;
    for (let i = 0; i < ids.length; i++) {
      r -= probs[i];
      if (r <= 0) return ids[i];
    }
    return ids[ids.length - 1];
  }

  private penalties(logits: Float32Array, history: readonly number[]): Float32Array | undefined {
    const repeat = this.o.repeatPenalty ?? 1;
    const presence = this.o.presencePenalty ?? 0;
    if ((repeat === 1 && presence === 0) || history.length === 0) return undefined;
    const out = Float32Array.from(logits);
    const recent = new Set(history.slice(-(this.o.penaltyLastN ?? 64)));
    for (const id of recent) {
      if (id < 0 || id >= out.length) continue;
      out[id] = out[id] > 0 ? out[id] / repeat : out[id] * repeat;
      out[id] -= presence;
    }
    return out;
  }

  /** xorshift32 in [0, 1). */
  private random(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state / 2 ** 32;
  }
}
