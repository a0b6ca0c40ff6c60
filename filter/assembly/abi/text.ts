// JSON string text and UTF-8, at the pointer level: what Bytes uses to decode a JSON string the
// way the server reads it, and to write one the way a client will read it. Writers here assume
// room made by the caller (a Bytes method, which makes room for its own worst case); nothing
// outside abi/ calls them.
/** The value of a hex digit, or -1. */
export function hexVal(c: u8): i32 {
  if (c >= 0x30 && c <= 0x39) return <i32>c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return <i32>l - 0x61 + 10;
  return -1;
}

/** Four hex digits at `p` (already validated). */
export function hex4(p: usize): i32 {
  return (hexVal(load<u8>(p)) << 12) | (hexVal(load<u8>(p + 1)) << 8) | (hexVal(load<u8>(p + 2)) << 4) | hexVal(load<u8>(p + 3));
}

/**
 * The most bytes of one client string an audit line or a denial message repeats: a longer one
 * (a tool name of megabytes, say) is cut there and ends in "…", so neither grows with it.
 */
const FIELD_MAX: i32 = 4096;
export const ELLIPSIS = memory.data<u8>([0xe2, 0x80, 0xa6, 0x22]); // "…" and a closing quote

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

// A utf8Step result: the code point in the low 32 bits, where the next step starts above them.
@inline function step(cp: i32, next: usize): u64 { return (<u64>next << 32) | <u64><u32>cp; }
@inline export function stepCodePoint(s: u64): i32 { return <i32>s; }
@inline export function stepNext(s: u64): usize { return <usize>(s >>> 32); }

/**
 * One step of the WHATWG UTF-8 decoder (TextDecoder) at a byte from 0x80 up at `p` (before
 * `to`): the code point, or U+FFFD for an invalid sequence (one per maximal subpart), and
 * where the next step starts.
 */
export function utf8Step(p: usize, to: usize): u64 {
  const c = <i32>load<u8>(p);
  let need = 0;
  let lower = 0x80;
  let upper = 0xbf;
  let cp = 0;
  if (c >= 0xc2 && c <= 0xdf) { need = 1; cp = c & 0x1f; }
  else if (c >= 0xe0 && c <= 0xef) { need = 2; cp = c & 0x0f; if (c == 0xe0) lower = 0xa0; if (c == 0xed) upper = 0x9f; }
  else if (c >= 0xf0 && c <= 0xf4) { need = 3; cp = c & 0x07; if (c == 0xf0) lower = 0x90; if (c == 0xf4) upper = 0x8f; }
  else return step(0xfffd, p + 1);
  let q = p + 1;
  for (let k = 0; k < need; k++) {
    if (q >= to) return step(0xfffd, q);
    const b = <i32>load<u8>(q);
    if (b < lower || b > upper) return step(0xfffd, q);
    lower = 0x80; upper = 0xbf;
    cp = (cp << 6) | (b & 0x3f);
    q++;
  }
  return step(cp, q);
}

/**
 * The UTF-8 sequence at `s` (before `e`, from 0x80 up) to `p`, U+FFFD if invalid; returns the
 * position after it. Where the input goes on: stepNext(utf8Step(s, e)).
 */
function putUtf8Step(p: usize, s: usize, e: usize, st: u64): usize {
  if (stepCodePoint(st) != 0xfffd) return put(p, s, <i32>(stepNext(st) - s));
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
    const st = utf8Step(s, e);
    p = putUtf8Step(p, s, e, st);
    s = stepNext(st);
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
    const st = utf8Step(s, e);
    p = putUtf8Step(p, s, e, st);
    s = stepNext(st);
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
