// The response the client gets from the emulator gateway, as Envoy 1.40 with envoy.yaml sends
// it. Each behaviour was found by the differential test (test/envoy/differential.test.ts) and is
// pinned here with the Envoy source it follows. The recording upstream answers as the request's
// x-test-reply header says (test/envoy/differential-rig.ts).
import * as assert from "node:assert/strict";
import * as net from "node:net";
import { startGateway } from "../../filter/gateway";
import { exchangeRaw } from "../envoy/differential-rig";
import { CALL, POLICY, header, mappedBody, startEmulator, type TestGateway } from "./helpers";
import { GATEWAY_AUTH, GATEWAY_KEY } from "../envoy/stack";

const KEY = Object.entries(GATEWAY_AUTH).map(([k, v]) => `${k}: ${v}\r\n`).join("");

const TOOLS_LIST = '{"jsonrpc":"2.0","id":2,"method":"tools/list"}';

describe("gateway: the response the client gets, as Envoy sends it", function () {
  let gw: TestGateway;
  before(async function () { gw = await startEmulator(); });
  after(async function () { await gw?.close(); });

  const post = (body: string, extra = "") =>
    gw.send(`POST /mcp HTTP/1.1\nhost: gw\ncontent-type: application/json\n${extra}content-length: ${Buffer.byteLength(body)}\n\n`, body);
  const names = (headers: Array<[string, string]>) => headers.map(([k]) => k);

  it("keeps the upstream's headers and date, adds x-envoy-upstream-service-time and server, drops hop-by-hop (router.cc, conn_manager_impl.cc)", async function () {
    const o = await post(CALL, "x-test-reply: json\n");
    // The upstream (Node) sent content-type, content-length, mcp-session-id, Date, Connection, Keep-Alive.
    assert.deepEqual(names(o.client.headers), ["content-type", "content-length", "mcp-session-id", "date", "x-envoy-upstream-service-time", "server"]);
    assert.equal(header(o.client.headers, "server"), "envoy");
    assert.match(header(o.client.headers, "x-envoy-upstream-service-time") ?? "", /^\d+$/);
  });

  it("frames an answer without a length chunked, and drops the upstream's trailers (codec_impl.cc, enable_trailers off)", async function () {
    const o = await post(CALL, "x-test-reply: trailers\n");
    assert.deepEqual(names(o.client.headers).slice(-1), ["transfer-encoding"]);
    assert.equal(header(o.client.headers, "trailer"), "x-checksum");
    assert.deepEqual(o.client.trailers, []);
    assert.equal(o.client.complete, true);
  });

  it("sends a rewritten tools/list answer chunked: the filter held the headers until the body was whole (filter_manager.cc commonContinue)", async function () {
    const o = await post(TOOLS_LIST, "x-test-reply: tools-json\n");
    assert.equal(header(o.client.headers, "content-length"), undefined);
    assert.equal(header(o.client.headers, "transfer-encoding"), "chunked");
    assert.doesNotMatch(o.client.body.toString(), /get-env/);
  });

  it("holds a tools/list answer up to envoy.yaml's 2 MiB buffer; above it the stream is reset (filter_manager.cc)", async function () {
    const large = await post(TOOLS_LIST, "x-test-reply: large-tools\n");
    assert.equal(large.client.status, 200);
    assert.ok(large.client.body.length > 1024 * 1024, `${large.client.body.length} bytes`);
    assert.doesNotMatch(large.client.body.toString(), /get-env/);
    // The filter sent the headers on at once (without content-length): past the limit Envoy can
    // only reset the stream, and the client sees the answer cut.
    const big = await post(TOOLS_LIST, "x-test-reply: big-tools\n");
    assert.equal(big.client.status, 200);
    assert.deepEqual([big.client.complete, big.client.body.length], [false, 0]);
  });

  it("frames a 204 and a HEAD answer without a body (codec_impl.cc encodeHeadersBase)", async function () {
    const noContent = await gw.send("GET /mcp HTTP/1.1\nhost: gw\nx-test-reply: no-content\n\n");
    assert.equal(noContent.client.status, 204);
    assert.deepEqual(names(noContent.client.headers), ["date", "x-envoy-upstream-service-time", "server"]);
    const head = await gw.send("HEAD /mcp HTTP/1.1\nhost: gw\nx-test-reply: json\n\n");
    assert.equal(header(head.client.headers, "content-length"), String(Buffer.byteLength('{"jsonrpc":"2.0","id":null,"result":{"content":[{"type":"text","text":"ok"}]}}')));
    assert.equal(head.client.body.length, 0);
  });

  it("closes the connection after a 400 local reply, not after a denial (conn_manager_impl.cc onLocalReply)", async function () {
    const bad = await post("{");
    assert.equal(bad.client.status, 400);
    assert.equal(header(bad.client.headers, "connection"), "close");
    const denied = await post('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get-env"}}');
    assert.equal(denied.client.status, 200);
    assert.equal(header(denied.client.headers, "connection"), undefined);
  });

  it("closes the connection when it answers before the request was read to its end (conn_manager_impl.cc)", async function () {
    const o = await gw.send(`POST /mcp HTTP/1.1\nhost: gw\ncontent-type: text/plain\ncontent-length: ${CALL.length}\n\n`);
    assert.equal(o.client.status, 415);
    assert.equal(header(o.client.headers, "connection"), "close");
  });

  it("keeps reading after such an answer, so that a client still sending gets the whole response (connection_impl.cc delayed close)", async function () {
    // Megabytes in a few large writes: a gateway that closed at once would reset the connection
    // while they arrive, and the client would lose the response.
    const body = Buffer.alloc(3 * 1024 * 1024, 0x20);
    const head = Buffer.from(`POST /mcp HTTP/1.1\r\nhost: gw\r\n${KEY}content-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`);
    const slices = [head, ...[0, 1, 2].map((i) => body.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024))];
    const view = await exchangeRaw(gw.side.gateway.url, "POST", slices);
    assert.equal(view.status, 413);
    assert.equal(view.complete, true);
  });

  it("answers 503 with envoy.yaml's body when the upstream resets before answering (router.cc)", async function () {
    const o = await post(CALL, "x-test-reply: reset\n");
    assert.equal(o.client.status, 503);
    assert.equal(o.client.body.toString(), mappedBody(503));
    assert.deepEqual(names(o.client.headers), ["content-length", "content-type", "date", "server"]);
  });

  it("answers 503 with envoy.yaml's body when the upstream is down (router.cc)", async function () {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const down = await startGateway({ upstream: `http://127.0.0.1:${port}`, listen: "127.0.0.1:0", pluginConfig: JSON.stringify(POLICY), gatewayKey: GATEWAY_KEY, onLog: () => undefined });
    try {
      const view = await exchangeRaw(down.url, "GET", [Buffer.from(`GET /mcp HTTP/1.1\r\nhost: gw\r\n${KEY}\r\n`)]);
      assert.equal(view.status, 503);
      assert.equal(view.body.toString(), mappedBody(503));
    } finally {
      await down.close();
    }
  });
});
