// Content-Type and Content-Encoding checks, on lowercased header values.
// A value with a comma is two joined headers: ambiguous, so it matches nothing.
import { Bytes, ascii, lowerAscii, sameBytes } from "./bytes";

const lowered = new Bytes(64);

export const JSON_TYPE = ascii("application/json");
export const SSE_TYPE = ascii("text/event-stream");
const CHARSET = ascii("charset");
const UTF8 = ascii("utf-8");
const UTF8_ALIAS = ascii("utf8");
const IDENTITY = ascii("identity");

@inline function isOws(c: i32): bool { return c == 0x20 || c == 0x09; }

/** Trimmed [from, to) of v. */
function trimmed(p: usize, from: i32, to: i32, out: Bytes): void {
  while (from < to && isOws(<i32>load<u8>(p + <usize>from))) from++;
  while (to > from && isOws(<i32>load<u8>(p + <usize>to - 1))) to--;
  out.reset();
  out.raw(p + <usize>from, to - from);
}

const part = new Bytes(32);
const value = new Bytes(32);

function eq(a: Bytes, b: Bytes): bool { return a.len == b.len && sameBytes(a.ptr, b.ptr, a.len); }

/**
 * True when the media type is `type`. Parameters are allowed; with `utf8Only`, a charset
 * other than UTF-8 is not (a server honouring it would not read the bytes the filter judged).
 */
export function contentTypeIs(ptr: usize, len: i32, type: Bytes, utf8Only: bool = true): bool {
  const v = lowerAscii(ptr, len, lowered);
  const p = v.ptr;
  const n = v.len;
  let start = 0;
  let first = true;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? <i32>load<u8>(p + <usize>i) : 0x3b;
    if (c == 0x2c) return false;
    if (c != 0x3b) continue;
    trimmed(p, start, i, part);
    start = i + 1;
    if (first) {
      if (!eq(part, type)) return false;
      first = false;
      continue;
    }
    if (!utf8Only) continue;
    const eqAt = indexOf(part, 0x3d);
    if (eqAt < 0) continue;
    trimmed(part.ptr, 0, eqAt, value);
    if (!eq(value, CHARSET)) continue;
    trimmed(part.ptr, eqAt + 1, part.len, value);
    let vp = value.ptr;
    let vn = value.len;
    if (vn >= 2 && load<u8>(vp) == 0x22 && load<u8>(vp + <usize>vn - 1) == 0x22) { vp++; vn -= 2; }
    const cs = new Bytes(vn);
    cs.raw(vp, vn);
    if (!eq(cs, UTF8) && !eq(cs, UTF8_ALIAS)) return false;
  }
  return true;
}

function indexOf(b: Bytes, c: i32): i32 {
  for (let i = 0; i < b.len; i++) if (<i32>load<u8>(b.ptr + <usize>i) == c) return i;
  return -1;
}

/** True when a Content-Encoding value is not empty and not just `identity`. */
export function encoded(ptr: usize, len: i32): bool {
  const v = lowerAscii(ptr, len, lowered);
  trimmed(v.ptr, 0, v.len, value);
  return value.len > 0 && !eq(value, IDENTITY);
}
