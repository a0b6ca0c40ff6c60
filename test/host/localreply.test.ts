// Local replies as the connection manager's local_reply_config rewrites them, and replies Envoy
// itself sends (the router's 404 and 503), which pass through the filter's response callbacks.
// Envoy: source/common/http/utility.cc prepareLocalReply, source/common/local_reply/local_reply.cc
// LocalReplyImpl::rewrite, source/common/http/filter_manager.cc sendLocalReply.
import * as assert from "node:assert/strict";
import { FilterDataStatus as D, FilterHeadersStatus as H, type LocalReplyMapper } from "../../filter/host";
import { REQUEST, lines, pairsBytes, startHost } from "./helpers";
import { ProxyModule, drop, i32 } from "./proxy-module";

/** Answers 403 "nope" (with `headers`) at the request headers; logs its response callbacks. */
function replyingModule(headers: Array<[string, string]> = []): Uint8Array {
  const m = new ProxyModule(["proxy_send_local_response"]);
  const details = m.str("policy_denied"), body = m.str("nope"), pairs = m.str(pairsBytes(headers));
  m.on("proxy_on_request_headers", 3, [
    ...m.call("proxy_send_local_response", 403, details.ptr, details.len, body.ptr, body.len, pairs.ptr, pairs.len, -1), ...drop, ...i32(H.Continue),
  ]);
  m.on("proxy_on_response_headers", 3, [...m.log("response headers"), ...i32(H.Continue)]);
  m.on("proxy_on_response_body", 3, [...m.log("response body"), ...i32(D.Continue)]);
  return m.build();
}

/** Continues everything and logs its response callbacks. */
function passingModule(): Uint8Array {
  const m = new ProxyModule([]);
  m.on("proxy_on_request_headers", 3, i32(H.Continue));
  m.on("proxy_on_response_headers", 3, [...m.log("response headers"), ...i32(H.Continue)]);
  m.on("proxy_on_response_body", 3, [...m.log("response body"), ...i32(D.Continue)]);
  return m.build();
}

/** Like envoy.yaml's mappers: replies whose details start with policy_ stay as they are, a 403,
 *  404 or 413 gets a JSON body. */
const JSON_BODIES: LocalReplyMapper = ({ status, details, body }) => {
  if (!details.startsWith("policy_") && [403, 404, 413].includes(status)) {
    return { status, body: Buffer.from(`{"error":${status}}`), contentType: "application/json" };
  }
  return { status, body, contentType: "text/plain" };
};

describe("host: local_reply_config and Envoy's own local replies", () => {
  it("a mapper's body replaces the reply's, with its content type and length", () => {
    const host = startHost(replyingModule(), { mapLocalReply: ({ status }) => ({ status, body: Buffer.from('{"denied":true}'), contentType: "application/json" }) });
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, true);
    assert.deepEqual(ctx.downstream.headers, [[":status", "403"], ["content-length", "15"], ["content-type", "application/json"]]);
    assert.equal(ctx.downstream.body.toString(), '{"denied":true}');
    assert.equal(ctx.localReply?.body.toString(), "nope", "the filter's reply is recorded as the filter sent it");
  });

  it("a mapper that leaves the body keeps the reply's own content type", () => {
    const host = startHost(replyingModule([["content-type", "application/json"]]), { mapLocalReply: JSON_BODIES });
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, true);
    assert.deepEqual(ctx.downstream.headers, [[":status", "403"], ["content-type", "application/json"], ["content-length", "4"]]);
    assert.equal(ctx.downstream.body.toString(), "nope");
  });

  it("a mapper may change the status", () => {
    const host = startHost(replyingModule(), { mapLocalReply: ({ body }) => ({ status: 429, body, contentType: "text/plain" }) });
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, true);
    assert.equal(ctx.downstream.headers?.[0][1], "429");
  });

  it("the router's 404 passes through the filter's response callbacks and gets the mapper's body", () => {
    const host = startHost(passingModule(), { mapLocalReply: JSON_BODIES });
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, true);
    ctx.replyLocally(404, "route_not_found");
    assert.deepEqual(lines(host), ["response headers", "response body"]);
    assert.deepEqual(ctx.downstream.headers, [[":status", "404"], ["content-length", "13"], ["content-type", "application/json"]]);
    assert.equal(ctx.downstream.body.toString(), '{"error":404}');
    assert.equal(ctx.details, "route_not_found");
  });

  it("a reply before the filter saw the request (the connection manager's 400) skips the filter", () => {
    const host = startHost(passingModule());
    const ctx = host.newHttpContext();
    ctx.replyLocally(400, "path_normalization_failed", Buffer.from("Bad Request"));
    assert.deepEqual(lines(host), []);
    assert.deepEqual(ctx.downstream.headers, [[":status", "400"], ["content-length", "11"], ["content-type", "text/plain"]]);
  });

  it("the buffer limit's 413 gets the mapper's body", () => {
    const m = new ProxyModule([]);
    m.on("proxy_on_request_headers", 3, i32(H.StopIteration));
    m.on("proxy_on_request_body", 3, i32(D.StopIterationAndBuffer));
    const host = startHost(m.build(), { allowOnHeadersStopIteration: true, bufferLimitBytes: 4, mapLocalReply: JSON_BODIES });
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, false);
    ctx.requestBody(Buffer.from("abc"), false);
    ctx.requestBody(Buffer.from("def"), false);
    assert.equal(ctx.details, "request_payload_too_large");
    assert.equal(ctx.downstream.body.toString(), '{"error":413}');
  });
});
