// Small seeded random sources for tests: deterministic across runs and machines.

/** mulberry32: a 32-bit state PRNG returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples (Box–Muller) from a uniform source. */
export function gaussian(rand: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const u = 1 - rand(); // (0, 1]: log stays finite
    const v = rand();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/** `n` float32 samples of N(0, scale²) from seed `seed`. */
export function gaussianArray(seed: number, n: number, scale = 1): Float32Array {
  const g = gaussian(mulberry32(seed));
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = g() * scale;
  return out;
}

/**
 * Weight-like test data of `n` values: gaussian blocks whose scale varies by block, with sparse
 * outliers, some all-zero and constant runs, and occasional exact ties — the cases that exercise
 * quantisers' edge paths.
 */
export function weightLikeArray(seed: number, n: number): Float32Array {
  const rand = mulberry32(seed);
  const g = gaussian(rand);
  const out = new Float32Array(n);
  for (let b = 0; b < n; b += 32) {
    const kind = rand();
    const scale = 10 ** (rand() * 4 - 3); // 1e-3 .. 10
    for (let j = b; j < Math.min(n, b + 32); j++) {
      if (kind < 0.05) out[j] = 0;
      else if (kind < 0.08) out[j] = scale;
      else if (kind < 0.12) out[j] = Math.round(g() * 4) * scale; // many exact ties
      else if (kind < 0.2) out[j] = Math.abs(g()) * scale; // all positive (min > 0 paths)
      else out[j] = g() * scale * (rand() < 0.02 ? 20 : 1);
    }
  }
  return out;
}
