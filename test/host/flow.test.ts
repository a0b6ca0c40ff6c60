// Stream control: header stops, stalls, local replies, continue_stream, close_stream, routing.
import * as assert from "node:assert/strict";
import { FilterDataStatus as D, FilterHeadersStatus as H, HeaderList, NO_STATUS } from "../../filter/host";
import { REQUEST, R, letter, lines, pairsBytes, startHost } from "./helpers";
import { ProxyModule, drop, i32, local, op } from "./proxy-module";

const REQ = 0;

/** Headers return `headers`; the body buffers until the end, adds `x-judged` there and returns `last`. */
function judgeModule(headers: number, last = D.Continue): Uint8Array {
  const m = new ProxyModule(["proxy_add_header_map_value"]);
  const k = m.str("x-judged"), v = m.str("yes");
  m.on("proxy_on_request_headers", 3, i32(headers));
  m.on("proxy_on_request_body", 3, [
    ...m.log("body"),
    ...local(2), ...op.ifI32,
    ...m.logCode(m.call("proxy_add_header_map_value", REQ, k.ptr, k.len, v.ptr, v.len)), ...i32(last),
    ...op.else, ...i32(D.StopIterationAndBuffer), ...op.end,
  ]);
  return m.build();
}

/** Headers return `headers`; a tick continues context 2's stream; the body callback logs the length it is offered. */
function heldModule(headers: number): Uint8Array {
  const m = new ProxyModule(["proxy_set_effective_context", "proxy_continue_stream", "proxy_set_tick_period_milliseconds"]);
  m.on("proxy_on_vm_start", 2, [...m.call("proxy_set_tick_period_milliseconds", 1000), ...drop, ...i32(1)]);
  m.on("proxy_on_tick", 1, [...m.call("proxy_set_effective_context", 2), ...drop, ...m.logCode(m.call("proxy_continue_stream", 0))], false);
  m.on("proxy_on_request_headers", 3, i32(headers));
  m.on("proxy_on_request_body", 3, [...m.log("body"), ...m.logCode(local(1)), ...i32(D.Continue)]);
  return m.build();
}

function localReplyModule(where: "proxy_on_request_headers" | "proxy_on_response_headers", headers: HeaderList = [["X-Reason", "Policy"]]): Uint8Array {
  const m = new ProxyModule(["proxy_send_local_response", "proxy_add_header_map_value"]);
  const details = m.str("denied by policy"), body = m.str("nope"), pairs = m.str(pairsBytes(headers));
  const k = m.str("x-seen"), v = m.str("1");
  const reply = [...m.call("proxy_send_local_response", 403, details.ptr, details.len, body.ptr, body.len, pairs.ptr, pairs.len, -1), ...drop];
  m.on("proxy_on_request_headers", 3, [...(where === "proxy_on_request_headers" ? reply : []), ...m.log("after send"), ...i32(H.Continue)]);
  m.on("proxy_on_response_headers", 3, [
    ...(where === "proxy_on_response_headers" ? reply : []),
    ...m.log("response headers"), ...m.call("proxy_add_header_map_value", 2, k.ptr, k.len, v.ptr, v.len), ...drop, ...i32(H.Continue),
  ]);
  m.on("proxy_on_response_body", 3, [...m.log("response body"), ...i32(D.Continue)]);
  return m.build();
}

describe("host: stream control", () => {
  it("StopIteration at headers stalls the request when allow_on_headers_stop_iteration is false", () => {
    const host = startHost(judgeModule(H.StopIteration));
    const ctx = host.newHttpContext();
    assert.equal(ctx.requestHeaders(REQUEST, false), H.StopIteration);
    assert.equal(ctx.requestBody(Buffer.from("{}"), true), NO_STATUS);
    assert.equal(ctx.requestStalled, true);
    assert.deepEqual(lines(host), [], "no body callback may reach the filter");
    assert.equal(ctx.upstream.headers, undefined);
  });

  it("StopIteration at headers holds them and delivers the body when allow_on_headers_stop_iteration is true", () => {
    const host = startHost(judgeModule(H.StopIteration), { allowOnHeadersStopIteration: true });
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, false);
    ctx.requestBody(Buffer.from("{"), false);
    assert.equal(ctx.requestStalled, false);
    assert.equal(ctx.upstream.headers, undefined);
    ctx.requestBody(Buffer.from("}"), true);
    assert.deepEqual(lines(host), ["body", "body", letter(R.Ok)]);
    const upstream = ctx.upstream;
    assert.deepEqual(upstream.headers?.at(-1), ["x-judged", "yes"], "headers changed during the body reach upstream");
    assert.equal(upstream.body.toString(), "{}");
    assert.equal(upstream.ended, true);
  });

  it("clears the route cache when request headers change (ABI 0.2.x), so the router matches the released headers", () => {
    const host = startHost(judgeModule(H.StopIteration), { allowOnHeadersStopIteration: true });
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, false);
    ctx.requestBody(Buffer.from("{}"), true);
    const route = ctx.route;
    assert.ok(route);
    assert.equal(route.recomputed, true);
    assert.deepEqual(route.headers.at(-1), ["x-judged", "yes"]);
  });

  it("keeps the route computed on the original headers when the filter changes nothing", () => {
    const host = startHost(judgeModule(H.Continue));
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, true);
    assert.deepEqual(ctx.route, { headers: REQUEST, recomputed: false });
  });

  it("answers BadArgument to request header changes once the headers were continued; upstream never sees them", () => {
    const host = startHost(judgeModule(H.Continue));
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, false);
    ctx.requestBody(Buffer.from("{}"), true);
    assert.deepEqual(lines(host), ["body", letter(R.BadArgument)]);
    assert.deepEqual(ctx.upstream.headers, REQUEST);
  });

  it("treats ContinueAndEndStream from headers as Continue", () => {
    const host = startHost(judgeModule(H.ContinueAndEndStream));
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, false);
    assert.deepEqual(ctx.upstream.headers, REQUEST);
  });

  it("treats a headers status above 4 as StopAllIterationAndWatermark", () => {
    const host = startHost(judgeModule(9), { allowOnHeadersStopIteration: true });
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, false);
    assert.equal(ctx.requestStalled, true);
  });

  it("defers send_local_response until the callback returns and turns its Continue into a stop", () => {
    const host = startHost(localReplyModule("proxy_on_request_headers"));
    const ctx = host.newHttpContext();
    assert.equal(ctx.requestHeaders(REQUEST, false), H.Continue);
    assert.deepEqual(lines(host), ["after send", "response headers", "response body"]);
    assert.equal(ctx.upstream.headers, undefined, "nothing reaches upstream");
    assert.equal(ctx.requestBody(Buffer.from("x"), true), NO_STATUS);
    assert.equal(ctx.upstream.body.length, 0);
  });

  it("records the local reply with lowercased header keys and Envoy's details token", () => {
    const host = startHost(localReplyModule("proxy_on_request_headers"));
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, true);
    assert.deepEqual(ctx.localReply, { status: 403, details: "denied_by_policy", body: Buffer.from("nope"), headers: [["x-reason", "Policy"]], grpcStatus: -1 });
  });

  it("runs the filter's own response callbacks on its local reply; the client gets what they leave", () => {
    const host = startHost(localReplyModule("proxy_on_request_headers"));
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, true);
    assert.deepEqual(ctx.downstream.headers, [[":status", "403"], ["x-reason", "Policy"], ["content-length", "4"], ["content-type", "text/plain"], ["x-seen", "1"]]);
    assert.equal(ctx.downstream.body.toString(), "nope");
    assert.equal(ctx.downstream.ended, true);
  });

  it("keeps a content-type the filter set on its local reply", () => {
    const host = startHost(localReplyModule("proxy_on_request_headers", [["Content-Type", "application/json"]]));
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, true);
    assert.deepEqual(ctx.downstream.headers?.filter(([k]) => k === "content-type"), [["content-type", "application/json"]]);
  });

  it("answers a gRPC request's local reply as a trailers-only 200 with grpc-status", () => {
    const host = startHost(localReplyModule("proxy_on_request_headers"));
    const ctx = host.newHttpContext();
    ctx.requestHeaders([...REQUEST, ["content-type", "application/grpc"]], true);
    const h = new Map(ctx.downstream.headers);
    assert.equal(h.get(":status"), "200");
    assert.equal(h.get("grpc-status"), "7");
    assert.equal(h.get("grpc-message"), "nope");
    assert.equal(ctx.downstream.body.length, 0);
  });

  it("sends a local reply from the response path straight to the client, past the filter", () => {
    const host = startHost(localReplyModule("proxy_on_response_headers"));
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, true);
    ctx.responseHeaders([[":status", "200"]], false);
    ctx.responseBody(Buffer.from("upstream"), true);
    assert.equal(ctx.downstream.headers?.[0][1], "403");
    assert.equal(ctx.downstream.body.toString(), "nope");
    assert.ok(!lines(host).includes("response body"), "the filter is not called for the direct reply");
  });

  it("resets the stream when a local reply comes after response headers reached the client", () => {
    const m = new ProxyModule(["proxy_send_local_response"]);
    const e = m.str("");
    m.on("proxy_on_response_body", 3, [...m.call("proxy_send_local_response", 500, e.ptr, 0, e.ptr, 0, e.ptr, 0, -1), ...drop, ...i32(0)]);
    const host = startHost(m.build());
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, true);
    ctx.responseHeaders([[":status", "200"]], false);
    ctx.responseBody(Buffer.from("x"), true);
    assert.equal(ctx.reset, true);
    assert.equal(ctx.downstream.ended, false);
  });

  it("continue_stream from another context (after set_effective_context) resumes a stalled request", () => {
    const host = startHost(heldModule(H.StopIteration));
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, false);
    ctx.requestBody(Buffer.from("{}"), true);
    assert.equal(ctx.requestStalled, true);
    host.tick();
    assert.deepEqual(lines(host), [letter(R.Ok), "body", letter(2)], "the buffered body is then delivered to the filter");
    assert.equal(ctx.requestStalled, false);
    assert.equal(ctx.upstream.body.toString(), "{}");
    assert.equal(ctx.upstream.ended, true);
  });

  const holds: Array<[string, number, boolean]> = [
    ["StopAllIterationAndBuffer", H.StopAllIterationAndBuffer, true],
    ["StopAllIterationAndWatermark", H.StopAllIterationAndWatermark, true],
    ["StopIteration without allow_on_headers_stop_iteration", H.StopIteration, false],
  ];
  for (const [what, status, allow] of holds) {
    it(`holds every body byte from the upstream while the headers stop with ${what}; continue_stream sends them all once`, () => {
      const host = startHost(heldModule(status), { allowOnHeadersStopIteration: allow });
      const ctx = host.newHttpContext();
      ctx.requestHeaders(REQUEST, false);
      for (const [chunk, end] of [["ab", false], ["cd", false], ["ef", true]] as const) {
        ctx.requestBody(Buffer.from(chunk), end);
        assert.equal(ctx.upstream.headers, undefined, `headers after ${chunk}`);
        assert.equal(ctx.upstream.body.toString(), "", `body after ${chunk}`);
        assert.equal(ctx.upstream.ended, false, `end after ${chunk}`);
      }
      assert.equal(ctx.requestStalled, true);
      assert.deepEqual(lines(host), [], "no body callback while the headers hold everything");
      host.tick();
      assert.deepEqual(lines(host), [letter(R.Ok), "body", letter(6)], "the filter is then offered the whole body once");
      assert.equal(ctx.upstream.body.toString(), "abcdef");
      assert.equal(ctx.upstream.ended, true);
    });
  }

  it("close_stream resets the stream with details wasm_close_stream", () => {
    const m = new ProxyModule(["proxy_close_stream"]);
    m.on("proxy_on_request_headers", 3, [...m.logCode(m.call("proxy_close_stream", 0)), ...i32(H.Continue)]);
    const host = startHost(m.build());
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, false);
    assert.equal(ctx.reset, true);
    assert.equal(ctx.details, "wasm_close_stream");
    assert.equal(ctx.requestBody(Buffer.from("x"), true), NO_STATUS);
  });

  const streamTypes: Array<{ type: number; result: number }> = [
    { type: 2, result: R.Ok }, { type: 3, result: R.Unimplemented }, { type: 4, result: R.BadArgument },
  ];
  for (const t of streamTypes) {
    it(`continue_stream(${t.type}) answers ${Object.entries(R).find(([, v]) => v === t.result)?.[0]}`, () => {
      const m = new ProxyModule(["proxy_continue_stream"]);
      m.on("proxy_on_request_headers", 3, [...m.logCode(m.call("proxy_continue_stream", t.type)), ...i32(0)]);
      const host = startHost(m.build());
      host.newHttpContext().requestHeaders(REQUEST, true);
      assert.deepEqual(lines(host), [letter(t.result)]);
    });
  }

  it("calls on_log, then on_done and on_delete, when the stream ends, and reads the final headers while logging", () => {
    const m = new ProxyModule(["proxy_get_header_map_value"]);
    const k = m.str(":path");
    m.on("proxy_on_log", 1, [...m.log("log"), ...m.logCode(m.call("proxy_get_header_map_value", 0, k.ptr, k.len, 16, 20))], false);
    m.on("proxy_on_done", 1, [...m.log("done"), ...i32(1)]);
    m.on("proxy_on_delete", 1, m.log("delete"), false);
    const host = startHost(m.build());
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, true);
    ctx.done();
    ctx.done();
    assert.deepEqual(lines(host), ["log", letter(R.Ok), "done", "delete"]);
  });
});
