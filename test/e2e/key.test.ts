// Only LibreChat, which holds the stack's gateway key, gets through to the MCP server: a request
// without the key or with a wrong one is refused with a JSON-RPC error before the policy filter
// runs, and never reaches the server; with the key an SDK session works, and the server never
// sees the key. On both engines: real Envoy runs envoy.yaml's api_key_auth.
import { strict as assert } from "node:assert";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  ENGINES, connect, rawRequest, responseMessages, startEverything, startRecorder, startTestGateway,
  type Everything, type Recorder, type TestGateway,
} from "./harness";

const POLICY = { defaultAction: "allow", rules: [{ name: "no-env", action: "deny", tools: ["get-env"] }], userHeader: "x-user-id" };
const INIT = JSON.stringify({
  jsonrpc: "2.0", id: 1, method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "key-test", version: "1" } },
});
const JSON_HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };

for (const engine of ENGINES) describe(`e2e [${engine}]: the gateway key`, function () {
  let everything: Everything;
  let recorder: Recorder;
  let gw: TestGateway;

  before(async function () {
    everything = await startEverything();
    recorder = await startRecorder(everything.url);
    gw = await startTestGateway(recorder.url, POLICY, engine);
  });

  after(async function () {
    await gw?.close();
    await recorder?.stop();
    await everything?.stop();
  });

  for (const [what, auth] of [
    ["without the key", (): Record<string, string> => ({})],
    ["with a wrong key", (): Record<string, string> => ({ [Object.keys(gw.auth)[0]]: "0".repeat(64) })],
  ] as const) {
    it(`${what}, even with a user id, initialize gets a 401 JSON-RPC error and the server sees nothing`, async function () {
      recorder.requests.length = 0;
      const res = await rawRequest(`${gw.url}/mcp`, "POST", { ...JSON_HEADERS, ...auth(), "x-user-id": "alice" }, INIT);
      assert.equal(res.status, 401);
      assert.match(String(res.headers["content-type"]), /^application\/json/);
      const [reply] = responseMessages(res);
      assert.equal(reply.jsonrpc, "2.0");
      assert.equal((reply.error as { code: number }).code, -32000);
      assert.match((reply.error as { message: string }).message, /gateway key/);
      assert.deepEqual(recorder.requests, [], "the request never reached the MCP server");
    });
  }

  it("a redirect from the MCP server cannot send the key elsewhere: its target never reaches the client", async function () {
    // What a hostile MCP server would do: answer with a redirect to a host it controls. fetch,
    // as LibreChat's MCP client uses it, follows redirects and keeps custom headers.
    const captured: http.IncomingHttpHeaders[] = [];
    const capture = http.createServer((req, res) => { captured.push(req.headers); res.end("{}"); });
    await new Promise<void>((resolve) => capture.listen(0, "127.0.0.1", resolve));
    const to = `http://127.0.0.1:${(capture.address() as AddressInfo).port}/steal`;
    const redirecting = http.createServer((req, res) => { req.resume(); res.writeHead(307, { location: to }); res.end(); });
    await new Promise<void>((resolve) => redirecting.listen(0, "127.0.0.1", resolve));
    const via = await startTestGateway(`http://127.0.0.1:${(redirecting.address() as AddressInfo).port}`, POLICY, engine);
    try {
      const res = await fetch(`${via.url}/mcp`, { method: "POST", headers: { ...JSON_HEADERS, ...via.auth }, body: INIT });
      await res.text();
      assert.equal(res.status, 307);
      assert.equal(res.headers.get("location"), null);
      assert.deepEqual(captured, [], "the redirect target got a request");
    } finally {
      await via.close();
      await new Promise<void>((resolve) => { redirecting.close(() => resolve()); redirecting.closeAllConnections(); });
      await new Promise<void>((resolve) => { capture.close(() => resolve()); capture.closeAllConnections(); });
    }
  });

  it("without the key, the MCP SDK client cannot connect", async function () {
    await assert.rejects(connect(gw.url), (err: unknown) => err instanceof StreamableHTTPError && err.code === 401);
  });

  it("with the key, an SDK session lists tools, and the server never sees the key", async function () {
    recorder.requests.length = 0;
    const s = await connect(gw.url, { ...gw.auth, "x-user-id": "alice" });
    try {
      const names = (await s.client.listTools()).tools.map((t) => t.name);
      assert.ok(names.includes("get-sum") && !names.includes("get-env"), names.join(", "));
      assert.ok(recorder.requests.length > 0);
      for (const r of recorder.requests) {
        for (const h of Object.keys(gw.auth)) assert.equal(r.headers[h], undefined, `${r.method}: the server saw ${h}`);
        assert.equal(r.headers["x-user-id"], "alice", "the user id of an authenticated request is passed on");
      }
    } finally {
      await s.close();
    }
  });
});
