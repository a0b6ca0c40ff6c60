// Per-request state: judges a POST body once it is whole, answers refusals itself, and
// rewrites the response to tools/list. Everything else streams through untouched.
import { Context, RootContext, FilterHeadersStatusValues, FilterDataStatusValues, FilterTrailersStatusValues } from "@solo-io/proxy-runtime";
import { Bytes, ascii, equalsAt } from "./bytes";
import { Config } from "./config";
import { errorText } from "./json";
import { Message, readBody, theBody, KIND_INVALID, KIND_BAD_PARAMS, KIND_RESPONSE, KIND_NOTIFICATION, M_TOOLS_LIST } from "./mcp";
import { Metrics } from "./metrics";
import { Policy, fields } from "./policy";
import { ToolJudge, ToolsFilter } from "./tools";
import { EventScan, SseRewriter } from "./sse";
import { contentTypeIs, JSON_TYPE, SSE_TYPE, encoded } from "./media";
import { HeaderSnapshot, StaticBuffer, readBufferInto, WANT_TABLE_BYTES, setHeader, setHeaderSpan, removeHeader, readBuffer, replaceBuffer, localReply, logInfo, REQUEST_HEADERS, RESPONSE_HEADERS, REQUEST_BODY, RESPONSE_BODY } from "./host";
import * as reply from "./reply";

const H_METHOD = ascii(":method");
const H_STATUS = ascii(":status");
const H_CONTENT_TYPE = ascii("content-type");
const H_CONTENT_ENCODING = ascii("content-encoding");
const H_CONTENT_LENGTH = ascii("content-length");
const H_ACCEPT_ENCODING = ascii("accept-encoding");
const H_SESSION = ascii("mcp-session-id");
const H_PROTOCOL = ascii("mcp-protocol-version");
const H_X_METHOD = ascii("x-mcp-method");
const H_X_TOOL = ascii("x-mcp-tool");
const H_LAST_EVENT_ID = ascii("last-event-id");
const POST = ascii("POST");
// Slots of the headers looked up in one pass (HeaderSnapshot.index).
enum Req { METHOD, USER, SESSION, PROTOCOL, ENCODING, TYPE, LENGTH, X_METHOD, X_TOOL, ACCEPT_ENCODING, LAST_EVENT_ID, COUNT }
enum Resp { STATUS, TYPE, ENCODING, COUNT }
const BATCH = ascii("batch");
const MAX_ROUTING_VALUE: i32 = 256; // bytes of a method or tool name put in x-mcp-method / x-mcp-tool

const NONE: i32 = 0;
const REWRITE_JSON: i32 = 1;
const REWRITE_SSE: i32 = 2;
const REWRITE_REFUSE: i32 = 3; // a tools/list answer the filter cannot read: replaced by an error
const REWRITE_EVENTS: i32 = 4; // a resumed event stream: rewritten event by event as it passes
const DROP_EVENTS: i32 = 5;    // a resumed event stream with an event too large to judge: dropped

// Scratch for rewriting the events of one chunk (the VM runs one callback at a time).
const eventsOut = new Bytes(256);
const eventsRewriter = new SseRewriter();
const KEEP_HELD: i32 = 65536;

// Shared by every stream of the VM: the VM runs one callback at a time.
const requestHeaders = new HeaderSnapshot(memory.data(WANT_TABLE_BYTES), new StaticBuffer(memory.data(4096, 16), 4096));
const responseHeaders = new HeaderSnapshot(memory.data(WANT_TABLE_BYTES), new StaticBuffer(memory.data(1024, 16), 1024));
// Request bodies up to this size are read into static memory, valid during the body callback.
const REQUEST_BODY_STATIC: i32 = 16384;
const requestBody = new StaticBuffer(memory.data(REQUEST_BODY_STATIC, 16), REQUEST_BODY_STATIC);
// Each Shared has its own serial: the request names wanted include its user header. The
// response names are the same for every configuration.
let sharedSerial: u32 = 0;
const RESPONSE_WANTS: u32 = 1;

// Shared#decide verdicts.
const FORWARDED: i32 = 0; // allowed, or only a would-be denial in monitor mode
const REFUSED: i32 = 1;
const INVALID: i32 = 2;

/** Settings the root context hands each stream. */
export class Shared {
  config: Config;
  metrics: Metrics;
  userHeader: Bytes;
  serial: u32;
  constructor(config: Config, metrics: Metrics) {
    this.serial = ++sharedSerial;
    this.config = config;
    this.metrics = metrics;
    this.userHeader = ascii(config.userHeader);
  }

  /**
   * Counts one message in the metrics and decides it for the user (`n` bytes at `user`),
   * setting its rule and denied flag. A method here, not in the stream: AssemblyScript 0.17
   * does not reference-count `this`, and the config and metrics are read through it.
   */
  decide(m: Message, user: usize, n: i32): i32 {
    if (m.kind == KIND_INVALID || m.kind == KIND_BAD_PARAMS) { this.metrics.count(this.metrics.invalid); return INVALID; }
    if (m.method !== null) this.metrics.method(m.methodBuf.ptr, m.methodBuf.len); else this.metrics.method(0, -1);
    if (m.kind == KIND_RESPONSE) return FORWARDED;
    if (m.tool !== null) this.metrics.tool(m.nameBuf.ptr, m.nameBuf.len);
    m.describe(fields, user, n);
    m.rule = this.config.policy.decide(fields);
    if (this.config.policy.allows(m.rule)) return FORWARDED;
    this.metrics.denied(m.rule, this.config.monitor);
    m.denied = true;
    return this.config.monitor ? FORWARDED : REFUSED;
  }
}

class UserJudge extends ToolJudge {
  policy: Policy;
  user: Bytes;
  constructor(policy: Policy, user: Bytes) { super(); this.policy = policy; this.user = user; }
  visible(name: Bytes): bool {
    const f = fields;
    f.reset(this.user.ptr, this.user.len);
    f.methodPtr = M_TOOLS_CALL_REF.ptr; f.methodLen = M_TOOLS_CALL_REF.len;
    f.toolPtr = name.ptr; f.toolLen = name.len;
    return this.policy.allows(this.policy.decide(f));
  }
}
const M_TOOLS_CALL_REF = ascii("tools/call");

export class McpStream extends Context {
  shared: Shared;
  private judging: bool = false;   // a POST whose body is held until judged
  private replied: bool = false;   // answered locally: nothing may go upstream any more
  private audit: reply.AuditContext = new reply.AuditContext();
  private rewrite: i32 = NONE;
  private rewriteHeld: usize = 0; // bytes of the response Envoy buffers for the rewrite so far
  private resumed: bool = false;   // a Last-Event-ID request: the server may replay a tools/list answer
  private held: Bytes = new Bytes(64); // REWRITE_EVENTS: the start of an event still to come whole
  private eventsStart: bool = false;   // REWRITE_EVENTS: no event has gone on yet
  private heldScan: EventScan = new EventScan(); // REWRITE_EVENTS: how far `held` was scanned
  private sentXMethod: bool = false;
  private sentXTool: bool = false;
  private sentAcceptEncoding: bool = false;

  constructor(id: u32, root: RootContext, shared: Shared) {
    super(id, root);
    this.shared = shared;
  }

  /** Readies a pooled stream (see streams.ts) for a new context id; root and shared as in StreamTable#open. */
  reuse(id: u32, root: usize, shared: usize): void {
    this.context_id = id;
    if (changetype<usize>(this.root_context) != root) this.root_context = changetype<RootContext>(root);
    if (changetype<usize>(this.shared) != shared) this.shared = changetype<Shared>(shared);
    this.judging = false;
    this.replied = false;
    this.rewrite = NONE;
    this.rewriteHeld = 0;
    this.resumed = false;
    if (!this.held.recycle(KEEP_HELD)) this.held = new Bytes(64);
    this.heldScan.reset();
    this.sentXMethod = false;
    this.sentXTool = false;
    this.sentAcceptEncoding = false;
    this.audit.reset();
  }

  onRequestHeaders(_n: u32, endOfStream: bool): FilterHeadersStatusValues {
    // The snapshot and the audit record are used through requestHeaders and this.audit, not
    // locals: AssemblyScript 0.17 reference-counts every reference local, on every request.
    requestHeaders.load(REQUEST_HEADERS);
    if (!requestHeaders.wantsFor(this.shared.serial)) {
      const user = this.shared.userHeader;
      requestHeaders.want(Req.METHOD, H_METHOD.ptr, H_METHOD.len);
      requestHeaders.want(Req.USER, user.ptr, user.len);
      requestHeaders.want(Req.SESSION, H_SESSION.ptr, H_SESSION.len);
      requestHeaders.want(Req.PROTOCOL, H_PROTOCOL.ptr, H_PROTOCOL.len);
      requestHeaders.want(Req.ENCODING, H_CONTENT_ENCODING.ptr, H_CONTENT_ENCODING.len);
      requestHeaders.want(Req.TYPE, H_CONTENT_TYPE.ptr, H_CONTENT_TYPE.len);
      requestHeaders.want(Req.LENGTH, H_CONTENT_LENGTH.ptr, H_CONTENT_LENGTH.len);
      requestHeaders.want(Req.X_METHOD, H_X_METHOD.ptr, H_X_METHOD.len);
      requestHeaders.want(Req.X_TOOL, H_X_TOOL.ptr, H_X_TOOL.len);
      requestHeaders.want(Req.ACCEPT_ENCODING, H_ACCEPT_ENCODING.ptr, H_ACCEPT_ENCODING.len);
      requestHeaders.want(Req.LAST_EVENT_ID, H_LAST_EVENT_ID.ptr, H_LAST_EVENT_ID.len);
    }
    requestHeaders.index(Req.COUNT);
    const post = requestHeaders.found(Req.METHOD) && equalsAt(requestHeaders.slotPtr(Req.METHOD), requestHeaders.slotLen(Req.METHOD), POST.ptr, POST.len);
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
    if (requestHeaders.found(Req.USER)) this.audit.user.copyFrom(requestHeaders.slotPtr(Req.USER), requestHeaders.slotLen(Req.USER));
    if (requestHeaders.found(Req.SESSION)) {
      this.audit.hasSession = true;
      this.audit.session.copyFrom(requestHeaders.slotPtr(Req.SESSION), requestHeaders.slotLen(Req.SESSION));
    }
    if (requestHeaders.found(Req.PROTOCOL)) {
      this.audit.hasProtocol = true;
      this.audit.protocol.copyFrom(requestHeaders.slotPtr(Req.PROTOCOL), requestHeaders.slotLen(Req.PROTOCOL));
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

    const problem = unjudgeable();
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
    const declared = requestHeaders.found(Req.LENGTH) ? parseLength(requestHeaders.slotPtr(Req.LENGTH), requestHeaders.slotLen(Req.LENGTH)) : -1;
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

  onRequestBody(size: usize, endOfStream: bool): FilterDataStatusValues {
    if (!this.judging) return this.replied ? FilterDataStatusValues.StopIterationNoBuffer : FilterDataStatusValues.Continue;
    if (<i64>size > <i64>this.shared.config.maxBodyBytes) {
      this.oversize(<i64>size);
      return FilterDataStatusValues.StopIterationNoBuffer;
    }
    if (!endOfStream) return FilterDataStatusValues.StopIterationAndBuffer;
    readBufferInto(REQUEST_BODY, size, requestBody);
    const forwarded = this.judge(requestBody.ptr, requestBody.len);
    requestBody.drop(); // a large body is not kept until the next one arrives
    return forwarded ? FilterDataStatusValues.Continue : FilterDataStatusValues.StopIterationNoBuffer;
  }

  onRequestTrailers(_n: u32): FilterTrailersStatusValues {
    if (this.replied) return FilterTrailersStatusValues.StopIteration;
    if (!this.judging) return FilterTrailersStatusValues.Continue;
    // MCP never sends trailers; a body that ends in trailers is refused rather than judged late.
    this.log(null, "reject", false, "request trailers are not supported");
    this.refuse(400, "mcp_filter_request_trailers", null, reply.INVALID_REQUEST, reply.text("Invalid Request: request trailers are not supported"));
    return FilterTrailersStatusValues.StopIteration;
  }

  onResponseHeaders(_n: u32, endOfStream: bool): FilterHeadersStatusValues {
    if ((this.rewrite == NONE && !this.resumed) || endOfStream) { this.rewrite = NONE; return FilterHeadersStatusValues.Continue; }
    const resumedOnly = this.rewrite == NONE;
    const headers = responseHeaders;
    headers.load(RESPONSE_HEADERS);
    if (!headers.wantsFor(RESPONSE_WANTS)) {
      headers.want(Resp.STATUS, H_STATUS.ptr, H_STATUS.len);
      headers.want(Resp.TYPE, H_CONTENT_TYPE.ptr, H_CONTENT_TYPE.len);
      headers.want(Resp.ENCODING, H_CONTENT_ENCODING.ptr, H_CONTENT_ENCODING.len);
    }
    headers.index(Resp.COUNT);
    // Clients read the body of any 2xx (the MCP SDK: any but 202) as the answer.
    if (!headers.found(Resp.STATUS) || !isSuccess(headers.slotPtr(Resp.STATUS), headers.slotLen(Resp.STATUS))) {
      this.rewrite = NONE;
      return FilterHeadersStatusValues.Continue;
    }
    const hasType = headers.found(Resp.TYPE);
    const ctPtr = headers.slotPtr(Resp.TYPE);
    const ctLen = headers.slotLen(Resp.TYPE);
    // Clients read the body whatever charset is declared, so only the media type counts here.
    if (headers.found(Resp.ENCODING) && encoded(headers.slotPtr(Resp.ENCODING), headers.slotLen(Resp.ENCODING))) {
      this.rewrite = REWRITE_REFUSE;
    } else if (hasType && contentTypeIs(ctPtr, ctLen, JSON_TYPE.ptr, JSON_TYPE.len, false)) {
      this.rewrite = REWRITE_JSON;
    } else if (hasType && contentTypeIs(ctPtr, ctLen, SSE_TYPE.ptr, SSE_TYPE.len, false)) {
      this.rewrite = REWRITE_SSE;
    } else {
      this.rewrite = REWRITE_REFUSE;
    }
    if (this.rewrite == REWRITE_SSE && resumedOnly) { this.rewrite = REWRITE_EVENTS; this.eventsStart = true; }
    if (this.rewrite == REWRITE_REFUSE) {
      // Never pass on a tool list the filter could not read: fail closed with an error.
      removeHeader(RESPONSE_HEADERS, H_CONTENT_ENCODING);
      setHeader(RESPONSE_HEADERS, H_CONTENT_TYPE, ascii("application/json"));
    }
    // The body will change length; the response goes out chunked instead.
    removeHeader(RESPONSE_HEADERS, H_CONTENT_LENGTH);
    return FilterHeadersStatusValues.Continue;
  }

  onResponseBody(size: usize, endOfStream: bool): FilterDataStatusValues {
    if (this.rewrite == NONE) return FilterDataStatusValues.Continue;
    if (this.rewrite >= REWRITE_EVENTS) {
      this.rewriteEvents(size, endOfStream);
      return FilterDataStatusValues.Continue;
    }
    if (!endOfStream) {
      // `size` counts everything buffered so far, this chunk included.
      this.rewriteHeld = size;
      return FilterDataStatusValues.StopIterationAndBuffer;
    }
    this.finishRewrite(size);
    return FilterDataStatusValues.Continue;
  }

  /**
   * Passes on the events of a resumed stream that are now whole, rewritten, and holds the
   * start of the next one. An event larger than maxBodyBytes cannot be judged: it and the rest
   * of the stream are dropped.
   */
  private rewriteEvents(size: usize, endOfStream: bool): void {
    const out = eventsOut;
    out.reset();
    if (this.rewrite == DROP_EVENTS) { replaceBuffer(RESPONSE_BODY, size, out); return; }
    const chunk = readBuffer(RESPONSE_BODY, size);
    const held = this.held;
    const before = held.len;
    held.raw(changetype<usize>(chunk), chunk.byteLength);
    // Only the new bytes are scanned: a large event arriving in small chunks costs linear time.
    const whole = endOfStream ? held.len : this.heldScan.whole(held.ptr, held.len);
    let hidden = 0;
    if (whole > 0) {
      eventsRewriter.run(held.ptr, whole, this.toolJudge(), out, this.eventsStart);
      this.eventsStart = false;
      hidden = eventsRewriter.hidden;
    }
    if (before == 0 && whole == held.len && hidden == 0) { held.reset(); this.heldScan.reset(); return; } // the chunk as it came
    if (whole > 0) {
      held.len -= whole;
      memory.copy(held.ptr, held.ptr + <usize>whole, <usize>held.len);
      if (held.len == 0) this.heldScan.reset(); else this.heldScan.dropped(whole);
    }
    if (held.len > this.shared.config.maxBodyBytes) {
      this.rewrite = DROP_EVENTS;
      held.reset();
      this.heldScan.reset();
      this.log(null, "reject", false, "an event of the resumed stream exceeds maxBodyBytes; the rest of the stream is dropped");
    }
    replaceBuffer(RESPONSE_BODY, size, out);
    if (hidden > 0) this.shared.metrics.count(this.shared.metrics.toolsHidden, hidden);
  }

  onResponseTrailers(_n: u32): FilterTrailersStatusValues {
    // The body ended with trailers: the buffered body is still the one to rewrite (Envoy hands
    // the filter its buffered data while the last body callback asked to buffer).
    if (this.rewrite >= REWRITE_EVENTS) {
      this.rewrite = NONE; // what is held is not a whole event; it goes no further
    } else if (this.rewrite != NONE) {
      this.finishRewrite(this.rewriteHeld);
    }
    return FilterTrailersStatusValues.Continue;
  }

  onDone(): bool { return true; }
  onDelete(): void {}
  onLog(): void {}

  /** Which tools this request's user may see. */
  private toolJudge(): UserJudge { return new UserJudge(this.shared.config.policy, this.audit.user); }

  private finishRewrite(size: usize): void {
    const mode = this.rewrite;
    this.rewrite = NONE;
    this.rewriteHeld = 0;
    const out = new Bytes(<i32>size + 16);
    let hidden = 0;
    if (mode == REWRITE_REFUSE) {
      reply.errorObject(out, null, -32603, reply.text("The gateway cannot filter this tools/list response (content encoding or type)"));
      replaceBuffer(RESPONSE_BODY, size, out);
      return;
    }
    const body = readBuffer(RESPONSE_BODY, size);
    const judge = this.toolJudge();
    let json = false;
    if (mode == REWRITE_JSON) {
      const f = new ToolsFilter();
      json = f.run(changetype<usize>(body), body.byteLength, judge, out);
      if (json) hidden = f.hidden;
    }
    if (!json) {
      // Events, or a body labelled JSON that is not: the MCP SDK reads any answer to a GET as
      // events whatever its type, so such a body must not carry a tool list that way either.
      const sse = new SseRewriter();
      sse.run(changetype<usize>(body), body.byteLength, judge, out);
      hidden = sse.hidden;
    }
    if (hidden > 0) {
      replaceBuffer(RESPONSE_BODY, <usize>body.byteLength, out);
      this.shared.metrics.count(this.shared.metrics.toolsHidden, hidden);
    }
  }

  /**
   * Judges a whole body, the `len` bytes at `ptr`. Returns true when it is forwarded. The
   * records it uses are read through `this` rather than held in locals where they are used
   * once per message: AssemblyScript 0.17 reference-counts every reference local.
   */
  private judge(ptr: usize, len: i32): bool {
    this.judging = false;
    this.audit.bytes = len;
    readBody(ptr, len, this.shared.config.maxBatchMessages);
    if (theBody.parseError) {
      this.shared.metrics.count(this.shared.metrics.parseErrors);
      const why = "Parse error: " + errorText(theBody.errorCode) + " at byte " + theBody.errorOffset.toString();
      this.log(null, "reject", false, why);
      this.refuse(400, "mcp_filter_parse_error", null, reply.PARSE_ERROR, reply.text(why));
      return false;
    }
    if (theBody.excess > 0) {
      // One error for the whole batch: answering each message could make a reply (and audit
      // lines) many times the size of the body.
      this.shared.metrics.count(this.shared.metrics.invalid);
      const why = "Invalid Request: a batch of " + (theBody.count + theBody.excess).toString() + " messages exceeds maxBatchMessages (" + this.shared.config.maxBatchMessages.toString() + ")";
      this.log(null, "reject", false, why);
      this.refuse(400, "mcp_filter_batch_too_large", null, reply.INVALID_REQUEST, reply.text(why));
      return false;
    }
    const n = theBody.count;
    if (theBody.batch) { this.audit.batch = n; this.shared.metrics.count(this.shared.metrics.batches); }
    let refusedAny = false;
    let invalidAny = theBody.batch && n == 0;
    for (let i = 0; i < n; i++) {
      const verdict = this.shared.decide(theBody.at(i), this.audit.user.ptr, this.audit.user.len);
      if (verdict == INVALID) invalidAny = true;
      else if (verdict == REFUSED) refusedAny = true;
    }
    const forward = !refusedAny && !invalidAny;
    for (let i = 0; i < n; i++) this.logMessage(theBody.at(i), forward);
    if (forward) {
      this.route();
      return true;
    }
    this.refuseBody(invalidAny);
    return false;
  }

  private logMessage(m: Message, forwarded: bool): void {
    if (m.kind == KIND_INVALID || m.kind == KIND_BAD_PARAMS) { this.log(m, "invalid", false, m.reason); return; }
    if (m.kind == KIND_RESPONSE) { this.log(m, "allow", forwarded, ""); return; }
    const rule = m.rule;
    const namePtr = this.shared.config.policy.ruleNamePtr(rule);
    const nameLen = this.shared.config.policy.ruleNameLen(rule);
    if (m.denied) this.audit.log(m, "deny", namePtr, nameLen, forwarded, "");
    else this.audit.log(m, "allow", namePtr, nameLen, forwarded, "");
  }

  // judge, route and refuseBody read the body through theBody (mcp.ts), not a local or an
  // argument: AssemblyScript 0.17 reference-counts those.

  /** Headers for Envoy routing; any the client sent are replaced, never trusted. */
  private route(): void {
    let toolsList = false;
    for (let i = 0; i < theBody.count; i++) {
      const m = theBody.at(i);
      if (m.method !== null && equalsAt(m.methodBuf.ptr, m.methodBuf.len, M_TOOLS_LIST.ptr, M_TOOLS_LIST.len)) toolsList = true;
    }
    if (theBody.batch) {
      setHeader(REQUEST_HEADERS, H_X_METHOD, BATCH);
      if (this.sentXTool) removeHeader(REQUEST_HEADERS, H_X_TOOL);
    } else {
      // A name too long to be one (MCP names have at most 128 characters) gets no header: it
      // could push the request over the upstream's header size limit.
      const m = theBody.at(0);
      if (m.method !== null && m.methodBuf.len <= MAX_ROUTING_VALUE) setRoutingHeader(H_X_METHOD.ptr, H_X_METHOD.len, m.methodBuf.ptr, m.methodBuf.len);
      else if (this.sentXMethod) removeHeader(REQUEST_HEADERS, H_X_METHOD);
      if (m.tool !== null && m.nameBuf.len <= MAX_ROUTING_VALUE) setRoutingHeader(H_X_TOOL.ptr, H_X_TOOL.len, m.nameBuf.ptr, m.nameBuf.len);
      else if (this.sentXTool) removeHeader(REQUEST_HEADERS, H_X_TOOL);
    }
    if (toolsList && this.shared.config.hideDeniedTools && !this.shared.config.monitor) {
      this.rewrite = REWRITE_JSON; // refined by the response headers
      // An encoded response could not be filtered; ask for identity.
      if (this.sentAcceptEncoding) removeHeader(REQUEST_HEADERS, H_ACCEPT_ENCODING);
    }
  }

  /** Answers a body that will not be forwarded: one error per message that has an id. */
  private refuseBody(invalid: bool): void {
    const cfg = this.shared.config;
    const policy = cfg.policy;
    const out = new Bytes(256);
    let entries = 0;
    if (theBody.batch) out.byte(0x5b);
    if (theBody.batch && theBody.count == 0) {
      reply.errorObject(out, null, reply.INVALID_REQUEST, reply.text("Invalid Request: empty batch"));
      entries++;
    }
    for (let i = 0; i < theBody.count; i++) {
      const m = theBody.at(i);
      let code = 0;
      let message: Bytes;
      if (m.kind == KIND_INVALID) { code = reply.INVALID_REQUEST; message = reply.text("Invalid Request: " + m.reason); }
      else if (m.kind == KIND_BAD_PARAMS) { code = reply.INVALID_PARAMS; message = reply.text("Invalid params: " + m.reason); }
      else if (m.kind == KIND_RESPONSE || m.kind == KIND_NOTIFICATION) continue; // JSON-RPC: never answered
      else if (m.denied && !cfg.monitor) {
        const d = reply.denial(m, cfg.explainDenials, policy.ruleName(m.rule));
        code = d.code; message = d.message;
      } else { code = reply.NOT_FORWARDED; message = reply.text("Not forwarded: another message in this batch was refused"); }
      if (entries > 0) out.byte(0x2c);
      reply.errorObject(out, m, code, message);
      entries++;
    }
    if (theBody.batch) out.byte(0x5d);
    let details = "mcp_filter_denied";
    if (invalid) details = "mcp_filter_invalid_request";
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

  private log(m: Message | null, decision: string, forwarded: bool, reason: string): void {
    this.audit.log(m, decision, 0, -1, forwarded, reason);
  }
}

// Why a POST's body cannot be judged (unjudgeable()); a code, so the common case builds no string.
const JUDGEABLE: i32 = 0;
const ENCODED: i32 = 1;
const NO_TYPE: i32 = 2;
const NOT_JSON: i32 = 3;

/** Whether this POST's body can be judged (request headers, indexed): JUDGEABLE or why not. */
function unjudgeable(): i32 {
  if (requestHeaders.found(Req.ENCODING) && encoded(requestHeaders.slotPtr(Req.ENCODING), requestHeaders.slotLen(Req.ENCODING))) return ENCODED;
  if (!requestHeaders.found(Req.TYPE)) return NO_TYPE;
  if (!contentTypeIs(requestHeaders.slotPtr(Req.TYPE), requestHeaders.slotLen(Req.TYPE), JSON_TYPE.ptr, JSON_TYPE.len)) return NOT_JSON;
  return JUDGEABLE;
}

function unjudgeableText(problem: i32): string {
  if (problem == ENCODED) return "content-encoding is not supported; send the JSON body unencoded";
  if (problem == NO_TYPE) return "Content-Type must be application/json";
  return "Content-Type must be application/json (with charset utf-8, if any)";
}

/** A 2xx status code. */
function isSuccess(p: usize, len: i32): bool {
  if (len != 3 || load<u8>(p) != 0x32) return false;
  const d1 = <u32>load<u8>(p + 1) - 0x30;
  const d2 = <u32>load<u8>(p + 2) - 0x30;
  return d1 < 10 && d2 < 10;
}

function parseLength(p: usize, len: i32): i64 {
  let n: i64 = 0;
  for (let i = 0; i < len; i++) {
    const c = <i32>load<u8>(p + <usize>i);
    if (c < 0x30 || c > 0x39) return -1;
    if (n < (<i64>1 << 50)) n = n * 10 + (c - 0x30);
  }
  if (len == 0) return -1;
  return n;
}

// A routing value with control characters in it, which become `?`.
const routingValue = new Bytes(64);

/** A byte a header value must not carry: a control character other than tab. */
@inline function headerControl(c: i32): bool { return (c < 0x20 && c != 0x09) || c == 0x7f; }

/** Sets a routing request header to the `n` bytes at `p`, its control characters as `?`. */
function setRoutingHeader(name: usize, nameLen: i32, p: usize, n: i32): void {
  let clean = true;
  for (let i = 0; i < n; i++) {
    if (headerControl(<i32>load<u8>(p + <usize>i))) { clean = false; break; }
  }
  if (clean) { setHeaderSpan(REQUEST_HEADERS, name, nameLen, p, n); return; }
  const out = routingValue;
  out.reset();
  for (let i = 0; i < n; i++) {
    const c = <i32>load<u8>(p + <usize>i);
    out.byte(headerControl(c) ? 0x3f : c);
  }
  setHeaderSpan(REQUEST_HEADERS, name, nameLen, out.ptr, out.len);
}
