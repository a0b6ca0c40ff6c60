// The byte buffer, and the byte helpers behind it: the one place bytes are read and written.
// Everything the filter reads from the wire is raw bytes, so matching, logging and
// replies work on bytes too; AssemblyScript strings (UTF-16) appear only for fixed
// ASCII text and config messages. Every write goes through a Bytes method that makes room
// for its own worst case first, so no caller computes a size by hand.

import { hex4, fieldLen, fieldRoom, writeJsonField, jsonRoom, utf8Step, stepCodePoint, stepNext, copyUtf8, writeJson, copyBytes, ELLIPSIS } from "./text";

// Scratch for Bytes.int: an i64 has at most 19 digits.
const digits = memory.data(24);

export class Bytes {
  private buf: ArrayBuffer;
  // The content's length; read it as len. Only this class sets it, and never past buf.
  private size: i32 = 0;

  constructor(capacity: i32 = 64) {
    this.buf = new ArrayBuffer(capacity < 16 ? 16 : capacity);
  }


  /** A Bytes over `buf` (a buffer the host filled), without copying it. */
  static wrap(buf: ArrayBuffer): Bytes {
    const b = new Bytes(0);
    b.buf = buf;
    b.size = buf.byteLength;
    return b;
  }

  /** How many bytes it holds. */
  @inline get len(): i32 { return this.size; }

  /** How many bytes it can hold before it grows. */
  @inline get capacity(): i32 { return this.buf.byteLength; }

  /** Removes the last byte, if any (the JSON scanner's container stack, once per container). */
  @inline pop(): void { if (this.size > 0) this.size--; }

  /** Appends `v` as four bytes, little-endian (the host's binary formats). */
  u32(v: u32): void {
    if (this.size + 4 > this.buf.byteLength) this.ensure(4);
    store<u32>(this.ptr + <usize>this.size, v);
    this.size += 4;
  }

  /** Where the content starts: a span to hand back to this layer, valid until the buffer grows. */
  @inline get ptr(): usize { return changetype<usize>(this.buf); }

  /** Byte `i` of the content; 0 outside it. For one byte: to find one, use indexOf or lineBreak. */
  at(i: i32): i32 { return <u32>i < <u32>this.size ? <i32>load<u8>(this.ptr + <usize>i) : 0; }

  reset(): void { this.size = 0; }

  /** Where [from, to) of the content starts without its leading spaces and tabs. */
  trimStart(from: i32, to: i32): i32 {
    while (from < to && isOws(<i32>load<u8>(this.ptr + <usize>from))) from++;
    return from;
  }

  /** Where [from, to) of the content ends without its trailing spaces and tabs. */
  trimEnd(from: i32, to: i32): i32 {
    while (to > from && isOws(<i32>load<u8>(this.ptr + <usize>to - 1))) to--;
    return to;
  }

  /** Whether [from, to) of the content is the `n` bytes at `p`. */
  rangeIs(from: i32, to: i32, p: usize, n: i32): bool {
    return from >= 0 && to <= this.size && equalsAt(this.ptr + <usize>from, to - from, p, n);
  }

  /** Index of byte `c` in [from, to) of the content, or -1. */
  indexOf(c: i32, from: i32, to: i32): i32 {
    if (to > this.size) to = this.size;
    const p = this.ptr;
    for (let i = from < 0 ? 0 : from; i < to; i++) if (<i32>load<u8>(p + <usize>i) == c) return i;
    return -1;
  }

  /** Index of the first CR or LF in [from, to) of the content, or `to` when there is none. */
  lineBreak(from: i32, to: i32): i32 {
    const end = to > this.size ? this.size : to;
    const p = this.ptr;
    for (let i = from < 0 ? 0 : from; i < end; i++) {
      const c = load<u8>(p + <usize>i);
      if (c == 0x0a || c == 0x0d) return i;
    }
    return to;
  }

  /** Removes the first `n` bytes of the content. */
  dropFront(n: i32): void {
    if (n <= 0) return;
    if (n >= this.size) { this.size = 0; return; }
    this.size -= n;
    memory.copy(this.ptr, this.ptr + <usize>n, <usize>this.size);
  }

  /** Replaces the content with the `n` bytes at `p`. */
  copyFrom(p: usize, n: i32): void {
    this.size = 0;
    this.raw(p, n);
  }

  /** Replaces the content with the `n` bytes at `p`, ASCII-lowercased (for case-insensitive compares). */
  lowerFrom(p: usize, n: i32): void {
    this.size = 0;
    if (n <= 0) return;
    const q = this.reserve(n);
    for (let i: usize = 0; i < <usize>n; i++) {
      const c = <u32>load<u8>(p + i);
      store<u8>(q + i, <u8>(c - 0x41 < 26 ? c + 0x20 : c));
    }
    this.size = n;
  }

  /**
   * Replaces the content with a JSON string's text (the bytes between its quotes, already
   * validated, at [from, to)) decoded: escapes applied, raw bytes run through the WHATWG UTF-8
   * decoder (maximal-subpart U+FFFD replacement), surrogate escape pairs joined. The result is
   * WTF-8: a lone surrogate from a \u escape stays distinct from U+FFFD, as in a JS string.
   */
  jsonFrom(from: usize, to: usize): void {
    let p = from;
    this.size = 0;
    this.ensure(<i32>(to - from)); // most text decodes to at most its own length
    while (p < to) {
      // Copy the run of plain ASCII in one go.
      let q = p;
      while (q < to) {
        const d = load<u8>(q);
        if (d >= 0x80 || d == 0x5c) break;
        q++;
      }
      if (q > p) { this.raw(p, <i32>(q - p)); p = q; if (p >= to) break; }
      const c = <i32>load<u8>(p);
      if (c == 0x5c) {
        const x = <i32>load<u8>(p + 1);
        if (x != 0x75) {
          this.byte(x == 0x62 ? 0x08 : x == 0x66 ? 0x0c : x == 0x6e ? 0x0a : x == 0x72 ? 0x0d : x == 0x74 ? 0x09 : x);
          p += 2;
          continue;
        }
        let cp = hex4(p + 2);
        p += 6;
        if (cp >= 0xd800 && cp <= 0xdbff && p + 6 <= to && load<u8>(p) == 0x5c && load<u8>(p + 1) == 0x75) {
          const lo = hex4(p + 2);
          if (lo >= 0xdc00 && lo <= 0xdfff) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            p += 6;
          }
        }
        this.codePoint(cp);
        continue;
      }
      if (c < 0x80) { this.byte(c); p++; continue; }
      const step = utf8Step(p, to);
      this.codePoint(stepCodePoint(step));
      p = stepNext(step);
    }
  }

  /** Appends one code point (a lone surrogate too) as UTF-8. */
  private codePoint(cp: i32): void {
    if (cp < 0x80) { this.byte(cp); return; }
    if (cp < 0x800) { this.byte(0xc0 | (cp >> 6)); this.byte(0x80 | (cp & 0x3f)); return; }
    if (cp < 0x10000) {
      this.byte(0xe0 | (cp >> 12)); this.byte(0x80 | ((cp >> 6) & 0x3f)); this.byte(0x80 | (cp & 0x3f));
      return;
    }
    this.byte(0xf0 | (cp >> 18)); this.byte(0x80 | ((cp >> 12) & 0x3f));
    this.byte(0x80 | ((cp >> 6) & 0x3f)); this.byte(0x80 | (cp & 0x3f));
  }

  /** Empties the buffer; false if it grew past `keep` bytes, so the owner should drop it. */
  recycle(keep: i32): bool {
    this.size = 0;
    return this.buf.byteLength <= keep;
  }

  /** Makes room for `extra` more bytes. */
  ensure(extra: i32): void {
    const need = this.size + extra;
    if (need <= this.buf.byteLength) return;
    let cap = this.buf.byteLength << 1;
    while (cap < need) cap <<= 1;
    const next = new ArrayBuffer(cap);
    memory.copy(changetype<usize>(next), changetype<usize>(this.buf), <usize>this.size);
    this.buf = next;
  }

  byte(b: i32): void {
    if (this.size >= this.buf.byteLength) this.ensure(1); // the common case checked inline
    store<u8>(this.ptr + <usize>this.size, <u8>b);
    this.size++;
  }

  raw(src: usize, n: i32): void {
    if (n <= 0) return;
    if (this.size + n > this.buf.byteLength) this.ensure(n); // the common case checked inline
    copyBytes(this.ptr + <usize>this.size, src, n);
    this.size += n;
  }

  /** Appends what fieldLen keeps of `b`, with "…" when some was cut. */
  addField(b: Bytes): void {
    const k = fieldLen(b.ptr, b.len);
    this.raw(b.ptr, k);
    if (k < b.len) this.raw(ELLIPSIS, 3);
  }

  /** Appends text as UTF-8; ASCII (the common case: fixed fragments) without allocating. */
  str(s: string): void {
    const n = s.length;
    this.ensure(n);
    let p = this.ptr + <usize>this.size;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        const enc = String.UTF8.encode(s.substring(i));
        this.size = <i32>(p - this.ptr);
        this.raw(changetype<usize>(enc), enc.byteLength);
        return;
      }
      store<u8>(p++, <u8>c);
    }
    this.size += n;
  }

  int(v: i64): void {
    if (v < 0) { this.byte(0x2d); v = -v; }
    if (v == 0) { this.byte(0x30); return; }
    let n = 0;
    while (v > 0) { store<u8>(digits + <usize>n, <u8>(v % 10 + 0x30)); n++; v /= 10; }
    const q = this.reserve(n);
    for (let i = 0; i < n; i++) store<u8>(q + <usize>i, load<u8>(digits + <usize>(n - 1 - i)));
    this.size += n;
  }

  /**
   * Appends `s` (WTF-8: UTF-8 that may hold lone surrogates) as a JSON string literal.
   * Room for the worst case is reserved once (see jsonRoom).
   */
  jsonStr(src: usize, n: i32): void {
    this.ensure(jsonRoom(n));
    this.size = <i32>(writeJson(this.ptr + <usize>this.size, src, n) - this.ptr);
  }

  /**
   * Appends what fieldLen keeps of `s` (WTF-8) as a JSON string literal, with "…" inside the
   * quotes when some was cut.
   */
  jsonField(src: usize, n: i32): void {
    this.ensure(fieldRoom(n));
    this.size = <i32>(writeJsonField(this.ptr + <usize>this.size, src, n) - this.ptr);
  }

  /** Appends `n` bytes of JSON text (a raw id) as valid UTF-8, as TextDecoder reads them. */
  utf8(src: usize, n: i32): void {
    this.ensure(n * 3);
    this.size = <i32>(copyUtf8(this.ptr + <usize>this.size, src, n) - this.ptr);
  }

  /** The write position, after making room for `n` bytes; the caller then adds to len. */
  private reserve(n: i32): usize {
    this.ensure(n);
    return this.ptr + <usize>this.size;
  }

  jsonBytes(b: Bytes): void { this.jsonStr(b.ptr, b.len); }

  jsonText(s: string): void {
    const enc = String.UTF8.encode(s);
    this.jsonStr(changetype<usize>(enc), enc.byteLength);
  }

  toArrayBuffer(): ArrayBuffer {
    const out = new ArrayBuffer(this.size);
    memory.copy(changetype<usize>(out), this.ptr, <usize>this.size);
    return out;
  }

  toString(): string { return String.UTF8.decodeUnsafe(this.ptr, <usize>this.size); }
}

@inline function isOws(c: i32): bool { return c == 0x20 || c == 0x09; }

/** Bytes of an ASCII literal, for comparisons on the hot path. */
export function ascii(s: string): Bytes {
  const b = new Bytes(s.length);
  for (let i = 0; i < s.length; i++) b.byte(s.charCodeAt(i));
  return b;
}

/**
 * True when the `n` bytes at `a` and `b` are equal. For the short strings the filter compares
 * (keys, header names, method and tool names) eight bytes at a time; memory.compare would be
 * inlined as a large general memcmp at every call site.
 */
export function sameBytes(a: usize, b: usize, n: i32): bool {
  const k = <usize>n;
  let i: usize = 0;
  while (i + 8 <= k) {
    if (load<u64>(a + i) != load<u64>(b + i)) return false;
    i += 8;
  }
  while (i < k) {
    if (load<u8>(a + i) != load<u8>(b + i)) return false;
    i++;
  }
  return true;
}

/**
 * True when the `n` bytes at `p` are the `m` bytes at `q`. Comparisons take spans, not Bytes:
 * AssemblyScript 0.17 reference-counts Bytes arguments, and miscounts them in @inline functions
 * (the fuzz test then finds a parse verdict that differs from JSON.parse).
 */
export function equalsAt(p: usize, n: i32, q: usize, m: i32): bool {
  return n == m && sameBytes(p, q, n);
}

/**
 * A list of references that is only added to. Its match methods read the elements without
 * counting a reference, which AssemblyScript 0.17 does on every indexed read and on every
 * reference argument; the list keeps them alive.
 */
export class RefList<T> {
  private items: Array<T> = [];

  get length(): i32 { return this.items.length; }
  push(item: T): void { this.items.push(item); }
  at(i: i32): T { return this.items[i]; }

  /** Whether any element's matches(p, n) is true. */
  anyMatches(p: usize, n: i32): bool {
    const data = this.items.dataStart;
    for (let i = 0; i < this.items.length; i++) {
      if (changetype<T>(load<usize>(data + (<usize>i << alignof<usize>()))).matches(p, n)) return true;
    }
    return false;
  }

  /** The index of the first element whose matches(arg) is true, or -1. */
  firstMatch<A>(arg: A): i32 {
    const data = this.items.dataStart;
    for (let i = 0; i < this.items.length; i++) {
      if (changetype<T>(load<usize>(data + (<usize>i << alignof<usize>()))).matches(arg)) return i;
    }
    return -1;
  }
}
