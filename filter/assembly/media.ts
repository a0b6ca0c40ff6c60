// Content-Type and Content-Encoding checks, on lowercased header values.
// A value with a comma is two joined headers: ambiguous, so it matches nothing.
import { Bytes, ascii, equalsAt } from "./bytes";

const lowered = new Bytes(64);

export const JSON_TYPE = ascii("application/json");
export const SSE_TYPE = ascii("text/event-stream");
const CHARSET = ascii("charset");
const UTF8 = ascii("utf-8");
const UTF8_ALIAS = ascii("utf8");
const IDENTITY = ascii("identity");

@inline function isOws(c: i32): bool { return c == 0x20 || c == 0x09; }

// trim(): the span [trimFrom, trimTo) of the last trimmed range.
let trimFrom: i32 = 0;
let trimTo: i32 = 0;

/** [from, to) of the bytes at p without leading and trailing whitespace. */
function trim(p: usize, from: i32, to: i32): void {
  while (from < to && isOws(<i32>load<u8>(p + <usize>from))) from++;
  while (to > from && isOws(<i32>load<u8>(p + <usize>to - 1))) to--;
  trimFrom = from;
  trimTo = to;
}

/** The last trimmed span of p equals the `n` bytes at `q`. */
function trimmedIs(p: usize, q: usize, n: i32): bool {
  return equalsAt(p + <usize>trimFrom, trimTo - trimFrom, q, n);
}

/**
 * True when the media type is `type` (JSON_TYPE or SSE_TYPE). Parameters are allowed; with
 * `utf8Only`, a charset other than UTF-8 is not (a server honouring it would not read the
 * bytes the filter judged). Types go as spans: AssemblyScript 0.17 reference-counts Bytes
 * arguments.
 */
export function contentTypeIs(ptr: usize, len: i32, typePtr: usize, typeLen: i32, utf8Only: bool = true): bool {
  lowered.lowerFrom(ptr, len);
  const p = lowered.ptr;
  let start = 0;
  let first = true;
  for (let i = 0; i <= len; i++) {
    const c = i < len ? <i32>load<u8>(p + <usize>i) : 0x3b;
    if (c == 0x2c) return false;
    if (c != 0x3b) continue;
    trim(p, start, i);
    start = i + 1;
    if (first) {
      if (!trimmedIs(p, typePtr, typeLen)) return false;
      first = false;
      continue;
    }
    if (!utf8Only) continue;
    const to = trimTo;
    const eqAt = indexOf(p, trimFrom, to, 0x3d);
    if (eqAt < 0) continue;
    trim(p, trimFrom, eqAt);
    if (!trimmedIs(p, CHARSET.ptr, CHARSET.len)) continue;
    trim(p, eqAt + 1, to);
    let vp = p + <usize>trimFrom;
    let vn = trimTo - trimFrom;
    if (vn >= 2 && load<u8>(vp) == 0x22 && load<u8>(vp + <usize>vn - 1) == 0x22) { vp++; vn -= 2; }
    if (!equalsAt(vp, vn, UTF8.ptr, UTF8.len) && !equalsAt(vp, vn, UTF8_ALIAS.ptr, UTF8_ALIAS.len)) return false;
  }
  return true;
}

/** Index of byte c in [from, to) of p, or -1. */
function indexOf(p: usize, from: i32, to: i32, c: i32): i32 {
  for (let i = from; i < to; i++) if (<i32>load<u8>(p + <usize>i) == c) return i;
  return -1;
}

/** True when a Content-Encoding value is not empty and not just `identity`. */
export function encoded(ptr: usize, len: i32): bool {
  lowered.lowerFrom(ptr, len);
  const p = lowered.ptr;
  trim(p, 0, len);
  return trimTo > trimFrom && !trimmedIs(p, IDENTITY.ptr, IDENTITY.len);
}
