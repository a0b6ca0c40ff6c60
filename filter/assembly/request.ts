// The request side of a stream: reads the request headers, holds a POST until its body is
// whole, judges every message in it, and then routes it on or answers it itself.
import {
  FilterHeadersStatusValues, FilterDataStatusValues, FilterTrailersStatusValues,
  Bytes, ascii, equalsAt, errorText, requestHeaders, REQUEST_HEADERS, setHeader, setHeaderValue, removeHeader,
  readRequestBody, requestBody, localReply,
} from "./abi";
import { Message, KIND_INVALID, KIND_BAD_PARAMS, KIND_RESPONSE, KIND_NOTIFICATION, M_TOOLS_LIST } from "./mcp";
import { JSON_TYPE } from "./media";
import { Shared, Req, H_X_METHOD, H_X_TOOL, H_ACCEPT_ENCODING, POST, FORWARDED, REFUSED, INVALID } from "./shared";
import * as reply from "./reply";
import { TOOL } from "./targets";

const BATCH = ascii("batch");
const MAX_ROUTING_VALUE: i32 = 256; // bytes of a method or tool name put in x-mcp-method / x-mcp-tool

/** What the response to a request is to be read as (ResponseSide#onHeaders). */
export enum Answer {
  /** Any response: it passes untouched. */
  ANY,
  /** The answer to a tools/list: the tools the user may not call are removed from it. */
  TOOL_LIST,
  /** A resumed event stream (Last-Event-ID), which may replay a tools/list answer. */
  RESUMED_EVENTS,
}

export class RequestSide {
  private judging: bool = false;   // a POST whose body is held until judged
  /** Answered locally: nothing may go upstream any more. */
  replied: bool = false;
  /** Facts of this request that every audit line shows; the response side logs with them too. */
  audit: reply.AuditContext;
  private resumed: bool = false;   // a Last-Event-ID request: the server may replay a tools/list answer
  private listRequested: bool = false; // an allowed tools/list whose answer is to be filtered
  private sentXMethod: bool = false;
  private sentXTool: bool = false;
  private sentAcceptEncoding: bool = false;

  constructor(public shared: Shared) {
    this.audit = new reply.AuditContext(shared.auditLine);
  }

  /** Readies it for a new request, of the root whose Shared is `shared`. */
  reuse(shared: Shared): void {
    if (this.shared !== shared) { this.shared = shared; this.audit.line = shared.auditLine; }
    this.judging = false;
    this.replied = false;
    this.resumed = false;
    this.listRequested = false;
    this.sentXMethod = false;
    this.sentXTool = false;
    this.sentAcceptEncoding = false;
    this.audit.reset();
  }

  /** What the response is to be read as, once the request has gone on. */
  answer(): Answer {
    if (this.listRequested) return Answer.TOOL_LIST;
    return this.resumed ? Answer.RESUMED_EVENTS : Answer.ANY;
  }

  onHeaders(endOfStream: bool): FilterHeadersStatusValues {
    // The snapshot and the audit record are used through requestHeaders and this.audit, not
    // locals: AssemblyScript 0.17 reference-counts every reference local, on every request.
    requestHeaders.read(this.shared.requestNames);
    const post = requestHeaders.found(Req.METHOD) && equalsAt(requestHeaders.valuePtr(Req.METHOD), requestHeaders.valueLen(Req.METHOD), POST.ptr, POST.len);
    // Resuming a stream (usually a GET): the server replays the events after that id, a
    // tools/list answer among them, so the events are rewritten for this user as they pass.
    this.resumed = requestHeaders.found(Req.LAST_EVENT_ID) && this.shared.config.hideDeniedTools && !this.shared.config.monitor;
    // What the client sent that the filter may have to remove (a header that is absent needs no call).
    this.sentXMethod = requestHeaders.found(Req.X_METHOD);
    this.sentXTool = requestHeaders.found(Req.X_TOOL);
    this.sentAcceptEncoding = requestHeaders.found(Req.ACCEPT_ENCODING);
    if (!post) {
      // GET, DELETE, …: no JSON-RPC to judge, and no routing headers but the filter's own.
      if (this.sentXMethod) removeHeader(REQUEST_HEADERS, H_X_METHOD);
      if (this.sentXTool) removeHeader(REQUEST_HEADERS, H_X_TOOL);
      if (!this.resumed) return FilterHeadersStatusValues.Continue;
    }
    this.audit.monitor = this.shared.config.monitor;
    if (requestHeaders.found(Req.USER)) this.audit.user.copyFrom(requestHeaders.valuePtr(Req.USER), requestHeaders.valueLen(Req.USER));
    if (requestHeaders.found(Req.SESSION)) {
      this.audit.hasSession = true;
      this.audit.session.copyFrom(requestHeaders.valuePtr(Req.SESSION), requestHeaders.valueLen(Req.SESSION));
    }
    if (requestHeaders.found(Req.PROTOCOL)) {
      this.audit.hasProtocol = true;
      this.audit.protocol.copyFrom(requestHeaders.valuePtr(Req.PROTOCOL), requestHeaders.valueLen(Req.PROTOCOL));
    }
    if (requestHeaders.hits(Req.USER) > 1) {
      // Two user headers name no one user: neither an allow nor a deny rule for a user can be
      // applied safely, so the request is refused.
      this.shared.metrics.count(this.shared.metrics.invalid);
      this.log(null, "reject", false, "the user header is repeated");
      this.refuse(400, "mcp_filter_repeated_user_header", null, reply.INVALID_REQUEST, reply.text("Invalid Request: the user header is repeated"));
      return FilterHeadersStatusValues.StopIteration;
    }
    if (this.resumed && this.sentAcceptEncoding) removeHeader(REQUEST_HEADERS, H_ACCEPT_ENCODING);
    if (!post) return FilterHeadersStatusValues.Continue;

    const problem = this.unjudgeable();
    if (problem != JUDGEABLE) {
      const why = unjudgeableText(problem);
      this.shared.metrics.count(this.shared.metrics.unjudgeable);
      if (this.shared.config.forwardUnjudgeable) {
        this.log(null, "unjudged", true, why);
        if (this.sentXMethod) removeHeader(REQUEST_HEADERS, H_X_METHOD);
        if (this.sentXTool) removeHeader(REQUEST_HEADERS, H_X_TOOL);
        return FilterHeadersStatusValues.Continue;
      }
      this.log(null, "reject", false, why);
      this.refuse(415, "mcp_filter_unjudgeable_body", null, reply.INVALID_REQUEST, reply.text("Invalid Request: " + why));
      return FilterHeadersStatusValues.StopIteration;
    }
    const declared = requestHeaders.number(Req.LENGTH);
    if (declared > <i64>this.shared.config.maxBodyBytes) {
      this.oversize(declared);
      return FilterHeadersStatusValues.StopIteration;
    }
    if (endOfStream) {
      return this.judge(0, 0) ? FilterHeadersStatusValues.Continue : FilterHeadersStatusValues.StopIteration;
    }
    this.judging = true;
    return FilterHeadersStatusValues.StopIteration;
  }

  onBody(size: usize, endOfStream: bool): FilterDataStatusValues {
    if (!this.judging) return this.replied ? FilterDataStatusValues.StopIterationNoBuffer : FilterDataStatusValues.Continue;
    if (<i64>size > <i64>this.shared.config.maxBodyBytes) {
      this.oversize(<i64>size);
      return FilterDataStatusValues.StopIterationNoBuffer;
    }
    if (!endOfStream) return FilterDataStatusValues.StopIterationAndBuffer;
    readRequestBody(size);
    const forwarded = this.judge(requestBody.ptr, requestBody.len);
    requestBody.drop(); // a large body is not kept until the next one arrives
    return forwarded ? FilterDataStatusValues.Continue : FilterDataStatusValues.StopIterationNoBuffer;
  }

  onTrailers(): FilterTrailersStatusValues {
    if (this.replied) return FilterTrailersStatusValues.StopIteration;
    if (!this.judging) return FilterTrailersStatusValues.Continue;
    // MCP never sends trailers; a body that ends in trailers is refused rather than judged late.
    this.log(null, "reject", false, "request trailers are not supported");
    this.refuse(400, "mcp_filter_request_trailers", null, reply.INVALID_REQUEST, reply.text("Invalid Request: request trailers are not supported"));
    return FilterTrailersStatusValues.StopIteration;
  }

  /**
   * Judges a whole body, the `len` bytes at `ptr`. Returns true when it is forwarded. The
   * records it uses are read through `this` rather than held in locals where they are used
   * once per message: AssemblyScript 0.17 reference-counts every reference local.
   */
  private judge(ptr: usize, len: i32): bool {
    this.judging = false;
    this.audit.bytes = len;
    this.shared.body.read(ptr, len, this.shared.config.maxBatchMessages);
    if (this.shared.body.parseError) {
      this.shared.metrics.count(this.shared.metrics.parseErrors);
      const why = "Parse error: " + errorText(this.shared.body.errorCode) + " at byte " + this.shared.body.errorOffset.toString();
      this.log(null, "reject", false, why);
      this.refuse(400, "mcp_filter_parse_error", null, reply.PARSE_ERROR, reply.text(why));
      return false;
    }
    if (this.shared.body.excess > 0) {
      // One error for the whole batch: answering each message could make a reply (and audit
      // lines) many times the size of the body.
      this.shared.metrics.count(this.shared.metrics.invalid);
      const why = "Invalid Request: a batch of " + (this.shared.body.count + this.shared.body.excess).toString() + " messages exceeds maxBatchMessages (" + this.shared.config.maxBatchMessages.toString() + ")";
      this.log(null, "reject", false, why);
      this.refuse(400, "mcp_filter_batch_too_large", null, reply.INVALID_REQUEST, reply.text(why));
      return false;
    }
    const n = this.shared.body.count;
    if (this.shared.body.batch) { this.audit.batch = n; this.shared.metrics.count(this.shared.metrics.batches); }
    let refusedAny = false;
    let invalidAny = this.shared.body.batch && n == 0;
    for (let i = 0; i < n; i++) {
      const verdict = this.shared.decide(this.shared.body.at(i), this.audit.user.ptr, this.audit.user.len);
      if (verdict == INVALID) invalidAny = true;
      else if (verdict == REFUSED) refusedAny = true;
    }
    // Limits count only calls that would go on: a body the policy refuses spends no tokens.
    const limited = !refusedAny && !invalidAny && this.shared.limitCalls(this.audit.user.ptr, this.audit.user.len);
    const forward = !refusedAny && !invalidAny && !limited;
    for (let i = 0; i < n; i++) this.logMessage(this.shared.body.at(i), forward);
    if (forward) {
      this.route();
      return true;
    }
    this.refuseBody(invalidAny, limited);
    return false;
  }

  private logMessage(m: Message, forwarded: bool): void {
    if (m.kind == KIND_INVALID || m.kind == KIND_BAD_PARAMS) { this.log(m, "invalid", false, m.reason); return; }
    if (m.kind == KIND_RESPONSE) { this.log(m, "allow", forwarded, ""); return; }
    const name = this.shared.config.policy.ruleNameBytes(m.rule);
    if (m.limit >= 0) {
      const limit = this.shared.limit(m.limit).nameBytes;
      this.audit.limitPtr = limit.ptr; this.audit.limitLen = limit.len;
      if (!m.denied) { this.audit.log(m, "rate_limited", name.ptr, name.len, forwarded, ""); return; }
    }
    if (m.denied) this.audit.log(m, "deny", name.ptr, name.len, forwarded, "");
    else this.audit.log(m, "allow", name.ptr, name.len, forwarded, "");
  }

  // judge, route and refuseBody read the body through this.shared.body, not a local or an
  // argument: AssemblyScript 0.17 reference-counts those.

  /** Headers for Envoy routing; any the client sent are replaced, never trusted. */
  private route(): void {
    let toolsList = false;
    for (let i = 0; i < this.shared.body.count; i++) {
      const m = this.shared.body.at(i);
      if (m.method !== null && equalsAt(m.methodBuf.ptr, m.methodBuf.len, M_TOOLS_LIST.ptr, M_TOOLS_LIST.len)) toolsList = true;
    }
    if (this.shared.body.batch) {
      setHeader(REQUEST_HEADERS, H_X_METHOD, BATCH);
      if (this.sentXTool) removeHeader(REQUEST_HEADERS, H_X_TOOL);
    } else {
      // A name too long to be one (MCP names have at most 128 characters) gets no header: it
      // could push the request over the upstream's header size limit.
      const m = this.shared.body.at(0);
      if (m.method !== null && m.methodBuf.len <= MAX_ROUTING_VALUE) setHeaderValue(REQUEST_HEADERS, H_X_METHOD, m.methodBuf.ptr, m.methodBuf.len);
      else if (this.sentXMethod) removeHeader(REQUEST_HEADERS, H_X_METHOD);
      if (m.target === TOOL && m.nameBuf.len <= MAX_ROUTING_VALUE) setHeaderValue(REQUEST_HEADERS, H_X_TOOL, m.nameBuf.ptr, m.nameBuf.len);
      else if (this.sentXTool) removeHeader(REQUEST_HEADERS, H_X_TOOL);
    }
    if (toolsList && this.shared.config.hideDeniedTools && !this.shared.config.monitor) {
      this.listRequested = true;
      // An encoded response could not be filtered; ask for identity.
      if (this.sentAcceptEncoding) removeHeader(REQUEST_HEADERS, H_ACCEPT_ENCODING);
    }
  }

  /** Answers a body that will not be forwarded: one error per message that has an id. */
  private refuseBody(invalid: bool, limited: bool): void {
    const cfg = this.shared.config;
    const policy = cfg.policy;
    const out = new Bytes(256);
    let entries = 0;
    if (this.shared.body.batch) out.byte(0x5b);
    if (this.shared.body.batch && this.shared.body.count == 0) {
      reply.errorObject(out, null, reply.INVALID_REQUEST, reply.text("Invalid Request: empty batch"));
      entries++;
    }
    for (let i = 0; i < this.shared.body.count; i++) {
      const m = this.shared.body.at(i);
      let code = 0;
      let message: Bytes;
      if (m.kind == KIND_INVALID) { code = reply.INVALID_REQUEST; message = reply.text("Invalid Request: " + m.reason); }
      else if (m.kind == KIND_BAD_PARAMS) { code = reply.INVALID_PARAMS; message = reply.text("Invalid params: " + m.reason); }
      else if (m.kind == KIND_RESPONSE || m.kind == KIND_NOTIFICATION) continue; // JSON-RPC: never answered
      else if (m.limit >= 0 && !cfg.monitor) {
        if (entries > 0) out.byte(0x2c);
        reply.rateLimitError(out, m, this.shared.limit(m.limit).nameBytes, m.retryAfterMs);
        entries++;
        continue;
      } else if (m.denied && !cfg.monitor) {
        const d = reply.denial(m, cfg.explainDenials, policy.ruleName(m.rule));
        code = d.code; message = d.message;
      } else { code = reply.NOT_FORWARDED; message = reply.text("Not forwarded: another message in this batch was refused"); }
      if (entries > 0) out.byte(0x2c);
      reply.errorObject(out, m, code, message);
      entries++;
    }
    if (this.shared.body.batch) out.byte(0x5d);
    let details = "mcp_filter_denied";
    if (invalid) details = "mcp_filter_invalid_request";
    else if (limited) details = "mcp_filter_rate_limited";
    this.replied = true;
    if (entries == 0) { localReply(202, details, new Bytes(0)); return; }
    localReply(invalid ? 400 : 200, details, out);
  }

  private oversize(size: i64): void {
    this.judging = false;
    this.audit.bytes = <i32>(size > 0x7fffffff ? 0x7fffffff : size);
    this.shared.metrics.count(this.shared.metrics.oversize);
    const why = "Request body of " + size.toString() + " bytes exceeds maxBodyBytes (" + this.shared.config.maxBodyBytes.toString() + ")";
    this.log(null, "reject", false, why);
    this.refuse(413, "mcp_filter_body_too_large", null, reply.INVALID_REQUEST, reply.text(why));
  }

  private refuse(status: u32, details: string, m: Message | null, code: i32, message: Bytes): void {
    this.judging = false;
    this.replied = true;
    const out = new Bytes(128);
    reply.errorObject(out, m, code, message);
    localReply(status, details, out);
  }

  /** Whether this POST's body can be judged (request headers, read): JUDGEABLE or why not. */
  private unjudgeable(): i32 {
    if (requestHeaders.found(Req.ENCODING)) {
      this.shared.value.set(requestHeaders.valuePtr(Req.ENCODING), requestHeaders.valueLen(Req.ENCODING));
      if (this.shared.value.isEncoded()) return ENCODED;
    }
    if (!requestHeaders.found(Req.TYPE)) return NO_TYPE;
    this.shared.value.set(requestHeaders.valuePtr(Req.TYPE), requestHeaders.valueLen(Req.TYPE));
    if (!this.shared.value.isMediaType(JSON_TYPE.ptr, JSON_TYPE.len, true)) return NOT_JSON;
    return JUDGEABLE;
  }

  private log(m: Message | null, decision: string, forwarded: bool, reason: string): void {
    this.audit.log(m, decision, 0, -1, forwarded, reason);
  }
}

// Why a POST's body cannot be judged (unjudgeable()); a code, so the common case builds no string.
const JUDGEABLE: i32 = 0;
const ENCODED: i32 = 1;
const NO_TYPE: i32 = 2;
const NOT_JSON: i32 = 3;

function unjudgeableText(problem: i32): string {
  if (problem == ENCODED) return "content-encoding is not supported; send the JSON body unencoded";
  if (problem == NO_TYPE) return "Content-Type must be application/json";
  return "Content-Type must be application/json (with charset utf-8, if any)";
}
