// A bump allocator over the kernels' shared memory. Weights, the KV cache and scratch buffers are
// allocated once (no per-token allocation); scratch is released with mark/reset. Memory grows in
// pages as needed up to wasm32's 4 GiB.

const PAGE = 65536;
export const MAX_MEMORY_BYTES = 65536 * PAGE;

export class Arena {
  private top: number;

  constructor(
    private readonly memory: WebAssembly.Memory,
    base: number,
  ) {
    this.top = base;
  }

  /** Returns the address of `bytes` fresh bytes aligned to `align` (a power of two). */
  alloc(bytes: number, align = 64): number {
    if (!Number.isInteger(bytes) || bytes < 0) throw new Error(`cannot allocate ${bytes} bytes`);
    const ptr = Math.ceil(this.top / align) * align;
    const end = ptr + bytes;
    if (end > MAX_MEMORY_BYTES) {
      throw new Error(
        `out of engine memory: ${formatMiB(end)} needed, wasm32 memory is limited to ${formatMiB(MAX_MEMORY_BYTES)}`,
      );
    }
    const have = this.memory.buffer.byteLength;
    if (end > have) this.memory.grow(Math.ceil((end - have) / PAGE));
    this.top = end;
    return ptr;
  }

  /** The current top, to be given back to `reset` to free everything allocated after it. */
  mark(): number {
    return this.top;
  }

  reset(mark: number): void {
    if (mark > this.top) throw new Error("arena reset above its top");
    this.top = mark;
  }

  get used(): number {
    return this.top;
  }
}

function formatMiB(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}
