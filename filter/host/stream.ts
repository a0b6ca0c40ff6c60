// The public side of one HTTP stream: drivers that feed it as Envoy's codec would, and what
// the upstream and the client received. The flow itself is in stream-flow.ts.

import { HeaderList } from "./headers";
import type { LocalReply } from "./localreply";
import { Output } from "./side";
import { StreamFlow } from "./stream-flow";

export type { StreamListener, StreamMode } from "./stream-flow";

export interface Received { headers?: HeaderList; body: Buffer; ended: boolean; trailers?: HeaderList }

export class HttpContext extends StreamFlow {
  private finished = false;

  // ---- drivers -------------------------------------------------------------------------

  // Each driver is one dispatcher event: tasks the module posted run when it is done.
  requestHeaders(headers: HeaderList, endOfStream: boolean): number {
    return this.posted(this.onHeaders(this.req, headers, endOfStream, false));
  }
  requestBody(chunk: Uint8Array, endOfStream: boolean): number {
    return this.posted(this.onBody(this.req, chunk, endOfStream));
  }
  requestTrailers(trailers: HeaderList): number {
    return this.posted(this.onTrailers(this.req, trailers));
  }
  responseHeaders(headers: HeaderList, endOfStream: boolean): number {
    return this.posted(this.onHeaders(this.resp, headers, endOfStream, false));
  }
  responseBody(chunk: Uint8Array, endOfStream: boolean): number {
    return this.posted(this.onBody(this.resp, chunk, endOfStream));
  }
  responseTrailers(trailers: HeaderList): number {
    return this.posted(this.onTrailers(this.resp, trailers));
  }

  /**
   * Envoy itself answers: a filter after this one (the router, when no route matches or the
   * upstream fails) or the connection manager before any filter ran. The reply is prepared as
   * every local reply is (local_reply_config included) and passes through this filter's response
   * callbacks once the filter saw the request, as FilterManager::sendLocalReply sends it.
   */
  replyLocally(status: number, details: string, body: Uint8Array = new Uint8Array(0)): void {
    this.sendLocalReply({ status, details, body: Buffer.from(body), headers: [], grpcStatus: -1 });
    this.core.runPosted();
  }

  private posted(status: number): number {
    this.core.runPosted();
    return status;
  }

  /** Stream end: Envoy runs the access log (proxy_on_log) before destroying filters (on_done, on_delete). */
  done(): void {
    if (this.finished) return;
    this.finished = true;
    const vm = this.vm;
    if (vm && this.ctx) {
      if (!this.created) this.onCreate();
      this.ctx.accessLogPhase = true;
      this.callVm("proxy_on_log", this.id);
      this.ctx.accessLogPhase = false;
      this.callVm("proxy_on_done", this.id);
      this.callVm("proxy_on_delete", this.id);
      vm.contexts.delete(this.id);
    }
    this.core.runPosted();
  }

  // ---- read back ---------------------------------------------------------------------------

  get localReply(): LocalReply | undefined {
    return this.reply;
  }
  get upstream(): Received {
    return received(this.req.out);
  }
  get downstream(): Received {
    return received(this.resp.out);
  }
  get requestStalled(): boolean {
    return this.stalled(this.req);
  }
  get responseStalled(): boolean {
    return this.stalled(this.resp);
  }
  /** The stream was reset; the client got no complete response. */
  get reset(): boolean {
    return this.wasReset;
  }
  /** Response code details Envoy records (e.g. "via_upstream", "wasm_fail_stream"). */
  get details(): string | undefined {
    return this.responseDetails;
  }
  /**
   * Headers the router matched the route on: the original request headers, or the released
   * ones when the filter changed request headers (which clears Envoy's route cache).
   */
  get route(): { headers: HeaderList; recomputed: boolean } | undefined {
    const r = this.routeHeaders;
    return r && { headers: r, recomputed: this.routeRecomputed };
  }
  requestHeaderMap(): HeaderList {
    return this.req.live?.toList() ?? [];
  }
  responseHeaderMap(): HeaderList {
    return this.resp.live?.toList() ?? [];
  }
}

function received(o: Output): Received {
  return { headers: o.headers, body: o.bodyBuffer(), ended: o.ended, trailers: o.trailers };
}
