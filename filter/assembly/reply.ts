// JSON-RPC error replies and audit lines. Values that came from the client are written
// with JSON escaping, so neither a reply nor a log line can be forged through them.
import { Bytes, ascii } from "./bytes";
import { Message } from "./mcp";

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

/** Facts every audit line of one HTTP request shares. Reused with its stream (reset()). */
export class AuditContext {
  session: Bytes | null = null;   // sessionBuf when the request had the header
  user: Bytes = new Bytes(16);    // empty when the request had no user header
  protocol: Bytes | null = null;  // protocolBuf when the request had the header
  bytes: i32 = 0;
  batch: i32 = 0; // batch size; 0 for a single message
  monitor: bool = false;
  sessionBuf: Bytes = new Bytes(48);
  protocolBuf: Bytes = new Bytes(16);

  reset(): void {
    this.session = null;
    this.protocol = null;
    this.bytes = 0;
    this.batch = 0;
    this.monitor = false;
    // Header values are small; one that was not does not stay pinned to a pooled stream.
    if (this.user.buf.byteLength > 1024) this.user = new Bytes(16); else this.user.reset();
    if (this.sessionBuf.buf.byteLength > 1024) this.sessionBuf = new Bytes(48);
    if (this.protocolBuf.buf.byteLength > 1024) this.protocolBuf = new Bytes(16);
  }
}

// The audit line's fixed fragments, encoded once.
const A_OPEN_SESSION = ascii("{\"audit\":\"mcp\",\"session\":");
const A_K_USER = ascii(",\"user\":");
const A_K_PROTOCOL = ascii(",\"protocol\":");
const A_K_METHOD = ascii(",\"method\":");
const A_NULL = ascii("null");
const A_K_ID = ascii(",\"id\":");
const A_K_TOOL = ascii(",\"tool\":");
const A_K_PROMPT = ascii(",\"prompt\":");
const A_K_RESOURCE = ascii(",\"resource\":");
const A_K_DECISION = ascii(",\"decision\":\"");
const A_K_RULE = ascii("\",\"rule\":");
const A_K_MODE = ascii(",\"mode\":\"");
const A_MONITOR = ascii("monitor");
const A_ENFORCE = ascii("enforce");
const A_K_FORWARDED = ascii("\",\"forwarded\":");
const A_TRUE = ascii("true");
const A_FALSE = ascii("false");
const A_K_BYTES = ascii(",\"bytes\":");
const A_K_BATCH = ascii(",\"batch\":");
const A_K_REASON = ascii(",\"reason\":");

export function auditLine(out: Bytes, a: AuditContext, m: Message | null, decision: string, rule: Bytes | null, forwarded: bool, reason: string): Bytes {
  out.reset();
  out.raw(A_OPEN_SESSION.ptr, A_OPEN_SESSION.len);
  optional(out, a.session);
  out.raw(A_K_USER.ptr, A_K_USER.len);
  out.jsonStr(a.user.ptr, a.user.len);
  out.raw(A_K_PROTOCOL.ptr, A_K_PROTOCOL.len);
  optional(out, a.protocol);
  out.raw(A_K_METHOD.ptr, A_K_METHOD.len);
  if (m !== null) optional(out, (m as Message).method);
  else out.raw(A_NULL.ptr, A_NULL.len);
  out.raw(A_K_ID.ptr, A_K_ID.len);
  if (m !== null && (m as Message).hasId()) out.raw((m as Message).idFrom, <i32>((m as Message).idTo - (m as Message).idFrom));
  else out.raw(A_NULL.ptr, A_NULL.len);
  if (m !== null) {
    const msg = m as Message;
    if (msg.tool !== null) { out.raw(A_K_TOOL.ptr, A_K_TOOL.len); out.jsonStr((msg.tool as Bytes).ptr, (msg.tool as Bytes).len); }
    if (msg.prompt !== null) { out.raw(A_K_PROMPT.ptr, A_K_PROMPT.len); out.jsonStr((msg.prompt as Bytes).ptr, (msg.prompt as Bytes).len); }
    if (msg.resource !== null) { out.raw(A_K_RESOURCE.ptr, A_K_RESOURCE.len); out.jsonStr((msg.resource as Bytes).ptr, (msg.resource as Bytes).len); }
  }
  out.raw(A_K_DECISION.ptr, A_K_DECISION.len);
  out.str(decision);
  out.raw(A_K_RULE.ptr, A_K_RULE.len);
  optional(out, rule);
  out.raw(A_K_MODE.ptr, A_K_MODE.len);
  if (a.monitor) out.raw(A_MONITOR.ptr, A_MONITOR.len); else out.raw(A_ENFORCE.ptr, A_ENFORCE.len);
  out.raw(A_K_FORWARDED.ptr, A_K_FORWARDED.len);
  if (forwarded) out.raw(A_TRUE.ptr, A_TRUE.len); else out.raw(A_FALSE.ptr, A_FALSE.len);
  out.raw(A_K_BYTES.ptr, A_K_BYTES.len);
  out.int(a.bytes);
  if (a.batch > 0) { out.raw(A_K_BATCH.ptr, A_K_BATCH.len); out.int(a.batch); }
  if (reason.length > 0) { out.raw(A_K_REASON.ptr, A_K_REASON.len); out.jsonText(reason); }
  out.byte(0x7d);
  return out;
}

function optional(out: Bytes, b: Bytes | null): void {
  if (b === null) out.raw(A_NULL.ptr, A_NULL.len); else out.jsonStr((b as Bytes).ptr, (b as Bytes).len);
}

