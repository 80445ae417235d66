// F16 / BF16 conversions: exact bit patterns at the edges (ties, subnormals, overflow, NaN).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  bf16ToF32, f16ToF32, f32Bits, f32BitsToBf16, f32BitsToF16, f32FromBits, f32ToBf16, f32ToF16,
} from "../reference/quant/half.ts";
import { mulberry32 } from "../helpers/random.ts";

const hex = (v: number): string => "0x" + v.toString(16);

test("f32ToF16: exact values, max, overflow", () => {
  assert.equal(f32ToF16(0), 0x0000);
  assert.equal(f32ToF16(-0), 0x8000);
  assert.equal(f32ToF16(1), 0x3c00);
  assert.equal(f32ToF16(-2), 0xc000);
  assert.equal(f32ToF16(0.5), 0x3800);
  assert.equal(f32ToF16(65504), 0x7bff); // largest finite half
  assert.equal(f32ToF16(65519.996), 0x7bff); // just below the tie with 65536
  assert.equal(f32ToF16(65520), 0x7c00); // tie between 65504 (odd) and 2^16 → even = inf
  assert.equal(f32ToF16(1e6), 0x7c00);
  assert.equal(f32ToF16(-1e6), 0xfc00);
  assert.equal(f32ToF16(Infinity), 0x7c00);
  assert.equal(f32ToF16(-Infinity), 0xfc00);
});

test("f32ToF16: round to nearest even at ties", () => {
  assert.equal(f32ToF16(1 + 2 ** -11), 0x3c00); // tie, 0x3c00 even
  assert.equal(f32ToF16(1 + 3 * 2 ** -11), 0x3c02); // tie, 0x3c01 odd → up
  assert.equal(f32ToF16(1 + 2 ** -11 + 2 ** -20), 0x3c01); // above the tie
  assert.equal(f32ToF16(2048 + 1), 0x6800); // ulp 2 at 2048: tie → even
  assert.equal(f32ToF16(2048 + 3), 0x6802);
  assert.equal(f32ToF16(2 - 2 ** -12), 0x4000); // rounds up across the exponent
});

test("f32ToF16: subnormals", () => {
  assert.equal(f32ToF16(2 ** -24), 0x0001); // smallest subnormal
  assert.equal(f32ToF16(2 ** -25), 0x0000); // tie with 0 → even
  assert.equal(f32ToF16(2 ** -25 * 1.0001), 0x0001);
  assert.equal(f32ToF16(3 * 2 ** -25), 0x0002); // tie between 1 and 2 → 2
  assert.equal(f32ToF16(5 * 2 ** -25), 0x0002); // tie between 2 and 3 → 2
  assert.equal(f32ToF16(-(2 ** -24)), 0x8001);
  assert.equal(f32ToF16(1023 * 2 ** -24), 0x03ff); // largest subnormal
  assert.equal(f32ToF16(1023.5 * 2 ** -24), 0x0400); // tie → even = smallest normal
  assert.equal(f32ToF16(2 ** -14), 0x0400);
  assert.equal(f32ToF16(1e-10), 0x0000);
  assert.equal(f32BitsToF16(0x00000001), 0x0000); // float32 subnormal
  assert.equal(f32BitsToF16(0x80000001), 0x8000);
});

test("f32ToF16: NaN is quiet and keeps sign and top payload bits (F16C)", () => {
  assert.equal(f32ToF16(NaN), 0x7e00);
  assert.equal(f32BitsToF16(0xffc00000), 0xfe00);
  assert.equal(f32BitsToF16(0x7f800001), 0x7e00); // signalling NaN with a low payload
  assert.equal(f32BitsToF16(0x7fa02000), 0x7f01); // payload bits 22..13 kept, quiet bit set
});

test("f16ToF32: every half round-trips, values are exact", () => {
  for (let h = 0; h < 0x10000; h++) {
    const v = f16ToF32(h);
    if (Number.isNaN(v)) {
      assert.ok((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0, hex(h));
      continue;
    }
    assert.equal(f32ToF16(v), h, `half ${hex(h)} → ${v}`);
  }
  assert.equal(f16ToF32(0x3c00), 1);
  assert.equal(f16ToF32(0x0001), 2 ** -24);
  assert.equal(f16ToF32(0x7bff), 65504);
  assert.equal(f16ToF32(0xfc00), -Infinity);
  assert.ok(Object.is(f16ToF32(0x8000), -0));
});

test("f32ToF16 picks the nearest half (ties to even) for random floats", () => {
  const rand = mulberry32(1);
  for (let i = 0; i < 200_000; i++) {
    // exponents around the half range, including subnormal and overflow regions
    const e = Math.floor(rand() * 50) - 30;
    const x = f32FromBits(f32Bits((rand() * 2 - 1) * 2 ** e));
    const h = f32ToF16(x);
    const v = f16ToF32(h);
    if (!Number.isFinite(v)) {
      assert.ok(Math.abs(x) >= 65520, `${x} → ${hex(h)}`);
      continue;
    }
    // Rounding is sign-symmetric: compare |x| with the magnitudes next to the chosen one.
    const ax = Math.abs(x);
    const mag = h & 0x7fff;
    assert.equal(h >> 15, x < 0 || Object.is(x, -0) ? 1 : 0, `sign of ${x}`);
    const err = Math.abs(Math.abs(v) - ax);
    const next = Math.abs(f16ToF32(mag + 1) - ax);
    const prev = mag > 0 ? Math.abs(f16ToF32(mag - 1) - ax) : Infinity;
    assert.ok(err <= next && err <= prev, `${x} → ${hex(h)} (${v}) is not the nearest half`);
    if (err !== 0 && (err === next || err === prev)) assert.equal(h & 1, 0, `tie for ${x} not rounded to even`);
  }
});

test("f32ToBf16: ggml's round to nearest even, NaN quieted, subnormals kept", () => {
  assert.equal(f32ToBf16(1), 0x3f80);
  assert.equal(f32ToBf16(-2), 0xc000);
  assert.equal(f32BitsToBf16(0x3f808000), 0x3f80); // tie, even stays
  assert.equal(f32BitsToBf16(0x3f818000), 0x3f82); // tie, odd rounds up
  assert.equal(f32BitsToBf16(0x3f808001), 0x3f81); // above the tie
  assert.equal(f32BitsToBf16(0x3f807fff), 0x3f80);
  assert.equal(f32BitsToBf16(0x7f7fffff), 0x7f80); // float max rounds to inf, as in ggml
  assert.equal(f32BitsToBf16(0x7f800000), 0x7f80);
  assert.equal(f32BitsToBf16(0xff800000), 0xff80);
  assert.equal(f32BitsToBf16(0x7fc00000), 0x7fc0);
  assert.equal(f32BitsToBf16(0x7f800001), 0x7fc0); // signalling NaN made quiet (| 64)
  assert.equal(f32BitsToBf16(0xffa00000), 0xffe0);
  assert.equal(f32BitsToBf16(0x00010000), 0x0001); // subnormal kept (current ggml)
  assert.equal(f32BitsToBf16(0x00018000), 0x0002); // subnormal tie → even
  assert.equal(f32BitsToBf16(0x80000000), 0x8000);
});

test("bf16ToF32 is the upper half of a float32", () => {
  assert.equal(bf16ToF32(0x3f80), 1);
  assert.equal(bf16ToF32(0xc049), f32FromBits(0xc0490000));
  assert.equal(bf16ToF32(0x7f80), Infinity);
  assert.ok(Number.isNaN(bf16ToF32(0x7fc0)));
  for (let h = 0; h < 0x10000; h += 7) {
    const v = bf16ToF32(h);
    if (!Number.isNaN(v)) assert.equal(f32ToBf16(v), h);
  }
});
