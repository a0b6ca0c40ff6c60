// JSON scanner that accepts exactly what the upstream's `JSON.parse(new TextDecoder().decode(body))`
// accepts, without building values and without recursion:
// - one leading UTF-8 BOM is skipped (TextDecoder drops it);
// - whitespace is only space, tab, LF, CR; literals, numbers and escapes follow ECMA-404;
// - raw bytes >= 0x80 inside strings are allowed; when a string is decoded they become
//   what TextDecoder makes of them (invalid sequences -> U+FFFD), and \u escapes are
//   applied, so matching sees the server's string. Decoded text is WTF-8: a lone
//   surrogate from a \u escape stays distinct from U+FFFD, as in a JS string.
// Nesting depth is bounded only by memory: containers are tracked on a byte stack.
// Positions (pos, sFrom, sTo, base) are spans into the text scanned: code outside abi/ passes
// them back to this layer (Bytes#jsonFrom, Bytes#raw) and never reads through them.
import { Bytes, sameBytes } from "./bytes";
import { hexVal } from "./text";

export const ERR_NONE: i32 = 0;
export const ERR_EOF: i32 = 1;
export const ERR_TOKEN: i32 = 2;
export const ERR_STRING_CTRL: i32 = 3;
export const ERR_ESCAPE: i32 = 4;
export const ERR_NUMBER: i32 = 5;
export const ERR_TRAILING: i32 = 6;

const OBJ: u8 = 1;
const ARR: u8 = 2;

export class Scanner {
  base: usize = 0;
  end: usize = 0;
  pos: usize = 0;
  err: i32 = ERR_NONE;
  errAt: usize = 0;
  // Span of the last string scanned by str(), without quotes.
  sFrom: usize = 0;
  sTo: usize = 0;
  sEsc: bool = false;
  // Set by span().
  spanPtr: usize = 0;
  spanLen: i32 = 0;
  private stack: Bytes = new Bytes(64);
  // Decoded keys (and span() text) of escaped strings; keys are short.
  private scratch: Bytes = new Bytes(64);

  reset(ptr: usize, len: i32): void {
    this.base = ptr;
    this.end = ptr + <usize>len;
    this.pos = ptr;
    this.err = ERR_NONE;
    this.errAt = 0;
    this.stack.reset();
    if (len >= 3 && load<u8>(ptr) == 0xef && load<u8>(ptr + 1) == 0xbb && load<u8>(ptr + 2) == 0xbf) this.pos += 3;
  }

  /** Byte offset of the cursor (or of the error) from the start of the body. */
  @inline offset(): i32 { return <i32>((this.err != ERR_NONE ? this.errAt : this.pos) - this.base); }

  fail(code: i32): bool {
    if (this.err == ERR_NONE) { this.err = code; this.errAt = this.pos; }
    return false;
  }

  @inline peek(): i32 { return this.pos < this.end ? <i32>load<u8>(this.pos) : -1; }

  /** Skips whitespace; most JSON has none between tokens, so that case is checked inline. */
  @inline ws(): void {
    const p = this.pos;
    if (p < this.end && load<u8>(p) > 0x20) return;
    this.wsRun();
  }

  private wsRun(): void {
    let p = this.pos;
    const e = this.end;
    while (p < e) {
      const c = load<u8>(p);
      if (c != 0x20 && c != 0x0a && c != 0x0d && c != 0x09) break;
      p++;
    }
    this.pos = p;
  }

  /** Skips whitespace, then consumes `c` if it is next. */
  eat(c: i32): bool {
    this.ws();
    if (this.peek() != c) return false;
    this.pos++;
    return true;
  }

  expect(c: i32): bool {
    if (this.eat(c)) return true;
    return this.fail(this.pos >= this.end ? ERR_EOF : ERR_TOKEN);
  }

  /** After the top-level value only whitespace may follow. */
  finish(): bool {
    this.ws();
    if (this.pos != this.end) return this.fail(ERR_TRAILING);
    return true;
  }

  /** Scans a string at the cursor; sets sFrom/sTo/sEsc. */
  str(): bool {
    if (this.peek() != 0x22) return this.fail(this.pos >= this.end ? ERR_EOF : ERR_TOKEN);
    let p = this.pos + 1;
    const e = this.end;
    this.sFrom = p;
    this.sEsc = false;
    const quote = i8x16.splat(0x22);
    const slash = i8x16.splat(0x5c);
    const space = i8x16.splat(0x20);
    while (true) {
      // 16 bytes at a time until a quote, backslash or control byte shows up.
      while (p + 16 <= e) {
        const v = v128.load(p);
        const hit = v128.or(v128.or(i8x16.eq(v, quote), i8x16.eq(v, slash)), i8x16.lt_u(v, space));
        const mask = i8x16.bitmask(hit);
        if (mask != 0) { p += <usize>ctz(mask); break; }
        p += 16;
      }
      while (p < e) {
        const c = load<u8>(p);
        if (c == 0x22 || c == 0x5c || c < 0x20) break;
        p++;
      }
      if (p >= e) { this.pos = p; return this.fail(ERR_EOF); }
      const c = load<u8>(p);
      if (c == 0x22) {
        this.sTo = p;
        this.pos = p + 1;
        return true;
      }
      if (c < 0x20) { this.pos = p; return this.fail(ERR_STRING_CTRL); }
      // Backslash: validate the escape.
      this.sEsc = true;
      if (p + 1 >= e) { this.pos = p; return this.fail(ERR_EOF); }
      const x = load<u8>(p + 1);
      if (x == 0x75) {
        if (p + 6 > e) { this.pos = p; return this.fail(ERR_EOF); }
        for (let k: usize = 2; k < 6; k++) {
          if (hexVal(load<u8>(p + k)) < 0) { this.pos = p; return this.fail(ERR_ESCAPE); }
        }
        p += 6;
      } else if (x == 0x22 || x == 0x5c || x == 0x2f || x == 0x62 || x == 0x66 || x == 0x6e || x == 0x72 || x == 0x74) {
        p += 2;
      } else {
        this.pos = p;
        return this.fail(ERR_ESCAPE);
      }
    }
  }

  num(): bool {
    let p = this.pos;
    const e = this.end;
    if (p < e && load<u8>(p) == 0x2d) p++;
    if (p >= e) { this.pos = p; return this.fail(ERR_EOF); }
    let c = load<u8>(p);
    if (c == 0x30) {
      p++;
    } else if (c >= 0x31 && c <= 0x39) {
      p++;
      while (p < e && isDigit(load<u8>(p))) p++;
    } else { this.pos = p; return this.fail(ERR_NUMBER); }
    if (p < e && load<u8>(p) == 0x2e) {
      p++;
      if (p >= e || !isDigit(load<u8>(p))) { this.pos = p; return this.fail(ERR_NUMBER); }
      while (p < e && isDigit(load<u8>(p))) p++;
    }
    if (p < e && (load<u8>(p) | 0x20) == 0x65) {
      p++;
      if (p < e && (load<u8>(p) == 0x2b || load<u8>(p) == 0x2d)) p++;
      if (p >= e || !isDigit(load<u8>(p))) { this.pos = p; return this.fail(ERR_NUMBER); }
      while (p < e && isDigit(load<u8>(p))) p++;
    }
    this.pos = p;
    return true;
  }

  private lit(): bool {
    const p = this.pos;
    const c = load<u8>(p);
    const n: usize = c == 0x66 ? 5 : 4;
    if (p + n > this.end) return this.fail(ERR_EOF);
    let ok = false;
    if (c == 0x74) ok = load<u32>(p) == 0x65757274;                               // true
    else if (c == 0x6e) ok = load<u32>(p) == 0x6c6c756e;                          // null
    else if (c == 0x66) ok = load<u32>(p + 1) == 0x65736c61;                      // (f)alse
    if (!ok) return this.fail(ERR_TOKEN);
    this.pos = p + n;
    return true;
  }

  /** Scans one scalar (string, number, literal) at the cursor. */
  scalar(): bool {
    const c = this.peek();
    if (c == 0x22) return this.str();
    if (c == 0x2d || (c >= 0x30 && c <= 0x39)) return this.num();
    if (c == 0x74 || c == 0x66 || c == 0x6e) return this.lit();
    return this.fail(c < 0 ? ERR_EOF : ERR_TOKEN);
  }

  /** Skips (and fully validates) any value at the cursor, iteratively. */
  skipValue(): bool {
    // A scalar needs no stack. `this.stack` is read at each use: a local would cost reference
    // counting (AssemblyScript 0.17) on every value skipped.
    this.ws();
    const first = this.peek();
    if (first != 0x7b && first != 0x5b) return this.scalar();
    const floor = this.stack.len;
    while (true) {
      this.ws();
      const c = this.peek();
      if (c == 0x7b) {
        this.pos++;
        if (this.eat(0x7d)) {
          // empty object: fall through to "after a value"
        } else {
          this.stack.byte(OBJ);
          if (!this.key()) return false;
          continue;
        }
      } else if (c == 0x5b) {
        this.pos++;
        if (this.eat(0x5d)) {
          // empty array
        } else {
          this.stack.byte(ARR);
          continue;
        }
      } else if (!this.scalar()) {
        return false;
      }
      // After a value: close containers until one wants another element.
      while (true) {
        if (this.stack.len == floor) return true;
        this.ws();
        const top = load<u8>(this.stack.ptr + <usize>this.stack.len - 1);
        const d = this.peek();
        if (d == 0x2c) {
          this.pos++;
          if (top == OBJ && !this.key()) return false;
          break;
        }
        if ((d == 0x7d && top == OBJ) || (d == 0x5d && top == ARR)) {
          this.pos++;
          this.stack.pop();
          continue;
        }
        return this.fail(d < 0 ? ERR_EOF : ERR_TOKEN);
      }
    }
  }

  /** Scans `"key" :` inside an object; the key's span is left in sFrom/sTo. */
  key(): bool {
    this.ws();
    if (!this.str()) return false;
    // Most JSON puts the colon right after the key.
    if (this.pos < this.end && load<u8>(this.pos) == 0x3a) { this.pos++; return true; }
    return this.expect(0x3a);
  }

  /**
   * True if the last scanned string decodes to exactly the ASCII text at `lit` (`n` bytes).
   * Takes a pointer, not a Bytes: AssemblyScript 0.17 reference-counts reference arguments,
   * and this runs for every key of every body.
   */
  strIs(lit: usize, n: i32): bool {
    const raw = <i32>(this.sTo - this.sFrom);
    if (!this.sEsc) return raw == n && sameBytes(this.sFrom, lit, n); // the text is its own bytes
    if (raw < n) return false; // escapes only shrink text
    this.span();
    return this.spanLen == n && sameBytes(this.spanPtr, lit, n);
  }

  /**
   * The last scanned string as plain bytes: its own span when it has no escapes, else its
   * decoded text in a scratch buffer (valid until the next call). Sets spanPtr/spanLen.
   */
  span(): void {
    if (!this.sEsc) { this.spanPtr = this.sFrom; this.spanLen = <i32>(this.sTo - this.sFrom); return; }
    this.scratch.jsonFrom(this.sFrom, this.sTo);
    this.spanPtr = this.scratch.ptr;
    this.spanLen = this.scratch.len;
  }

  /**
   * The last scanned string, decoded (so `"\u006d\u0065thod"` is method), as one number to
   * compare with keyCode() of a key of 2 to 7 bytes; 0 for any other length.
   */
  packedKey(): u64 {
    this.span();
    return pack(this.spanPtr, this.spanLen);
  }

  /**
   * The number scanned last (by num(), from `from`) as an integer, or -1 when it has a sign,
   * a fraction or an exponent; past 2^40 it stops growing.
   */
  integer(from: usize): i64 {
    let v: i64 = 0;
    for (let p = from; p < this.pos; p++) {
      const d = <i32>load<u8>(p);
      if (d < 0x30 || d > 0x39) return -1;
      if (v < 1 << 40) v = v * 10 + (d - 0x30);
    }
    return v;
  }

  /** The text from `from` to the cursor, cut at `max` bytes (then ending in "…"). */
  textFrom(from: usize, max: i32): string {
    const n = <i32>(this.pos - from);
    // if/else, not ?: on strings: AssemblyScript 0.17 may release the wrong local for those.
    let shown = String.UTF8.decodeUnsafe(from, n > max ? max : n);
    if (n > max) shown += "…";
    return shown;
  }

  /** Decodes the last scanned string into a new Bytes. */
  decoded(): Bytes {
    const out = new Bytes(<i32>(this.sTo - this.sFrom));
    out.jsonFrom(this.sFrom, this.sTo);
    return out;
  }
}

export function errorText(code: i32): string {
  if (code == ERR_EOF) return "unexpected end of input";
  if (code == ERR_STRING_CTRL) return "control character in string";
  if (code == ERR_ESCAPE) return "invalid escape in string";
  if (code == ERR_NUMBER) return "invalid number";
  if (code == ERR_TRAILING) return "unexpected data after the JSON value";
  return "unexpected token";
}

@inline function isDigit(c: u8): bool { return c >= 0x30 && c <= 0x39; }

/**
 * The `n` bytes at `p` as one number with the length in the top byte, so that a key compares
 * in one go: 0 unless there are 2 to 7 of them.
 */
function pack(p: usize, n: i32): u64 {
  if (n < 2 || n > 7) return 0;
  let v: u64;
  if (n >= 4) v = <u64>load<u32>(p) | (<u64>(load<u32>(p + <usize>n - 4) >>> (<u32>(8 - n) << 3)) << 32);
  else {
    v = <u64>load<u16>(p);
    if (n == 3) v |= <u64>load<u8>(p + 2) << 16;
  }
  return v | (<u64>n << 56);
}

/** A key of 2 to 7 ASCII bytes as Scanner#packedKey() reads it. */
export function keyCode(key: Bytes): u64 { return pack(key.ptr, key.len); }
