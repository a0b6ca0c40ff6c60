// The configuration reader's primitives: typed values at the scanner's cursor, each failing with
// an error that names the field. config.ts reads the policy's objects with them.
import { Scanner, errorText } from "./abi";
import { GlobList, Glob } from "./policy";

export class Reader {
  s: Scanner = new Scanner();
  error: string = "";

  fail(field: string, problem: string): bool {
    if (this.error.length == 0) this.error = field + ": " + problem;
    return false;
  }

  syntax(): bool {
    return this.fail("(json)", errorText(this.s.err) + " at byte " + this.s.offset().toString());
  }

  /** Iterates an object's keys; returns the next key, "" after the closing brace, null on error. */
  nextKey(first: bool): string | null {
    const s = this.s;
    if (first) {
      s.ws();
      if (s.peek() != 0x7b) return null;
      s.pos++;
      if (s.eat(0x7d)) return "";
    } else {
      if (s.eat(0x7d)) return "";
      if (!s.expect(0x2c)) return null;
    }
    if (!s.key()) return null;
    return s.decoded().toString();
  }

  /**
   * The next key of the object at `field` (first: at its opening brace), "" after its closing
   * brace, or null when it failed: not an object, a key written twice, or bad JSON.
   */
  nextField(field: string, seen: Set<string>, first: bool): string | null {
    const k = this.nextKey(first);
    if (k === null) {
      if (!first || this.s.err != 0) this.syntax(); else this.fail(field, "expected an object");
      return null;
    }
    if ((k as string).length > 0) {
      if (seen.has(k as string)) { this.fail(field + "." + (k as string), "duplicate field"); return null; }
      seen.add(k as string);
    }
    return k;
  }

  string(field: string): string | null {
    const s = this.s;
    s.ws();
    if (s.peek() != 0x22) { this.fail(field, "expected a string"); return null; }
    if (!s.str()) { this.syntax(); return null; }
    return s.decoded().toString();
  }

  oneOf(field: string, a: string, b: string): i32 {
    const v = this.string(field);
    if (v === null) return -1;
    if (v == a) return 0;
    if (v == b) return 1;
    this.fail(field, "expected \"" + a + "\" or \"" + b + "\", got \"" + (v as string) + "\"");
    return -1;
  }

  bool(field: string): i32 {
    const s = this.s;
    s.ws();
    const c = s.peek();
    if (c == 0x74 || c == 0x66) {
      if (!s.scalar()) { this.syntax(); return -1; }
      return c == 0x74 ? 1 : 0;
    }
    this.fail(field, "expected true or false");
    return -1;
  }

  int(field: string, min: i32, max: i32): i32 {
    const s = this.s;
    s.ws();
    const from = s.pos;
    const c = s.peek();
    if (c != 0x2d && (c < 0x30 || c > 0x39)) { this.fail(field, "expected an integer"); return -1; }
    if (!s.num()) { this.syntax(); return -1; }
    const v = s.integer(from);
    if (v < 0) { this.fail(field, "expected an integer from " + min.toString() + " to " + max.toString()); return -1; }
    if (v < <i64>min || v > <i64>max) {
      // The number as written (cut at 32 characters, with "…"): v stops growing past 2^40.
      this.fail(field, "expected an integer from " + min.toString() + " to " + max.toString() + ", got " + s.textFrom(from, 32));
      return -1;
    }
    return <i32>v;
  }

  globs(field: string): GlobList | null {
    const s = this.s;
    s.ws();
    if (s.peek() != 0x5b) { this.fail(field, "expected a list of glob strings"); return null; }
    s.pos++;
    const list = new GlobList();
    if (s.eat(0x5d)) { this.fail(field, "empty list matches nothing; omit the field to match anything"); return null; }
    while (true) {
      const at = field + "[" + list.length.toString() + "]";
      const src = this.string(at);
      if (src === null) return null;
      const g = new Glob();
      const problem = g.compile(src as string);
      if (problem.length > 0) { this.fail(at, "bad glob \"" + (src as string) + "\": " + problem); return null; }
      list.push(g);
      if (s.eat(0x2c)) continue;
      if (!s.expect(0x5d)) { this.syntax(); return null; }
      return list;
    }
  }

  /** A name as rules and limits have them: 1-64 of A-Z a-z 0-9 _ - . */
  name(at: string): string | null {
    const v = this.string(at);
    if (v === null) return null;
    if (!validName(v as string)) { this.fail(at, "use 1-64 characters from A-Z a-z 0-9 _ - ."); return null; }
    return v;
  }

  /**
   * A duration: a whole number (1-6 digits, no leading zero) and a unit, ms, s, m or h, as in
   * "500ms", "60s", "1m"; returned in nanoseconds, or -1.
   */
  duration(at: string): i64 {
    const v = this.string(at);
    if (v === null) return -1;
    const t = v as string;
    let digits = 0;
    while (digits < t.length && t.charCodeAt(digits) >= 0x30 && t.charCodeAt(digits) <= 0x39) digits++;
    const unit = t.substring(digits);
    let scale: i64 = 0;
    if (unit == "ms") scale = 1000000;
    else if (unit == "s") scale = 1000000000;
    else if (unit == "m") scale = 60000000000;
    else if (unit == "h") scale = 3600000000000;
    if (digits == 0 || digits > 6 || t.charCodeAt(0) == 0x30 || scale == 0) {
      this.fail(at, "expected a duration such as \"500ms\", \"60s\", \"1m\" or \"1h\" (1-6 digits, no leading zero, then ms, s, m or h), got \"" + t + "\"");
      return -1;
    }
    let n: i64 = 0;
    for (let i = 0; i < digits; i++) n = n * 10 + <i64>(t.charCodeAt(i) - 0x30);
    return n * scale;
  }
}

function validName(v: string): bool {
  if (v.length == 0 || v.length > 64) return false;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x5f || c == 0x2d || c == 0x2e;
    if (!ok) return false;
  }
  return true;
}
