// RoPE's (cos θ, sin θ) tables, computed here rather than in the kernels (which have no libm),
// exactly as llama.cpp's ggml_rope_cache_init makes them:
//   theta_scale = powf(freq_base, -2.0f / n_dims)    (float)
//   theta = (float)pos; for each pair i: θ_i = freq_scale * theta / ff_i; theta *= theta_scale
//   cos = cosf(θ_i) * mscale, sin = sinf(θ_i) * mscale
// every step rounded to float. (Math.pow/cos/sin are correctly rounded where glibc's powf/cosf/
// sinf are within 1 ulp, so a rare entry may differ from llama.cpp's by 1 ulp.)

const fr = Math.fround;

export interface RopeTableOptions {
  freqScale?: number;
  mscale?: number;
  /** Per-pair frequency factors (rope_freqs), when a model has them. */
  freqFactors?: ArrayLike<number>;
}

/**
 * Returns positions.length * nDims floats: for position index t, pairs at [t*nDims + 2i] (cos)
 * and [t*nDims + 2i + 1] (sin), i < nDims/2 — the layout of the rope/rope_rows kernels' table.
 */
export function ropeCosSin(
  positions: ArrayLike<number>,
  nDims: number,
  freqBase: number,
  options: RopeTableOptions = {},
  out: Float32Array<ArrayBufferLike> = new Float32Array(positions.length * nDims),
): Float32Array<ArrayBufferLike> {
  const freqScale = fr(options.freqScale ?? 1);
  const mscale = fr(options.mscale ?? 1);
  const ff = options.freqFactors;
  const thetaScale = fr(Math.pow(fr(freqBase), fr(-2 / nDims)));
  for (let t = 0; t < positions.length; t++) {
    let theta = fr(positions[t]);
    for (let i = 0; i < nDims / 2; i++) {
      const extrap = ff ? fr(theta / fr(ff[i])) : theta;
      const th = fr(freqScale * extrap);
      out[t * nDims + 2 * i] = fr(fr(Math.cos(th)) * mscale);
      out[t * nDims + 2 * i + 1] = fr(fr(Math.sin(th)) * mscale);
      theta = fr(theta * thetaScale);
    }
  }
  return out;
}
