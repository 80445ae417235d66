// A little-endian cursor over a prefix of a file. The parser runs synchronously over the bytes
// loaded so far; when it needs bytes that exist in the file but are not loaded yet it throws
// `NeedMore`, and the driver (reader.ts) loads a bigger prefix and parses again. That keeps the hot
// loops (100k+ vocabulary strings) free of per-value async calls, while the header is still read
// without loading the file. Every length is checked against the real file size first, so a bogus
// count or length is a GgufError before anything is allocated or loaded.

import { GgufError } from "./errors.ts";

/** Internal signal: the parse needs the file prefix up to `end` bytes. Never escapes reader.ts. */
export class NeedMore {
  constructor(readonly end: number) {}
}

// ignoreBOM: a string that starts with U+FEFF keeps it (Llama-2 has a token that is exactly "\uFEFF").
const decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
const TWO_32 = 2 ** 32;

export class Cursor {
  pos = 0;
  /** What is being read, for the "file ends inside ..." message. */
  what = "the header";
  private readonly view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    readonly fileSize: number,
    readonly file: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  fail(problem: string): never {
    throw new GgufError(this.file, problem);
  }

  remaining(): number {
    return this.fileSize - this.pos;
  }

  /** Makes sure `n` bytes at `pos` are loaded; a truncation error if the file has fewer. */
  need(n: number): void {
    const end = this.pos + n;
    if (end > this.fileSize) {
      this.fail(`truncated header: the file (${this.fileSize} bytes) ends inside ${this.what}, at offset ${this.pos}`);
    }
    if (end > this.bytes.length) throw new NeedMore(end);
  }

  u8(): number {
    this.need(1);
    return this.view.getUint8(this.pos++);
  }
  i8(): number {
    this.need(1);
    return this.view.getInt8(this.pos++);
  }
  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  i16(): number {
    this.need(2);
    const v = this.view.getInt16(this.pos, true);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  i32(): number {
    this.need(4);
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }
  f32(): number {
    this.need(4);
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }
  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }
  u64Big(): bigint {
    this.need(8);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }
  i64Big(): bigint {
    this.need(8);
    const v = this.view.getBigInt64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /**
   * A u64 count/length/offset as a number without BigInt cost (hot: every string length).
   * Above 2^53 it is inexact but still huge, so size checks against the file still reject it;
   * callers must compare it with `remaining()` or the file size before using it.
   */
  u64(): number {
    this.need(8);
    const lo = this.view.getUint32(this.pos, true);
    const hi = this.view.getUint32(this.pos + 4, true);
    this.pos += 8;
    return hi * TWO_32 + lo;
  }

  /** A GGUF string: u64 byte length + UTF-8 bytes (not NUL-terminated). */
  str(): string {
    const len = this.u64();
    if (len > this.remaining()) {
      this.fail(`truncated or corrupt header: string length ${len} at offset ${this.pos - 8} (in ${this.what}) exceeds the ${this.remaining()} bytes left in the file`);
    }
    this.need(len);
    const s = decoder.decode(this.bytes.subarray(this.pos, this.pos + len));
    this.pos += len;
    return s;
  }
}
