// filter/policy.schema.json states what the filter accepts: policies generated from the schema
// get the same verdict from infra's check (the schema) and from the compiled filter's own
// configure, and a refusal names the same field in both.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { ProxyWasmHost } from "../../filter/host";
import { compilePolicySchema, policyErrors, readPolicySchema } from "../../infra/policy";
import { mulberry32 } from "../filter/fixtures";
import { wasm } from "../filter/helpers";
import { parse } from "yaml";
import { formatPath, PolicyCase, PolicyGenerator, Schema } from "./policy-generator";

const SEED = 0x5c4e3a;
const FILTER_PREFIX = "mcp_filter: invalid configuration: ";

interface FilterVerdict { accepted: boolean; field?: string; line?: string }

function configure(policy: unknown): FilterVerdict {
  const host = ProxyWasmHost.load(wasm(), { pluginConfig: JSON.stringify(policy), allowOnHeadersStopIteration: true });
  if (host.start()) return { accepted: true };
  const line = host.logs("critical").map((l) => l.message).find((m) => m.startsWith(FILTER_PREFIX));
  assert.ok(line, `the filter refused without its critical line: ${host.logs().map((l) => l.message).join("\n")}`);
  const rest = line.slice(FILTER_PREFIX.length);
  return { accepted: false, field: rest.slice(0, rest.indexOf(": ")), line };
}

// Keywords that only describe; every other keyword of the schema constrains.
const ANNOTATIONS = new Set(["$schema", "$comment", "title", "description", "default", "$defs"]);
const BOUNDS = ["minimum", "maximum", "minLength", "maxLength", "minItems"];

interface Mutant { what: string; schema: Schema }

/** The schema with one constraint removed, loosened or tightened: each must change a verdict. */
function mutants(schema: Schema): Mutant[] {
  const out: Mutant[] = [];
  const visit = (node: Schema, at: string, change: (edit: (copy: Schema) => void, what: string) => void) => {
    for (const [keyword, value] of Object.entries(node)) {
      if (ANNOTATIONS.has(keyword)) continue;
      const here = `${at}/${keyword}`;
      if (keyword !== "properties") change((n) => delete n[keyword], `${here} removed`);
      if (BOUNDS.includes(keyword)) {
        change((n) => (n[keyword] = value + 1), `${here} + 1`);
        if (value > 0) change((n) => (n[keyword] = value - 1), `${here} - 1`);
      }
      if (keyword === "enum") {
        for (const v of value as unknown[]) change((n) => (n.enum = (n.enum as unknown[]).filter((x) => x !== v)), `${here} without ${JSON.stringify(v)}`);
      }
      if (keyword === "properties") {
        for (const [key, sub] of Object.entries(value as Record<string, Schema>)) {
          change((n) => delete n.properties[key], `${here}/${key} removed`);
          visit(sub, `${here}/${key}`, (edit, what) => change((n) => edit(n.properties[key]), what));
        }
      }
      // Not into `not`, where a removal tightens (`not` itself is removed above).
      if (keyword === "items") visit(value, here, (edit, what) => change((n) => edit(n.items), what));
    }
  };
  visit(schema, "#", (edit, what) => {
    const copy = structuredClone(schema);
    edit(copy);
    out.push({ what, schema: copy });
  });
  for (const [name, def] of Object.entries(schema.$defs as Record<string, Schema>)) {
    visit(def, `#/$defs/${name}`, (edit, what) => {
      const copy = structuredClone(schema);
      edit(copy.$defs[name]);
      out.push({ what, schema: copy });
    });
  }
  return out;
}

describe("policy schema: the filter accepts exactly what filter/policy.schema.json does", () => {
  const schema: Schema = readPolicySchema();
  const cases: PolicyCase[] = new PolicyGenerator(schema, mulberry32(SEED)).cases(150, 500);
  const verdicts = new Map<PolicyCase, FilterVerdict>();
  const filterVerdict = (c: PolicyCase) => {
    if (!verdicts.has(c)) verdicts.set(c, configure(c.policy));
    return verdicts.get(c)!;
  };

  it("generates valid policies and a spread of broken ones", () => {
    const kinds = new Set(cases.filter((c) => !c.valid).map((c) => c.kind));
    const fields = new Set([...kinds].map((k) => k.slice(0, k.indexOf(": "))));
    assert.ok(kinds.size >= 150, `only ${kinds.size} kinds of break`);
    assert.ok(fields.size >= 25, `only ${fields.size} fields broken: ${[...fields].join(", ")}`);
    assert.equal(cases.filter((c) => c.valid).length, 150);
  });

  it("infra accepts the valid ones and refuses each broken one, naming only the broken field", () => {
    for (const c of cases) {
      const errors = policyErrors(c.policy);
      if (c.valid) { assert.deepEqual(errors, [], JSON.stringify(c.policy)); continue; }
      const field = c.at.length === 0 ? "policy" : `policy.${formatPath(c.at)}`;
      assert.ok(errors.length > 0, `${c.what}: accepted ${JSON.stringify(c.policy)}`);
      for (const e of errors) assert.ok(e.startsWith(`${field}: `), `${c.what}: ${e}`);
    }
  });

  it("the filter's configure gives each the same verdict, and names the same field", () => {
    for (const c of cases) {
      const v = filterVerdict(c);
      assert.equal(v.accepted, c.valid, `${c.what}: ${JSON.stringify(c.policy)}\n${v.line ?? "accepted"}`);
      if (!c.valid) assert.equal(v.field, c.at.length === 0 ? "(configuration)" : formatPath(c.at), `${c.what}: ${v.line}`);
    }
  });

  it("every constraint counts: a schema with one removed, loosened or tightened disagrees with the filter", () => {
    const list = mutants(schema);
    assert.ok(list.length >= 80, `only ${list.length} mutants`);
    const unnoticed = list.filter((m) => {
      const validate = compilePolicySchema(m.schema, false);
      return cases.every((c) => (policyErrors(c.policy, validate).length === 0) === filterVerdict(c).accepted);
    });
    assert.deepEqual(unnoticed.map((m) => m.what), []);
  });
});

describe("policy schema: filter/README.md's tables", () => {
  const schema: Schema = readPolicySchema();
  const readme = fs.readFileSync(path.join(__dirname, "..", "..", "filter", "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Configuration"), readme.indexOf("Every field a rule names"));
  const rows = (header: string) => {
    const table = section.slice(section.indexOf(header) + header.length).split("\n\n")[0];
    return table.split("\n").filter((l) => l.startsWith("| `")).map((l) => l.split(" | ").map((cell) => cell.replace(/^\| /, "")));
  };

  it("list exactly the schema's fields, with its defaults and required fields", () => {
    const top = rows("| field | default | meaning |");
    assert.deepEqual(top.map((r) => r[0]), Object.keys(schema.properties).map((k) => `\`${k}\``));
    for (const [field, stated] of top) {
      const key = field.replace(/`/g, "");
      if (stated === "**required**") assert.ok(schema.required.includes(key), key);
      else assert.deepEqual(JSON.parse(stated.replace(/`/g, "")), schema.properties[key].default, key);
    }
    const rule = rows("| field | meaning |");
    assert.deepEqual(rule.map((r) => r[0]).sort(), Object.keys(schema.$defs.rule.properties).map((k) => `\`${k}\``).sort());
    assert.deepEqual(rule.filter((r) => r[1].startsWith("**required**")).map((r) => r[0]), schema.$defs.rule.required.map((k: string) => `\`${k}\``));
  });
});

describe("policy schema: the main README's rate-limit example", () => {
  it("is a policy's limits that infra's check and the filter both accept", () => {
    const readme = fs.readFileSync(path.join(__dirname, "..", "..", "README.md"), "utf8");
    const block = /```yaml\n( {4}limits:\n[\s\S]*?)```/.exec(readme);
    assert.ok(block, "README.md has a yaml block of limits");
    const limits = parse(block[1].replace(/^ {4}/gm, "")).limits;
    assert.equal(limits.length, 2);
    const policy = { defaultAction: "allow", limits };
    assert.deepEqual(policyErrors(policy), []);
    assert.equal(configure(policy).accepted, true);
  });
});
