// One HTTP exchange through the filter, in the order Envoy drives it: the connection manager
// prepares the request (gateway-path.ts, gateway-http1.ts), the filter manager runs the wasm
// filter on request headers and body chunks (end of stream on the last), the router sends what
// the filter released to the route's upstream, or answers 404 when no route matches and 503
// when the upstream fails; response headers and body chunks go back the same way, and the
// connection manager and codec frame what reaches each wire.
import * as http from "node:http";
import type { Duplex } from "node:stream";
import type { HeaderList, HttpContext, LocalReply, ProxyWasmHost, StreamListener } from "./host";
import type { GatewaySettings, KeyAuth } from "./gateway-settings";
import { PathRejected, preparePath, routeMatches } from "./gateway-path";
import {
  RequestRejected, asksToClose, decodeHead, downstreamResponseHead, filterRequestHeaders, filterResponseHeaders, get, isUpgrade, upstreamRequestHead,
  type ClientHead, type WireHead,
} from "./gateway-http1";

export interface ExchangeEnv {
  host: ProxyWasmHost;
  settings: GatewaySettings;
  upstream: URL;
  agent: http.Agent;
  log: (level: "info" | "warn" | "error", message: string) => void;
}

interface Side {
  head?: HeaderList;
  /** The stream ended with the headers: the codec frames a headers-only message. */
  headEnded: boolean;
  chunks: Buffer[];
  ended: boolean;
}

const freshSide = (): Side => ({ chunks: [], ended: false, headEnded: false });

/** Node's client always writes a Connection header; Envoy's codec writes none on a kept-alive
 *  upstream connection, so it is taken out of the head Node rendered (its last line, since the
 *  head carries its own framing). */
function withoutNodeConnectionHeader(up: http.ClientRequest): void {
  const rendered = (up as unknown as { _header: string })._header;
  const stripped = rendered.replace(/Connection: keep-alive\r\n\r\n$/, "\r\n");
  if (stripped === rendered) throw new Error("gateway: Node rendered the upstream head without its Connection: keep-alive line; update withoutNodeConnectionHeader");
  (up as unknown as { _header: string })._header = stripped;
}

/**
 * A request Node's HTTP parser refused: Envoy's codec refuses such requests too (the
 * differential test holds the two to the same answers), with a 400, or a 431 for headers over
 * max_request_headers_kb, that goes through local_reply_config
 * (ServerConnectionImpl::sendProtocolError), and closes the connection.
 */
export function refuseUnparsable(env: ExchangeEnv, err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable || err.code === "ECONNRESET") { socket.destroy(); return; }
  const tooLarge = err.code === "HPE_HEADER_OVERFLOW";
  let head: HeaderList = [];
  const body: Buffer[] = [];
  const ctx = env.host.newHttpContext({ downstreamHeaders: (h) => { head = h; }, downstreamData: (c) => { body.push(Buffer.from(c)); } });
  ctx.replyLocally(tooLarge ? 431 : 400, tooLarge ? "http1.headers_too_large" : "http1.codec_error");
  ctx.done();
  const wire = downstreamResponseHead(head, body.length === 0, { headRequest: false, closing: true, serverName: env.settings.serverName });
  let text = `HTTP/1.1 ${wire.status} ${http.STATUS_CODES[wire.status] ?? ""}\r\n`;
  for (let i = 0; i < wire.flat.length; i += 2) text += `${wire.flat[i]}: ${wire.flat[i + 1]}\r\n`;
  socket.write(Buffer.concat([Buffer.from(`${text}\r\n`, "latin1"), ...body]));
  // As after any response on a connection Envoy closes while the client may still send: read on
  // and close after delayed_close_timeout (see Exchange.delayClose).
  socket.removeAllListeners("data");
  socket.on("data", () => undefined);
  const timer = setTimeout(() => socket.destroy(), env.settings.delayedCloseMs);
  socket.once("close", () => clearTimeout(timer));
}

export class Exchange implements StreamListener {
  private readonly ctx: HttpContext;
  private readonly toUpstream = freshSide();
  private readonly toClient = freshSide();
  private upstreamReq?: http.ClientRequest;
  private upstreamRes?: http.IncomingMessage;
  private upstreamStartMs = 0;
  private local?: LocalReply;
  /** The whole request has been read (the connection manager's remote decode is complete). */
  private requestComplete = false;
  private routed = false;
  private refusedEarly = false;
  private flushQueued = false;
  private clientStarted = false;
  private clientDone = false;
  private finished = false;

  constructor(private readonly env: ExchangeEnv, private readonly req: http.IncomingMessage, private readonly res: http.ServerResponse,
    /** The client sent Expect: 100-continue and waits for the 100 (Node has not sent it). */
    private readonly expectsContinue = false) {
    this.ctx = env.host.newHttpContext(this);
    // 'close' fires on normal completion and on a client abort alike: either way the stream is
    // over for Envoy, so the filter gets on_done/on_log/on_delete exactly once.
    res.on("close", () => this.finish());
  }

  run(): void {
    const req = this.req;
    const client = req as ClientHead;
    let headers: HeaderList;
    let upgrade = false;
    try {
      const decoded = decodeHead(client, { maxHeaders: this.env.settings.maxRequestHeaders });
      upgrade = isUpgrade(decoded);
      // The connection manager answers Expect: 100-continue itself (proxy_100_continue is off)
      // as soon as the codec has accepted the head, before it looks at Host, path or upgrade.
      if (this.expectsContinue) this.res.writeContinue();
      headers = filterRequestHeaders(decoded, client.method, {
        prepare: () => preparePath(req.url ?? "/", this.env.settings),
        routed: (path) => routeMatches(path, this.env.settings.route),
      });
    } catch (err) {
      if (err instanceof PathRejected) this.ctx.replyLocally(400, err.details);
      else if (err instanceof RequestRejected) this.ctx.replyLocally(err.status, err.details, Buffer.from(err.body));
      else throw err;
      // The connection closes after a request refused before any filter ran: the codec stops
      // reading a connection it refused (an HTTP/1.0 one, a protocol error, an upgrade).
      this.refusedEarly = true;
      return;
    }
    // HTTP/1.1: a request without content-length or transfer-encoding has no body. An upgrade
    // request's stream never ends: the codec passes what follows its head on as the upgraded
    // stream's data (so a filter that waits for the end of a body waits for good, as in Envoy).
    const declared = req.headers["content-length"] === undefined ? undefined : Number(req.headers["content-length"]);
    const hasBody = req.headers["transfer-encoding"] !== undefined || (declared !== undefined && declared > 0);
    this.requestComplete = !hasBody && !upgrade;
    const authorized = checkGatewayKey(headers, this.env.settings.keyAuth);
    if (typeof authorized === "string") {
      // api_key_auth answers before the wasm filter runs, whatever the path.
      this.ctx.replyLocally(401, authorized, Buffer.from("Client authentication failed."));
      return;
    }
    headers = authorized;
    this.driveRequest(() => this.ctx.requestHeaders(headers, this.requestComplete));
    if (!hasBody) { this.warnIfStalled(); return; }
    // The codec ends the stream with the last bytes of a sized body, and after the last chunk
    // of a chunked one; request trailers are dropped (HTTP/1 enable_trailers is off).
    let received = 0;
    req.on("data", (chunk: Buffer) => {
      received += chunk.length;
      const last = declared !== undefined && received >= declared && !upgrade;
      if (last) this.requestComplete = true;
      this.driveRequest(() => this.ctx.requestBody(chunk, last));
    });
    req.on("end", () => {
      if (declared === undefined && !upgrade) {
        this.requestComplete = true;
        this.driveRequest(() => this.ctx.requestBody(new Uint8Array(0), true));
      }
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
    // requests such as GET and DELETE end here).
    this.toUpstream.headEnded = this.toUpstream.ended = this.ctx.upstream.ended;
    this.queueFlush();
  }
  upstreamData(chunk: Uint8Array, endOfStream: boolean): void {
    if (chunk.length > 0) this.toUpstream.chunks.push(Buffer.from(chunk));
    if (endOfStream) this.toUpstream.ended = true;
    this.queueFlush();
  }
  upstreamTrailers(): void {
    // Only reachable with trailers the filter added; Envoy's HTTP/1 codec would not send them.
    this.toUpstream.ended = true;
    this.queueFlush();
  }
  downstreamHeaders(headers: HeaderList, endOfStream: boolean): void {
    this.toClient.head = headers;
    this.toClient.headEnded = this.toClient.ended = endOfStream;
    this.queueFlush();
  }
  downstreamData(chunk: Uint8Array, endOfStream: boolean): void {
    if (chunk.length > 0) this.toClient.chunks.push(Buffer.from(chunk));
    if (endOfStream) this.toClient.ended = true;
    this.queueFlush();
  }
  downstreamTrailers(): void {
    this.toClient.ended = true;
    this.queueFlush();
  }
  localReply(reply: LocalReply): void {
    // The filter, the router or the connection manager answered: nothing more goes upstream,
    // whatever was already under way. The reply itself arrives through downstreamHeaders and
    // downstreamData.
    this.local = reply;
    this.upstreamReq?.destroy();
    this.queueFlush();
  }
  streamReset(details: string): void {
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

  // Releases are sent once the current host call has returned: the router and the codec act
  // after the filter callback that released them.
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
    if (!this.routed) {
      this.routed = true;
      if (!routeMatches(get(side.head, ":path") ?? "/", this.env.settings.route)) {
        this.ctx.replyLocally(404, "route_not_found");
        return;
      }
      this.startUpstream(upstreamRequestHead(side.head, side.headEnded));
    }
    const up = this.upstreamReq;
    if (up === undefined) return;
    for (const chunk of side.chunks) up.write(chunk);
    side.chunks = [];
    if (side.ended && !up.writableEnded) up.end();
  }

  private startUpstream(head: WireHead & { method: string; path: string }): void {
    const up = http.request({
      protocol: this.env.upstream.protocol,
      hostname: this.env.upstream.hostname,
      port: this.env.upstream.port,
      method: head.method, path: head.path, headers: head.flat, setHost: false, agent: this.env.agent,
    });
    withoutNodeConnectionHeader(up);
    this.upstreamReq = up;
    this.upstreamStartMs = Date.now();
    up.on("socket", (s) => s.setNoDelay(true));
    up.on("response", (res) => this.onUpstreamResponse(res));
    up.on("error", (err) => this.onUpstreamError(err));
  }

  private onUpstreamResponse(res: http.IncomingMessage): void {
    this.upstreamRes = res;
    const status = res.statusCode ?? 502;
    // The route's response_headers_to_remove go before any filter sees the response (the router's
    // onUpstreamHeaders applies the route's header changes, Envoy source/common/router/router.cc).
    const remove = this.env.settings.responseHeadersToRemove;
    const headers = filterResponseHeaders(status, res.rawHeaders, Date.now() - this.upstreamStartMs)
      .filter(([k]) => !remove.includes(k));
    const noBody = this.req.method === "HEAD" || status === 204 || status === 304 || res.headers["content-length"] === "0";
    this.drive(() => this.ctx.responseHeaders(headers, noBody));
    if (noBody) { res.resume(); return; }
    res.on("data", (chunk: Buffer) => this.drive(() => this.ctx.responseBody(chunk, false)));
    // Response trailers are dropped too (the upstream's HTTP/1 enable_trailers is off).
    res.on("end", () => this.drive(() => this.ctx.responseBody(new Uint8Array(0), true)));
    // A reset after the headers were sent cannot become a 503 any more: Envoy resets the
    // downstream stream, which on HTTP/1 means closing the connection mid-body.
    res.on("close", () => { if (!res.complete) this.resetBoth(); });
  }

  private onUpstreamError(err: Error): void {
    if (this.finished || this.local) return;
    if (this.upstreamRes !== undefined || this.clientStarted) { this.resetBoth(); return; }
    this.env.log("warn", `upstream ${this.env.upstream.origin}: ${err.message}`);
    // The router's 503; local_reply_config gives it its body.
    this.ctx.replyLocally(503, "upstream_reset_before_response_started{connection_termination}",
      Buffer.from("upstream connect error or disconnect/reset before headers. reset reason: connection termination"));
    this.flush();
  }

  /** The connection manager closes the connection after this response: the client asked to, a
   *  local reply is a 400 (ActiveStream::onLocalReply), the request is not read to its end, or
   *  it was refused before any filter ran. */
  private closing(): boolean {
    return asksToClose(this.req as ClientHead) || this.local?.status === 400 || !this.requestComplete || this.refusedEarly;
  }

  private flushClient(): void {
    const side = this.toClient;
    const res = this.res;
    if (side.head === undefined || this.clientDone) return;
    if (!this.clientStarted) {
      this.clientStarted = true;
      const head = downstreamResponseHead(side.head, side.headEnded, {
        headRequest: this.req.method === "HEAD", closing: this.closing(), serverName: this.env.settings.serverName,
      });
      // The head carries its own date, connection and framing; Node adds none of its own.
      res.sendDate = false;
      if (!head.flat.some((v, i) => i % 2 === 0 && v === "connection")) res.removeHeader("connection");
      else if (!this.requestComplete) this.delayClose();
      res.writeHead(head.status, head.flat);
      // SSE clients wait for the headers before any event exists: send them now.
      if (!side.ended) res.flushHeaders();
    }
    for (const chunk of side.chunks) res.write(chunk);
    side.chunks = [];
    if (side.ended) {
      this.clientDone = true;
      res.end();
    }
  }

  /**
   * Closing while the client may still be sending: Envoy flushes the response and waits
   * delayed_close_timeout before it closes (ConnectionImpl FlushWriteAndDelay, chosen by
   * ConnectionManagerImpl::doEndStream), reading on meanwhile. Node would close at once, and a
   * close with unread bytes resets the connection, which can cost the client the response.
   */
  private delayClose(): void {
    const socket = this.res.socket;
    if (socket === null) return;
    socket.destroySoon = () => {
      this.req.resume();
      const timer = setTimeout(() => socket.destroy(), this.env.settings.delayedCloseMs);
      socket.once("close", () => clearTimeout(timer));
    };
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

/**
 * envoy.filters.http.api_key_auth (Envoy source/extensions/filters/http/api_key_auth/api_key_auth.cc):
 * with no credentials configured every request is refused; otherwise the key is the header's
 * first value, less a leading "Bearer " (Source::getKey strips it from any header); a request
 * without it or with a key not among the credentials is refused (the details Envoy logs), and
 * the others go on, without the key header when hide_credentials is set.
 */
export function checkGatewayKey(headers: HeaderList, auth: KeyAuth): HeaderList | "missing_credentials" | "missing_api_key" | "unknown_api_key" {
  if (auth.keys.length === 0) return "missing_credentials";
  const value = headers.find(([k]) => k === auth.header)?.[1];
  const key = value?.startsWith("Bearer ") ? value.slice("Bearer ".length) : value;
  if (key === undefined || key === "") return "missing_api_key";
  if (!auth.keys.includes(key)) return "unknown_api_key";
  return auth.hideCredentials ? headers.filter(([k]) => k !== auth.header) : headers;
}
