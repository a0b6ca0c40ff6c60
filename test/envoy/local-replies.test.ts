// Local replies in real Envoy, through envoy.yaml's local_reply_config: Envoy's own errors
// (upstream down, no route, a body over the listener buffer) arrive as JSON-RPC errors, and the
// filter's own replies pass the mappers unchanged, byte for byte.
import { strict as assert } from "node:assert";
import { parse } from "yaml";
import { freePort, rawRequest, type RawResponse } from "../e2e/harness";
import { startGateway } from "../../filter/gateway";
import type { ProxyWasmHost } from "../../filter/host";
import {
  GATEWAY_KEY,
  ENVOY_YAML, JSON_HEADERS, STACK_POLICY, call, emulatorLikeStack, mappedBody, prometheusValues, requestHeaderList, rpc,
  startStackEnvoy, startStackRig, upstreamRequests, type StackEnvoy, type StackRig,
} from "./stack";

const MiB = 1024 * 1024;
const LISTENER_BUFFER: number = parse(ENVOY_YAML).static_resources.listeners[0].per_connection_buffer_limit_bytes;

/** A tools/call whose body is `size` bytes. */
function callOfSize(id: number, size: number): string {
  const empty = call(id, "echo", { message: "" });
  return call(id, "echo", { message: "x".repeat(size - empty.length) });
}

function assertJsonRpcError(res: RawResponse, status: number, body: string): void {
  assert.equal(res.status, status, res.text.slice(0, 200));
  assert.equal(res.headers["content-type"], "application/json");
  assert.equal(res.text, body);
  assert.equal((JSON.parse(res.text) as { jsonrpc: string }).jsonrpc, "2.0");
}

describe("Envoy: its own error replies are JSON-RPC errors", function () {
  let stack: StackEnvoy;
  let nothingThere: number;

  before(async function () {
    nothingThere = await freePort();
    stack = await startStackEnvoy({ upstream: { host: "127.0.0.1", port: nothingThere } });
  });
  after(async function () {
    await stack?.stop();
  });

  it("the MCP server down: 503 with envoy.yaml's JSON-RPC body", async function () {
    const res = await rawRequest(stack.mcpUrl, "POST", JSON_HEADERS, call(1, "echo"));
    assertJsonRpcError(res, 503, mappedBody(503));
    const [line] = await stack.accessLines(1);
    assert.match(String(line.details), /^upstream_reset_before_response_started\{remote_connection_failure/);
  });

  it("the local gateway's emulator answers the same 503 when the MCP server is down", async function () {
    const gateway = await startGateway({
      engine: "emulator", upstream: `http://127.0.0.1:${nothingThere}`, listen: "127.0.0.1:0", pluginConfig: JSON.stringify(STACK_POLICY), gatewayKey: GATEWAY_KEY, onLog: () => undefined,
    });
    try {
      const res = await rawRequest(`${gateway.url}/mcp`, "POST", JSON_HEADERS, call(1, "echo"));
      assertJsonRpcError(res, 503, mappedBody(503));
    } finally {
      await gateway.close();
    }
  });

  for (const [method, urlPath] of [["GET", "/"], ["POST", "/mcpfoo"], ["POST", "/api/mcp"]] as const) {
    it(`${method} ${urlPath}, off /mcp: 404 with envoy.yaml's JSON-RPC body`, async function () {
      const res = await rawRequest(`${stack.url}${urlPath}`, method, JSON_HEADERS, method === "POST" ? call(1, "echo") : undefined);
      assertJsonRpcError(res, 404, mappedBody(404));
    });
  }
});

// With the stack's policy (maxBodyBytes 1 MiB under the 2 MiB buffer) the filter answers every
// oversize body first (see the last describe). Envoy's own 413 is what a user meets whose
// policy sets maxBodyBytes above the listener buffer, which the filter accepts (up to 64 MiB).
describe("Envoy: a body over the listener buffer, with maxBodyBytes above it", function () {
  const policy = { ...STACK_POLICY, maxBodyBytes: 2 * LISTENER_BUFFER };
  let rig: StackRig;

  before(async function () {
    rig = await startStackRig({ policy });
  });
  after(async function () {
    await rig?.stop();
  });

  for (const [framing, chunkSize] of [["with content-length", undefined], ["chunked", 64 * 1024]] as const) {
    it(`${framing}: Envoy's 413 as envoy.yaml's JSON-RPC error; the filter never judged it`, async function () {
      const { stack, recorder } = rig;
      const res = await rawRequest(stack.mcpUrl, "POST", JSON_HEADERS, callOfSize(1, LISTENER_BUFFER + MiB), chunkSize);
      assertJsonRpcError(res, 413, mappedBody(413));
      assert.equal(recorder.requests.length, 0);
      assert.equal(await upstreamRequests(stack.envoy), 0);
      const values = prometheusValues((await stack.envoy.admin("/stats/prometheus")).text);
      assert.equal(values.get("mcp_filter_oversize_bodies{}"), 0);
      const lines = await stack.accessLines(1);
      assert.equal(lines[lines.length - 1].details, "request_payload_too_large");
    });
  }

  it("the emulator, set up as envoy.yaml sets up the filter, gives the same reply before mapping", function () {
    const host = emulatorLikeStack(policy);
    assert.equal(host.start(), true);
    const ctx = host.newHttpContext();
    const body = Buffer.from(callOfSize(1, LISTENER_BUFFER + MiB));
    ctx.requestHeaders(requestHeaderList("POST", "/mcp", { ...JSON_HEADERS, "content-length": String(body.length) }), false);
    for (let at = 0; at < body.length && ctx.localReply === undefined; at += 64 * 1024) {
      ctx.requestBody(body.subarray(at, at + 64 * 1024), at + 64 * 1024 >= body.length);
    }
    assert.equal(ctx.localReply?.status, 413);
    assert.equal(ctx.details, "request_payload_too_large");
    assert.equal(ctx.upstream.headers, undefined);
  });
});

interface Case { what: string; body: string; headers?: Record<string, string>; chunkSize?: number }

const POLICY_MAX = STACK_POLICY.maxBodyBytes as number;
/** Requests the filter answers itself, with the stack's policy. */
const REFUSED: Case[] = [
  { what: "a denied call", body: call(7, "get-env") },
  { what: "a call denied by a glob, with a string id", body: call("a-7", "gzip-file-as-resource") },
  { what: "a parse error (-32700)", body: "{bad" },
  { what: "an empty body", body: "" },
  { what: "an invalid request (-32600)", body: '{"jsonrpc":"1.0","id":8,"method":"ping"}' },
  { what: "invalid params (-32602)", body: rpc(9, "tools/call", {}) },
  { what: "a body over maxBodyBytes, declared", body: callOfSize(10, POLICY_MAX + 1) },
  { what: "a body over maxBodyBytes, chunked", body: callOfSize(11, POLICY_MAX + MiB / 2), chunkSize: 64 * 1024 },
  { what: "a body over the listener buffer too, declared", body: callOfSize(12, LISTENER_BUFFER + MiB) },
  { what: "a body over the listener buffer too, chunked", body: callOfSize(13, LISTENER_BUFFER + MiB), chunkSize: 64 * 1024 },
  { what: "a batch with a denied call", body: `[${call(14, "get-env")},${rpc(15, "ping")},${call(16, "echo")}]` },
  { what: "a batch over maxBatchMessages", body: `[${Array.from({ length: 101 }, (_, i) => rpc(i, "ping")).join(",")}]` },
  { what: "a body of an unjudgeable content type", body: rpc(17, "ping"), headers: { ...JSON_HEADERS, "content-type": "text/plain" } },
  { what: "a denied notification (nothing to answer: 202)", body: JSON.stringify({ jsonrpc: "2.0", method: "tools/call", params: { name: "get-env" } }) },
];

/** The filter's own reply to `c`, from the host emulator set up as envoy.yaml sets it up. */
function filterReply(host: ProxyWasmHost, c: Case): { status: number; contentType?: string; body: string; details?: string } {
  const body = Buffer.from(c.body);
  const headers: Record<string, string> = { ...(c.headers ?? JSON_HEADERS) };
  if (c.chunkSize === undefined) headers["content-length"] = String(body.length);
  const ctx = host.newHttpContext();
  ctx.requestHeaders(requestHeaderList("POST", "/mcp", headers), body.length === 0);
  const step = c.chunkSize ?? Math.max(body.length, 1);
  for (let at = 0; at < body.length && ctx.localReply === undefined; at += step) {
    ctx.requestBody(body.subarray(at, at + step), at + step >= body.length);
  }
  assert.ok(ctx.localReply, `${c.what}: the filter did not answer it`);
  const down = ctx.downstream.headers ?? [];
  const reply = {
    status: Number(down.find(([k]) => k === ":status")?.[1]),
    contentType: down.find(([k]) => k === "content-type")?.[1],
    body: ctx.downstream.body.toString("utf8"),
    details: ctx.details,
  };
  ctx.done();
  return reply;
}

describe("Envoy: the filter's own replies pass local_reply_config unchanged", function () {
  let rig: StackRig;
  let host: ProxyWasmHost;

  before(async function () {
    rig = await startStackRig();
    host = emulatorLikeStack();
    assert.equal(host.start(), true);
  });
  after(async function () {
    await rig?.stop();
  });

  for (const c of REFUSED) {
    it(`${c.what}: Envoy sends the filter's status, content-type and body bytes`, async function () {
      const { stack, recorder } = rig;
      const seen = stack.accessLog.length;
      const res = await rawRequest(stack.mcpUrl, "POST", c.headers ?? JSON_HEADERS, c.body, c.chunkSize);
      const own = filterReply(host, c);
      assert.equal(res.status, own.status);
      assert.equal(res.headers["content-type"], own.contentType);
      if (c.chunkSize === undefined) {
        assert.equal(res.text, own.body);
      } else {
        // A chunked body is refused once what has arrived exceeds the limit, and the reply says
        // how much that was: Envoy's socket reads decide it, not the client's chunks.
        const received = (text: string) => Number(/Request body of (\d+) bytes/.exec(text)?.[1]);
        assert.ok(received(res.text) > POLICY_MAX && received(res.text) <= c.body.length, res.text);
        assert.equal(res.text.replace(/of \d+ bytes/, "of N bytes"), own.body.replace(/of \d+ bytes/, "of N bytes"));
      }
      if (own.status !== 202) assert.equal(own.contentType, "application/json");
      // The first mapper matched (details mcp_filter_...) and left the reply as it was.
      const lines = await stack.accessLines(seen + 1);
      assert.equal(lines[seen].details, own.details);
      assert.match(String(own.details), /^mcp_filter_/);
      assert.equal(recorder.requests.length, 0, "nothing reached the MCP server");
      assert.equal(await upstreamRequests(stack.envoy), 0);
    });
  }
});
