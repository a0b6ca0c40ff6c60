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

  /** Replaces the content with the `n` bytes at `p`. */
  copyFrom(p: usize, n: i32): void {
    this.len = 0;
    this.raw(p, n);
  }

  /** Replaces the content with the `n` bytes at `p`, ASCII-lowercased (for case-insensitive compares). */
  lowerFrom(p: usize, n: i32): void {
    this.len = 0;
    if (n <= 0) return;
    const q = this.reserve(n);
    for (let i: usize = 0; i < <usize>n; i++) {
      const c = <u32>load<u8>(p + i);
      store<u8>(q + i, <u8>(c - 0x41 < 26 ? c + 0x20 : c));
    }
    this.len = n;
  }

  /**
   * Replaces the content with a JSON string's text (the bytes between its quotes, already
   * validated, at [from, to)) decoded: escapes applied, raw bytes run through the WHATWG UTF-8
   * decoder (maximal-subpart U+FFFD replacement), surrogate escape pairs joined. The result is
   * WTF-8: a lone surrogate from a \u escape stays distinct from U+FFFD, as in a JS string.
   */
  jsonFrom(from: usize, to: usize): void {
    let p = from;
    this.len = 0;
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
      this.codePoint(utf8Step(p, to));
      p = utf8Next;
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
    this.len = 0;
    return this.buf.byteLength <= keep;
  }

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
    copyBytes(this.ptr + <usize>this.len, src, n);
    this.len += n;
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
    const q = this.reserve(n);
    for (let i = 0; i < n; i++) store<u8>(q + <usize>i, load<u8>(digits + <usize>(n - 1 - i)));
    this.len += n;
  }

  /**
   * Appends `s` (WTF-8: UTF-8 that may hold lone surrogates) as a JSON string literal.
   * Room for the worst case is reserved once (see jsonRoom).
   */
  jsonStr(src: usize, n: i32): void {
    this.ensure(jsonRoom(n));
    this.len = <i32>(writeJson(this.ptr + <usize>this.len, src, n) - this.ptr);
  }

  /** The write position, after reserving `n` bytes; hand back the end with setEnd(). */
  reserve(n: i32): usize {
    this.ensure(n);
    return this.ptr + <usize>this.len;
  }

  setEnd(p: usize): void { this.len = <i32>(p - this.ptr); }

  jsonBytes(b: Bytes): void { this.jsonStr(b.ptr, b.len); }

  jsonText(s: string): void {
    const enc = String.UTF8.encode(s);
    this.jsonStr(changetype<usize>(enc), enc.byteLength);
  }

  toArrayBuffer(): ArrayBuffer {
    const out = new ArrayBuffer(this.len);
    memory.copy(changetype<usize>(out), this.ptr, <usize>this.len);
    return out;
  }

  toString(): string { return String.UTF8.decodeUnsafe(this.ptr, <usize>this.len); }
}

/** The value of a hex digit, or -1. */
export function hexVal(c: u8): i32 {
  if (c >= 0x30 && c <= 0x39) return <i32>c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return <i32>l - 0x61 + 10;
  return -1;
}

/** Four hex digits at `p` (already validated). */
function hex4(p: usize): i32 {
  return (hexVal(load<u8>(p)) << 12) | (hexVal(load<u8>(p + 1)) << 8) | (hexVal(load<u8>(p + 2)) << 4) | hexVal(load<u8>(p + 3));
}

/**
 * The most bytes of one client string an audit line or a denial message repeats: a longer one
 * (a tool name of megabytes, say) is cut there and ends in "…", so neither grows with it.
 */
const FIELD_MAX: i32 = 4096;
const ELLIPSIS = memory.data<u8>([0xe2, 0x80, 0xa6, 0x22]); // "…" and a closing quote

/** How many of the `n` bytes at `p` a field keeps: all, or FIELD_MAX cut back to a character start. */
export function fieldLen(p: usize, n: i32): i32 {
  if (n <= FIELD_MAX) return n;
  let k = FIELD_MAX;
  while (k > 0 && (load<u8>(p + <usize>k) & 0xc0) == 0x80) k--;
  return k;
}

/** Room writeJsonField may need for `n` input bytes. */
@inline export function fieldRoom(n: i32): i32 { return jsonRoom(n < FIELD_MAX ? n : FIELD_MAX) + 3; }

/** writeJson of the bytes fieldLen keeps, with "…" at the end when some were cut. */
export function writeJsonField(w: usize, p: usize, n: i32): usize {
  const k = fieldLen(p, n);
  if (k == n) return writeJson(w, p, n);
  return put(writeJson(w, p, k) - 1, ELLIPSIS, 4);
}

/**
 * Room writeJson may need for `n` input bytes: two quotes, at most 6 bytes per byte, and 16
 * bytes of slack for its whole-vector stores.
 */
@inline export function jsonRoom(n: i32): i32 { return n * 6 + 18; }

/**
 * Lanes of `v` that a JSON string literal cannot carry as they are: `"`, `\`, controls, DEL,
 * and bytes from 0x80 up, which must form valid UTF-8 (or a WTF-8 lone surrogate).
 */
@inline function jsonSpecial(v: v128): i32 {
  const bad = v128.or(
    v128.or(v128.or(i8x16.eq(v, i8x16.splat(0x22)), i8x16.eq(v, i8x16.splat(0x5c))), v128.or(i8x16.lt_u(v, i8x16.splat(0x20)), i8x16.eq(v, i8x16.splat(0x7f)))),
    i8x16.lt_s(v, i8x16.splat(0)));
  return i8x16.bitmask(bad);
}

/** Where the last utf8Step ended. */
export let utf8Next: usize = 0;

/**
 * One step of the WHATWG UTF-8 decoder (TextDecoder) at a byte from 0x80 up at `p` (before
 * `to`): returns the code point, or U+FFFD for an invalid sequence (one per maximal subpart);
 * the next step starts at utf8Next.
 */
export function utf8Step(p: usize, to: usize): i32 {
  const c = <i32>load<u8>(p);
  let need = 0;
  let lower = 0x80;
  let upper = 0xbf;
  let cp = 0;
  utf8Next = p + 1;
  if (c >= 0xc2 && c <= 0xdf) { need = 1; cp = c & 0x1f; }
  else if (c >= 0xe0 && c <= 0xef) { need = 2; cp = c & 0x0f; if (c == 0xe0) lower = 0xa0; if (c == 0xed) upper = 0x9f; }
  else if (c >= 0xf0 && c <= 0xf4) { need = 3; cp = c & 0x07; if (c == 0xf0) lower = 0x90; if (c == 0xf4) upper = 0x8f; }
  else return 0xfffd;
  let q = p + 1;
  for (let k = 0; k < need; k++) {
    if (q >= to) { utf8Next = q; return 0xfffd; }
    const b = <i32>load<u8>(q);
    if (b < lower || b > upper) { utf8Next = q; return 0xfffd; }
    lower = 0x80; upper = 0xbf;
    cp = (cp << 6) | (b & 0x3f);
    q++;
  }
  utf8Next = q;
  return cp;
}

/** The UTF-8 sequence at `s` (before `e`, from 0x80 up) to `p`, U+FFFD if invalid; returns the position after it. */
function putUtf8Step(p: usize, s: usize, e: usize): usize {
  if (utf8Step(s, e) != 0xfffd) return put(p, s, <i32>(utf8Next - s));
  store<u16>(p, 0xbfef);
  store<u8>(p + 2, 0xbd);
  return p + 3;
}

/**
 * Copies `n` bytes of JSON text (a raw id) to `p` as valid UTF-8: invalid sequences become
 * U+FFFD, as TextDecoder reads them. `p` needs room for 3 bytes per input byte.
 */
export function copyUtf8(p: usize, src: usize, n: i32): usize {
  const e = src + <usize>n;
  let s = src;
  while (s < e) {
    const c = load<u8>(s);
    if (c < 0x80) { store<u8>(p++, c); s++; continue; }
    p = putUtf8Step(p, s, e);
    s = utf8Next;
  }
  return p;
}

/**
 * Writes the `n` bytes at `src` as a JSON string literal at `p` (which has jsonRoom(n) bytes);
 * returns the position after it. Input is looked at 16 bytes at a time, a short tail too (its
 * vector may read past the input, never past memory, and the lanes beyond it are ignored);
 * plain bytes are stored a whole vector at once, and only what the input holds counts.
 * ED A0..BF xx is a lone surrogate (WTF-8, from a decoded \u escape), written as \uDxxx;
 * other invalid UTF-8 (raw header values) is written as U+FFFD, as TextDecoder reads it.
 */
export function writeJson(p: usize, src: usize, n: i32): usize {
  store<u8>(p++, 0x22);
  const e = src + <usize>n;
  const readable = <usize>memory.size() << 16;
  let s = src;
  while (s < e) {
    const left = e - s;
    if (left >= 16 || s + 16 <= readable) {
      const v = v128.load(s);
      let mask = jsonSpecial(v);
      let take: usize = 16;
      if (left < 16) { mask &= (1 << <i32>left) - 1; take = left; }
      v128.store(p, v);
      if (mask == 0) { p += take; s += take; continue; }
      const k = <usize>ctz(mask);
      p += k;
      s += k;
    } else {
      const d = <i32>load<u8>(s);
      if (d >= 0x20 && d < 0x7f && d != 0x22 && d != 0x5c) { store<u8>(p++, <u8>d); s++; continue; }
    }
    // s is at a byte that needs care.
    const c = <i32>load<u8>(s);
    if (c == 0x22 || c == 0x5c) { store<u8>(p, 0x5c); store<u8>(p + 1, <u8>c); p += 2; s++; continue; }
    if (c < 0x20 || c == 0x7f) { p = hexEscape(p, c); s++; continue; }
    if (c == 0xed && s + 2 < e && load<u8>(s + 1) >= 0xa0 && (load<u8>(s + 2) & 0xc0) == 0x80) {
      const cp = ((c & 0x0f) << 12) | ((<i32>load<u8>(s + 1) & 0x3f) << 6) | (<i32>load<u8>(s + 2) & 0x3f);
      p = hexEscape(p, cp);
      s += 3;
      continue;
    }
    p = putUtf8Step(p, s, e);
    s = utf8Next;
  }
  store<u8>(p++, 0x22);
  return p;
}

/** Copies `n` bytes to `p` (reserved); returns the position after them. */
@inline export function put(p: usize, src: usize, n: i32): usize {
  copyBytes(p, src, n);
  return p + <usize>n;
}

/**
 * memory.copy for non-overlapping ranges, with short copies (most of them: header values,
 * keys, reply fragments) done as two overlapping loads and stores instead of a call into
 * AssemblyScript's byte-wise memmove.
 */
export function copyBytes(dst: usize, src: usize, n: i32): void {
  if (n <= 0) return;
  const k = <usize>n;
  if (n > 32) { memory.copy(dst, src, k); return; }
  if (n >= 16) {
    const a = v128.load(src);
    const b = v128.load(src + k - 16);
    v128.store(dst, a);
    v128.store(dst + k - 16, b);
  } else if (n >= 8) {
    const a = load<u64>(src);
    const b = load<u64>(src + k - 8);
    store<u64>(dst, a);
    store<u64>(dst + k - 8, b);
  } else if (n >= 4) {
    const a = load<u32>(src);
    const b = load<u32>(src + k - 4);
    store<u32>(dst, a);
    store<u32>(dst + k - 4, b);
  } else {
    for (let i: usize = 0; i < k; i++) store<u8>(dst + i, load<u8>(src + i));
  }
}

/** Writes `\uXXXX` for a code unit at p; returns the position after it. */
function hexEscape(p: usize, cp: i32): usize {
  store<u8>(p, 0x5c);
  store<u8>(p + 1, 0x75);
  for (let k = 0; k < 4; k++) {
    const d = (cp >> (12 - 4 * k)) & 0xf;
    store<u8>(p + 2 + <usize>k, <u8>(d < 10 ? 0x30 + d : 0x61 + d - 10));
  }
  return p + 6;
}

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
