// JSON-RPC error replies and audit lines. Values that came from the client are written
// with JSON escaping, so neither a reply nor a log line can be forged through them.
import { Bytes, ascii, copyUtf8, jsonRoom, fieldRoom, put, writeJson, writeJsonField } from "./bytes";
import { Message } from "./mcp";
import { logInfo } from "./host";

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
    d.message.addField(method);
    if (m.tool !== null) { d.message.byte(0x20); d.message.addField(m.tool as Bytes); }
    else if (m.prompt !== null) { d.message.byte(0x20); d.message.addField(m.prompt as Bytes); }
    else if (m.resource !== null) { d.message.byte(0x20); d.message.addField(m.resource as Bytes); }
    return d;
  }
  if (m.tool !== null) { d.code = INVALID_PARAMS; d.message.str("Unknown tool: "); d.message.addField(m.tool as Bytes); }
  else if (m.prompt !== null) { d.code = INVALID_PARAMS; d.message.str("Unknown prompt: "); d.message.addField(m.prompt as Bytes); }
  else if (m.resource !== null) { d.code = RESOURCE_NOT_FOUND; d.message.str("Resource not found: "); d.message.addField(m.resource as Bytes); }
  else { d.code = METHOD_NOT_FOUND; d.message.str("Method not found: "); d.message.addField(method); }
  return d;
}

/** Facts every audit line of one HTTP request shares. Reused with its stream (reset()). */
export class AuditContext {
  hasSession: bool = false;       // the request had the session header (then in `session`)
  user: Bytes = new Bytes(16);    // empty when the request had no user header
  hasProtocol: bool = false;      // the request had the protocol header (then in `protocol`)
  bytes: i32 = 0;
  batch: i32 = 0; // batch size; 0 for a single message
  monitor: bool = false;
  session: Bytes = new Bytes(48);
  protocol: Bytes = new Bytes(16);

  reset(): void {
    this.hasSession = false;
    this.hasProtocol = false;
    this.bytes = 0;
    this.batch = 0;
    this.monitor = false;
    // Header values are small; one that was not does not stay pinned to a pooled stream.
    if (!this.user.recycle(1024)) this.user = new Bytes(16);
    if (this.session.buf.byteLength > 1024) this.session = new Bytes(48);
    if (this.protocol.buf.byteLength > 1024) this.protocol = new Bytes(16);
  }

  /**
   * Logs the audit line for `m` (null: the request as a whole); `rulePtr`/`ruleLen` name the
   * deciding rule (ruleLen < 0: none). Room for the worst case is reserved up front, then the
   * line is written with plain stores: this runs for every message. Fields are read into spans
   * rather than Bytes locals, which AssemblyScript 0.17 would reference-count.
   */
  log(m: Message | null, decision: string, rulePtr: usize, ruleLen: i32, forwarded: bool, reason: string): void {
    let sessionPtr: usize = 0, sessionLen = -1;
    if (this.hasSession) { sessionPtr = this.session.ptr; sessionLen = this.session.len; }
    let protocolPtr: usize = 0, protocolLen = -1;
    if (this.hasProtocol) { protocolPtr = this.protocol.ptr; protocolLen = this.protocol.len; }
    let methodPtr: usize = 0, methodLen = -1;
    let keyPtr: usize = 0, keyLen = 0;
    let targetPtr: usize = 0, targetLen = -1;
    let idFrom: usize = 0, idLen = 0;
    if (m !== null) {
      if ((m as Message).method !== null) { methodPtr = ((m as Message).method as Bytes).ptr; methodLen = ((m as Message).method as Bytes).len; }
      if ((m as Message).hasId()) { idFrom = (m as Message).idFrom; idLen = <i32>((m as Message).idTo - idFrom); }
      if ((m as Message).tool !== null) {
        keyPtr = A_K_TOOL.ptr; keyLen = A_K_TOOL.len;
        targetPtr = ((m as Message).tool as Bytes).ptr; targetLen = ((m as Message).tool as Bytes).len;
      } else if ((m as Message).prompt !== null) {
        keyPtr = A_K_PROMPT.ptr; keyLen = A_K_PROMPT.len;
        targetPtr = ((m as Message).prompt as Bytes).ptr; targetLen = ((m as Message).prompt as Bytes).len;
      } else if ((m as Message).resource !== null) {
        keyPtr = A_K_RESOURCE.ptr; keyLen = A_K_RESOURCE.len;
        targetPtr = ((m as Message).resource as Bytes).ptr; targetLen = ((m as Message).resource as Bytes).len;
      }
    }
    const userPtr = this.user.ptr;
    const userLen = this.user.len;
    let room = AUDIT_FIXED + decision.length + idLen * 3 + jsonRoom(userLen);
    if (sessionLen >= 0) room += jsonRoom(sessionLen);
    if (protocolLen >= 0) room += jsonRoom(protocolLen);
    if (methodLen >= 0) room += fieldRoom(methodLen);
    if (ruleLen >= 0) room += jsonRoom(ruleLen);
    if (targetLen >= 0) room += keyLen + fieldRoom(targetLen);

    auditBuf.reset();
    let p = auditBuf.reserve(room);
    p = put(p, A_OPEN_SESSION.ptr, A_OPEN_SESSION.len);
    p = jsonOrNull(p, sessionPtr, sessionLen);
    p = put(p, A_K_USER.ptr, A_K_USER.len);
    p = writeJson(p, userPtr, userLen);
    p = put(p, A_K_PROTOCOL.ptr, A_K_PROTOCOL.len);
    p = jsonOrNull(p, protocolPtr, protocolLen);
    p = put(p, A_K_METHOD.ptr, A_K_METHOD.len);
    p = methodLen < 0 ? put(p, A_NULL.ptr, A_NULL.len) : writeJsonField(p, methodPtr, methodLen);
    p = put(p, A_K_ID.ptr, A_K_ID.len);
    if (idLen > 0) p = copyUtf8(p, idFrom, idLen); else p = put(p, A_NULL.ptr, A_NULL.len);
    if (targetLen >= 0) {
      p = put(p, keyPtr, keyLen);
      p = writeJsonField(p, targetPtr, targetLen);
    }
    p = put(p, A_K_DECISION.ptr, A_K_DECISION.len);
    for (let i = 0; i < decision.length; i++) store<u8>(p++, <u8>decision.charCodeAt(i)); // ASCII words
    p = put(p, A_K_RULE.ptr, A_K_RULE.len);
    p = jsonOrNull(p, rulePtr, ruleLen);
    p = put(p, A_K_MODE.ptr, A_K_MODE.len);
    if (this.monitor) p = put(p, A_MONITOR.ptr, A_MONITOR.len); else p = put(p, A_ENFORCE.ptr, A_ENFORCE.len);
    p = put(p, A_K_FORWARDED.ptr, A_K_FORWARDED.len);
    if (forwarded) p = put(p, A_TRUE.ptr, A_TRUE.len); else p = put(p, A_FALSE.ptr, A_FALSE.len);
    p = put(p, A_K_BYTES.ptr, A_K_BYTES.len);
    auditBuf.setEnd(p);
    auditBuf.int(this.bytes);
    if (this.batch > 0) { auditBuf.raw(A_K_BATCH.ptr, A_K_BATCH.len); auditBuf.int(this.batch); }
    if (reason.length > 0) { auditBuf.raw(A_K_REASON.ptr, A_K_REASON.len); auditBuf.jsonText(reason); }
    auditBuf.byte(0x7d);
    logInfo(auditBuf.ptr, auditBuf.len);
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

// The line being written: one for the VM, which runs one callback at a time.
const auditBuf = new Bytes(512);

/** `n` bytes at `p` as a JSON string literal, or `null` when n < 0. */
@inline function jsonOrNull(w: usize, p: usize, n: i32): usize {
  return n < 0 ? put(w, A_NULL.ptr, A_NULL.len) : writeJson(w, p, n);
}
