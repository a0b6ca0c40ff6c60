// Guest memory access with the bounds checks of proxy-wasm-cpp-host src/v8/v8.cc
// (getMemory/setMemory/getWord/setWord: out of range -> the host call fails with
// InvalidMemoryAccess, never a JS exception) and WasmBase::copyToPointerSize
// (include/proxy-wasm/wasm.h: malloc in the guest, copy, write pointer and size as
// little-endian u32; nothing is allocated for an empty value).

import type { WasmMemory } from "./wasm-api";

/** Calls the module's malloc/proxy_on_memory_allocate; returns 0 when it fails. */
export type Allocator = (size: number) => number;

export class GuestMemory {
  constructor(private readonly memory: WasmMemory, private readonly allocator: Allocator) {}

  /**
   * A view of the whole memory as it is now. Made on each use: growing the memory (any call
   * into the guest may) replaces its buffer, and a view of the old one reads nothing.
   */
  get buf(): Buffer {
    return Buffer.from(this.memory.buffer);
  }

  get size(): number {
    return this.memory.buffer.byteLength;
  }

  ok(ptr: number, len: number): boolean {
    return ptr + len <= this.size;
  }

  /** View of guest bytes, or undefined when the range is out of bounds. */
  view(ptr: number, len: number): Buffer | undefined {
    if (!this.ok(ptr, len)) return undefined;
    return this.buf.subarray(ptr, ptr + len);
  }

  latin1(ptr: number, len: number): string | undefined {
    return this.view(ptr, len)?.toString("latin1");
  }

  utf8(ptr: number, len: number): string | undefined {
    return this.view(ptr, len)?.toString("utf8");
  }

  readU32(ptr: number): number | undefined {
    return this.view(ptr, 4)?.readUInt32LE(0);
  }

  writeU32(ptr: number, value: number): boolean {
    const v = this.view(ptr, 4);
    v?.writeUInt32LE(value >>> 0, 0);
    return v !== undefined;
  }

  writeU64(ptr: number, value: bigint): boolean {
    const v = this.view(ptr, 8);
    v?.writeBigUInt64LE(BigInt.asUintN(64, value), 0);
    return v !== undefined;
  }

  /** Copies `data` into guest memory at `ptr`; false when it does not fit. */
  write(ptr: number, data: Uint8Array): boolean {
    const v = this.view(ptr, data.length);
    v?.set(data);
    return v !== undefined;
  }

  /** malloc in the guest; returns 0 when malloc fails, traps or returns an out-of-range block. */
  alloc(size: number): number {
    const p = this.allocator(size) >>> 0;
    if (p === 0 || !this.ok(p, size)) return 0;
    return p;
  }

  /** WasmBase::copyToPointerSize for bytes. */
  copyBytesOut(src: Uint8Array, ptrPtr: number, sizePtr: number): boolean {
    let p = 0;
    if (src.length > 0) {
      p = this.alloc(src.length);
      if (p === 0) return false;
      this.write(p, src);
    }
    return this.writeU32(ptrPtr, p) && this.writeU32(sizePtr, src.length);
  }

  /** WasmBase::copyToPointerSize for a string whose chars are bytes (latin1). */
  copyLatin1Out(src: string, ptrPtr: number, sizePtr: number): boolean {
    return this.copyBytesOut(Buffer.from(src, "latin1"), ptrPtr, sizePtr);
  }
}
