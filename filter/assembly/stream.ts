// Per-request state: judges a POST body once it is whole, answers refusals itself, and
// rewrites the response to tools/list. Everything else streams through untouched.
import { Context, RootContext, FilterHeadersStatusValues, FilterDataStatusValues, FilterTrailersStatusValues } from "@solo-io/proxy-runtime";
import {
  Bytes, ascii, equalsAt, errorText, HeaderNames, requestHeaders, responseHeaders,
  REQUEST_HEADERS, RESPONSE_HEADERS, setHeader, setHeaderValue, removeHeader, readRequestBody, requestBody,
  readResponseBody, replaceResponseBody, localReply,
} from "./abi";
import { Config } from "./config";
import { Body, Message, KIND_INVALID, KIND_BAD_PARAMS, KIND_RESPONSE, KIND_NOTIFICATION, M_TOOLS_LIST } from "./mcp";
import { Metrics } from "./metrics";
import { Policy, Fields } from "./policy";
import { ToolJudge, ToolsFilter } from "./tools";
import { EventScan, SseRewriter } from "./sse";
import { HeaderValue, JSON_TYPE, SSE_TYPE } from "./media";
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
// Slots of the headers looked up in one pass, in the order requestNames()/RESPONSE_NAMES add them.
enum Req { METHOD, USER, SESSION, PROTOCOL, ENCODING, TYPE, LENGTH, X_METHOD, X_TOOL, ACCEPT_ENCODING, LAST_EVENT_ID }
enum Resp { STATUS, TYPE, ENCODING }

/** The request headers the filter reads; the user header is the configuration's. */
function requestNames(userHeader: Bytes): HeaderNames {
  const names = new HeaderNames();
  names.add(H_METHOD);
  names.add(userHeader);
  names.add(H_SESSION);
  names.add(H_PROTOCOL);
  names.add(H_CONTENT_ENCODING);
  names.add(H_CONTENT_TYPE);
  names.add(H_CONTENT_LENGTH);
  names.add(H_X_METHOD);
  names.add(H_X_TOOL);
  names.add(H_ACCEPT_ENCODING);
  names.add(H_LAST_EVENT_ID);
  return names;
}

const RESPONSE_NAMES = responseNames();

function responseNames(): HeaderNames {
  const names = new HeaderNames();
  names.add(H_STATUS);
  names.add(H_CONTENT_TYPE);
  names.add(H_CONTENT_ENCODING);
  return names;
}
const BATCH = ascii("batch");
const MAX_ROUTING_VALUE: i32 = 256; // bytes of a method or tool name put in x-mcp-method / x-mcp-tool

const NONE: i32 = 0;
const REWRITE_JSON: i32 = 1;
const REWRITE_SSE: i32 = 2;
const REWRITE_REFUSE: i32 = 3; // a tools/list answer the filter cannot read: replaced by an error
const REWRITE_EVENTS: i32 = 4; // a resumed event stream: rewritten event by event as it passes
const DROP_EVENTS: i32 = 5;    // a resumed event stream with an event too large to judge: dropped

const KEEP_HELD: i32 = 65536;


// Shared#decide verdicts.
const FORWARDED: i32 = 0; // allowed, or only a would-be denial in monitor mode
const REFUSED: i32 = 1;
const INVALID: i32 = 2;

/**
 * What the root context hands each stream: its configuration, its metrics, and the records a
 * callback works in. The VM runs one callback at a time, so the streams of a root share them;
 * each is valid until the next callback.
 */
export class Shared {
  config: Config;
  metrics: Metrics;
  /** The request headers to read, this configuration's user header among them. */
  requestNames: HeaderNames;
  /** A header value to check. */
  value: HeaderValue = new HeaderValue();
  /** The request body being judged. */
  body: Body = new Body();
  /** What a rule is matched against. */
  fields: Fields = new Fields();
  /** The audit line being written. */
  auditLine: Bytes = new Bytes(512);
  /** The events of a resumed stream's chunk, rewritten. */
  eventsOut: Bytes = new Bytes(256);
  eventsRewriter: SseRewriter = new SseRewriter();
  constructor(config: Config, metrics: Metrics) {
    this.config = config;
    this.metrics = metrics;
    this.requestNames = requestNames(ascii(config.userHeader));
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
    m.describe(this.fields, user, n);
    m.rule = this.config.policy.decide(this.fields);
    if (this.config.policy.allows(m.rule)) return FORWARDED;
    this.metrics.denied(m.rule, this.config.monitor);
    m.denied = true;
    return this.config.monitor ? FORWARDED : REFUSED;
  }
}

class UserJudge extends ToolJudge {
  policy: Policy;
  user: Bytes;
  private fields: Fields = new Fields();
  constructor(policy: Policy, user: Bytes) { super(); this.policy = policy; this.user = user; }
  visible(name: Bytes): bool {
    const f = this.fields;
    f.reset(this.user.ptr, this.user.len);
    f.methodPtr = M_TOOLS_CALL_REF.ptr; f.methodLen = M_TOOLS_CALL_REF.len;
    f.toolPtr = name.ptr; f.toolLen = name.len;
    return this.policy.allows(this.policy.decide(f));
  }
}
const M_TOOLS_CALL_REF = ascii("tools/call");

/** A root context that hands its streams a Shared; null when it refused its configuration. */
export class SharedRoot extends RootContext {
  shared: Shared | null = null;
}

export class McpStream extends Context {
  shared: Shared;
  private judging: bool = false;   // a POST whose body is held until judged
  private replied: bool = false;   // answered locally: nothing may go upstream any more
  private audit: reply.AuditContext;
  private rewrite: i32 = NONE;
  private rewriteHeld: usize = 0; // bytes of the response Envoy buffers for the rewrite so far
  private resumed: bool = false;   // a Last-Event-ID request: the server may replay a tools/list answer
  private held: Bytes = new Bytes(64); // REWRITE_EVENTS: the start of an event still to come whole
  private eventsStart: bool = false;   // REWRITE_EVENTS: no event has gone on yet
  private heldScan: EventScan = new EventScan(); // REWRITE_EVENTS: how far `held` was scanned
  private sentXMethod: bool = false;
  private sentXTool: bool = false;
  private sentAcceptEncoding: bool = false;

  constructor(id: u32, root: SharedRoot, shared: Shared) {
    super(id, root);
    this.shared = shared;
    this.audit = new reply.AuditContext(shared.auditLine);
  }

  /** Readies this finished stream (see abi/streams.ts) for context `id` of `root`, which serves streams. */
  reuse(id: u32, root: SharedRoot): void {
    this.context_id = id;
    if (this.root_context !== root) this.root_context = root;
    if (this.shared !== root.shared) { this.shared = root.shared as Shared; this.audit.line = this.shared.auditLine; }
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

  onRequestBody(size: usize, endOfStream: bool): FilterDataStatusValues {
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
    headers.read(RESPONSE_NAMES);
    // Clients read the body of any 2xx (the MCP SDK: any but 202) as the answer.
    const status = headers.number(Resp.STATUS);
    if (headers.valueLen(Resp.STATUS) != 3 || status < 200 || status > 299) {
      this.rewrite = NONE;
      return FilterHeadersStatusValues.Continue;
    }
    const hasType = headers.found(Resp.TYPE);
    const value = this.shared.value;
    let isEncoded = false;
    if (headers.found(Resp.ENCODING)) { value.set(headers.valuePtr(Resp.ENCODING), headers.valueLen(Resp.ENCODING)); isEncoded = value.isEncoded(); }
    if (hasType) value.set(headers.valuePtr(Resp.TYPE), headers.valueLen(Resp.TYPE));
    // Clients read the body whatever charset is declared, so only the media type counts here.
    if (isEncoded) {
      this.rewrite = REWRITE_REFUSE;
    } else if (hasType && value.isMediaType(JSON_TYPE.ptr, JSON_TYPE.len, false)) {
      this.rewrite = REWRITE_JSON;
    } else if (hasType && value.isMediaType(SSE_TYPE.ptr, SSE_TYPE.len, false)) {
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
    const out = this.shared.eventsOut;
    out.reset();
    if (this.rewrite == DROP_EVENTS) { replaceResponseBody(size, out); return; }
    const chunk = readResponseBody(size);
    const held = this.held;
    const before = held.len;
    held.raw(chunk.ptr, chunk.len);
    // Only the new bytes are scanned: a large event arriving in small chunks costs linear time.
    const whole = endOfStream ? held.len : this.heldScan.whole(held, held.len);
    let hidden = 0;
    if (whole > 0) {
      this.shared.eventsRewriter.run(held, whole, this.toolJudge(), out, this.eventsStart);
      this.eventsStart = false;
      hidden = this.shared.eventsRewriter.hidden;
    }
    if (before == 0 && whole == held.len && hidden == 0) { held.reset(); this.heldScan.reset(); return; } // the chunk as it came
    if (whole > 0) {
      held.dropFront(whole);
      if (held.len == 0) this.heldScan.reset(); else this.heldScan.dropped(whole);
    }
    if (held.len > this.shared.config.maxBodyBytes) {
      this.rewrite = DROP_EVENTS;
      held.reset();
      this.heldScan.reset();
      this.log(null, "reject", false, "an event of the resumed stream exceeds maxBodyBytes; the rest of the stream is dropped");
    }
    replaceResponseBody(size, out);
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
      replaceResponseBody(size, out);
      return;
    }
    const body = readResponseBody(size);
    const judge = this.toolJudge();
    let json = false;
    if (mode == REWRITE_JSON) {
      const f = new ToolsFilter();
      json = f.run(body.ptr, body.len, judge, out);
      if (json) hidden = f.hidden;
    }
    if (!json) {
      // Events, or a body labelled JSON that is not: the MCP SDK reads any answer to a GET as
      // events whatever its type, so such a body must not carry a tool list that way either.
      const sse = new SseRewriter();
      sse.run(body, body.len, judge, out);
      hidden = sse.hidden;
    }
    if (hidden > 0) {
      replaceResponseBody(<usize>body.len, out);
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
    const forward = !refusedAny && !invalidAny;
    for (let i = 0; i < n; i++) this.logMessage(this.shared.body.at(i), forward);
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
      if (m.tool !== null && m.nameBuf.len <= MAX_ROUTING_VALUE) setHeaderValue(REQUEST_HEADERS, H_X_TOOL, m.nameBuf.ptr, m.nameBuf.len);
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
      else if (m.denied && !cfg.monitor) {
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
