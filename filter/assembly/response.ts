// The response side of a stream: removes the tools a user may not call from the answer to a
// tools/list, in JSON or SSE, and from the events of a resumed stream. Every other response
// passes chunk by chunk.
import {
  FilterHeadersStatusValues, FilterDataStatusValues, FilterTrailersStatusValues, Bytes, responseHeaders,
  RESPONSE_HEADERS, setHeader, removeHeader, readResponseBody, replaceResponseBody,
} from "./abi";
import { Policy, Fields } from "./policy";
import { M_TOOLS_CALL } from "./mcp";
import { TOOL } from "./targets";
import { ToolJudge, ToolsFilter } from "./tools";
import { EventScan, SseRewriter } from "./sse";
import { JSON_TYPE, SSE_TYPE } from "./media";
import { Shared, Resp, RESPONSE_NAMES, H_CONTENT_TYPE, H_CONTENT_ENCODING, H_CONTENT_LENGTH } from "./shared";
import { Answer } from "./request";
import * as reply from "./reply";

const KEEP_HELD: i32 = 65536;

/**
 * What the response side does, one state per response. It starts in PASS; the response headers
 * pick the state (onHeaders), and a buffered answer goes back to PASS once rewritten.
 */
export enum Rewrite {
  /** Nothing to change: every chunk passes on as it comes. */
  PASS,
  /** A 2xx tools/list answer said to be JSON: buffered whole, then rewritten (as events if it is not JSON). */
  LIST_JSON,
  /** A 2xx tools/list answer in SSE: buffered whole, then rewritten event by event. */
  LIST_EVENTS,
  /** A 2xx tools/list answer the filter cannot read: replaced whole by a JSON-RPC error. */
  LIST_REFUSED,
  /** A resumed event stream: each event goes on, rewritten, once its closing empty line has come. */
  STREAM_EVENTS,
  /** A resumed event stream with an event too large to judge: the rest of it is dropped. */
  STREAM_DROPPED,
}

export class ResponseSide {
  state: Rewrite = Rewrite.PASS;
  private buffered: usize = 0;         // LIST_*: bytes Envoy buffers for the rewrite so far
  private held: Bytes = new Bytes(64); // STREAM_EVENTS: the start of an event still to come whole
  private eventsStart: bool = false;   // STREAM_EVENTS: no event has gone on yet
  private heldScan: EventScan = new EventScan(); // STREAM_EVENTS: how far `held` was scanned

  /** `audit`: the request's, for the user whose tools are judged and for logging. */
  constructor(public shared: Shared, private audit: reply.AuditContext) {}

  /** Readies it for a new response, of the root whose Shared is `shared`. */
  reuse(shared: Shared): void {
    if (this.shared !== shared) this.shared = shared;
    this.state = Rewrite.PASS;
    this.buffered = 0;
    if (!this.held.recycle(KEEP_HELD)) this.held = new Bytes(64);
    this.heldScan.reset();
  }

  /** Picks the state from the response headers and what the request asked (`answer`). */
  onHeaders(answer: Answer, endOfStream: bool): FilterHeadersStatusValues {
    this.state = Rewrite.PASS;
    if (answer == Answer.ANY || endOfStream) return FilterHeadersStatusValues.Continue;
    const headers = responseHeaders;
    headers.read(RESPONSE_NAMES);
    // Clients read the body of any 2xx (the MCP SDK: any but 202) as the answer.
    const status = headers.number(Resp.STATUS);
    if (headers.valueLen(Resp.STATUS) != 3 || status < 200 || status > 299) return FilterHeadersStatusValues.Continue;
    const hasType = headers.found(Resp.TYPE);
    const value = this.shared.value;
    let isEncoded = false;
    if (headers.found(Resp.ENCODING)) { value.set(headers.valuePtr(Resp.ENCODING), headers.valueLen(Resp.ENCODING)); isEncoded = value.isEncoded(); }
    if (hasType) value.set(headers.valuePtr(Resp.TYPE), headers.valueLen(Resp.TYPE));
    // Clients read the body whatever charset is declared, so only the media type counts here.
    if (isEncoded) {
      this.state = Rewrite.LIST_REFUSED;
    } else if (hasType && value.isMediaType(JSON_TYPE.ptr, JSON_TYPE.len, false)) {
      this.state = Rewrite.LIST_JSON;
    } else if (hasType && value.isMediaType(SSE_TYPE.ptr, SSE_TYPE.len, false)) {
      this.state = answer == Answer.RESUMED_EVENTS ? Rewrite.STREAM_EVENTS : Rewrite.LIST_EVENTS;
      this.eventsStart = true;
    } else {
      this.state = Rewrite.LIST_REFUSED;
    }
    if (this.state == Rewrite.LIST_REFUSED) {
      // Never pass on a tool list the filter could not read: fail closed with an error.
      removeHeader(RESPONSE_HEADERS, H_CONTENT_ENCODING);
      setHeader(RESPONSE_HEADERS, H_CONTENT_TYPE, JSON_TYPE);
    }
    // The body will change length; the response goes out chunked instead.
    removeHeader(RESPONSE_HEADERS, H_CONTENT_LENGTH);
    return FilterHeadersStatusValues.Continue;
  }

  onBody(size: usize, endOfStream: bool): FilterDataStatusValues {
    const state = this.state;
    if (state == Rewrite.PASS) return FilterDataStatusValues.Continue;
    if (state == Rewrite.STREAM_EVENTS || state == Rewrite.STREAM_DROPPED) {
      this.passEvents(size, endOfStream);
      return FilterDataStatusValues.Continue;
    }
    if (!endOfStream) {
      // `size` counts everything buffered so far, this chunk included.
      this.buffered = size;
      return FilterDataStatusValues.StopIterationAndBuffer;
    }
    this.rewriteList(size);
    return FilterDataStatusValues.Continue;
  }

  onTrailers(): FilterTrailersStatusValues {
    // The body ended with trailers: the buffered body is still the one to rewrite (Envoy hands
    // the filter its buffered data while the last body callback asked to buffer).
    const state = this.state;
    if (state == Rewrite.LIST_JSON || state == Rewrite.LIST_EVENTS || state == Rewrite.LIST_REFUSED) this.rewriteList(this.buffered);
    this.state = Rewrite.PASS; // what a resumed stream holds is not a whole event; it goes no further
    return FilterTrailersStatusValues.Continue;
  }

  /**
   * STREAM_EVENTS: passes on the events of a resumed stream that are now whole, rewritten, and
   * holds the start of the next one. An event larger than maxBodyBytes cannot be judged: it and
   * the rest of the stream are dropped (STREAM_DROPPED).
   */
  private passEvents(size: usize, endOfStream: bool): void {
    const out = this.shared.eventsOut;
    out.reset();
    if (this.state == Rewrite.STREAM_DROPPED) { replaceResponseBody(size, out); return; }
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
      this.state = Rewrite.STREAM_DROPPED;
      held.reset();
      this.heldScan.reset();
      this.audit.log(null, "reject", 0, -1, false, "an event of the resumed stream exceeds maxBodyBytes; the rest of the stream is dropped");
    }
    replaceResponseBody(size, out);
    if (hidden > 0) this.shared.metrics.count(this.shared.metrics.toolsHidden, hidden);
  }

  /** Which tools this request's user may see. */
  private toolJudge(): UserJudge { return new UserJudge(this.shared.config.policy, this.audit.user, this.shared.fields); }

  /** LIST_*: rewrites the whole buffered answer (`size` bytes); then PASS. */
  private rewriteList(size: usize): void {
    const state = this.state;
    this.state = Rewrite.PASS;
    this.buffered = 0;
    const out = new Bytes(<i32>size + 16);
    let hidden = 0;
    if (state == Rewrite.LIST_REFUSED) {
      reply.errorObject(out, null, -32603, reply.text("The gateway cannot filter this tools/list response (content encoding or type)"));
      replaceResponseBody(size, out);
      return;
    }
    const body = readResponseBody(size);
    const judge = this.toolJudge();
    let json = false;
    if (state == Rewrite.LIST_JSON) {
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
}

/** Decides, for one user, whether a tool of a tools/list answer stays: whether they may call it. */
class UserJudge extends ToolJudge {
  /** `fields`: the configuration's record to match rules against (Shared#fields). */
  constructor(private policy: Policy, private user: Bytes, private fields: Fields) { super(); }

  visible(name: Bytes): bool {
    const f = this.fields;
    f.reset(this.user.ptr, this.user.len);
    f.methodPtr = M_TOOLS_CALL.ptr; f.methodLen = M_TOOLS_CALL.len;
    f.targetKind = TOOL.id; f.targetPtr = name.ptr; f.targetLen = name.len;
    return this.policy.allows(this.policy.decide(f));
  }
}
