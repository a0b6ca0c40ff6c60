// What a root context hands its streams: the configuration, the metrics, and the records a
// callback works in; and the headers the filter reads.
import { RootContext, Bytes, ascii, HeaderNames } from "./abi";
import { Config } from "./config";
import { Body, Message, KIND_INVALID, KIND_BAD_PARAMS, KIND_RESPONSE } from "./mcp";
import { Buckets, Limit } from "./limits";
import { Metrics } from "./metrics";
import { Fields } from "./policy";
import { SseRewriter } from "./sse";
import { HeaderValue } from "./media";
import { TOOL } from "./targets";

export const H_METHOD = ascii(":method");
export const H_STATUS = ascii(":status");
export const H_CONTENT_TYPE = ascii("content-type");
export const H_CONTENT_ENCODING = ascii("content-encoding");
export const H_CONTENT_LENGTH = ascii("content-length");
export const H_ACCEPT_ENCODING = ascii("accept-encoding");
export const H_SESSION = ascii("mcp-session-id");
export const H_PROTOCOL = ascii("mcp-protocol-version");
export const H_X_METHOD = ascii("x-mcp-method");
export const H_X_TOOL = ascii("x-mcp-tool");
export const H_LAST_EVENT_ID = ascii("last-event-id");
export const POST = ascii("POST");
// Slots of the headers looked up in one pass, in the order requestNames()/RESPONSE_NAMES add them.
export enum Req { METHOD, USER, SESSION, PROTOCOL, ENCODING, TYPE, LENGTH, X_METHOD, X_TOOL, ACCEPT_ENCODING, LAST_EVENT_ID }
export enum Resp { STATUS, TYPE, ENCODING }

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

export const RESPONSE_NAMES = responseNames();

function responseNames(): HeaderNames {
  const names = new HeaderNames();
  names.add(H_STATUS);
  names.add(H_CONTENT_TYPE);
  names.add(H_CONTENT_ENCODING);
  return names;
}
// Shared#decide verdicts.
export const FORWARDED: i32 = 0; // allowed, or only a would-be denial in monitor mode
export const REFUSED: i32 = 1;
export const INVALID: i32 = 2;

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
  /** The rate limits' buckets, and the tokens the body being judged took (limit, slot, message). */
  buckets: Buckets = new Buckets();
  private spentLimit: Array<i32> = [];
  private spentSlot: Array<i32> = [];
  private spentMessage: Array<i32> = [];
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
    if (m.target === TOOL) this.metrics.tool(m.nameBuf.ptr, m.nameBuf.len);
    m.describe(this.fields, user, n);
    m.rule = this.config.policy.decide(this.fields);
    if (this.config.policy.allows(m.rule)) return FORWARDED;
    this.metrics.denied(m.rule, this.config.monitor);
    m.denied = true;
    return this.config.monitor ? FORWARDED : REFUSED;
  }

  /**
   * Takes a token of every limit each tools/call of the body counts under, for the user (`n`
   * bytes at `user`). A call over a limit is marked with it (Message#limit). Returns whether
   * the body is refused for it: in enforce mode a call over a limit refuses the body, and the
   * tokens the body's other calls and limits took are given back, so a refused body costs
   * nothing. In monitor mode the body goes on, having spent what it took.
   */
  limitCalls(user: usize, n: i32): bool {
    const limits = this.config.limits;
    if (limits.length == 0) return false; // nor read the clock
    const monitor = this.config.monitor;
    const now = this.buckets.now();
    this.spentLimit.length = 0; this.spentSlot.length = 0; this.spentMessage.length = 0;
    let refused = false;
    for (let i = 0; i < this.body.count; i++) {
      const m = this.body.at(i);
      if (m.target !== TOOL || m.kind == KIND_RESPONSE) continue;
      for (let j = 0; j < limits.length; j++) {
        const l = limits.at(j);
        if (!l.applies(m.nameBuf.ptr, m.nameBuf.len, user, n)) continue;
        this.buckets.keyFor(l.key, m.nameBuf.ptr, m.nameBuf.len, user, n);
        if (this.buckets.take(l, now)) {
          this.spentLimit.push(j); this.spentSlot.push(this.buckets.slotIndex); this.spentMessage.push(i);
          continue;
        }
        this.metrics.rateLimited(j, monitor);
        if (m.limit < 0) { m.limit = j; m.retryAfterMs = this.buckets.retryMs; }
        if (!monitor) { refused = true; break; } // the limits after it are not spent
      }
    }
    if (refused) {
      for (let k = 0; k < this.spentLimit.length; k++) {
        const m = this.body.at(this.spentMessage[k]);
        const l = limits.at(this.spentLimit[k]);
        this.buckets.keyFor(l.key, m.nameBuf.ptr, m.nameBuf.len, user, n);
        this.buckets.giveBack(l, this.spentSlot[k]);
      }
    }
    return refused;
  }

  /** The limit of index `i` (Message#limit). */
  limit(i: i32): Limit { return this.config.limits.at(i); }
}

/** A root context that hands its streams a Shared; null when it refused its configuration. */
export class SharedRoot extends RootContext {
  shared: Shared | null = null;
}
