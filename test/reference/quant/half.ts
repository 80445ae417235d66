// 16-bit float conversions, bit-exact with what llama.cpp does on x86.
//
// F16: F16C's vcvtps2ph with imm 0 (round to nearest even), which ggml's CPU backend uses for
// activations and which equals ggml's portable `ggml_compute_fp32_to_fp16` for every non-NaN input.
// NaN keeps its sign and top payload bits and becomes quiet (F16C); the portable ggml code gives
// 0x7E00 instead, which is the same for the canonical NaN.
// BF16: ggml's `ggml_compute_fp32_to_bf16`: round to nearest even on the upper 16 bits, NaN made
// quiet by setting bit 6, subnormals kept (older ggml flushed them to zero; AVX512-BF16's
// vcvtneps2bf16 still does — see the report in reference-dot.ts).
//
// Inputs are JS numbers; they are first rounded to float32 (`Math.fround`), as a C `float` would be.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The IEEE bits of `x` rounded to float32. */
export function f32Bits(x: number): number {
  f32[0] = x;
  return u32[0];
}

/** The float32 whose IEEE bits are `bits`. */
export function f32FromBits(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0];
}

/** float32 bits → binary16 bits, round to nearest even (x86 F16C). */
export function f32BitsToF16(bits: number): number {
  bits >>>= 0;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) {
    // inf stays inf; NaN: quiet bit set, top 9 payload bits kept (F16C).
    return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13);
  }
  const e = exp - 127 + 15; // biased half exponent
  if (e >= 31) return sign | 0x7c00; // overflow even before rounding
  if (e <= 0) {
    // Result is subnormal (or zero). Value = m * 2^(exp-150); unit of a half subnormal is 2^-24.
    if (exp === 0) return sign; // float32 subnormals are far below half's smallest subnormal
    const m = mant | 0x800000;
    const shift = 14 - e;
    if (shift > 24) return sign; // below half of the smallest subnormal: rounds to zero
    const q = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    const up = rem > half || (rem === half && (q & 1) === 1) ? 1 : 0;
    return sign | (q + up); // q + up may reach 0x400, the smallest normal: encoding still right
  }
  const q = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  const up = rem > 0x1000 || (rem === 0x1000 && (q & 1) === 1) ? 1 : 0;
  return sign | (q + up); // a carry out of the mantissa bumps the exponent, up to 0x7c00 = inf
}

/** number → binary16 bits (round to float32 first, then to nearest-even half). */
export function f32ToF16(x: number): number {
  return f32BitsToF16(f32Bits(x));
}

/** binary16 bits → its exact value (every half is exactly representable in float32). */
export function f16ToF32(h: number): number {
  h &= 0xffff;
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) {
    if (mant === 0) return sign * Infinity;
    return f32FromBits(((h & 0x8000) << 16) | 0x7f800000 | (mant << 13));
  }
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** float32 bits → bfloat16 bits, exactly ggml's `ggml_compute_fp32_to_bf16`. */
export function f32BitsToBf16(bits: number): number {
  bits >>>= 0;
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 64) & 0xffff; // NaN → quiet
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** number → bfloat16 bits (round to float32 first). */
export function f32ToBf16(x: number): number {
  return f32BitsToBf16(f32Bits(x));
}

/** bfloat16 bits → float32 value (the upper half of a float32). */
export function bf16ToF32(h: number): number {
  return f32FromBits((h & 0xffff) << 16);
}

/** `x` rounded through binary16 and back, as a number. */
export function roundToF16(x: number): number {
  return f16ToF32(f32ToF16(x));
}
