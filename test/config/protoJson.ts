// Strict check of a YAML/JSON value against a protobuf message type, following the proto3
// JSON mapping that Envoy uses to read its bootstrap. It fails on unknown fields, wrong
// types, undefined enum values, two members of one oneof, deprecated fields, unresolvable
// `@type`s and the few protoc-gen-validate rules listed in checkRules. Typed `Any` values are
// checked recursively against the type their `@type` names.
//
// Stricter than Envoy in one way: only proto field names (snake_case, as in Envoy's docs)
// are accepted, not their lowerCamelCase JSON names.
import * as protobuf from "protobufjs";

const TYPE_URL_PREFIX = "type.googleapis.com/";

const WRAPPERS: Record<string, string> = {
  "google.protobuf.BoolValue": "bool",
  "google.protobuf.StringValue": "string",
  "google.protobuf.BytesValue": "bytes",
  "google.protobuf.Int32Value": "int32",
  "google.protobuf.UInt32Value": "uint32",
  "google.protobuf.Int64Value": "int64",
  "google.protobuf.UInt64Value": "uint64",
  "google.protobuf.FloatValue": "float",
  "google.protobuf.DoubleValue": "double",
};

// Types whose JSON form is not an object of their fields; inside an Any they sit under "value".
const SPECIAL_JSON = new Set([
  ...Object.keys(WRAPPERS),
  "google.protobuf.Duration",
  "google.protobuf.Timestamp",
  "google.protobuf.FieldMask",
  "google.protobuf.Struct",
  "google.protobuf.Value",
  "google.protobuf.ListValue",
]);

const DURATION = /^-?\d+(\.\d{1,9})?s$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  return typeof v === "object" ? "a mapping" : `${typeof v} ${JSON.stringify(v)}`;
}

function fullName(t: protobuf.ReflectionObject): string {
  return t.fullName.replace(/^\./, "");
}

export class ProtoJsonValidator {
  private errors: string[] = [];

  constructor(private readonly root: protobuf.Root) {}

  /** All problems found in `value` read as message `typeName`; empty when it is valid. */
  validate(typeName: string, value: unknown): string[] {
    this.errors = [];
    this.message(this.root.lookupType(typeName), value, typeName);
    return this.errors;
  }

  private fail(at: string, problem: string): void {
    this.errors.push(`${at}: ${problem}`);
  }

  private message(type: protobuf.Type, value: unknown, at: string): void {
    const name = fullName(type);
    if (name === "google.protobuf.Any") return this.any(value, at);
    if (SPECIAL_JSON.has(name)) return this.special(name, value, at);
    if (!isObject(value)) return this.fail(at, `expected a mapping for ${name}, got ${describe(value)}`);
    for (const [key, v] of Object.entries(value)) {
      const field = type.fields[key];
      if (field === undefined) {
        this.fail(`${at}.${key}`, `unknown field of ${name}`);
        continue;
      }
      this.field(field, v, `${at}.${key}`);
    }
    for (const oneof of type.oneofsArray) {
      const set = oneof.oneof.filter((f) => value[f] !== undefined);
      if (set.length > 1) this.fail(at, `oneof ${oneof.name} of ${name} has several members: ${set.join(", ")}`);
      if (set.length === 0 && oneof.options?.["(validate.required)"] === true) {
        this.fail(at, `${name} needs one of ${oneof.oneof.join(", ")}`);
      }
    }
    for (const field of type.fieldsArray) {
      // A required member of a oneof is required only when that member is the one chosen.
      const required = field.options?.["(validate.rules).message.required"] === true && field.partOf === null;
      if (required && value[field.name] === undefined) this.fail(`${at}.${field.name}`, `required by ${name}`);
    }
  }

  private field(field: protobuf.Field, value: unknown, at: string): void {
    if (field.options?.deprecated === true) this.fail(at, "deprecated field; use its replacement");
    if (field instanceof protobuf.MapField) {
      if (!isObject(value)) return this.fail(at, `expected a mapping, got ${describe(value)}`);
      for (const [k, v] of Object.entries(value)) this.single(field, v, `${at}.${k}`);
      return;
    }
    if (field.repeated) {
      if (!Array.isArray(value)) return this.fail(at, `expected a list, got ${describe(value)}`);
      value.forEach((v, i) => this.single(field, v, `${at}[${i}]`));
    } else {
      this.single(field, value, at);
    }
    this.checkRules(field, value, at);
  }

  private single(field: protobuf.Field, value: unknown, at: string): void {
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type) return this.message(resolved, value, at);
    if (resolved instanceof protobuf.Enum) return this.enumValue(resolved, value, at);
    this.scalar(field.type, value, at);
  }

  private enumValue(e: protobuf.Enum, value: unknown, at: string): void {
    const known = typeof value === "string" ? value in e.values : Object.values(e.values).includes(value as number);
    if (!known) {
      this.fail(at, `${describe(value)} is not a value of ${fullName(e)} (${Object.keys(e.values).join(", ")})`);
    }
  }

  private scalar(kind: string, value: unknown, at: string): void {
    const integer = (v: unknown) =>
      (typeof v === "number" && Number.isInteger(v)) || (typeof v === "string" && /^-?\d+$/.test(v));
    let ok: boolean;
    switch (kind) {
      case "string":
      case "bytes":
        ok = typeof value === "string";
        break;
      case "bool":
        ok = typeof value === "boolean";
        break;
      case "double":
      case "float":
        ok = typeof value === "number";
        break;
      case "uint32":
      case "fixed32":
      case "uint64":
      case "fixed64":
        ok = integer(value) && Number(value) >= 0;
        break;
      case "int32":
      case "sint32":
      case "sfixed32":
      case "int64":
      case "sint64":
      case "sfixed64":
        ok = integer(value);
        break;
      default:
        return this.fail(at, `unsupported scalar type ${kind}`);
    }
    if (!ok) this.fail(at, `expected ${kind}, got ${describe(value)}`);
  }

  private special(name: string, value: unknown, at: string): void {
    const wrapped = WRAPPERS[name];
    if (wrapped !== undefined) return this.scalar(wrapped, value, at);
    switch (name) {
      case "google.protobuf.Duration":
        if (typeof value !== "string" || !DURATION.test(value)) {
          this.fail(at, `expected a duration such as "5s", got ${describe(value)}`);
        }
        return;
      case "google.protobuf.Timestamp":
        if (typeof value !== "string" || !TIMESTAMP.test(value)) this.fail(at, `expected an RFC 3339 timestamp`);
        return;
      case "google.protobuf.FieldMask":
        if (typeof value !== "string") this.fail(at, `expected a field mask string, got ${describe(value)}`);
        return;
      case "google.protobuf.Struct":
        if (!isObject(value)) this.fail(at, `expected a mapping, got ${describe(value)}`);
        return;
      case "google.protobuf.ListValue":
        if (!Array.isArray(value)) this.fail(at, `expected a list, got ${describe(value)}`);
        return;
      default:
        return; // google.protobuf.Value holds any JSON value.
    }
  }

  private any(value: unknown, at: string): void {
    if (!isObject(value)) return this.fail(at, `expected a mapping with "@type", got ${describe(value)}`);
    const url = value["@type"];
    if (typeof url !== "string" || !url.startsWith(TYPE_URL_PREFIX)) {
      return this.fail(at, `"@type" must be "${TYPE_URL_PREFIX}<message>", got ${describe(url)}`);
    }
    const typeName = url.slice(TYPE_URL_PREFIX.length);
    let type: protobuf.Type;
    try {
      type = this.root.lookupType(typeName);
    } catch {
      return this.fail(at, `"@type" ${typeName} is not a loaded message type; add its proto to envoyProtos.ts`);
    }
    const rest = Object.fromEntries(Object.entries(value).filter(([k]) => k !== "@type"));
    if (SPECIAL_JSON.has(typeName)) {
      const extra = Object.keys(rest).filter((k) => k !== "value");
      if (extra.length > 0) this.fail(at, `${typeName} in an Any takes only "value", not ${extra.join(", ")}`);
      if (rest.value === undefined) return this.fail(`${at}.value`, `missing for ${typeName}`);
      return this.special(typeName, rest.value, `${at}.value`);
    }
    this.message(type, rest, `${at}<${typeName.split(".").pop()}>`);
  }

  // The protoc-gen-validate rules that Envoy enforces and that envoy.yaml could break.
  private checkRules(field: protobuf.Field, value: unknown, at: string): void {
    const rule = (k: string): unknown => field.options?.[`(validate.rules).${k}`];
    const minLen = rule("string.min_len") ?? rule("string.min_bytes");
    if (typeof minLen === "number" && typeof value === "string" && value.length < minLen) {
      this.fail(at, `must be at least ${minLen} characters`);
    }
    const minItems = rule("repeated.min_items");
    if (typeof minItems === "number" && Array.isArray(value) && value.length < minItems) {
      this.fail(at, `needs at least ${minItems} entries`);
    }
    for (const kind of ["uint32", "uint64", "int32", "int64"]) {
      if (typeof value !== "number") break;
      const gt = rule(`${kind}.gt`);
      const gte = rule(`${kind}.gte`);
      const lte = rule(`${kind}.lte`);
      const lt = rule(`${kind}.lt`);
      if (typeof gt === "number" && !(value > gt)) this.fail(at, `must be greater than ${gt}`);
      if (typeof gte === "number" && !(value >= gte)) this.fail(at, `must be at least ${gte}`);
      if (typeof lte === "number" && !(value <= lte)) this.fail(at, `must be at most ${lte}`);
      if (typeof lt === "number" && !(value < lt)) this.fail(at, `must be less than ${lt}`);
    }
  }
}
