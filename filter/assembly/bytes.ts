// Growable byte buffer and the few byte helpers the filter shares.
// Everything the filter reads from the wire is raw bytes, so matching, logging and
// replies work on bytes too; AssemblyScript strings (UTF-16) appear only for fixed
// ASCII text and config messages.

// Scratch for Bytes.int: an i64 has at most 19 digits.
const digits = memory.data(24);

export class Bytes {
  buf: ArrayBuffer;
  len: i32 = 0;

  constructor(capacity: i32 = 64) {
    this.buf = new ArrayBuffer(capacity < 16 ? 16 : capacity);
  }


  @inline get ptr(): usize { return changetype<usize>(this.buf); }

  reset(): void { this.len = 0; }

  ensure(extra: i32): void {
    const need = this.len + extra;
    if (need <= this.buf.byteLength) return;
    let cap = this.buf.byteLength << 1;
    while (cap < need) cap <<= 1;
    const next = new ArrayBuffer(cap);
    memory.copy(changetype<usize>(next), changetype<usize>(this.buf), <usize>this.len);
    this.buf = next;
  }

  byte(b: i32): void {
    this.ensure(1);
    store<u8>(this.ptr + <usize>this.len, <u8>b);
    this.len++;
  }

  raw(src: usize, n: i32): void {
    if (n <= 0) return;
    this.ensure(n);
    memory.copy(this.ptr + <usize>this.len, src, <usize>n);
    this.len += n;
  }

  add(b: Bytes): void { this.raw(b.ptr, b.len); }

  /** Appends text as UTF-8; ASCII (the common case: fixed fragments) without allocating. */
  str(s: string): void {
    const n = s.length;
    this.ensure(n);
    let p = this.ptr + <usize>this.len;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        const enc = String.UTF8.encode(s.substring(i));
        this.len = <i32>(p - this.ptr);
        this.raw(changetype<usize>(enc), enc.byteLength);
        return;
      }
      store<u8>(p++, <u8>c);
    }
    this.len += n;
  }

  int(v: i64): void {
    if (v < 0) { this.byte(0x2d); v = -v; }
    if (v == 0) { this.byte(0x30); return; }
    let n = 0;
    while (v > 0) { store<u8>(digits + <usize>n, <u8>(v % 10 + 0x30)); n++; v /= 10; }
    this.ensure(n);
    for (let i = n - 1; i >= 0; i--) this.byte(load<u8>(digits + <usize>i));
  }

  /** Appends `s` (WTF-8: UTF-8 that may hold lone surrogates) as a JSON string literal. */
  jsonStr(src: usize, n: i32): void {
    this.byte(0x22);
    let i = 0;
    while (i < n) {
      // Copy the run that needs no escaping in one go.
      let j = i;
      while (j < n) {
        const d = <i32>load<u8>(src + <usize>j);
        if (d < 0x20 || d == 0x22 || d == 0x5c || d == 0x7f || d == 0xed) break;
        j++;
      }
      if (j > i) { this.raw(src + <usize>i, j - i); i = j; if (i >= n) break; }
      const c = <i32>load<u8>(src + <usize>i);
      if (c == 0x22 || c == 0x5c) { this.byte(0x5c); this.byte(c); i++; continue; }
      if (c < 0x20 || c == 0x7f) { this.hexEscape(c); i++; continue; }
      // A lone surrogate (ED A0..BF xx) is not valid UTF-8: write it as \uDxxx.
      if (c == 0xed && i + 2 < n && load<u8>(src + <usize>i + 1) >= 0xa0) {
        const cp = ((c & 0x0f) << 12) | ((<i32>load<u8>(src + <usize>i + 1) & 0x3f) << 6) | (<i32>load<u8>(src + <usize>i + 2) & 0x3f);
        this.hexEscape(cp);
        i += 3;
        continue;
      }
      this.byte(c);
      i++;
    }
    this.byte(0x22);
  }

  jsonBytes(b: Bytes): void { this.jsonStr(b.ptr, b.len); }

  jsonText(s: string): void {
    const enc = String.UTF8.encode(s);
    this.jsonStr(changetype<usize>(enc), enc.byteLength);
  }

  private hexEscape(cp: i32): void {
    this.byte(0x5c); this.byte(0x75);
    for (let shift = 12; shift >= 0; shift -= 4) {
      const d = (cp >> shift) & 0xf;
      this.byte(d < 10 ? 0x30 + d : 0x61 + d - 10);
    }
  }

  toArrayBuffer(): ArrayBuffer {
    const out = new ArrayBuffer(this.len);
    memory.copy(changetype<usize>(out), this.ptr, <usize>this.len);
    return out;
  }

  toString(): string { return String.UTF8.decodeUnsafe(this.ptr, <usize>this.len); }
}

/** Bytes of an ASCII literal, for comparisons on the hot path. */
export function ascii(s: string): Bytes {
  const b = new Bytes(s.length);
  for (let i = 0; i < s.length; i++) b.byte(s.charCodeAt(i));
  return b;
}

export function equalsAt(p: usize, n: i32, lit: Bytes): bool {
  if (n != lit.len) return false;
  return memory.compare(p, lit.ptr, <usize>n) == 0;
}

export function same(a: Bytes, b: Bytes): bool { return equalsAt(a.ptr, a.len, b); }

/** ASCII-lowercase copy into `out`, for header values compared case-insensitively. */
export function lowerAscii(p: usize, n: i32, out: Bytes): Bytes {
  out.reset();
  for (let i = 0; i < n; i++) {
    let c = <i32>load<u8>(p + <usize>i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    out.byte(c);
  }
  return out;
}
