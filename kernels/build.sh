#!/usr/bin/env bash
# Builds the WASM SIMD kernels: C (freestanding, no libc) → wasm32 with SIMD128, threads (atomics,
# shared imported memory), by Debian's clang-19 and wasm-ld-19. Two builds of the same sources:
#   dist/kernels.wasm          SIMD128 (every wasm host with SIMD)
#   dist/kernels-relaxed.wasm  plus relaxed SIMD (i16x8.relaxed_dot_i8x16_i7x16_s in the K-quant
#                              products), chosen at run time when WebAssembly.validate accepts it
# Both compute the same integers in the same lanes, so their results are identical (tested).
set -euo pipefail
cd "$(dirname "$0")/.."
CC=${CC:-clang-19}
command -v "$CC" >/dev/null || { echo "kernels/build.sh: $CC not found (apt-get install clang-19 lld-19)" >&2; exit 1; }
mkdir -p dist
flags=(
  --target=wasm32 -O3 -std=c11 -Wall -Wextra -Werror
  -ffreestanding -nostdlib -fno-math-errno -ffp-contract=off
  -msimd128 -matomics -mbulk-memory -mmutable-globals -mnontrapping-fptoint -msign-ext
  -Wl,--no-entry -Wl,--import-memory -Wl,--shared-memory -Wl,--max-memory=4294967296
  -Wl,--stack-first -Wl,-z,stack-size=1048576
  -Wl,--export=__stack_pointer -Wl,--export=__heap_base
)
"$CC" "${flags[@]}" kernels/*.c -o dist/kernels.wasm
echo "built dist/kernels.wasm ($(stat -c %s dist/kernels.wasm) bytes)"
"$CC" "${flags[@]}" -mrelaxed-simd kernels/*.c -o dist/kernels-relaxed.wasm
echo "built dist/kernels-relaxed.wasm ($(stat -c %s dist/kernels-relaxed.wasm) bytes)"
