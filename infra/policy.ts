// The mcp_filter policy, checked against filter/policy.schema.json before anything deploys:
// the filter refuses a bad policy itself, but only once Envoy starts, well into `pulumi up`.
// Messages name the field as the filter does (`policy.rules[2].tools: ...`).
import * as fs from "fs";
import * as path from "path";
import Ajv2020, { ErrorObject, ValidateFunction } from "ajv/dist/2020";

// Not from PROJECT_ROOT: infra/config.ts imports this module, and an import back would be circular.
export const POLICY_SCHEMA_PATH = path.resolve(__dirname, "..", "filter", "policy.schema.json");

export type Schema = Record<string, unknown>;

export function readPolicySchema(): Schema {
  return JSON.parse(fs.readFileSync(POLICY_SCHEMA_PATH, "utf8")) as Schema;
}

/**
 * Rule names as metric names read them: /stats/prometheus turns - and . into _, so two names
 * that read alike (or a name and an unnamed rule's rule<index>) would share one counter.
 */
function ruleNameClashes(rules: unknown[], what: string): Array<{ index: number; problem: string }> {
  const seen = new Map<string, string>();
  const clashes: Array<{ index: number; problem: string }> = [];
  rules.forEach((rule, index) => {
    const given = typeof rule === "object" && rule !== null ? (rule as { name?: unknown }).name : undefined;
    const name = typeof given === "string" ? given : `rule${index}`;
    const key = name.replace(/[-.]/g, "_");
    const other = seen.get(key);
    if (other === name) clashes.push({ index, problem: `duplicate ${what} name "${name}"` });
    else if (other !== undefined) clashes.push({ index, problem: `"${name}" clashes with "${other}" (metrics read - and . as _)` });
    else seen.set(key, name);
  });
  return clashes;
}

function distinctRuleNames(ajv: Ajv2020): void {
  ajv.addKeyword({
    keyword: "x-distinctRuleNames",
    type: "array",
    schemaType: "boolean",
    errors: true,
    // A function keyword reports its own errors, each at the clashing rule's name.
    validate: function check(enabled: boolean, data: unknown[], _parent?: unknown, cxt?: { instancePath: string }) {
      // The same keyword holds rule names and limit names (a limit always has one).
      const clashes = enabled ? ruleNameClashes(data, (cxt?.instancePath ?? "").endsWith("/limits") ? "limit" : "rule") : [];
      (check as { errors?: Partial<ErrorObject>[] }).errors = clashes.map((c) => ({
        keyword: "x-distinctRuleNames",
        instancePath: `${cxt?.instancePath ?? ""}/${c.index}/name`,
        message: c.problem,
        params: {},
      }));
      return clashes.length === 0;
    },
  });
}

/**
 * Compiles a policy schema: the project's, strictly (a keyword Ajv does not know is an error),
 * or a test's variant of it.
 */
export function compilePolicySchema(schema: Schema = readPolicySchema(), strict = true): ValidateFunction {
  const ajv = new Ajv2020({ allErrors: true, verbose: true, strict, logger: strict ? undefined : false });
  distinctRuleNames(ajv);
  return ajv.compile(schema);
}

let projectValidator: ValidateFunction | undefined;

/**
 * `policy` for the root, then `.key` and `[index]` as the filter writes paths; the data tells
 * an index from a key that is a number.
 */
function fieldPath(policy: unknown, instancePath: string, child?: string): string {
  const parts = instancePath.split("/").slice(1).map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
  if (child !== undefined) parts.push(child);
  let node = policy;
  let out = "policy";
  for (const part of parts) {
    out += Array.isArray(node) ? `[${part}]` : `.${part}`;
    node = (node as Record<string, unknown> | undefined)?.[part];
  }
  return out;
}

function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

const TYPE_NAMES: Record<string, string> = {
  object: "an object", array: "a list", string: "a string", integer: "an integer", boolean: "true or false",
};

function message(policy: unknown, e: ErrorObject): string {
  const schema = (e.parentSchema ?? {}) as { description?: string; properties?: Record<string, unknown>; minimum?: number; maximum?: number };
  const field = fieldPath(policy, e.instancePath, e.keyword === "required" ? e.params.missingProperty : e.keyword === "additionalProperties" ? e.params.additionalProperty : undefined);
  const range = `from ${schema.minimum} to ${schema.maximum}`;
  switch (e.keyword) {
    case "required": return `${field}: required`;
    case "additionalProperties": return `${field}: unknown field (fields: ${Object.keys(schema.properties ?? {}).join(", ")})`;
    case "type": return `${field}: expected ${TYPE_NAMES[e.params.type as string] ?? e.params.type}, got ${shown(e.data)}`;
    case "enum": return `${field}: expected ${(e.params.allowedValues as unknown[]).map(shown).join(" or ")}, got ${shown(e.data)}`;
    case "minimum": case "maximum": return `${field}: expected an integer ${range}, got ${shown(e.data)}`;
    case "minItems": return `${field}: an empty list matches nothing; omit the field to match anything`;
    case "x-distinctRuleNames": return `${field}: ${e.message}`;
    default: return `${field}: ${shown(e.data)} is not allowed: ${schema.description ?? e.message}`;
  }
}

/** One line per problem; none for a policy the filter accepts. */
export function policyErrors(policy: unknown, validate: ValidateFunction = (projectValidator ??= compilePolicySchema())): string[] {
  if (validate(policy)) return [];
  return [...new Set((validate.errors ?? []).map((e) => message(policy, e)))];
}

/** Throws, naming every bad field, unless `policy` is one the filter accepts. */
export function checkPolicy(policy: unknown): Record<string, unknown> {
  const errors = policyErrors(policy);
  if (errors.length === 0) return policy as Record<string, unknown>;
  // `pulumi config set --path policy.x ...` on a stack without its own policy writes only x.
  const partial = errors.includes("policy.defaultAction: required")
    ? "\nSet the whole policy: copy the default from Pulumi.yaml into Pulumi.<stack>.yaml under mcp-envoy-wasm:policy and edit it there."
    : "";
  throw new Error(`config policy does not match filter/policy.schema.json:\n  ${errors.join("\n  ")}${partial}`);
}
