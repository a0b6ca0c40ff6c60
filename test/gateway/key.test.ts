// The gateway key, as the emulator gateway checks it: envoy.yaml runs Envoy's api_key_auth
// before the policy filter, and the emulator follows it (Envoy
// source/extensions/filters/http/api_key_auth/api_key_auth.cc; measured on Envoy 1.40).
import * as assert from "node:assert/strict";
import { GATEWAY_AUTH, GATEWAY_KEY } from "../envoy/stack";
import { checkGatewayKey } from "../../filter/gateway-exchange";
import { CALL, header, mappedBody, startEmulator, upstreamHeaders, type TestGateway } from "./helpers";

const [[KEY_HEADER]] = Object.entries(GATEWAY_AUTH);

describe("gateway: the gateway key, checked before the policy filter", function () {
  let gw: TestGateway;
  before(async function () { gw = await startEmulator(); });
  after(async function () { await gw?.close(); });

  const post = (keyLines: string, path = "/mcp") =>
    gw.send(`POST ${path} HTTP/1.1\nhost: gw\n${keyLines}content-type: application/json\ncontent-length: ${CALL.length}\n\n`, CALL, false);

  for (const [what, lines] of [
    ["no key", ""],
    ["an empty key", `${KEY_HEADER}: \n`],
    ["a wrong key", `${KEY_HEADER}: ${GATEWAY_KEY}x\n`],
    ["a wrong key first, the right one second (the first value counts)", `${KEY_HEADER}: nope\n${KEY_HEADER}: ${GATEWAY_KEY}\n`],
  ] as const) {
    it(`${what}: 401 with envoy.yaml's JSON-RPC body, and nothing reaches the upstream or the filter`, async function () {
      const o = await post(lines);
      assert.equal(o.client.status, 401);
      assert.equal(header(o.client.headers, "content-type"), "application/json");
      assert.equal(o.client.body.toString(), mappedBody(401));
      assert.deepEqual(o.upstream, []);
      assert.deepEqual(o.filterLines, [], "the policy filter never saw the request");
    });
  }

  it("the right key passes, and the upstream never sees it", async function () {
    const o = await post(`${KEY_HEADER}: ${GATEWAY_KEY}\n${KEY_HEADER}: wrong\n`);
    assert.equal(o.client.status, 200);
    assert.equal(o.upstream.length, 1);
    assert.equal(header(upstreamHeaders(o), KEY_HEADER), undefined);
    assert.equal(header(upstreamHeaders(o), "x-mcp-tool"), "echo", "the policy filter judged it");
  });

  it("a leading \"Bearer \" is taken off the key, as Envoy takes it off any key header; \"bearer \" is not", async function () {
    assert.equal((await post(`${KEY_HEADER}: Bearer ${GATEWAY_KEY}\n`)).client.status, 200);
    assert.equal((await post(`${KEY_HEADER}: bearer ${GATEWAY_KEY}\n`)).client.status, 401);
  });

  it("with no credentials configured (envoy.yaml as checked in), every request is refused", function () {
    assert.equal(checkGatewayKey([[KEY_HEADER, GATEWAY_KEY]], { header: KEY_HEADER, keys: [], hideCredentials: true }), "missing_credentials");
  });

  it("the key is checked before routing: a path off /mcp without it gets 401, with it 404", async function () {
    assert.equal((await post("", "/elsewhere")).client.status, 401);
    assert.equal((await post(`${KEY_HEADER}: ${GATEWAY_KEY}\n`, "/elsewhere")).client.status, 404);
  });
});
