// The filter's configuration, as filter/policy.schema.json states it (a test checks that this
// code and the schema accept and refuse the same policies). Parsed and validated once, in
// onConfigure; anything unknown, mistyped or malformed refuses the whole config
// with an error naming the field (a policy filter never guesses).

import { Bytes, Scanner, errorText } from "./abi";
import { Policy, Rule, GlobList, Glob } from "./policy";
import { TargetKind, TARGET_KINDS, kindOfRuleField } from "./targets";
import { label } from "./metrics";

export const MAX_BODY_LIMIT: i32 = 64 * 1024 * 1024;
/** Largest maxBatchMessages: the filter answers each message of a refused batch. */
export const MAX_BATCH_LIMIT: i32 = 10000;

export class Config {
  policy: Policy = new Policy();
  userHeader: string = "x-user-id";
  hideDeniedTools: bool = true;
  maxBodyBytes: i32 = 1048576;
  maxBatchMessages: i32 = 100;
  monitor: bool = false;
  explainDenials: bool = false;
  forwardUnjudgeable: bool = false;
}

const TOP_FIELDS = "defaultAction, rules, userHeader, hideDeniedTools, maxBodyBytes, maxBatchMessages, mode, denyResponse, unjudgeableBody";
/** The fields of a rule, for an error: the target fields are those of targets.ts. */
function ruleFields(): string {
  let fields = "name, action, methods";
  for (let i = 0; i < TARGET_KINDS.length; i++) fields += ", " + TARGET_KINDS[i].ruleField;
  return fields + ", users";
}


class Reader {
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

  rule(field: string, index: i32): Rule | null {
    const r = new Rule();
    r.name = "rule" + index.toString();
    let seen = new Set<string>();
    let hasAction = false;
    let k = this.nextKey(true);
    if (k === null) { if (this.s.err != 0) this.syntax(); else this.fail(field, "expected an object"); return null; }
    while ((k as string).length > 0) {
      const key = k as string;
      const at = field + "." + key;
      if (seen.has(key)) { this.fail(at, "duplicate field"); return null; }
      seen.add(key);
      if (key == "name") {
        const v = this.string(at);
        if (v === null) return null;
        if (!validName(v as string)) { this.fail(at, "use 1-64 characters from A-Z a-z 0-9 _ - ."); return null; }
        r.name = v as string;
      } else if (key == "action") {
        const v = this.oneOf(at, "allow", "deny");
        if (v < 0) return null;
        r.allow = v == 0;
        hasAction = true;
      } else if (key == "methods") { r.methods = this.globs(at); if (r.methods === null) return null; }
      else if (key == "users") { r.users = this.globs(at); if (r.users === null) return null; }
      else {
        const kind = kindOfRuleField(key);
        if (kind === null) { this.fail(at, "unknown field (rule fields: " + ruleFields() + ")"); return null; }
        const globs = this.globs(at);
        if (globs === null) return null;
        r.addTargets(kind as TargetKind, globs as GlobList);
      }
      k = this.nextKey(false);
      if (k === null) { this.syntax(); return null; }
    }
    if (!hasAction) { this.fail(field + ".action", "required: \"allow\" or \"deny\""); return null; }
    return r;
  }

  rules(cfg: Config): bool {
    const s = this.s;
    s.ws();
    if (s.peek() != 0x5b) return this.fail("rules", "expected a list of rules");
    s.pos++;
    if (s.eat(0x5d)) return true;
    // Rule names as metric names read them: /stats/prometheus turns "-" and "." into "_".
    const names = new Set<string>();
    while (true) {
      const rules = cfg.policy.rules;
      const at = "rules[" + rules.length.toString() + "]";
      const r = this.rule(at, rules.length);
      if (r === null) return false;
      const key = label(r.name);
      if (key == "default") return this.fail(at + ".name", "\"default\" is reserved (it names the default action)");
      if (names.has(key)) {
        let other = r.name;
        for (let i = 0; i < rules.length; i++) if (label(rules.at(i).name) == key) other = rules.at(i).name;
        if (other == r.name) return this.fail(at + ".name", "duplicate rule name \"" + r.name + "\"");
        return this.fail(at + ".name", "\"" + r.name + "\" clashes with \"" + other + "\" (metrics read - and . as _)");
      }
      names.add(key);
      r.nameBytes = new Bytes(r.name.length);
      r.nameBytes.str(r.name);
      cfg.policy.rules.push(r);
      if (s.eat(0x2c)) continue;
      if (!s.expect(0x5d)) return this.syntax();
      return true;
    }
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

/** RFC 9110 token characters, lowercased (Envoy lowercases header names). */
function headerName(v: string): string | null {
  if (v.length == 0 || v.length > 128) return null;
  let out = "";
  for (let i = 0; i < v.length; i++) {
    let c = v.charCodeAt(i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || "!#$%&'*+-.^_`|~".indexOf(String.fromCharCode(c)) >= 0;
    if (!ok) return null;
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    out += String.fromCharCode(c);
  }
  return out;
}

/**
 * Parses the plugin configuration `raw` into `cfg` (a new Config); returns what refuses it, or
 * "" when it is valid.
 */
export function parseConfig(raw: Bytes, cfg: Config): string {
  const rd = new Reader();
  const len = raw.len;
  rd.s.reset(raw.ptr, len);
  let hasDefault = false;
  const seen = new Set<string>();
  let k = rd.nextKey(true);
  if (k === null) {
    if (len == 0) rd.fail("(configuration)", "empty; set at least {\"defaultAction\": \"allow\" | \"deny\"}");
    else if (rd.s.err != 0) rd.syntax();
    else rd.fail("(configuration)", "expected a JSON object");
  }
  while (k !== null && (k as string).length > 0) {
    const key = k as string;
    if (seen.has(key)) { rd.fail(key, "duplicate field"); break; }
    seen.add(key);
    let ok = true;
    if (key == "defaultAction") {
      const v = rd.oneOf(key, "allow", "deny");
      ok = v >= 0; cfg.policy.defaultAllow = v == 0; hasDefault = ok;
    } else if (key == "rules") {
      ok = rd.rules(cfg);
    } else if (key == "userHeader") {
      const v = rd.string(key);
      ok = v !== null;
      if (ok) {
        const h = headerName(v as string);
        if (h === null || (h as string).charCodeAt(0) == 0x3a) ok = rd.fail(key, "not a valid HTTP header name: \"" + (v as string) + "\"");
        else if (h == "host") ok = rd.fail(key, "\"host\" is :authority in Envoy; name another header");
        else cfg.userHeader = h as string;
      }
    } else if (key == "hideDeniedTools") {
      const v = rd.bool(key); ok = v >= 0; cfg.hideDeniedTools = v == 1;
    } else if (key == "maxBodyBytes") {
      const v = rd.int(key, 1, MAX_BODY_LIMIT); ok = v > 0; cfg.maxBodyBytes = v;
    } else if (key == "maxBatchMessages") {
      const v = rd.int(key, 1, MAX_BATCH_LIMIT); ok = v > 0; cfg.maxBatchMessages = v;
    } else if (key == "mode") {
      const v = rd.oneOf(key, "enforce", "monitor"); ok = v >= 0; cfg.monitor = v == 1;
    } else if (key == "denyResponse") {
      const v = rd.oneOf(key, "hide", "explain"); ok = v >= 0; cfg.explainDenials = v == 1;
    } else if (key == "unjudgeableBody") {
      const v = rd.oneOf(key, "reject", "forward"); ok = v >= 0; cfg.forwardUnjudgeable = v == 1;
    } else {
      ok = rd.fail(key, "unknown field (fields: " + TOP_FIELDS + ")");
    }
    if (!ok) break;
    k = rd.nextKey(false);
    if (k === null) rd.syntax();
  }
  if (rd.error.length == 0 && !rd.s.finish()) rd.syntax();
  if (rd.error.length == 0 && !hasDefault) rd.fail("defaultAction", "required: \"allow\" or \"deny\"");
  return oneLine(rd.error);
}

/**
 * The error as one log line: a key or value may hold control characters (`"a\nb"` decodes
 * to a newline), which are written as `?` instead.
 */
function oneLine(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c == 0x7f) out += "?"; else out += String.fromCharCode(c);
  }
  return out;
}
