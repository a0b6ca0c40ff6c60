// Rules -> decision. Globs are compiled once at configure time; the request path only matches.
// Glob syntax: `*` any run of characters (possibly empty), `?` exactly one character
// (one UTF-8 sequence), `\` makes the next character literal. Everything else is literal,
// matched against the decoded (server-visible) string.
import { Bytes, ascii } from "./bytes";

const LIT: u8 = 0;
const STAR: u8 = 1;
const ONE: u8 = 2;

export class Glob {
  ops: Bytes = new Bytes(16);    // LIT/STAR/ONE per position
  chars: Bytes = new Bytes(16);  // the literal byte where ops is LIT
  source: string = "";

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

/** Compiles a glob; returns null and sets `globError` when it is malformed. */
export let globError: string = "";
export function compileGlob(src: string): Glob | null {
  const g = new Glob();
  g.source = src;
  const utf8 = Uint8Array.wrap(String.UTF8.encode(src));
  for (let i = 0; i < utf8.length; i++) {
    const c = <i32>utf8[i];
    if (c == 0x5c) {
      if (i + 1 >= utf8.length) { globError = "ends with a lone backslash"; return null; }
      i++;
      g.ops.byte(LIT); g.chars.byte(utf8[i]);
    } else if (c == 0x2a) {
      if (g.ops.len > 0 && load<u8>(g.ops.ptr + <usize>g.ops.len - 1) == STAR) continue;
      g.ops.byte(STAR); g.chars.byte(0);
    } else if (c == 0x3f) {
      g.ops.byte(ONE); g.chars.byte(0);
    } else if (c == 0x5b || c == 0x5d || c == 0x7b || c == 0x7d) {
      globError = "character classes and alternatives ([...] {...}) are not supported; write \\" + String.fromCharCode(c) + " for a literal";
      return null;
    } else {
      g.ops.byte(LIT); g.chars.byte(c);
    }
  }
  return g;
}

// A message field as a span: `n` bytes at `p`, or ABSENT when the message lacks the field.
// (Spans rather than Bytes: AssemblyScript 0.17 reference-counts every Bytes argument.)
export const ABSENT: i32 = -1;

// Globs and rules are read by raw pointer from their arrays' storage: an indexed read would
// count a reference for each, and the arrays, unchanged after configure, keep them alive.
@inline function dataOf(array: usize): usize { return load<usize>(array + offsetof<ArrayBufferView>("dataStart")); }

export class GlobList {
  globs: Array<Glob> = [];
  any(p: usize, n: i32): bool {
    if (n == ABSENT) return false;
    const data = dataOf(changetype<usize>(this.globs));
    for (let i = 0; i < this.globs.length; i++) {
      if (changetype<Glob>(load<usize>(data + (<usize>i << alignof<usize>()))).matches(p, n)) return true;
    }
    return false;
  }
}

export class Rule {
  name: string = "";
  nameBytes: Bytes = new Bytes(0); // the name as UTF-8, for audit lines
  allow: bool = false;
  methods: GlobList | null = null;
  tools: GlobList | null = null;
  resources: GlobList | null = null;
  prompts: GlobList | null = null;
  users: GlobList | null = null;

  /** Every field the rule names must match; a field the message lacks does not match. */
  matches(f: Fields): bool {
    if (this.methods !== null && !(this.methods as GlobList).any(f.methodPtr, f.methodLen)) return false;
    if (this.tools !== null && !(this.tools as GlobList).any(f.toolPtr, f.toolLen)) return false;
    if (this.resources !== null && !(this.resources as GlobList).any(f.resourcePtr, f.resourceLen)) return false;
    if (this.prompts !== null && !(this.prompts as GlobList).any(f.promptPtr, f.promptLen)) return false;
    if (this.users !== null && !(this.users as GlobList).any(f.userPtr, f.userLen)) return false;
    return true;
  }
}

/**
 * What a rule can match on, as spans (ABSENT length: the message has no such field).
 * Unmanaged, so passing it costs no reference counting.
 */
@unmanaged
export class Fields {
  methodPtr: usize = 0; methodLen: i32 = ABSENT;
  toolPtr: usize = 0; toolLen: i32 = ABSENT;
  resourcePtr: usize = 0; resourceLen: i32 = ABSENT;
  promptPtr: usize = 0; promptLen: i32 = ABSENT;
  userPtr: usize = 0; userLen: i32 = 0;

  /** No field but the user (`n` bytes at `user`); the caller then sets what the message has. */
  reset(user: usize, n: i32): void {
    this.methodLen = ABSENT; this.toolLen = ABSENT; this.resourceLen = ABSENT; this.promptLen = ABSENT;
    this.userPtr = user;
    this.userLen = n;
  }
}

// One record, filled for each decision: the VM runs one callback at a time.
export const fields = new Fields();

const DEFAULT_NAME = ascii("default");

export class Policy {
  rules: Array<Rule> = [];
  defaultAllow: bool = false;

  /** Index of the first rule matching `f`, or -1 when the default action decides. */
  decide(f: Fields): i32 {
    const data = dataOf(changetype<usize>(this.rules));
    for (let i = 0; i < this.rules.length; i++) {
      if (changetype<Rule>(load<usize>(data + (<usize>i << alignof<usize>()))).matches(f)) return i;
    }
    return -1;
  }

  allows(rule: i32): bool { return rule < 0 ? this.defaultAllow : this.rules[rule].allow; }

  ruleName(rule: i32): string {
    if (rule < 0) return "default";
    return this.rules[rule].name;
  }

  /** The UTF-8 name of a rule (or of the default action, rule < 0): ruleNamePtr/ruleNameLen. */
  ruleNamePtr(rule: i32): usize { return rule < 0 ? DEFAULT_NAME.ptr : unchecked(this.rules[rule]).nameBytes.ptr; }
  ruleNameLen(rule: i32): i32 { return rule < 0 ? DEFAULT_NAME.len : unchecked(this.rules[rule]).nameBytes.len; }
}
