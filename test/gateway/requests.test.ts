// The request the upstream gets from the emulator gateway, as Envoy 1.40 with envoy.yaml sends
// it. Each behaviour was found by the differential test (test/envoy/differential.test.ts) and is
// pinned here with the Envoy source it follows.
import * as assert from "node:assert/strict";
import { CALL, header, mappedBody, startEmulator, upstreamHeaders, type TestGateway } from "./helpers";

describe("gateway: the request the upstream gets, as Envoy sends it", function () {
  let gw: TestGateway;
  before(async function () { gw = await startEmulator(); });
  after(async function () { await gw?.close(); });

  const post = (extra = "", path = "/mcp") =>
    gw.send(`POST ${path} HTTP/1.1\nhost: gw\ncontent-type: application/json\n${extra}content-length: ${CALL.length}\n\n`, CALL);

  it("keeps the client's content-length where it was, writes Host first and no Connection header (http1/codec_impl.cc)", async function () {
    const o = await post("x-a: 1\n");
    assert.deepEqual(upstreamHeaders(o).map(([k]) => k), [
      "host", "content-type", "x-a", "content-length", "x-forwarded-proto", "x-request-id", "x-mcp-method", "x-mcp-tool",
    ]);
  });

  it("frames a chunked body chunked, after the filter's headers (codec_impl.cc encodeHeadersBase)", async function () {
    const chunked = `${CALL.length.toString(16)}\r\n${CALL}\r\n0\r\n\r\n`;
    const o = await gw.send("POST /mcp HTTP/1.1\nhost: gw\ncontent-type: application/json\ntransfer-encoding: chunked\n\n", chunked);
    assert.deepEqual(upstreamHeaders(o).slice(-2), [["x-mcp-tool", "echo"], ["transfer-encoding", "chunked"]]);
    assert.equal(o.upstream[0].body.toString(), CALL);
  });

  it("adds content-length: 0 to a headers-only OPTIONS, not to a GET or DELETE (header_utility.cc requestShouldHaveNoBody)", async function () {
    for (const [method, want] of [["OPTIONS", "0"], ["GET", undefined], ["DELETE", undefined]] as const) {
      const o = await gw.send(`${method} /mcp HTTP/1.1\nhost: gw\n\n`);
      assert.equal(header(upstreamHeaders(o), "content-length"), want, method);
    }
  });

  it("drops request trailers: the filter judges the body as if there were none (codec_impl.cc, enable_trailers off)", async function () {
    const o = await gw.send("POST /mcp HTTP/1.1\nhost: gw\ncontent-type: application/json\ntransfer-encoding: chunked\n\n",
      `${CALL.length.toString(16)}\r\n${CALL}\r\n0\r\nx-trailer: 1\r\n\r\n`);
    assert.equal(o.client.status, 200);
    assert.deepEqual(o.upstream[0].rawTrailers, []);
  });

  it("adds x-forwarded-proto and x-request-id only when absent (conn_manager_utility.cc mutateRequestHeaders)", async function () {
    const own = upstreamHeaders(await post("x-forwarded-proto: https\nx-request-id: mine\n"));
    assert.equal(header(own, "x-forwarded-proto"), "https");
    assert.equal(header(own, "x-request-id"), "mine");
    const made = upstreamHeaders(await post());
    assert.equal(header(made, "x-forwarded-proto"), "http");
    assert.match(header(made, "x-request-id") ?? "", /^[0-9a-f-]{36}$/);
  });

  it("removes hop-by-hop headers, Envoy's control headers and what Connection nominates; TE stays only as trailers (utility.cc sanitizeConnectionHeader)", async function () {
    const h = upstreamHeaders(await post(
      "connection: x-nominated\nx-nominated: 1\nkeep-alive: 5\nproxy-connection: x\nte: trailers, gzip\nx-envoy-retry-on: 5xx\nx-envoy-internal: true\nx-forwarded-client-cert: c\nx-envoy-original-path: /kept\n",
    ));
    for (const gone of ["connection", "x-nominated", "keep-alive", "proxy-connection", "x-envoy-retry-on", "x-envoy-internal", "x-forwarded-client-cert"]) {
      assert.equal(header(h, gone), undefined, gone);
    }
    assert.equal(header(h, "te"), "trailers");
    assert.equal(header(h, "x-envoy-original-path"), "/kept");
  });

  it("joins a repeated inline header (Host, Accept) and keeps other repeated headers apart (header_map_impl.cc)", async function () {
    const h = upstreamHeaders(await gw.send("GET /mcp HTTP/1.1\nhost: a\naccept: x\nx-tag: 1\nhost: b\naccept: y\nx-tag: 2\n\n"));
    assert.deepEqual(h.slice(0, 4), [["host", "a,b"], ["accept", "x,y"], ["x-tag", "1"], ["x-tag", "2"]]);
  });

  it("moves a header the filter replaces to the end (header_map_impl.cc setCopy)", async function () {
    const h = upstreamHeaders(await post("x-mcp-method: forged\n"));
    assert.deepEqual(h.at(-2), ["x-mcp-method", "tools/call"]);
  });

  it("normalizes the path before the filter and the upstream see it (conn_manager_utility.cc maybeNormalizePath)", async function () {
    const o = await gw.send("GET //mcp/./a/../b/%41%7e?q=/../x HTTP/1.1\nhost: gw\n\n");
    assert.equal(o.upstream[0].path, "/mcp/b/A~?q=/../x");
  });

  it("answers a path off the route 404 with envoy.yaml's body after the filter judged it (router.cc, config_impl.cc)", async function () {
    const o = await post("", "/mcpx");
    assert.equal(o.client.status, 404);
    assert.equal(o.client.body.toString(), mappedBody(404));
    assert.equal(o.upstream.length, 0);
    assert.match(o.filterLines.join("\n"), /"decision":"allow"/);
  });

  it("refuses before the filter: escaped slashes and fragments 400, HTTP/1.0 426, more than 100 headers 431, an upgrade 403", async function () {
    const many = Array.from({ length: 101 }, (_, i) => `x-h${i}: 1\n`).join("");
    const cases: Array<[string, number, string | undefined]> = [
      ["GET /mcp%2Fx HTTP/1.1\nhost: gw\n\n", 400, mappedBody(400)],
      ["GET /mcp#f HTTP/1.1\nhost: gw\n\n", 400, mappedBody(400)],
      ["GET /mcp HTTP/1.1\n\n", 400, mappedBody(400)],
      ["GET /mcp HTTP/1.0\nhost: gw\n\n", 426, "Upgrade Required"],
      [`GET /mcp HTTP/1.1\nhost: gw\n${many}\n`, 431, mappedBody(431)],
      ["GET /mcp HTTP/1.1\nhost: gw\nconnection: upgrade\nupgrade: websocket\n\n", 403, ""],
    ];
    for (const [head, status, body] of cases) {
      const o = await gw.send(head);
      assert.equal(o.client.status, status, head);
      assert.equal(o.client.body.toString(), body, head);
      assert.equal(header(o.client.headers, "connection"), "close", head);
      assert.deepEqual([o.upstream.length, o.filterLines.length], [0, 0], head);
    }
  });

  it("routes an upgrade off the route like any request, and closes: its stream never ends (codec_impl.cc)", async function () {
    const o = await gw.send("GET /other HTTP/1.1\nhost: gw\nconnection: upgrade\nupgrade: websocket\n\n");
    assert.equal(o.client.status, 404);
    assert.equal(o.client.body.toString(), mappedBody(404));
    assert.equal(header(o.client.headers, "connection"), "close");
  });

  it("answers Expect: 100-continue itself once the codec took the head, before the path check (conn_manager_impl.cc)", async function () {
    const e = "expect: 100-continue\ncontent-length: 0\n";
    assert.deepEqual((await gw.send(`POST /mcp%2f HTTP/1.1\nhost: gw\n${e}\n`)).client.interim, [100]);
    assert.deepEqual((await gw.send(`POST /mcp HTTP/1.0\nhost: gw\n${e}\n`)).client.interim, []);
    assert.equal(header(upstreamHeaders(await post("expect: 100-continue\n")), "expect"), undefined);
  });

  it("answers a head Node's parser refuses as Envoy's codec does: envoy.yaml's 400 (codec_impl.cc sendProtocolError)", async function () {
    const o = await gw.send(`POST /mcp HTTP/1.1\nhost: gw\ncontent-length: ${CALL.length}\ncontent-length: ${CALL.length}\n\n`, CALL);
    assert.equal(o.client.status, 400);
    assert.equal(o.client.body.toString(), mappedBody(400));
  });
});
