// The byte-level matcher of a glob: a program of literal bytes, stars (any run of characters)
// and one-character wildcards (one UTF-8 sequence), matched against a span. policy.ts compiles
// the glob syntax into it.
import { Bytes } from "./bytes";

const LIT: u8 = 0;
const STAR: u8 = 1;
const ONE: u8 = 2;

export class GlobProgram {
  private ops: Bytes = new Bytes(16);    // LIT/STAR/ONE per position
  private chars: Bytes = new Bytes(16);  // the literal byte where ops is LIT

  literal(c: i32): void { this.ops.byte(LIT); this.chars.byte(c); }

  /** Any run of characters; two in a row are one. */
  star(): void {
    if (this.ops.len > 0 && this.ops.at(this.ops.len - 1) == STAR) return;
    this.ops.byte(STAR); this.chars.byte(0);
  }

  one(): void { this.ops.byte(ONE); this.chars.byte(0); }

  /** Whether the `n` bytes at `p` (decoded text, WTF-8) match. */
  matches(p: usize, n: i32): bool {
    const ops = this.ops.ptr;
    const chars = this.chars.ptr;
    const m = this.ops.len;
    let i = 0;        // text position
    let j = 0;        // pattern position
    let starJ = -1;   // pattern position after the last star
    let starI = 0;    // text position that star has absorbed up to
    while (i < n) {
      if (j < m) {
        const op = load<u8>(ops + <usize>j);
        if (op == STAR) { starJ = ++j; starI = i; continue; }
        if (op == ONE) { i = nextChar(p, i, n); j++; continue; }
        if (load<u8>(chars + <usize>j) == load<u8>(p + <usize>i)) { i++; j++; continue; }
      }
      if (starJ < 0) return false;
      // Let the last star absorb one more character and retry from there.
      starI = nextChar(p, starI, n);
      i = starI;
      j = starJ;
    }
    while (j < m && load<u8>(ops + <usize>j) == STAR) j++;
    return j == m;
  }
}

/** Skips one UTF-8 (or WTF-8) sequence; a stray byte counts as one character. */
function nextChar(p: usize, i: i32, n: i32): i32 {
  const c = <i32>load<u8>(p + <usize>i);
  let len = 1;
  if (c >= 0xf0) len = 4; else if (c >= 0xe0) len = 3; else if (c >= 0xc0) len = 2;
  let k = 1;
  while (k < len && i + k < n && (load<u8>(p + <usize>(i + k)) & 0xc0) == 0x80) k++;
  return i + k;
}
