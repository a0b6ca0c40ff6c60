// Rules -> decision. Globs are compiled once at configure time; the request path only matches.
// Glob syntax: `*` any run of characters (possibly empty), `?` exactly one character
// (one UTF-8 sequence), `\` makes the next character literal. Everything else is literal,
// matched against the decoded (server-visible) string.
import { Bytes, RefList, ascii, GlobProgram } from "./abi";

/** A glob of a rule, compiled into the layer's matcher. */
export class Glob extends GlobProgram {
  source: string = "";

  /** Compiles `src`; returns what is wrong with it, or "" when it is a glob. */
  compile(src: string): string {
    this.source = src;
    const utf8 = Uint8Array.wrap(String.UTF8.encode(src));
    for (let i = 0; i < utf8.length; i++) {
      const c = <i32>utf8[i];
      if (c == 0x5c) {
        if (i + 1 >= utf8.length) return "ends with a lone backslash";
        i++;
        this.literal(utf8[i]);
      } else if (c == 0x2a) {
        this.star();
      } else if (c == 0x3f) {
        this.one();
      } else if (c == 0x5b || c == 0x5d || c == 0x7b || c == 0x7d) {
        return "character classes and alternatives ([...] {...}) are not supported; write \\" + String.fromCharCode(c) + " for a literal";
      } else {
        this.literal(c);
      }
    }
    return "";
  }
}

// A message field as a span: `n` bytes at `p`, or ABSENT when the message lacks the field.
// (Spans rather than Bytes: AssemblyScript 0.17 reference-counts every Bytes argument.)
export const ABSENT: i32 = -1;

export class GlobList extends RefList<Glob> {
  any(p: usize, n: i32): bool {
    if (n == ABSENT) return false;
    return this.anyMatches(p, n);
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

/** What a rule can match on, as spans (ABSENT length: the message has no such field). */
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

const DEFAULT_NAME = ascii("default");

export class Policy {
  rules: RefList<Rule> = new RefList<Rule>();
  defaultAllow: bool = false;

  /** Index of the first rule matching `f`, or -1 when the default action decides. */
  decide(f: Fields): i32 {
    return this.rules.firstMatch(f);
  }

  allows(rule: i32): bool { return rule < 0 ? this.defaultAllow : this.rules.at(rule).allow; }

  ruleName(rule: i32): string {
    if (rule < 0) return "default";
    return this.rules.at(rule).name;
  }

  /** The UTF-8 name of a rule (or of the default action, rule < 0): ruleNamePtr/ruleNameLen. */
  ruleNamePtr(rule: i32): usize { return rule < 0 ? DEFAULT_NAME.ptr : this.rules.at(rule).nameBytes.ptr; }
  ruleNameLen(rule: i32): i32 { return rule < 0 ? DEFAULT_NAME.len : this.rules.at(rule).nameBytes.len; }
}
