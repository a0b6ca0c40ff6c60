// JSON-RPC error replies and audit lines. Values that came from the client are written
// with JSON escaping, so neither a reply nor a log line can be forged through them.
import { Bytes, ascii, jsonRoom, put, writeJson } from "./bytes";
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

// Room for everything in an audit line but the client's strings and the reason (its fixed
// text, nulls included, is about 130 bytes).
const AUDIT_FIXED: i32 = 320;

/**
 * One audit line into `out`. Room for the worst case is reserved up front; then the line is
 * written with plain stores (this runs for every message).
 */
export function auditLine(out: Bytes, a: AuditContext, m: Message | null, decision: string, rule: Bytes | null, forwarded: bool, reason: string): Bytes {
  out.reset();
  const session = a.session;
  const protocol = a.protocol;
  let method: Bytes | null = null;
  let targetKey: Bytes | null = null;
  let target: Bytes | null = null;
  let idFrom: usize = 0;
  let idLen: i32 = 0;
  if (m !== null) {
    const msg = m as Message;
    method = msg.method;
    if (msg.hasId()) { idFrom = msg.idFrom; idLen = <i32>(msg.idTo - msg.idFrom); }
    if (msg.tool !== null) { targetKey = A_K_TOOL; target = msg.tool; }
    else if (msg.prompt !== null) { targetKey = A_K_PROMPT; target = msg.prompt; }
    else if (msg.resource !== null) { targetKey = A_K_RESOURCE; target = msg.resource; }
  }
  let room = AUDIT_FIXED + decision.length + idLen + jsonRoom(a.user.len);
  if (session !== null) room += jsonRoom((session as Bytes).len);
  if (protocol !== null) room += jsonRoom((protocol as Bytes).len);
  if (method !== null) room += jsonRoom((method as Bytes).len);
  if (rule !== null) room += jsonRoom((rule as Bytes).len);
  if (target !== null) room += (targetKey as Bytes).len + jsonRoom((target as Bytes).len);

  let p = out.reserve(room);
  p = put(p, A_OPEN_SESSION.ptr, A_OPEN_SESSION.len);
  if (session === null) p = put(p, A_NULL.ptr, A_NULL.len); else p = writeJson(p, (session as Bytes).ptr, (session as Bytes).len);
  p = put(p, A_K_USER.ptr, A_K_USER.len);
  p = writeJson(p, a.user.ptr, a.user.len);
  p = put(p, A_K_PROTOCOL.ptr, A_K_PROTOCOL.len);
  if (protocol === null) p = put(p, A_NULL.ptr, A_NULL.len); else p = writeJson(p, (protocol as Bytes).ptr, (protocol as Bytes).len);
  p = put(p, A_K_METHOD.ptr, A_K_METHOD.len);
  if (method === null) p = put(p, A_NULL.ptr, A_NULL.len); else p = writeJson(p, (method as Bytes).ptr, (method as Bytes).len);
  p = put(p, A_K_ID.ptr, A_K_ID.len);
  if (idLen > 0) p = put(p, idFrom, idLen); else p = put(p, A_NULL.ptr, A_NULL.len);
  if (target !== null) {
    p = put(p, (targetKey as Bytes).ptr, (targetKey as Bytes).len);
    p = writeJson(p, (target as Bytes).ptr, (target as Bytes).len);
  }
  p = put(p, A_K_DECISION.ptr, A_K_DECISION.len);
  for (let i = 0; i < decision.length; i++) store<u8>(p++, <u8>decision.charCodeAt(i)); // ASCII words
  p = put(p, A_K_RULE.ptr, A_K_RULE.len);
  if (rule === null) p = put(p, A_NULL.ptr, A_NULL.len); else p = writeJson(p, (rule as Bytes).ptr, (rule as Bytes).len);
  p = put(p, A_K_MODE.ptr, A_K_MODE.len);
  if (a.monitor) p = put(p, A_MONITOR.ptr, A_MONITOR.len); else p = put(p, A_ENFORCE.ptr, A_ENFORCE.len);
  p = put(p, A_K_FORWARDED.ptr, A_K_FORWARDED.len);
  if (forwarded) p = put(p, A_TRUE.ptr, A_TRUE.len); else p = put(p, A_FALSE.ptr, A_FALSE.len);
  p = put(p, A_K_BYTES.ptr, A_K_BYTES.len);
  out.setEnd(p);
  out.int(a.bytes);
  if (a.batch > 0) { out.raw(A_K_BATCH.ptr, A_K_BATCH.len); out.int(a.batch); }
  if (reason.length > 0) { out.raw(A_K_REASON.ptr, A_K_REASON.len); out.jsonText(reason); }
  out.byte(0x7d);
  return out;
}
