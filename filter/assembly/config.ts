// The filter's configuration, as filter/policy.schema.json states it (a test checks that this
// code and the schema accept and refuse the same policies). Parsed and validated once, in
// onConfigure; anything unknown, mistyped or malformed refuses the whole config
// with an error naming the field (a policy filter never guesses).

import { Bytes } from "./abi";
import { Policy, Rule, GlobList } from "./policy";
import { Reader } from "./reader";
import { TargetKind, TARGET_KINDS, kindOfRuleField } from "./targets";
import { label } from "./metrics";
import { Limit, Limits, KEY_USER, KEY_TOOL, KEY_USER_AND_TOOL } from "./limits";

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
  limits: Limits = new Limits();
}

/** Bounds of a limit's numbers (policy.schema.json states the same). */
const MAX_TOKENS: i32 = 1000000;
const MAX_KEYS: i32 = 65536;
const LIMIT_FIELDS = "name, key, tools, users, maxTokens, tokensPerFill, fillInterval, maxKeys";

const TOP_FIELDS = "defaultAction, rules, limits, userHeader, hideDeniedTools, maxBodyBytes, maxBatchMessages, mode, denyResponse, unjudgeableBody";
/** The fields of a rule, for an error: the target fields are those of targets.ts. */
function ruleFields(): string {
  let fields = "name, action, methods";
  for (let i = 0; i < TARGET_KINDS.length; i++) fields += ", " + TARGET_KINDS[i].ruleField;
  return fields + ", users";
}

/** Reads the policy's objects: rules and limits. */
class PolicyReader extends Reader {
  rule(field: string, index: i32): Rule | null {
    const r = new Rule();
    r.name = "rule" + index.toString();
    let seen = new Set<string>();
    let hasAction = false;
    let k = this.nextField(field, seen, true);
    while (k !== null && (k as string).length > 0) {
      const key = k as string;
      const at = field + "." + key;
      if (key == "name") {
        const v = this.name(at);
        if (v === null) return null;
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
      k = this.nextField(field, seen, false);
    }
    if (k === null) return null;
    if (!hasAction) { this.fail(field + ".action", "required: \"allow\" or \"deny\""); return null; }
    return r;
  }

  /** Opens the list at `field`: 1 when items follow, 0 when it is empty, -1 when it is no list. */
  private openList(field: string, expected: string): i32 {
    const s = this.s;
    s.ws();
    if (s.peek() != 0x5b) { this.fail(field, expected); return -1; }
    s.pos++;
    return s.eat(0x5d) ? 0 : 1;
  }

  /**
   * Takes `name` (of a `what`, at `at`) into `names` (as metric names read it, since
   * /stats/prometheus turns "-" and "." into "_" -> as written); refuses "default" and a name
   * already there in either spelling.
   */
  private uniqueName(at: string, what: string, name: string, names: Map<string, string>): bool {
    const key = label(name);
    if (key == "default") return this.fail(at + ".name", "\"default\" is reserved (it names the default action)");
    if (names.has(key)) {
      const other = names.get(key);
      if (other == name) return this.fail(at + ".name", "duplicate " + what + " name \"" + name + "\"");
      return this.fail(at + ".name", "\"" + name + "\" clashes with \"" + other + "\" (metrics read - and . as _)");
    }
    names.set(key, name);
    return true;
  }

  rules(cfg: Config): bool {
    const items = this.openList("rules", "expected a list of rules");
    if (items <= 0) return items == 0;
    const names = new Map<string, string>();
    while (true) {
      const rules = cfg.policy.rules;
      const at = "rules[" + rules.length.toString() + "]";
      const r = this.rule(at, rules.length);
      if (r === null || !this.uniqueName(at, "rule", r.name, names)) return false;
      r.nameBytes = new Bytes(r.name.length);
      r.nameBytes.str(r.name);
      rules.push(r);
      if (this.s.eat(0x2c)) continue;
      if (!this.s.expect(0x5d)) return this.syntax();
      return true;
    }
  }

  limit(field: string): Limit | null {
    const l = new Limit();
    const seen = new Set<string>();
    let k = this.nextField(field, seen, true);
    while (k !== null && (k as string).length > 0) {
      const key = k as string;
      const at = field + "." + key;
      if (key == "name") {
        const v = this.name(at);
        if (v === null) return null;
        l.name = v as string;
      } else if (key == "key") {
        const v = this.string(at);
        if (v === null) return null;
        if (v == "user") l.key = KEY_USER;
        else if (v == "tool") l.key = KEY_TOOL;
        else if (v == "userAndTool") l.key = KEY_USER_AND_TOOL;
        else { this.fail(at, "expected \"user\", \"tool\" or \"userAndTool\", got \"" + (v as string) + "\""); return null; }
      } else if (key == "tools") { l.tools = this.globs(at); if (l.tools === null) return null; }
      else if (key == "users") { l.users = this.globs(at); if (l.users === null) return null; }
      else if (key == "maxTokens") { l.maxTokens = this.int(at, 1, MAX_TOKENS); if (l.maxTokens < 0) return null; }
      else if (key == "tokensPerFill") { l.tokensPerFill = this.int(at, 1, MAX_TOKENS); if (l.tokensPerFill < 0) return null; }
      else if (key == "maxKeys") { l.maxKeys = this.int(at, 1, MAX_KEYS); if (l.maxKeys < 0) return null; }
      else if (key == "fillInterval") { l.fillNanos = this.duration(at); if (l.fillNanos < 0) return null; }
      else { this.fail(at, "unknown field (limit fields: " + LIMIT_FIELDS + ")"); return null; }
      k = this.nextField(field, seen, false);
    }
    if (k === null) return null;
    if (!seen.has("name")) { this.fail(field + ".name", "required: the limit's name, for metrics and the audit log"); return null; }
    if (!seen.has("key")) { this.fail(field + ".key", "required: \"user\", \"tool\" or \"userAndTool\""); return null; }
    if (!seen.has("maxTokens")) { this.fail(field + ".maxTokens", "required: the bucket's size (the burst)"); return null; }
    if (!seen.has("fillInterval")) { this.fail(field + ".fillInterval", "required: how often tokensPerFill tokens are added, e.g. \"60s\""); return null; }
    return l;
  }

  limits(cfg: Config): bool {
    const items = this.openList("limits", "expected a list of limits");
    if (items <= 0) return items == 0;
    const names = new Map<string, string>();
    while (true) {
      const list = cfg.limits;
      const at = "limits[" + list.length.toString() + "]";
      const l = this.limit(at);
      if (l === null || !this.uniqueName(at, "limit", l.name, names)) return false;
      l.nameBytes = new Bytes(l.name.length);
      l.nameBytes.str(l.name);
      l.slotPrefix = new Bytes(32);
      l.slotPrefix.str("mcp_filter.limit." + l.name + ".");
      list.push(l);
      if (this.s.eat(0x2c)) continue;
      if (!this.s.expect(0x5d)) return this.syntax();
      return true;
    }
  }
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
  const rd = new PolicyReader();
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
    } else if (key == "limits") {
      ok = rd.limits(cfg);
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