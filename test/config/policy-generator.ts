// Generates policies from filter/policy.schema.json by walking it: valid ones, and ones that
// break exactly one constraint (wrong type, out of range, bad pattern, unknown or missing
// field, empty list, clashing rule names), each with the field the break is at.
import { sampleMatch, UNIVERSE } from "./regex-sampler";

type Rng = () => number;
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Schema = { [keyword: string]: any };
export type Path = Array<string | number>;

export interface PolicyCase {
  what: string;
  /** What was broken where, without the value drawn or the indexes: one per kind of break. */
  kind: string;
  policy: Json;
  valid: boolean;
  /** Where a refusal is: the path of the broken value (the missing or unknown key included). */
  at: Path;
}

/** One value of each JSON type: "1" for an integer, 7 for a string, 1.5 for an integer, … */
const TYPE_SAMPLES: Record<string, Json> = {
  string: "1",
  integer: 7,
  number: 1.5,
  boolean: false,
  null: null,
  array: ["x"],
  object: {},
};

function clone<T extends Json>(value: T): T {
  // A JSON round trip, as infra hands the policy to Envoy; it keeps an own "__proto__" key.
  return JSON.parse(JSON.stringify(value)) as T;
}

/** Sets an own, enumerable property, even "__proto__". */
function put(obj: { [key: string]: Json }, key: string, value: Json): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function metricKey(name: string): string {
  return name.replace(/[-.]/g, "_");
}

interface Violation { what: string; at: Path; apply: (root: Json) => Json }

/** The break's kind: the path without indexes, and what was done there without drawn content. */
function kindOf(v: Violation): string {
  return `${formatPath(v.at.map((k) => (typeof k === "number" ? 0 : k))) || "(root)"}: ${v.what.replace(/^".*": off the pattern$/s, "off the pattern")}`;
}

export class PolicyGenerator {
  constructor(private readonly root: Schema, private readonly rng: Rng) {}

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.rng() * items.length)];
  }

  private int(lo: number, hi: number): number {
    return lo + Math.floor(this.rng() * (hi - lo + 1));
  }

  /** Follows $ref within the schema file. */
  resolve(s: Schema): Schema {
    if (typeof s.$ref !== "string") return s;
    const target = (s.$ref as string).replace(/^#\//, "").split("/").reduce((node: Schema, key) => node[key], this.root);
    return this.resolve(target);
  }

  /** A string that meets `s` (pattern, lengths, not), at a boundary length half of the time. */
  private validString(s: Schema): string {
    for (let attempt = 0; attempt < 100; attempt++) {
      const lo = s.minLength ?? 0;
      const hi = s.maxLength ?? lo + 8;
      const length = this.pick([lo, hi, this.int(lo, Math.min(hi, lo + 12))]);
      const value = s.pattern !== undefined ? sampleMatch(s.pattern, this.rng, length) : "x".repeat(length);
      if (this.meetsString(s, value) && !this.excluded(s, value)) return value;
    }
    throw new Error(`generator: no string meets ${JSON.stringify(s)}`);
  }

  private meetsString(s: Schema, value: string): boolean {
    const length = [...value].length;
    return (s.pattern === undefined || new RegExp(s.pattern, "u").test(value)) &&
      length >= (s.minLength ?? 0) && length <= (s.maxLength ?? Infinity);
  }

  private excluded(s: Schema, value: string): boolean {
    const not = s.not as Schema | undefined;
    if (not === undefined) return false;
    if ("const" in not) return value === not.const;
    return new RegExp(not.pattern, "u").test(value);
  }

  /** A value `s` accepts; `rules` arrays get names that stay distinct as metric names. */
  valid(schema: Schema): Json {
    const s = this.resolve(schema);
    if (s.enum) return this.pick(s.enum as Json[]);
    switch (s.type) {
      case "boolean": return this.rng() < 0.5;
      case "integer": return this.pick([s.minimum, s.maximum, this.int(s.minimum, s.maximum)]);
      case "string": return this.validString(s);
      case "array": {
        const items = Array.from({ length: this.int(s.minItems ?? 0, (s.minItems ?? 0) + 3) }, () => this.valid(s.items));
        if (s["x-distinctRuleNames"]) this.distinctNames(items as Array<{ [key: string]: Json }>, this.namesRequired(s));
        return items;
      }
      case "object": {
        const out: { [key: string]: Json } = {};
        for (const [key, sub] of Object.entries(s.properties as Record<string, Schema>)) {
          if ((s.required ?? []).includes(key) || this.rng() < 0.5) out[key] = this.valid(sub);
        }
        return out;
      }
    }
    throw new Error(`generator: no values for ${JSON.stringify(s)}`);
  }

  /** Whether the items of a list of named things (rules, limits) must have a name. */
  private namesRequired(list: Schema): boolean {
    return (this.resolve(list.items).required ?? []).includes("name");
  }

  /**
   * Drops names that would clash as metric names, and names that look like an unnamed rule's
   * rule<index>, so that each clash a violation makes is the only one. Where a name is
   * required (limits), it is replaced by one of its index instead.
   */
  private distinctNames(rules: Array<{ [key: string]: Json }>, required = false): void {
    const seen = new Set<string>();
    rules.forEach((rule, index) => {
      const name = rule.name;
      if (typeof name === "string" && (seen.has(metricKey(name)) || /^rule\d+$/.test(metricKey(name)))) {
        if (required) {
          let n = 0;
          while (seen.has(metricKey(`item${index}x${n}`))) n++;
          rule.name = `item${index}x${n}`;
        } else delete rule.name;
      }
      seen.add(metricKey(typeof rule.name === "string" ? rule.name : `rule${index}`));
    });
  }

  /** Values of the types `s` does not allow. */
  private wrongTypes(s: Schema): Json[] {
    const allowed: string[] = s.enum ? [...new Set((s.enum as Json[]).map((v) => typeof v))] : [s.type];
    return Object.entries(TYPE_SAMPLES).filter(([type]) => !allowed.includes(type)).map(([, value]) => value);
  }

  /** Every way to break `s` at `at`, for a value that is there or not. */
  private violations(schema: Schema, at: Path): Violation[] {
    const s = this.resolve(schema);
    const set = (what: string, value: Json): Violation => ({ what, at, apply: (root) => setAt(root, at, value) });
    const out: Violation[] = this.wrongTypes(s).map((v) => set(`${JSON.stringify(v)}: wrong type`, v));
    if (s.enum) {
      const names = (s.enum as string[]).flatMap((v) => [v.toUpperCase(), `${v} `, v.slice(0, -1)]);
      out.push(...names.filter((v) => !s.enum.includes(v)).map((v) => set(`${JSON.stringify(v)}: not in the enum`, v)));
    }
    if (s.type === "integer") {
      const over = [s.maximum + 1, 2 ** 53, 1e21, s.maximum + 0.5];
      const under = [s.minimum - 1, -1, s.minimum - 1e6];
      out.push(...[...over, ...under].map((v) => set(`${v}: out of range`, v)));
    }
    if (s.type === "string") out.push(...this.stringViolations(s, set));
    if (s.type === "array" && s.minItems > 0) out.push(set("[]: empty list", []));
    if (s["x-distinctRuleNames"]) out.push(...this.nameClashes(s, at));
    if (s.type === "object") {
      for (const key of s.required ?? []) out.push({ what: `${key} missing`, at: [...at, key], apply: (root) => deleteAt(root, [...at, key]) });
      if (s.additionalProperties === false) {
        const keys = Object.keys(s.properties);
        const unknown = [...keys.map((k) => k.slice(0, -1)), ...keys.map((k) => k.toLowerCase()), "0", "__proto__", "x y", "é"];
        for (const key of unknown.filter((k) => !keys.includes(k))) {
          out.push({ what: `unknown field ${JSON.stringify(key)}`, at: [...at, key], apply: (root) => setAt(root, [...at, key], 1, true) });
        }
      }
    }
    return out;
  }

  private stringViolations(s: Schema, set: (what: string, value: Json) => Violation): Violation[] {
    const out: Violation[] = [];
    if (s.minLength > 0) out.push(set("too short", "".padEnd(s.minLength - 1, "a")));
    if (s.maxLength !== undefined) {
      const long = this.validString({ ...s, minLength: s.maxLength });
      out.push(set("too long", long + [...long][0]));
    }
    if (s.not) out.push(set("excluded", "const" in s.not ? s.not.const : sampleMatch(s.not.pattern, this.rng, 0)));
    if (s.pattern !== undefined) {
      // A valid string with one character put in that the pattern then refuses.
      for (let tries = 0; tries < 6; tries++) {
        // One shorter than the longest, so that the string breaks the pattern and nothing else.
        const base = [...this.validString(s.maxLength === undefined ? s : { ...s, maxLength: s.maxLength - 1 })];
        const ch = this.pick(UNIVERSE);
        base.splice(this.int(0, base.length), 0, ch);
        const value = base.join("");
        if (!new RegExp(s.pattern, "u").test(value)) out.push(set(`${JSON.stringify(value)}: off the pattern`, value));
      }
    }
    return out;
  }

  /** Rule lists whose names clash as metric names: the later rule's name is the refusal. */
  private nameClashes(list: Schema, at: Path): Violation[] {
    const clash = (what: string, change: (rules: Array<{ [key: string]: Json }>, i: number, j: number) => void): Violation => {
      const j = this.int(1, 3);
      const i = this.int(0, j - 1);
      return {
        what, at: [...at, j, "name"], apply: (root) => {
          const rules = (getAt(root, at) ?? []) as Array<{ [key: string]: Json }>;
          while (rules.length <= j) rules.push(this.valid(list.items) as { [key: string]: Json });
          this.distinctNames(rules, this.namesRequired(list));
          change(rules, i, j);
          return setAt(root, at, rules);
        },
      };
    };
    const nameOf = (rules: Array<{ [key: string]: Json }>, i: number) => (typeof rules[i].name === "string" ? rules[i].name as string : `rule${i}`);
    return [
      clash("two rules of one name", (rules, i, j) => { rules[j].name = nameOf(rules, i); }),
      clash("names alike once - and . read as _", (rules, i, j) => { rules[i].name = "a-b.c"; rules[j].name = this.pick(["a_b_c", "a.b-c", "a_b.c"]); }),
      clash("a name taken by an unnamed rule", (rules, i, j) => { rules[i].name = `rule${j}`; delete rules[j].name; }),
    ];
  }

  /** The sites of `value` (under `schema`) where a violation can go: every value and every property. */
  private sites(value: Json, schema: Schema, at: Path): Violation[] {
    const s = this.resolve(schema);
    const out = this.violations(s, at);
    if (s.type === "object" && value !== null && typeof value === "object" && !Array.isArray(value)) {
      for (const [key, sub] of Object.entries(s.properties as Record<string, Schema>)) out.push(...this.sites(value[key] ?? null, sub, [...at, key]));
    }
    if (s.type === "array" && Array.isArray(value)) value.forEach((item, i) => out.push(...this.sites(item, s.items, [...at, i])));
    return out;
  }

  /**
   * `valid` policies that the schema accepts, then `invalid` ones that break one thing each:
   * a kind of break not made yet while the policy drawn offers one, else any.
   */
  cases(valid: number, invalid: number): PolicyCase[] {
    const out: PolicyCase[] = [];
    for (let n = 0; n < valid; n++) out.push({ what: "valid", kind: "valid", policy: this.valid(this.root), valid: true, at: [] });
    const made = new Set<string>();
    for (let n = 0; n < invalid; n++) {
      const base = this.valid(this.root);
      const all = this.sites(base, this.root, []);
      const fresh = all.filter((v) => !made.has(kindOf(v)));
      const v = this.pick(fresh.length > 0 ? fresh : all);
      made.add(kindOf(v));
      out.push({ what: `${formatPath(v.at) || "(root)"}: ${v.what}`, kind: kindOf(v), policy: v.apply(clone(base)), valid: false, at: v.at });
    }
    return out;
  }
}

function getAt(root: Json, at: Path): Json | undefined {
  return at.reduce<Json | undefined>((node, key) => (node as any)?.[key], root);
}

function setAt(root: Json, at: Path, value: Json, asOwn = false): Json {
  if (at.length === 0) return value;
  const parent = getAt(root, at.slice(0, -1)) as any;
  const key = at[at.length - 1];
  if (asOwn) put(parent, String(key), value); else parent[key] = value;
  return root;
}

function deleteAt(root: Json, at: Path): Json {
  delete (getAt(root, at.slice(0, -1)) as any)[at[at.length - 1]];
  return root;
}

/** `rules[2].tools[0]`, as the filter names a field. */
export function formatPath(at: Path): string {
  return at.map((k, i) => (typeof k === "number" ? `[${k}]` : i === 0 ? k : `.${k}`)).join("");
}
