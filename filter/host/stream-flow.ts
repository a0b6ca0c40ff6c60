// How one HTTP stream moves through the wasm filter, as Envoy's filter manager drives it
// (source/common/http/filter_manager.cc) with the wasm filter's decode*/encode* glue
// (source/extensions/common/wasm/context.cc) and proxy-wasm-cpp-host's status conversion
// (src/context.cc convertVmCallResultTo*Status, CHECK_FAIL):
// - headers: Continue releases them; StopIteration holds them, and unless
//   allow_on_headers_stop_iteration is set it becomes StopAllIterationAndWatermark, which
//   keeps body callbacks away from the filter until continue_stream;
// - body: StopIterationAndBuffer makes the next callback see everything buffered so far,
//   StopIterationNoBuffer drops the chunk, Continue releases what is buffered plus the chunk;
// - send_local_response runs after the VM call returns and forces the callback's status to
//   a stop; the reply goes through this filter's own response callbacks when the response
//   has not started, straight to the client when upstream headers are held here, and resets
//   the stream once headers reached the client (DownstreamFilterManager::sendLocalReply);
// - a failed VM answers 503 "wasm_fail_stream" (Context::failStream) and skips the VM.

import { ByteBuffer } from "./bytes";
import { FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus, NO_STATUS } from "./constants";
import type { HostCore } from "./core";
import { HeaderList, HeaderMap } from "./headers";
import { LocalReply, isGrpcRequest, prepareLocalReply } from "./localreply";
import { Side } from "./side";
import { StreamContext, StreamOwner } from "./stream-context";
import type { WasmVm } from "./vm";

/** invoke(): the VM had failed or failed during the call; the stream got Envoy's 503. */
const FAILED = -2;

/**
 * Optional push interface so a proxy can stream what Envoy would send on. Data a listener takes
 * (upstreamData, downstreamData) reaches it as a copy and is not kept in HttpContext.upstream or
 * downstream, so a long stream does not grow memory.
 */
export interface StreamListener {
  upstreamHeaders?(headers: HeaderList): void;
  upstreamData?(chunk: Uint8Array, endOfStream: boolean): void;
  upstreamTrailers?(trailers: HeaderList): void;
  downstreamHeaders?(headers: HeaderList, endOfStream: boolean): void;
  downstreamData?(chunk: Uint8Array, endOfStream: boolean): void;
  downstreamTrailers?(trailers: HeaderList): void;
  localReply?(reply: LocalReply): void;
  /** The stream was reset (close_stream, or a local reply after response headers went out). */
  streamReset?(details: string): void;
}

/** "vm": the filter runs; "failed": fail-closed Context without a VM; "bypass": fail-open, no filter. */
export type StreamMode = "vm" | "failed" | "bypass";

export abstract class StreamFlow implements StreamOwner {
  readonly id: number;
  readonly req = new Side(true);
  readonly resp = new Side(false);
  /** Filter state set by proxy_set_property. */
  readonly props = new Map<string, Buffer>();
  lastEndOfStream = false;
  responseDetails?: string;
  protected readonly ctx?: StreamContext;
  protected created = false;
  protected reply?: LocalReply;
  protected wasReset = false;
  /** The headers the router matched on, and whether a header change made it match again. */
  protected routeHeaders?: HeaderList;
  protected routeRecomputed = false;
  private streamFailed = false;
  private failureReplySent = false;
  private routeCleared = false;

  constructor(protected readonly core: HostCore, protected readonly vm: WasmVm | undefined, private readonly mode: StreamMode,
    readonly connectionId: number, private readonly listener?: StreamListener) {
    if (mode === "vm" && vm) {
      this.id = vm.allocContextId();
      this.ctx = new StreamContext(vm, this.id, this);
      vm.contexts.set(this.id, this.ctx);
    } else {
      this.id = 0;
    }
  }

  // ---- StreamOwner (called from host functions via StreamContext) ----------------------------

  clearRouteCache(): void {
    this.routeCleared = true;
  }

  resume(request: boolean): void {
    this.continueIteration(request ? this.req : this.resp);
  }

  resetStream(details: string): void {
    if (this.wasReset) return;
    this.wasReset = true;
    this.responseDetails ??= details;
    this.req.aborted = this.resp.aborted = true;
    this.listener?.streamReset?.(details);
  }

  sendLocalReply(reply: LocalReply): void {
    const req = this.req;
    const resp = this.resp;
    if (this.wasReset || resp.out.ended) return;
    this.reply ??= reply;
    this.responseDetails = reply.details;
    req.aborted = true;
    this.listener?.localReply?.(reply);
    const prepared = prepareLocalReply(reply, isGrpcRequest(req.live?.get("content-type")), req.live?.get(":method") === "HEAD", this.core.opts.mapLocalReply);
    if (!resp.headersIn) {
      this.onHeaders(resp, prepared.headers.toList(), prepared.endWithHeaders, true);
      if (!prepared.endWithHeaders && !this.wasReset) this.onBody(resp, prepared.body, true, true);
    } else if (!resp.headersOut) {
      // sendDirectLocalReply: to the codec, past every filter; the upstream response is dropped.
      resp.live = prepared.headers;
      resp.map = null;
      resp.buffered = null;
      this.releaseHeaders(resp, prepared.endWithHeaders);
      if (!prepared.endWithHeaders) this.releaseData(resp, prepared.body, true);
      resp.aborted = true;
    } else {
      this.resetStream(reply.details);
    }
  }

  // ---- flows --------------------------------------------------------------------------------

  protected isFailed(): boolean {
    return this.mode !== "vm" || !!this.vm?.failed;
  }

  /** The filter is not in the response path: fail-open, context never created, or failStream sent. */
  private passThrough(side: Side): boolean {
    return this.mode === "bypass" || (!side.request && (!this.created || this.failureReplySent));
  }

  protected onCreate(): void {
    if (!this.isFailed() && this.ctx) this.callVm("proxy_on_context_create", this.id, this.vm?.rootContext?.id ?? 0);
    this.created = true;
  }

  private closedFor(side: Side, internal: boolean): boolean {
    if (this.wasReset) return true;
    if (side.request) return side.aborted;
    return !internal && this.reply !== undefined;
  }

  protected onHeaders(side: Side, list: HeaderList, eos: boolean, internal: boolean): number {
    if (this.closedFor(side, internal)) return NO_STATUS;
    if (side.headersIn) throw new Error(`${side.request ? "request" : "response"}Headers was already called on this stream`);
    side.live = HeaderMap.from(list, side.request ? "request" : "response");
    side.headersIn = true;
    side.complete = eos;
    this.lastEndOfStream = eos;
    if (side.request) this.routeHeaders = side.live.toList();
    else if (!internal) this.responseDetails ??= "via_upstream";
    if (this.passThrough(side)) {
      this.releaseHeaders(side, eos);
      return NO_STATUS;
    }
    side.map = side.live;
    if (side.request) this.onCreate();
    const raw = this.invoke(callbackName(side, "headers"), side.live.size, eos ? 1 : 0);
    if (raw !== FAILED) this.applyHeaders(side, this.headersStatus(raw));
    this.vm?.afterCall();
    return raw < 0 ? NO_STATUS : raw;
  }

  protected onBody(side: Side, chunk: Uint8Array, eos: boolean, internal = false): number {
    if (this.closedFor(side, internal)) return NO_STATUS;
    const what = side.request ? "request" : "response";
    if (!side.headersIn) throw new Error(`${what}Body called before ${what}Headers`);
    if (side.complete) throw new Error(`${what}Body called after the end of the ${what} stream`);
    side.complete = eos;
    this.lastEndOfStream = eos;
    if (this.passThrough(side)) {
      this.releaseData(side, chunk, eos);
      return NO_STATUS;
    }
    if (side.stopAll) {
      // handleDataIfStopAll: the filter manager buffers it without calling the filter.
      side.appendBuffered(chunk);
      this.checkLimit(side);
      return NO_STATUS;
    }
    return this.deliverBody(side, new ByteBuffer(chunk), eos);
  }

  protected onTrailers(side: Side, list: HeaderList): number {
    if (this.closedFor(side, false)) return NO_STATUS;
    const what = side.request ? "request" : "response";
    if (!side.headersIn) throw new Error(`${what}Trailers called before ${what}Headers`);
    if (side.complete) throw new Error(`${what}Trailers called after the end of the ${what} stream`);
    side.complete = true;
    side.liveTrailers = HeaderMap.from(list, side.request ? "request-trailers" : "response-trailers");
    if (this.passThrough(side)) {
      this.releaseTrailers(side);
      return NO_STATUS;
    }
    if (side.stopAll) {
      side.trailersPending = true;
      return NO_STATUS;
    }
    return this.deliverTrailers(side);
  }

  /** Context::decodeData/encodeData for `provided`, then the filter manager's handling of the status. */
  private deliverBody(side: Side, provided: ByteBuffer, eos: boolean): number {
    let consumed = false;
    if (side.buffering) {
      // addDecodedData: the chunk joins the buffer the filter reads; over the limit Envoy
      // answers 413/500 and does not call the VM for it.
      side.appendBuffered(provided.view());
      consumed = true;
      if (this.checkLimit(side)) return NO_STATUS;
    }
    side.chunk = consumed ? new ByteBuffer() : provided;
    const length = side.buffering && side.buffered ? side.buffered.length : provided.length;
    const raw = this.invoke(callbackName(side, "body"), length, eos ? 1 : 0);
    if (raw !== FAILED) this.applyData(side, this.dataStatus(raw), provided, consumed);
    this.vm?.afterCall();
    return raw < 0 ? NO_STATUS : raw;
  }

  private deliverTrailers(side: Side): number {
    side.trailersPending = false;
    side.trailers = side.liveTrailers;
    const size = side.liveTrailers?.size ?? 0;
    const raw = this.invoke(callbackName(side, "trailers"), size);
    if (raw !== FAILED) {
      // Trailers status: 0 continues; StopIteration (1) and anything above it stop.
      const stop = this.vm?.stopIteration || raw >= FilterTrailersStatus.StopIteration;
      if (!stop) {
        side.trailers = null;
        if (side.stopped) this.continueIteration(side);
        else this.releaseTrailers(side);
      } else {
        side.stopped = true;
      }
    }
    this.vm?.afterCall();
    return raw < 0 ? NO_STATUS : raw;
  }

  /**
   * ContextBase::onXxx: CHECK_FAIL before and after the call. Returns the module's status,
   * NO_STATUS when it exports no such callback (Envoy then continues), or FAILED.
   */
  private invoke(name: string, ...args: number[]): number {
    if (this.isFailed()) {
      this.checkFail();
      return FAILED;
    }
    const vm = this.vm as WasmVm;
    if (!vm.has(name)) return NO_STATUS;
    const raw = vm.call(this.ctx as StreamContext, name, this.id, ...args);
    if (vm.failed || raw === undefined) {
      this.checkFail();
      return FAILED;
    }
    return raw;
  }

  protected callVm(name: string, ...args: number[]): void {
    const vm = this.vm as WasmVm;
    if (vm.failed || !this.ctx) return;
    vm.call(this.ctx, name, ...args);
    vm.afterCall();
  }

  private checkFail(): void {
    if (this.streamFailed) return;
    this.streamFailed = true;
    if (this.failureReplySent) return;
    this.failureReplySent = true;
    this.sendLocalReply({ status: 503, body: Buffer.alloc(0), headers: [], grpcStatus: 14, details: "wasm_fail_stream" });
  }

  /** NO_STATUS (no callback exported) counts as Continue. */
  private headersStatus(raw: number): number {
    const r = raw < 0 ? 0 : raw;
    if (this.vm?.stopIteration || r > FilterHeadersStatus.StopAllIterationAndWatermark) return FilterHeadersStatus.StopAllIterationAndWatermark;
    if (r === FilterHeadersStatus.StopIteration && !this.core.opts.allowOnHeadersStopIteration) return FilterHeadersStatus.StopAllIterationAndWatermark;
    // Envoy's convertFilterHeadersStatus has no case for ContinueAndEndStream: it continues.
    return r === FilterHeadersStatus.ContinueAndEndStream ? FilterHeadersStatus.Continue : r;
  }

  private dataStatus(raw: number): number {
    const r = raw < 0 ? 0 : raw;
    return this.vm?.stopIteration || r > FilterDataStatus.StopIterationNoBuffer ? FilterDataStatus.StopIterationNoBuffer : r;
  }

  private applyHeaders(side: Side, status: number): void {
    if (status === FilterHeadersStatus.Continue) {
      side.map = null;
      this.releaseHeaders(side, side.complete);
      return;
    }
    side.stopped = true;
    if (status !== FilterHeadersStatus.StopIteration) {
      side.stopAll = true;
      side.streaming = status === FilterHeadersStatus.StopAllIterationAndWatermark;
    }
  }

  private applyData(side: Side, status: number, provided: ByteBuffer, consumed: boolean): void {
    side.buffering = false;
    switch (status) {
      case FilterDataStatus.Continue:
        side.chunk = null;
        if (side.stopped) {
          if (!consumed) side.appendBuffered(provided.view());
          this.continueIteration(side);
        } else if (!consumed) {
          this.releaseData(side, provided.view(), side.dataEnds());
        }
        // Trailers the filter added in the last body callback (addDecodedTrailers) follow the data.
        if (side.complete && side.hasTrailers() && !side.trailersOut && !side.trailersPending && !side.stopped) this.releaseTrailers(side);
        return;
      case FilterDataStatus.StopIterationAndBuffer:
      case FilterDataStatus.StopIterationAndWatermark:
        side.stopped = true;
        side.buffering = status === FilterDataStatus.StopIterationAndBuffer;
        side.streaming = !side.buffering;
        if (!consumed) {
          side.appendBuffered(provided.view());
          this.checkLimit(side);
        }
        return;
      default:
        side.stopped = true;
        // An empty buffer lets a later continue still deliver end_stream.
        if (side.dataEnds() && !side.buffered) side.buffered = new ByteBuffer();
    }
  }

  /** ActiveStreamFilterBase::commonContinue */
  private continueIteration(side: Side): void {
    if ((!side.stopped && !side.stopAll) || side.aborted) return;
    const wasStopAll = side.stopAll;
    side.stopped = side.stopAll = false;
    const hadTrailers = side.hasTrailers();
    if (!side.headersOut) this.releaseHeaders(side, side.complete && !side.buffered && !hadTrailers);
    if (side.buffered) {
      const b = side.buffered;
      side.buffered = null;
      // After StopAll the buffered data starts again at this filter (iterate_from_current_filter_).
      if (wasStopAll) this.deliverBody(side, b, side.complete && !hadTrailers);
      else this.releaseData(side, b.view(), side.complete && !hadTrailers);
    }
    if (hadTrailers && !side.trailersOut) {
      if (side.trailersPending) this.deliverTrailers(side);
      else if (!side.stopped) this.releaseTrailers(side);
    }
  }

  /** Over the buffer limit: 413 for requests, 500 for responses, unless under flow control. */
  private checkLimit(side: Side): boolean {
    if (side.streaming || !side.buffered || side.buffered.length <= this.core.opts.bufferLimitBytes) return false;
    const [status, body, details] = side.request
      ? [413, "Payload Too Large", "request_payload_too_large"]
      : [500, "Internal Server Error", "response_payload_too_large"];
    this.sendLocalReply({ status, body: Buffer.from(body), headers: [], grpcStatus: -1, details });
    return true;
  }

  protected stalled(side: Side): boolean {
    if (!side.headersIn || side.aborted || this.wasReset || (side.request && this.reply)) return false;
    if (side.stopAll) return true;
    return side.stopped && side.complete && !side.trailersPending;
  }

  // ---- to the next hop -------------------------------------------------------------------

  private releaseHeaders(side: Side, end: boolean): void {
    if (side.aborted || side.headersOut || !side.live) return;
    side.headersOut = true;
    const headers = side.live.toList();
    side.out.headers = headers;
    if (end) side.out.ended = true;
    if (side.request) {
      if (this.routeCleared) {
        this.routeHeaders = headers;
        this.routeRecomputed = true;
      }
      this.listener?.upstreamHeaders?.(side.live.toList());
    } else {
      this.listener?.downstreamHeaders?.(side.live.toList(), end);
    }
  }

  /** Data a listener takes is pushed to it and not kept; otherwise the Output keeps it. */
  private releaseData(side: Side, data: Uint8Array, end: boolean): void {
    if (side.aborted || side.out.ended) return;
    if (end) side.out.ended = true;
    const l = this.listener;
    if (side.request ? l?.upstreamData : l?.downstreamData) {
      const copy = Buffer.from(data);
      if (side.request) l?.upstreamData?.(copy, end);
      else l?.downstreamData?.(copy, end);
    } else {
      side.out.append(data);
    }
  }

  private releaseTrailers(side: Side): void {
    if (side.aborted || side.trailersOut || !side.liveTrailers) return;
    side.trailersOut = true;
    const list = side.liveTrailers.toList();
    side.out.trailers = list;
    side.out.ended = true;
    if (side.request) this.listener?.upstreamTrailers?.(list);
    else this.listener?.downstreamTrailers?.(list);
  }
}

/** The module's callback for this direction's `part`, e.g. proxy_on_request_headers. */
function callbackName(side: Side, part: "headers" | "body" | "trailers"): string {
  return `proxy_on_${side.request ? "request" : "response"}_${part}`;
}
