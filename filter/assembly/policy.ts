// Rules -> decision. Globs are compiled once at configure time; the request path only matches.
// Glob syntax: `*` any run of characters (possibly empty), `?` exactly one character
// (one UTF-8 sequence), `\` makes the next character literal. Everything else is literal,
// matched against the decoded (server-visible) string.
import { Bytes, RefList, ascii, GlobProgram } from "./abi";
import { TargetKind } from "./targets";

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

/** A target kind (TargetKind#id) no message has: the rule names two kinds, so it never matches. */
const SEVERAL_KINDS: i32 = -2;

export class Rule {
  name: string = "";
  nameBytes: Bytes = new Bytes(0); // the name as UTF-8, for audit lines
  allow: bool = false;
  methods: GlobList | null = null;
  users: GlobList | null = null;
  /** Globs of the target the rule names (its `tools`, `resources` or `prompts`), and its kind. */
  targets: GlobList | null = null;
  targetKind: i32 = ABSENT;

  /** Names the target globs of a rule field (targets.ts); a message has one target, so a second kind matches none. */
  addTargets(kind: TargetKind, globs: GlobList): void {
    if (this.targets === null) { this.targets = globs; this.targetKind = kind.id; } else this.targetKind = SEVERAL_KINDS;
  }

  /** Every field the rule names must match; a field the message lacks does not match. */
  matches(f: Fields): bool {
    if (this.methods !== null && !(this.methods as GlobList).any(f.methodPtr, f.methodLen)) return false;
    if (this.targets !== null && (f.targetKind != this.targetKind || !(this.targets as GlobList).any(f.targetPtr, f.targetLen))) return false;
    if (this.users !== null && !(this.users as GlobList).any(f.userPtr, f.userLen)) return false;
    return true;
  }
}

/**
 * What a rule can match on, as spans (ABSENT length: the message has no such field): the
 * method, the target and its kind (TargetKind#id, ABSENT: none), the user.
 */
export class Fields {
  methodPtr: usize = 0; methodLen: i32 = ABSENT;
  targetKind: i32 = ABSENT; targetPtr: usize = 0; targetLen: i32 = ABSENT;
  userPtr: usize = 0; userLen: i32 = 0;

  /** No field but the user (`n` bytes at `user`); the caller then sets what the message has. */
  reset(user: usize, n: i32): void {
    this.methodLen = ABSENT; this.targetKind = ABSENT; this.targetLen = ABSENT;
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

  /** The UTF-8 name of a rule (or of the default action, rule < 0), for audit lines. */
  ruleNameBytes(rule: i32): Bytes { return rule < 0 ? DEFAULT_NAME : this.rules.at(rule).nameBytes; }
}
