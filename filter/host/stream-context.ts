// The HTTP stream context as the host functions see it (Envoy context.cc getMap,
// getConstMap, getBuffer, findValue/getProperty, setProperty, continueStream, closeStream,
// sendLocalResponse, clearRouteCache, and onHeadersModified from context.h).

import { ByteBuffer } from "./bytes";
import { BaseContext, BodyBuffer, BufferRef, ConstBuffer, PropertyValue } from "./context";
import { BufferType, HeaderMapType, StreamType, WasmResult } from "./constants";
import { HeaderMap, asciiLower, encodePairs } from "./headers";
import { LocalReply, detailsToken } from "./localreply";
import { Side } from "./side";
import type { WasmVm } from "./vm";

/** What the stream context needs from the stream that owns it (stream.ts). */
export interface StreamOwner {
  readonly req: Side;
  readonly resp: Side;
  readonly props: Map<string, Buffer>;
  readonly connectionId: number;
  /** end_of_stream_ of the latest callback (one field for both directions in Envoy). */
  lastEndOfStream: boolean;
  responseDetails?: string;
  clearRouteCache(): void;
  sendLocalReply(reply: LocalReply): void;
  resume(request: boolean): void;
  resetStream(details: string): void;
}

const EMPTY_PAIRS = Buffer.alloc(4);

export class StreamContext extends BaseContext {
  constructor(vm: WasmVm, id: number, private readonly owner: StreamOwner) {
    super(vm, id, false);
  }

  headerMap(type: number, mutable: boolean): HeaderMap | null {
    const owner = this.owner;
    const logging = this.accessLogPhase && !mutable;
    switch (type) {
      case HeaderMapType.RequestHeaders:
        return logging ? owner.req.live : owner.req.map;
      case HeaderMapType.ResponseHeaders:
        return logging ? owner.resp.live : owner.resp.map;
      case HeaderMapType.RequestTrailers:
        if (logging) return null;
        return mutable ? this.trailersFor(owner.req) : owner.req.trailers;
      case HeaderMapType.ResponseTrailers:
        if (logging) return owner.resp.liveTrailers;
        return mutable ? this.trailersFor(owner.resp) : owner.resp.trailers;
      default:
        return null;
    }
  }

  /** addDecodedTrailers/addEncodedTrailers: the last body callback may create trailers. */
  private trailersFor(side: Side): HeaderMap | null {
    if (!side.trailers && side.chunk && this.owner.lastEndOfStream && !side.liveTrailers) {
      side.liveTrailers = side.trailers = new HeaderMap(side.request ? "request-trailers" : "response-trailers");
    }
    return side.trailers;
  }

  onHeadersModified(type: number): void {
    // ABI <= 0.2.1 clears the route cache on every request header change (Envoy changelog
    // for PR 36671: only ABIs above 0.2.1 stop doing so).
    if (type === HeaderMapType.RequestHeaders) this.clearRouteCache();
  }

  clearRouteCache(): void {
    this.owner.clearRouteCache();
  }

  buffer(type: number): BufferRef | null {
    if (type !== BufferType.HttpRequestBody && type !== BufferType.HttpResponseBody) return super.buffer(type);
    const side = type === BufferType.HttpRequestBody ? this.owner.req : this.owner.resp;
    const b: ByteBuffer | null = side.buffering ? side.buffered : side.chunk;
    return b ? new BodyBuffer(b) : ConstBuffer.EMPTY;
  }

  property(parts: string[]): PropertyValue {
    const top = parts[0];
    if (top === "request") return this.requestProperty(parts);
    if (top === "response") return this.responseProperty(parts);
    if (top === "connection_id") {
      if (parts.length > 1) return { result: WasmResult.NotFound };
      const v = Buffer.alloc(8);
      v.writeBigUInt64LE(BigInt(this.owner.connectionId));
      return { result: WasmResult.Ok, value: v };
    }
    const base = super.property(parts);
    if (base.result !== WasmResult.NotFound) return base;
    // Filter state written by proxy_set_property ("wasm." + name, a bytes CelState).
    const state = this.owner.props.get(top);
    if (state && parts.length === 1) return { result: WasmResult.Ok, value: state };
    return { result: WasmResult.NotFound };
  }

  setProperty(name: string, value: Uint8Array): number {
    this.owner.props.set(name, Buffer.from(value));
    return WasmResult.Ok;
  }

  private requestProperty(parts: string[]): PropertyValue {
    const side = this.owner.req;
    // StreamActivation reads request_headers_, or the access-log copy while logging.
    const h = side.map ?? (this.accessLogPhase ? side.live : null);
    if (parts.length === 1) return { result: WasmResult.SerializationFailure };
    const field = parts[1];
    if (field === "headers") return headersProperty(h, parts);
    if (parts.length > 2) return { result: WasmResult.NotFound };
    if (!h) return { result: WasmResult.NotFound };
    const path = h.get(":path");
    const byHeader: Record<string, string | undefined> = {
      path, host: h.get(":authority"), scheme: h.get(":scheme"), method: h.get(":method"),
      referer: h.get("referer"), useragent: h.get("user-agent"), id: h.get("x-request-id"),
      url_path: path?.replace(/[?#].*$/s, ""),
    };
    if (field === "query") {
      if (path === undefined) return { result: WasmResult.NotFound };
      const q = path.indexOf("?");
      return { result: WasmResult.Ok, value: Buffer.from(q < 0 ? "" : path.slice(q + 1).replace(/#.*$/s, ""), "latin1") };
    }
    const v = byHeader[field];
    return v === undefined ? { result: WasmResult.NotFound } : { result: WasmResult.Ok, value: Buffer.from(v, "latin1") };
  }

  private responseProperty(parts: string[]): PropertyValue {
    const side = this.owner.resp;
    if (parts.length === 1) return { result: WasmResult.SerializationFailure };
    const field = parts[1];
    if (field === "headers") return headersProperty(side.map ?? (this.accessLogPhase ? side.live : null), parts);
    if (field === "trailers") return headersProperty(side.trailers ?? (this.accessLogPhase ? side.liveTrailers : null), parts);
    if (parts.length > 2) return { result: WasmResult.NotFound };
    if (field === "code") {
      const status = side.live?.get(":status");
      if (status === undefined || !/^\d+$/.test(status)) return { result: WasmResult.NotFound };
      const v = Buffer.alloc(8);
      v.writeBigInt64LE(BigInt(status));
      return { result: WasmResult.Ok, value: v };
    }
    if (field === "code_details" && this.owner.responseDetails !== undefined) {
      return { result: WasmResult.Ok, value: Buffer.from(this.owner.responseDetails, "utf8") };
    }
    return { result: WasmResult.NotFound };
  }

  sendLocalResponse(status: number, body: Buffer, headers: Array<[string, string]>, grpc: number, details: string): void {
    // Envoy copies the extra headers with LowerCaseString keys before queueing the reply.
    const lowered = headers.map(([k, v]): [string, string] => [asciiLower(k), v]);
    const reply: LocalReply = { status, body, headers: lowered, grpcStatus: grpc, details: detailsToken(details) };
    this.vm.addAfterCallAction(() => this.owner.sendLocalReply(reply));
  }

  continueStream(type: number): void {
    // Envoy context.cc continueStream: both directions forget the request maps right away,
    // and continueDecoding/continueEncoding runs after the VM call returns.
    const req = this.owner.req;
    req.map = null;
    req.chunk = null;
    req.trailers = null;
    const request = type === StreamType.Request;
    this.vm.addAfterCallAction(() => this.owner.resume(request));
  }

  closeStream(type: number): void {
    if (type !== StreamType.Request && type !== StreamType.Response) return;
    this.owner.responseDetails ??= "wasm_close_stream";
    this.vm.addAfterCallAction(() => this.owner.resetStream("wasm_close_stream"));
  }
}

/** A CEL map of headers: the whole map as pairs (values of a key joined with ","), or one key. */
function headersProperty(h: HeaderMap | null, parts: string[]): PropertyValue {
  if (parts.length === 2) {
    if (!h) return { result: WasmResult.Ok, value: EMPTY_PAIRS };
    const joined = h.toList().map(([k]): [string, string] => [k, h.getAll(k).join(",")]);
    return { result: WasmResult.Ok, value: encodePairs(joined) };
  }
  if (parts.length > 3 || !h) return { result: WasmResult.NotFound };
  const all = h.getAll(parts[2]);
  return all.length === 0 ? { result: WasmResult.NotFound } : { result: WasmResult.Ok, value: Buffer.from(all.join(","), "latin1") };
}
