// What a policy decision is about besides the method and the user: a target, that is a tool, a
// resource or a prompt. This file is the one place that maps MCP methods to targets; adding a
// method that acts on a target of a kind below is one line in TARGET_METHODS.
import { Bytes, ascii, equalsAt } from "./abi";

/** The params member that names a target. */
export const PARAM_NAME: i32 = 1;
export const PARAM_URI: i32 = 2;

/** A kind of target: how a request names it, how rules, audit lines and denials show it. */
export class TargetKind {
  constructor(
    /** Its index in TARGET_KINDS. */
    public id: i32,
    /** The rule field whose globs match it ("tools"). */
    public ruleField: string,
    /** The params member that names it: PARAM_NAME or PARAM_URI. */
    public param: i32,
    /** Its audit line member, as written between the others: `,"tool":`. */
    public auditKey: Bytes,
    /** A denial that hides it answers as if it did not exist: this JSON-RPC code ... */
    public hiddenCode: i32,
    /** ... and this text before its name. */
    public hiddenText: string,
  ) {}

  /** What a request lacks when its params member is not a string: "params.name must be a string". */
  notString(): string {
    if (this.param == PARAM_NAME) return "params.name must be a string";
    return "params.uri must be a string";
  }
}

export const TOOL = new TargetKind(0, "tools", PARAM_NAME, ascii(",\"tool\":"), -32602, "Unknown tool: ");
export const RESOURCE = new TargetKind(1, "resources", PARAM_URI, ascii(",\"resource\":"), -32002, "Resource not found: ");
export const PROMPT = new TargetKind(2, "prompts", PARAM_NAME, ascii(",\"prompt\":"), -32602, "Unknown prompt: ");
/** Every kind, by id; rules name them in this order. */
export const TARGET_KINDS: TargetKind[] = [TOOL, RESOURCE, PROMPT];

/** A method that acts on a target of `kind`, named by the kind's params member. */
export class TargetMethod {
  method: Bytes;

  constructor(public name: string, public kind: TargetKind) { this.method = ascii(name); }

  /** Why a request of this method is refused (-32602) when its params member is missing. */
  missing(): string {
    if (this.kind.param == PARAM_NAME) return this.name + " needs params.name";
    return "this method needs params.uri";
  }
}

/** The methods that act on a target: the policy matches the target's rule field, and the audit line shows it. */
const TARGET_METHODS: TargetMethod[] = [
  new TargetMethod("tools/call", TOOL),
  new TargetMethod("prompts/get", PROMPT),
  new TargetMethod("resources/read", RESOURCE),
  new TargetMethod("resources/subscribe", RESOURCE),
  new TargetMethod("resources/unsubscribe", RESOURCE),
];

/** The entry of the method `n` bytes at `p` (decoded), or null when it acts on no target. */
export function targetMethod(p: usize, n: i32): TargetMethod | null {
  for (let i = 0; i < TARGET_METHODS.length; i++) {
    const t = TARGET_METHODS[i];
    if (equalsAt(p, n, t.method.ptr, t.method.len)) return t;
  }
  return null;
}

/** The kind whose rule field is `field`, or null. */
export function kindOfRuleField(field: string): TargetKind | null {
  for (let i = 0; i < TARGET_KINDS.length; i++) if (TARGET_KINDS[i].ruleField == field) return TARGET_KINDS[i];
  return null;
}
