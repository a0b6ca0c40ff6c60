// Trailers, the push listener and the read-back accessors of a stream.
import * as assert from "node:assert/strict";
import { FilterDataStatus as D, HeaderList, LocalReply, NO_STATUS, ProxyWasmHost, StreamListener } from "../../filter/host";
import { REQUEST, R, letter, lines, pairsBytes, startHost } from "./helpers";
import { ProxyModule, drop, i32, local, op } from "./proxy-module";

describe("host: trailers", () => {
  it("hands request trailers to the filter and passes them on after the body", () => {
    const m = new ProxyModule([]);
    m.on("proxy_on_request_trailers", 2, [...m.logCode(local(1)), ...i32(0)]);
    const host = startHost(m.build());
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, false);
    ctx.requestBody(Buffer.from("ab"), false);
    ctx.requestTrailers([["X-Checksum", "1"], ["x-more", "2"]]);
    assert.deepEqual(lines(host), [letter(2)], "on_request_trailers gets the number of trailers");
    assert.deepEqual(ctx.upstream.trailers, [["x-checksum", "1"], ["x-more", "2"]]);
    assert.equal(ctx.upstream.ended, true);
  });

  it("holds trailers on StopIteration and releases buffered body and trailers on continue", () => {
    const m = new ProxyModule(["proxy_continue_stream", "proxy_set_tick_period_milliseconds", "proxy_set_effective_context"]);
    m.on("proxy_on_vm_start", 2, [...m.call("proxy_set_tick_period_milliseconds", 10), ...drop, ...i32(1)]);
    m.on("proxy_on_tick", 1, [...m.call("proxy_set_effective_context", 2), ...drop, ...m.call("proxy_continue_stream", 0), ...drop], false);
    m.on("proxy_on_request_body", 3, i32(D.StopIterationAndBuffer));
    m.on("proxy_on_request_trailers", 2, i32(1));
    const host = startHost(m.build());
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, false);
    ctx.requestBody(Buffer.from("ab"), false);
    ctx.requestTrailers([["x-t", "1"]]);
    assert.equal(ctx.requestStalled, true);
    assert.equal(ctx.upstream.body.length, 0);
    host.tick();
    assert.equal(ctx.upstream.body.toString(), "ab");
    assert.deepEqual(ctx.upstream.trailers, [["x-t", "1"]]);
    assert.equal(ctx.upstream.ended, true);
  });

  /** A module that adds a request trailer in every body callback and logs the result code. */
  function addingTrailers(): ProxyWasmHost {
    const m = new ProxyModule(["proxy_add_header_map_value"]);
    const k = m.str("x-added"), v = m.str("yes");
    m.on("proxy_on_request_body", 3, [...m.logCode(m.call("proxy_add_header_map_value", 1, k.ptr, k.len, v.ptr, v.len)), ...i32(0)]);
    return startHost(m.build());
  }

  it("sends trailers the filter added in the last body callback after the body", () => {
    const host = addingTrailers();
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, false);
    ctx.requestBody(Buffer.from("ab"), true);
    assert.deepEqual(lines(host), [letter(R.Ok)]);
    assert.equal(ctx.upstream.body.toString(), "ab");
    assert.deepEqual(ctx.upstream.trailers, [["x-added", "yes"]]);
    assert.equal(ctx.upstream.ended, true);
  });

  it("refuses request trailers in a body callback that is not the last (BadArgument)", () => {
    const host = addingTrailers();
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, false);
    ctx.requestBody(Buffer.from("ab"), false);
    assert.deepEqual(lines(host), [letter(R.BadArgument)]);
  });
});

describe("host: stream listener and read-back", () => {
  function denyModule(): Uint8Array {
    const m = new ProxyModule(["proxy_send_local_response"]);
    const d = m.str("no"), b = m.str("denied"), p = m.str(pairsBytes([["content-type", "application/json"]]));
    m.on("proxy_on_request_body", 3, [
      ...local(2), ...op.ifI32,
      ...m.call("proxy_send_local_response", 200, d.ptr, d.len, b.ptr, b.len, p.ptr, p.len, -1), ...drop, ...i32(0),
      ...op.else, ...i32(D.StopIterationAndBuffer), ...op.end,
    ]);
    return m.build();
  }

  it("pushes what goes upstream and to the client, in order", () => {
    const events: string[] = [];
    const listener: StreamListener = {
      upstreamHeaders: (h: HeaderList) => events.push(`up headers ${h.length}`),
      upstreamData: (c, end) => events.push(`up data ${Buffer.from(c)} ${end}`),
      downstreamHeaders: (h, end) => events.push(`down headers ${h[0][1]} ${end}`),
      downstreamData: (c, end) => events.push(`down data ${Buffer.from(c)} ${end}`),
      localReply: (r: LocalReply) => events.push(`local reply ${r.status}`),
    };
    const host = startHost(denyModule());
    const ctx = host.newHttpContext(listener);
    ctx.requestHeaders(REQUEST, false);
    ctx.requestBody(Buffer.from("x"), false);
    ctx.requestBody(Buffer.from("y"), true);
    assert.deepEqual(events, ["up headers 4", "local reply 200", "down headers 200 false", "down data denied true"]);
  });

  it("keeps no copy of data a listener takes, so a long stream does not grow; data it does not take is kept", () => {
    const got: number[] = [];
    const host = startHost(new ProxyModule([]).build());
    const ctx = host.newHttpContext({ downstreamData: (c) => got.push(c.length) });
    ctx.requestHeaders(REQUEST, false);
    ctx.requestBody(Buffer.from("request"), true);
    ctx.responseHeaders([[":status", "200"], ["content-type", "text/event-stream"]], false);
    const event = Buffer.alloc(1024, 0x61);
    for (let i = 0; i < 1000; i++) ctx.responseBody(event, false);
    ctx.responseBody(Buffer.alloc(0), true);
    assert.equal(got.length, 1001);
    assert.equal(got.reduce((a, b) => a + b, 0), 1000 * 1024);
    assert.equal(ctx.downstream.body.length, 0);
    assert.equal(ctx.downstream.ended, true);
    assert.equal(ctx.upstream.body.toString(), "request", "the listener takes no upstream data, so the stream keeps it");
  });

  it("passes body chunks on without copying them, and joins them when read", () => {
    const host = startHost(new ProxyModule([]).build());
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, false);
    ctx.requestBody(Buffer.from("ab"), false);
    ctx.requestBody(Buffer.from("cd"), true);
    assert.equal(ctx.upstream.body.toString(), "abcd");
    assert.equal(ctx.upstream.ended, true);
  });

  it("returns NO_STATUS and ignores an upstream response once the filter answered itself", () => {
    const host = startHost(denyModule());
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, false);
    ctx.requestBody(Buffer.from("x"), true);
    assert.equal(ctx.responseHeaders([[":status", "500"]], true), NO_STATUS);
    assert.equal(ctx.downstream.headers?.[0][1], "200");
    assert.deepEqual(ctx.responseHeaderMap()[0], [":status", "200"]);
  });

  it("requestHeaderMap shows the request headers as the filter left them", () => {
    const m = new ProxyModule(["proxy_replace_header_map_value"]);
    const k = m.str(":path"), v = m.str("/rewritten");
    m.on("proxy_on_request_headers", 3, [...m.call("proxy_replace_header_map_value", 0, k.ptr, k.len, v.ptr, v.len), ...drop, ...i32(1)]);
    const host = startHost(m.build());
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, true);
    // setCopy removes and re-adds: the replaced pseudo-header ends the pseudo-headers.
    assert.deepEqual(ctx.requestHeaderMap(), [[":method", "POST"], [":authority", "gateway"], [":scheme", "http"], [":path", "/rewritten"]]);
    assert.equal(ctx.upstream.headers, undefined);
  });

  it("rejects driving a stream out of order with an error that says what was wrong", () => {
    const host = startHost(new ProxyModule([]).build());
    const ctx = host.newHttpContext();
    assert.throws(() => ctx.requestBody(Buffer.from("x"), true), /requestBody called before requestHeaders/);
    ctx.requestHeaders(REQUEST, true);
    assert.throws(() => ctx.requestBody(Buffer.from("x"), true), /requestBody called after the end of the request stream/);
  });

  it("remembers at most maxLogEntries log lines", () => {
    const m = new ProxyModule([]);
    m.on("proxy_on_request_headers", 3, [...m.log("line"), ...i32(0)]);
    const host = startHost(m.build(), { maxLogEntries: 3, logLevel: "info" });
    for (let i = 0; i < 200; i++) host.newHttpContext().requestHeaders(REQUEST, true);
    assert.equal(host.logs().length, 3);
  });
});
