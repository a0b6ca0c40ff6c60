// JSON-RPC error replies and audit lines. Values that came from the client are written
// with JSON escaping, so neither a reply nor a log line can be forged through them.
import { Bytes } from "./bytes";
import { Message, sameBytes, M_TOOLS_CALL, M_PROMPTS_GET } from "./mcp";

export const PARSE_ERROR: i32 = -32700;
export const INVALID_REQUEST: i32 = -32600;
export const METHOD_NOT_FOUND: i32 = -32601;
export const INVALID_PARAMS: i32 = -32602;
export const RESOURCE_NOT_FOUND: i32 = -32002;   // MCP's code for an unknown resource
export const POLICY_DENIED: i32 = -32003;        // denyResponse "explain"
export const NOT_FORWARDED: i32 = -32000;        // an allowed message in a refused batch

/** Writes `{"jsonrpc":"2.0","id":<id>,"error":{"code":<code>,"message":"..."}}`. */
export function errorObject(out: Bytes, m: Message | null, code: i32, message: Bytes): void {
  out.str("{\"jsonrpc\":\"2.0\",\"id\":");
  if (m !== null && (m as Message).hasId()) out.raw((m as Message).idFrom, <i32>((m as Message).idTo - (m as Message).idFrom));
  else out.str("null");
  out.str(",\"error\":{\"code\":");
  out.int(code);
  out.str(",\"message\":");
  out.jsonBytes(message);
  out.str("}}");
}

export function text(s: string): Bytes {
  const b = new Bytes(s.length + 8);
  b.str(s);
  return b;
}

/** The denial a client sees. "hide" answers as if the tool, prompt, resource or method did not exist. */
export class Denial {
  code: i32 = 0;
  message: Bytes = new Bytes(64);
}

export function denial(m: Message, explain: bool, ruleName: string): Denial {
  const d = new Denial();
  const method = m.method as Bytes;
  if (explain) {
    d.code = POLICY_DENIED;
    d.message.str("Denied by policy rule ");
    d.message.str(ruleName);
    d.message.str(": ");
    d.message.add(method);
    if (m.tool !== null) { d.message.byte(0x20); d.message.add(m.tool as Bytes); }
    else if (m.prompt !== null) { d.message.byte(0x20); d.message.add(m.prompt as Bytes); }
    else if (m.resource !== null) { d.message.byte(0x20); d.message.add(m.resource as Bytes); }
    return d;
  }
  if (m.tool !== null) { d.code = INVALID_PARAMS; d.message.str("Unknown tool: "); d.message.add(m.tool as Bytes); }
  else if (m.prompt !== null) { d.code = INVALID_PARAMS; d.message.str("Unknown prompt: "); d.message.add(m.prompt as Bytes); }
  else if (m.resource !== null) { d.code = RESOURCE_NOT_FOUND; d.message.str("Resource not found: "); d.message.add(m.resource as Bytes); }
  else { d.code = METHOD_NOT_FOUND; d.message.str("Method not found: "); d.message.add(method); }
  return d;
}

/** Facts every audit line of one HTTP request shares. */
export class AuditContext {
  session: Bytes | null = null;
  user: Bytes = new Bytes(0);
  protocol: Bytes | null = null;
  bytes: i32 = 0;
  batch: i32 = 0; // batch size; 0 for a single message
  monitor: bool = false;
}

export function auditLine(out: Bytes, a: AuditContext, m: Message | null, decision: string, rule: Bytes | null, forwarded: bool, reason: string): Bytes {
  out.reset();
  out.str("{\"audit\":\"mcp\",\"session\":");
  optional(out, a.session);
  out.str(",\"user\":");
  out.jsonBytes(a.user);
  out.str(",\"protocol\":");
  optional(out, a.protocol);
  out.str(",\"method\":");
  if (m !== null) optional(out, (m as Message).method);
  else out.str("null");
  out.str(",\"id\":");
  if (m !== null && (m as Message).hasId()) out.raw((m as Message).idFrom, <i32>((m as Message).idTo - (m as Message).idFrom));
  else out.str("null");
  if (m !== null) {
    const msg = m as Message;
    if (msg.tool !== null) { out.str(",\"tool\":"); out.jsonBytes(msg.tool as Bytes); }
    if (msg.prompt !== null) { out.str(",\"prompt\":"); out.jsonBytes(msg.prompt as Bytes); }
    if (msg.resource !== null) { out.str(",\"resource\":"); out.jsonBytes(msg.resource as Bytes); }
  }
  out.str(",\"decision\":\"");
  out.str(decision);
  out.str("\",\"rule\":");
  optional(out, rule);
  out.str(",\"mode\":\"");
  if (a.monitor) out.str("monitor"); else out.str("enforce");
  out.str("\",\"forwarded\":");
  if (forwarded) out.str("true"); else out.str("false");
  out.str(",\"bytes\":");
  out.int(a.bytes);
  if (a.batch > 0) { out.str(",\"batch\":"); out.int(a.batch); }
  if (reason.length > 0) { out.str(",\"reason\":"); out.jsonText(reason); }
  out.byte(0x7d);
  return out;
}

function optional(out: Bytes, b: Bytes | null): void {
  if (b === null) out.str("null"); else out.jsonBytes(b as Bytes);
}

export function isToolsCall(m: Message): bool { return m.method !== null && sameBytes(m.method as Bytes, M_TOOLS_CALL); }
export function isPromptsGet(m: Message): bool { return m.method !== null && sameBytes(m.method as Bytes, M_PROMPTS_GET); }
