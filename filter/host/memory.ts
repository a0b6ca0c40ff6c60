// Guest memory access with the bounds checks of proxy-wasm-cpp-host src/v8/v8.cc
// (getMemory/setMemory/getWord/setWord: out of range -> the host call fails with
// InvalidMemoryAccess, never a JS exception) and WasmBase::copyToPointerSize
// (include/proxy-wasm/wasm.h: malloc in the guest, copy, write pointer and size as
// little-endian u32; nothing is allocated for an empty value).

import { putLatin1 } from "./headers";
import type { WasmMemory } from "./wasm-api";

/** Calls the module's malloc/proxy_on_memory_allocate; returns 0 when it fails. */
export type Allocator = (size: number) => number;

/** Strings up to this many bytes (a multiple of 4) go through the decode cache. */
const SHORT = 48;
const SLOTS = 256;
/** Per slot: the last four bytes, then the whole words from the start (see latin1()). */
const SLOT_WORDS = 1 + SHORT / 4;

export class GuestMemory {
  u8!: Uint8Array;
  buf!: Buffer;
  dv!: DataView;
  /**
   * Direct-mapped cache of short latin1 strings decoded from guest memory, by a hash of their
   * bytes. Modules pass the same header names and values again and again: a hit costs a
   * compare instead of a call into Buffer's decoder, and hands back a string whose hash V8
   * has already computed, which makes the header maps' Map lookups cheaper too.
   */
  private readonly decoded: string[] = new Array<string>(SLOTS).fill("");
  /** The bytes of each slot's string as little-endian i32 words, compared a word at a time. */
  private readonly words = new Int32Array(SLOTS * SLOT_WORDS);

  constructor(private readonly memory: WasmMemory, private readonly allocator: Allocator) {
    this.refresh();
  }

  /**
   * Re-create the views when the guest grew its memory: growing detaches the old buffer, so a
   * zero-length view means stale views (cheaper than reading memory.buffer on every call).
   */
  sync(): void {
    if (this.u8.length === 0) this.refresh();
  }

  private refresh(): void {
    const ab = this.memory.buffer;
    this.u8 = new Uint8Array(ab);
    this.buf = Buffer.from(ab);
    this.dv = new DataView(ab);
  }

  get size(): number {
    return this.u8.length;
  }

  ok(ptr: number, len: number): boolean {
    return ptr + len <= this.u8.length;
  }

  /** View of guest bytes, or undefined when the range is out of bounds. */
  view(ptr: number, len: number): Buffer | undefined {
    if (ptr + len > this.u8.length) return undefined;
    return this.buf.subarray(ptr, ptr + len);
  }

  latin1(ptr: number, len: number): string | undefined {
    const u8 = this.u8;
    if (ptr + len > u8.length) return undefined;
    if (len > SHORT) return this.buf.toString("latin1", ptr, ptr + len);
    if (len === 0) return "";
    // The bytes as i32 words: the last four (overlapping the others; under four bytes, all
    // of them), then the whole words from the start. Equal length and words: equal bytes.
    const dv = this.dv;
    let last = 0;
    if (len >= 4) last = dv.getInt32(ptr + len - 4, true);
    else for (let i = 0; i < len; i++) last |= u8[ptr + i] << (8 * i);
    const whole = len >>> 2;
    // Hashed on the length, the last word and the first, not on every byte: the compare
    // checks every word anyway, and a collision only costs a decode.
    let h = Math.imul(len ^ last, 0x01000193);
    if (whole > 0) h = Math.imul(h ^ dv.getInt32(ptr, true), 0x01000193);
    const slot = (h ^ (h >>> 16)) & (SLOTS - 1);
    const words = this.words;
    const at = slot * SLOT_WORDS;
    const hit = this.decoded[slot];
    if (hit.length === len && words[at] === last) {
      let k = 0;
      while (k < whole && words[at + 1 + k] === dv.getInt32(ptr + 4 * k, true)) k++;
      if (k === whole) return hit;
    }
    const s = this.buf.toString("latin1", ptr, ptr + len);
    this.decoded[slot] = s;
    words[at] = last;
    for (let k = 0; k < whole; k++) words[at + 1 + k] = dv.getInt32(ptr + 4 * k, true);
    return s;
  }

  utf8(ptr: number, len: number): string | undefined {
    if (ptr + len > this.u8.length) return undefined;
    return this.buf.toString("utf8", ptr, ptr + len);
  }

  readU32(ptr: number): number | undefined {
    if (ptr + 4 > this.u8.length) return undefined;
    return this.dv.getUint32(ptr, true);
  }

  writeU32(ptr: number, value: number): boolean {
    if (ptr + 4 > this.u8.length) return false;
    this.dv.setUint32(ptr, value >>> 0, true);
    return true;
  }

  writeU64(ptr: number, value: bigint): boolean {
    if (ptr + 8 > this.u8.length) return false;
    this.dv.setBigUint64(ptr, BigInt.asUintN(64, value), true);
    return true;
  }

  /** malloc in the guest; returns 0 when malloc fails, traps or returns an out-of-range block. */
  alloc(size: number): number {
    const p = this.allocator(size) >>> 0;
    this.sync();
    if (p === 0 || p + size > this.u8.length) return 0;
    return p;
  }

  /** WasmBase::copyToPointerSize for bytes. */
  copyBytesOut(src: Uint8Array, ptrPtr: number, sizePtr: number): boolean {
    let p = 0;
    if (src.length > 0) {
      p = this.alloc(src.length);
      if (p === 0) return false;
      this.u8.set(src, p);
    }
    return this.writeU32(ptrPtr, p) && this.writeU32(sizePtr, src.length);
  }

  /** WasmBase::copyToPointerSize for a string whose chars are bytes (latin1). */
  copyLatin1Out(src: string, ptrPtr: number, sizePtr: number): boolean {
    let p = 0;
    if (src.length > 0) {
      p = this.alloc(src.length);
      if (p === 0) return false;
      putLatin1(this.u8, p, src);
    }
    return this.writeU32(ptrPtr, p) && this.writeU32(sizePtr, src.length);
  }
}
