// One HTTP exchange through the filter, in the order Envoy's filter manager drives a wasm
// filter: request headers, request body chunks (end of stream on the last), then the router
// sends whatever the filter released; response headers and body chunks go the same way back.
import * as http from "node:http";
import { randomUUID } from "node:crypto";
import type { HeaderList, HttpContext, LocalReply, ProxyWasmHost, StreamListener } from "./host";

// Connection-level headers: a proxy never forwards them (RFC 9110 7.6.1), and Envoy strips them
// before the filter chain sees the request, then applies its own framing on each side.
// Expect is answered by the proxy itself (Node sends the 100 Continue; Envoy does the same).
const HOP_BY_HOP = new Set([
  "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "expect",
]);

export interface ExchangeEnv {
  host: ProxyWasmHost;
  upstream: URL;
  agent: http.Agent;
  log: (level: "info" | "warn" | "error", message: string) => void;
}

/** The router's answer when the upstream cannot be reached: Envoy sends 503, and the
 *  local_reply_config in envoy/envoy.yaml replaces its text with this JSON-RPC error, which MCP
 *  clients can parse. Keep the two in step. */
export const UPSTREAM_UNAVAILABLE_BODY = '{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":'
  + '"Service unavailable: the MCP server is unreachable, or the policy filter failed and the gateway fails closed."}}';

function pairs(raw: string[]): HeaderList {
  const out: HeaderList = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i].toLowerCase(), raw[i + 1]]);
  return out;
}

function withoutHopByHop(headers: HeaderList): HeaderList {
  return headers.filter(([k]) => !HOP_BY_HOP.has(k));
}

function get(headers: HeaderList, name: string): string | undefined {
  return headers.find(([k]) => k === name)?.[1];
}

/** Replace content-length by the size of the body actually sent, or drop it when the body is
 *  still streaming (then Node frames it chunked). A filter may rewrite bodies, so the size the
 *  upstream or client declared is not trusted. */
function frame(headers: HeaderList, ended: boolean, bodyBytes: number, keepLength: boolean): HeaderList {
  if (keepLength) return headers;
  const out = headers.filter(([k]) => k !== "content-length");
  if (ended) out.push(["content-length", String(bodyBytes)]);
  return out;
}

/** Request headers as Envoy presents them to a wasm filter: the HTTP/1 codec turns Host into
 *  :authority, the connection manager sets :scheme, x-forwarded-proto and x-request-id before the
 *  filter chain runs, and transfer-encoding is consumed by the codec. */
export function envoyRequestHeaders(req: http.IncomingMessage): HeaderList {
  const raw = withoutHopByHop(pairs(req.rawHeaders));
  const authority = get(raw, "host") ?? "";
  const rest = raw.filter(([k]) => k !== "host");
  const out: HeaderList = [
    [":authority", authority], [":path", req.url ?? "/"], [":method", req.method ?? "GET"], [":scheme", "http"],
    ...rest,
  ];
  if (get(rest, "x-forwarded-proto") === undefined) out.push(["x-forwarded-proto", "http"]);
  if (get(rest, "x-request-id") === undefined) out.push(["x-request-id", randomUUID()]);
  return out;
}

interface Side {
  head?: HeaderList;
  chunks: Buffer[];
  ended: boolean;
  trailers?: HeaderList;
}

const freshSide = (): Side => ({ chunks: [], ended: false });

export class Exchange implements StreamListener {
  private readonly ctx: HttpContext;
  private readonly req: http.IncomingMessage;
  private readonly res: http.ServerResponse;
  private readonly env: ExchangeEnv;
  private readonly toUpstream = freshSide();
  private readonly toClient = freshSide();
  private upstreamReq?: http.ClientRequest;
  private upstreamRes?: http.IncomingMessage;
  private local?: LocalReply;
  private flushQueued = false;
  private clientStarted = false;
  private clientDone = false;
  private finished = false;

  constructor(env: ExchangeEnv, req: http.IncomingMessage, res: http.ServerResponse) {
    this.env = env;
    this.req = req;
    this.res = res;
    this.ctx = env.host.newHttpContext(this);
    // 'close' fires on normal completion and on a client abort alike: either way the stream is
    // over for Envoy, so the filter gets on_done/on_log/on_delete exactly once.
    res.on("close", () => this.finish());
  }

  run(): void {
    const req = this.req;
    // HTTP/1.1: a request without content-length or transfer-encoding has no body.
    const hasBody = req.headers["transfer-encoding"] !== undefined
      || (req.headers["content-length"] !== undefined && req.headers["content-length"] !== "0");
    this.driveRequest(() => this.ctx.requestHeaders(envoyRequestHeaders(req), !hasBody));
    if (!hasBody) { this.warnIfStalled(); return; }
    req.on("data", (chunk: Buffer) => this.driveRequest(() => this.ctx.requestBody(chunk, false)));
    req.on("end", () => {
      const trailers = pairs(req.rawTrailers);
      if (trailers.length > 0) this.driveRequest(() => this.ctx.requestTrailers(trailers));
      else this.driveRequest(() => this.ctx.requestBody(new Uint8Array(0), true));
      this.warnIfStalled();
    });
  }

  /** After a local reply Envoy calls the filter's request callbacks no more. */
  private driveRequest(call: () => number): void {
    if (this.local === undefined) this.drive(call);
  }

  /** Envoy would hold such a request until its stream idle timeout; say why the client waits. */
  private warnIfStalled(): void {
    if (!this.finished && this.ctx.requestStalled && this.local === undefined && this.upstreamReq === undefined) {
      this.env.log("warn", `${this.req.method} ${this.req.url}: the filter paused the request and nothing can resume it`);
    }
  }

  // --- StreamListener: the emulator reports what Envoy would send on -------------------------
  upstreamHeaders(headers: HeaderList): void {
    this.toUpstream.head = headers;
    // This callback carries no end-of-stream flag; the stream's record does (headers-only
    // requests such as GET and DELETE end here). Nothing has been released yet, so it is cheap.
    if (this.ctx.upstream.ended) this.toUpstream.ended = true;
    this.queueFlush();
  }
  upstreamData(chunk: Uint8Array, endOfStream: boolean): void {
    if (chunk.length > 0) this.toUpstream.chunks.push(Buffer.from(chunk));
    if (endOfStream) this.toUpstream.ended = true;
    this.queueFlush();
  }
  upstreamTrailers(trailers: HeaderList): void {
    this.toUpstream.trailers = trailers;
    this.toUpstream.ended = true;
    this.queueFlush();
  }
  downstreamHeaders(headers: HeaderList, endOfStream: boolean): void {
    this.toClient.head = headers;
    if (endOfStream) this.toClient.ended = true;
    this.queueFlush();
  }
  downstreamData(chunk: Uint8Array, endOfStream: boolean): void {
    if (chunk.length > 0) this.toClient.chunks.push(Buffer.from(chunk));
    if (endOfStream) this.toClient.ended = true;
    this.queueFlush();
  }
  downstreamTrailers(trailers: HeaderList): void {
    this.toClient.trailers = trailers;
    this.toClient.ended = true;
    this.queueFlush();
  }
  localReply(reply: LocalReply): void {
    // The filter answered itself: nothing more goes upstream, whatever was already under way.
    // The reply itself arrives through downstreamHeaders/downstreamData, as Envoy runs it
    // through the filter's response callbacks.
    this.local = reply;
    this.upstreamReq?.destroy();
    this.queueFlush();
  }
  reset(details: string): void {
    this.env.log("warn", `${this.req.method} ${this.req.url}: stream reset (${details})`);
    this.resetBoth();
  }

  // --- driving the filter ---------------------------------------------------------------------
  private drive(call: () => number): void {
    if (this.finished) return;
    const trapsBefore = this.env.host.traps;
    try {
      call();
    } catch (err) {
      // A bug in the emulator, not a filter trap (those are counted, not thrown): fail the request.
      this.env.log("error", `emulator error: ${(err as Error).stack ?? String(err)}`);
      this.upstreamReq?.destroy();
      if (this.res.headersSent) this.res.destroy();
      else { this.res.writeHead(500, { "content-type": "text/plain" }); this.res.end("gateway: emulator error\n"); }
      return;
    }
    if (this.env.host.traps > trapsBefore) {
      this.env.log("error", `filter trapped: ${this.env.host.lastTrap?.message ?? "unknown error"}`);
    }
    this.flush();
  }

  // Releases are collected and sent once the current host call has returned, so that a body
  // released together with its headers is sent with an exact content-length.
  private queueFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => this.flush());
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.finished) return;
    if (this.local === undefined) this.flushUpstream();
    this.flushClient();
  }

  private flushUpstream(): void {
    const side = this.toUpstream;
    if (side.head === undefined) return;
    if (this.upstreamReq === undefined) {
      const pending = side.chunks.reduce((n, c) => n + c.length, 0);
      const hadBody = this.req.headers["transfer-encoding"] !== undefined || this.req.headers["content-length"] !== undefined;
      // A GET or DELETE without a body must not gain a "content-length: 0" on the way.
      const bodiless = side.ended && pending === 0 && !hadBody;
      this.startUpstream(frame(withoutHopByHop(side.head), side.ended && side.trailers === undefined, pending, bodiless));
    }
    const up = this.upstreamReq;
    if (up === undefined) return;
    for (const chunk of side.chunks) up.write(chunk);
    side.chunks = [];
    if (side.ended && !up.writableEnded) {
      if (side.trailers) up.addTrailers(side.trailers);
      up.end();
    }
  }

  private startUpstream(head: HeaderList): void {
    const method = get(head, ":method") ?? "GET";
    const path = get(head, ":path") ?? "/";
    const authority = get(head, ":authority");
    // Node takes repeated headers in rawHeaders' flat form.
    const headers = authority ? ["host", authority] : [];
    for (const [k, v] of head) if (!k.startsWith(":")) headers.push(k, v);
    const up = http.request({
      protocol: this.env.upstream.protocol,
      hostname: this.env.upstream.hostname,
      port: this.env.upstream.port,
      method, path, headers, agent: this.env.agent,
    });
    this.upstreamReq = up;
    up.on("socket", (s) => s.setNoDelay(true));
    up.on("response", (res) => this.onUpstreamResponse(res));
    up.on("error", (err) => this.onUpstreamError(err));
  }

  private onUpstreamResponse(res: http.IncomingMessage): void {
    this.upstreamRes = res;
    const headers: HeaderList = [[":status", String(res.statusCode ?? 502)], ...withoutHopByHop(pairs(res.rawHeaders))];
    const noBody = this.req.method === "HEAD" || res.statusCode === 204 || res.statusCode === 304
      || res.headers["content-length"] === "0";
    this.drive(() => this.ctx.responseHeaders(headers, noBody));
    if (noBody) { res.resume(); return; }
    res.on("data", (chunk: Buffer) => this.drive(() => this.ctx.responseBody(chunk, false)));
    res.on("end", () => {
      const trailers = pairs(res.rawTrailers);
      if (trailers.length > 0) this.drive(() => this.ctx.responseTrailers(trailers));
      else this.drive(() => this.ctx.responseBody(new Uint8Array(0), true));
    });
    // A reset after the headers were sent cannot become a 503 any more: Envoy resets the
    // downstream stream, which on HTTP/1 means closing the connection mid-body.
    res.on("close", () => { if (!res.complete) this.resetBoth(); });
  }

  private onUpstreamError(err: Error): void {
    if (this.finished || this.local) return;
    if (this.upstreamRes !== undefined || this.clientStarted) { this.resetBoth(); return; }
    this.env.log("warn", `upstream ${this.env.upstream.origin}: ${err.message}`);
    // Envoy's router answers 503 and that reply goes through the filter's response callbacks too.
    const body = Buffer.from(UPSTREAM_UNAVAILABLE_BODY);
    const headers: HeaderList = [[":status", "503"], ["content-type", "application/json"], ["content-length", String(body.length)]];
    this.drive(() => this.ctx.responseHeaders(headers, false));
    this.drive(() => this.ctx.responseBody(body, true));
  }

  private flushClient(): void {
    const side = this.toClient;
    const res = this.res;
    if (side.head === undefined || this.clientDone) return;
    if (!this.clientStarted) {
      this.clientStarted = true;
      const status = Number(get(side.head, ":status") ?? "502");
      const bytes = side.chunks.reduce((n, c) => n + c.length, 0);
      const keepLength = this.req.method === "HEAD" || status === 204 || status === 304;
      const head = frame(withoutHopByHop(side.head), side.ended && side.trailers === undefined, bytes, keepLength)
        .filter(([k]) => !k.startsWith(":"));
      res.writeHead(status, head);
      // SSE clients wait for the headers before any event exists: send them now.
      if (!side.ended) res.flushHeaders();
    }
    for (const chunk of side.chunks) res.write(chunk);
    side.chunks = [];
    if (side.ended) {
      this.clientDone = true;
      if (side.trailers) res.addTrailers(side.trailers);
      res.end();
    }
  }

  /** Abort both sides, as Envoy does on a stream reset: on HTTP/1 the client connection closes. */
  private resetBoth(): void {
    this.upstreamReq?.destroy();
    this.res.destroy();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    // An upstream exchange still under way is cancelled; a complete one keeps its pooled socket.
    if (this.upstreamRes?.complete !== true) this.upstreamReq?.destroy();
    try {
      this.ctx.done();
    } catch (err) {
      this.env.log("error", `emulator error in done(): ${(err as Error).message}`);
    }
  }
}
