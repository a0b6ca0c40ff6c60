// Content-Type and Content-Encoding checks, on lowercased header values.
// A value with a comma is two joined headers: ambiguous, so it matches nothing.
import { Bytes, ascii } from "./abi";

export const JSON_TYPE = ascii("application/json");
export const SSE_TYPE = ascii("text/event-stream");
const CHARSET = ascii("charset");
const UTF8 = ascii("utf-8");
const UTF8_ALIAS = ascii("utf8");
const IDENTITY = ascii("identity");

/**
 * A header value, lowercased, to check. Checks are its methods: AssemblyScript 0.17 counts a
 * reference for every Bytes argument, but not for `this`.
 */
export class HeaderValue {
  private lowered: Bytes = new Bytes(64);

  /** Takes the `n` bytes at `p` (a header value span), lowercased. */
  set(p: usize, n: i32): void { this.lowered.lowerFrom(p, n); }

  /**
   * True when the media type is `type` (JSON_TYPE or SSE_TYPE). Parameters are allowed; with
   * `utf8Only`, a charset other than UTF-8 is not (a server honouring it would not read the
   * bytes the filter judged).
   */
  isMediaType(typePtr: usize, typeLen: i32, utf8Only: bool): bool {
    const lowered = this.lowered;
    const len = lowered.len;
    if (lowered.indexOf(0x2c, 0, len) >= 0) return false;
    // The media type, then each parameter: `;`-separated, whitespace around each.
    let start = 0;
    while (start <= len) {
      let end = lowered.indexOf(0x3b, start, len);
      if (end < 0) end = len;
      const from = lowered.trimStart(start, end);
      const to = lowered.trimEnd(from, end);
      if (start == 0) {
        if (!lowered.rangeIs(from, to, typePtr, typeLen)) return false;
      } else if (utf8Only && !charsetIsUtf8(lowered, from, to)) {
        return false;
      }
      start = end + 1;
    }
    return true;
  }

  /** True when a Content-Encoding value is not empty and not just `identity`. */
  isEncoded(): bool {
    const lowered = this.lowered;
    const from = lowered.trimStart(0, lowered.len);
    const to = lowered.trimEnd(from, lowered.len);
    return to > from && !lowered.rangeIs(from, to, IDENTITY.ptr, IDENTITY.len);
  }
}

/** A parameter [from, to) of `lowered` is not a charset, or names UTF-8 (quoted or not). */
function charsetIsUtf8(lowered: Bytes, from: i32, to: i32): bool {
  const eqAt = lowered.indexOf(0x3d, from, to);
  if (eqAt < 0 || !lowered.rangeIs(from, lowered.trimEnd(from, eqAt), CHARSET.ptr, CHARSET.len)) return true;
  let vFrom = lowered.trimStart(eqAt + 1, to);
  let vTo = lowered.trimEnd(vFrom, to);
  if (vTo - vFrom >= 2 && lowered.at(vFrom) == 0x22 && lowered.at(vTo - 1) == 0x22) { vFrom++; vTo--; }
  return lowered.rangeIs(vFrom, vTo, UTF8.ptr, UTF8.len) || lowered.rangeIs(vFrom, vTo, UTF8_ALIAS.ptr, UTF8_ALIAS.len);
}
