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
    let start = 0;
    let first = true;
    for (let i = 0; i <= len; i++) {
      const c = i < len ? lowered.at(i) : 0x3b;
      if (c == 0x2c) return false;
      if (c != 0x3b) continue;
      const from = lowered.trimStart(start, i);
      const to = lowered.trimEnd(from, i);
      start = i + 1;
      if (first) {
        if (!lowered.rangeIs(from, to, typePtr, typeLen)) return false;
        first = false;
        continue;
      }
      if (!utf8Only) continue;
      const eqAt = lowered.indexOf(0x3d, from, to);
      if (eqAt < 0) continue;
      if (!lowered.rangeIs(from, lowered.trimEnd(from, eqAt), CHARSET.ptr, CHARSET.len)) continue;
      let vFrom = lowered.trimStart(eqAt + 1, to);
      let vTo = lowered.trimEnd(vFrom, to);
      if (vTo - vFrom >= 2 && lowered.at(vFrom) == 0x22 && lowered.at(vTo - 1) == 0x22) { vFrom++; vTo--; }
      if (!lowered.rangeIs(vFrom, vTo, UTF8.ptr, UTF8.len) && !lowered.rangeIs(vFrom, vTo, UTF8_ALIAS.ptr, UTF8_ALIAS.len)) return false;
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
