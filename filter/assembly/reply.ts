// JSON-RPC error replies and audit lines. Values that came from the client are written
// with JSON escaping, so neither a reply nor a log line can be forged through them.
import { Bytes, ascii, logInfo } from "./abi";
import { Message } from "./mcp";
import { TargetKind } from "./targets";

export const PARSE_ERROR: i32 = -32700;
export const INVALID_REQUEST: i32 = -32600;
export const METHOD_NOT_FOUND: i32 = -32601;
export const INVALID_PARAMS: i32 = -32602;
export const POLICY_DENIED: i32 = -32003;        // denyResponse "explain"
export const NOT_FORWARDED: i32 = -32000;        // an allowed message in a refused batch
export const RATE_LIMITED: i32 = -32029;         // a tools/call over a limit ("429" in the server-error range)

/** Writes `{"jsonrpc":"2.0","id":<id>,"error":{"code":<code>`: what every error answer starts with. */
function errorStart(out: Bytes, m: Message | null, code: i32): void {
  out.str("{\"jsonrpc\":\"2.0\",\"id\":");
  if (m !== null && (m as Message).hasId()) out.raw((m as Message).idFrom, <i32>((m as Message).idTo - (m as Message).idFrom));
  else out.str("null");
  out.str(",\"error\":{\"code\":");
  out.int(code);
}

/** Writes `{"jsonrpc":"2.0","id":<id>,"error":{"code":<code>,"message":"..."}}`. */
export function errorObject(out: Bytes, m: Message | null, code: i32, message: Bytes): void {
  errorStart(out, m, code);
  out.str(",\"message\":");
  out.jsonBytes(message);
  out.str("}}");
}

/**
 * Writes the error for a call over limit `name` (UTF-8): `{"jsonrpc":"2.0","id":<id>,"error":
 * {"code":-32029,"message":"Rate limit exceeded: <name>","data":{"limit":"<name>","retryAfterMs":<ms>}}}`.
 */
export function rateLimitError(out: Bytes, m: Message, name: Bytes, retryAfterMs: i64): void {
  errorStart(out, m, RATE_LIMITED);
  out.str(",\"message\":\"Rate limit exceeded: ");
  out.raw(name.ptr, name.len); // a limit name is 1-64 of A-Z a-z 0-9 _ - .
  out.str("\",\"data\":{\"limit\":\"");
  out.raw(name.ptr, name.len);
  out.str("\",\"retryAfterMs\":");
  out.int(retryAfterMs);
  out.str("}}}");
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
    if (m.target !== null) { d.message.byte(0x20); d.message.addField(m.targetName()); }
    return d;
  }
  if (m.target !== null) {
    const kind = m.target as TargetKind;
    d.code = kind.hiddenCode;
    d.message.str(kind.hiddenText);
    d.message.addField(m.targetName());
  } else { d.code = METHOD_NOT_FOUND; d.message.str("Method not found: "); d.message.addField(method); }
  return d;
}

/** Facts every audit line of one HTTP request shares. Reused with its stream (reset()). */
export class AuditContext {
  /** Where lines are written: a buffer of the configuration's (Shared#auditLine). */
  constructor(public line: Bytes) {}

  hasSession: bool = false;       // the request had the session header (then in `session`)
  user: Bytes = new Bytes(16);    // empty when the request had no user header
  hasProtocol: bool = false;      // the request had the protocol header (then in `protocol`)
  bytes: i32 = 0;
  batch: i32 = 0; // batch size; 0 for a single message
  monitor: bool = false;
  session: Bytes = new Bytes(48);
  protocol: Bytes = new Bytes(16);
  /** The limit the next line names (limitLen < 0: none); the caller sets it for that line. */
  limitPtr: usize = 0;
  limitLen: i32 = -1;

  reset(): void {
    this.hasSession = false;
    this.hasProtocol = false;
    this.bytes = 0;
    this.batch = 0;
    this.monitor = false;
    this.limitLen = -1;
    // Header values are small; one that was not does not stay pinned to a pooled stream.
    if (!this.user.recycle(1024)) this.user = new Bytes(16);
    if (this.session.capacity > 1024) this.session = new Bytes(48);
    if (this.protocol.capacity > 1024) this.protocol = new Bytes(16);
  }

  /**
   * Logs the audit line for `m` (null: the request as a whole); `rulePtr`/`ruleLen` name the
   * deciding rule (ruleLen < 0: none). Every part goes through a Bytes method that makes room
   * for it, so a field of any length cannot write past the line. Fields are read into spans
   * rather than Bytes locals, which AssemblyScript 0.17 would reference-count: this runs for
   * every message.
   */
  log(m: Message | null, decision: string, rulePtr: usize, ruleLen: i32, forwarded: bool, reason: string): void {
    const line = this.line;
    line.reset();
    line.raw(A_OPEN_SESSION.ptr, A_OPEN_SESSION.len);
    if (this.hasSession) line.jsonStr(this.session.ptr, this.session.len); else line.raw(A_NULL.ptr, A_NULL.len);
    line.raw(A_K_USER.ptr, A_K_USER.len);
    line.jsonStr(this.user.ptr, this.user.len);
    line.raw(A_K_PROTOCOL.ptr, A_K_PROTOCOL.len);
    if (this.hasProtocol) line.jsonStr(this.protocol.ptr, this.protocol.len); else line.raw(A_NULL.ptr, A_NULL.len);
    line.raw(A_K_METHOD.ptr, A_K_METHOD.len);
    if (m !== null && (m as Message).method !== null) line.jsonField((m as Message).methodBuf.ptr, (m as Message).methodBuf.len);
    else line.raw(A_NULL.ptr, A_NULL.len);
    line.raw(A_K_ID.ptr, A_K_ID.len);
    if (m !== null && (m as Message).hasId()) line.utf8((m as Message).idFrom, <i32>((m as Message).idTo - (m as Message).idFrom));
    else line.raw(A_NULL.ptr, A_NULL.len);
    if (m !== null) this.target(m as Message);
    line.raw(A_K_DECISION.ptr, A_K_DECISION.len);
    line.str(decision);
    line.raw(A_K_RULE.ptr, A_K_RULE.len);
    if (ruleLen >= 0) line.jsonStr(rulePtr, ruleLen); else line.raw(A_NULL.ptr, A_NULL.len);
    if (this.limitLen >= 0) { line.raw(A_K_LIMIT.ptr, A_K_LIMIT.len); line.jsonStr(this.limitPtr, this.limitLen); this.limitLen = -1; }
    line.raw(A_K_MODE.ptr, A_K_MODE.len);
    if (this.monitor) line.raw(A_MONITOR.ptr, A_MONITOR.len); else line.raw(A_ENFORCE.ptr, A_ENFORCE.len);
    line.raw(A_K_FORWARDED.ptr, A_K_FORWARDED.len);
    if (forwarded) line.raw(A_TRUE.ptr, A_TRUE.len); else line.raw(A_FALSE.ptr, A_FALSE.len);
    line.raw(A_K_BYTES.ptr, A_K_BYTES.len);
    line.int(this.bytes);
    if (this.batch > 0) { line.raw(A_K_BATCH.ptr, A_K_BATCH.len); line.int(this.batch); }
    if (reason.length > 0) { line.raw(A_K_REASON.ptr, A_K_REASON.len); line.jsonText(reason); }
    line.byte(0x7d);
    logInfo(line);
  }

  /** The message's tool, resource or prompt, if it has one: `,"tool":"…"`. */
  private target(m: Message): void {
    if (m.target === null) return;
    const key = (m.target as TargetKind).auditKey;
    this.line.raw(key.ptr, key.len);
    const name = m.targetName();
    this.line.jsonField(name.ptr, name.len);
  }
}

// The audit line's fixed fragments, encoded once.
const A_OPEN_SESSION = ascii("{\"audit\":\"mcp\",\"session\":");
const A_K_USER = ascii(",\"user\":");
const A_K_PROTOCOL = ascii(",\"protocol\":");
const A_K_METHOD = ascii(",\"method\":");
const A_NULL = ascii("null");
const A_K_ID = ascii(",\"id\":");
const A_K_DECISION = ascii(",\"decision\":\"");
const A_K_RULE = ascii("\",\"rule\":");
const A_K_LIMIT = ascii(",\"limit\":");
const A_K_MODE = ascii(",\"mode\":\"");
const A_MONITOR = ascii("monitor");
const A_ENFORCE = ascii("enforce");
const A_K_FORWARDED = ascii("\",\"forwarded\":");
const A_TRUE = ascii("true");
const A_FALSE = ascii("false");
const A_K_BYTES = ascii(",\"bytes\":");
const A_K_BATCH = ascii(",\"batch\":");
const A_K_REASON = ascii(",\"reason\":");
