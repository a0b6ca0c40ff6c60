// A LibreChat-like MCP session (the SDK's Streamable HTTP client) through the gateway running
// the real filter, to the real server-everything.
import { strict as assert } from "node:assert";
import { LoggingMessageNotificationSchema, McpError } from "@modelcontextprotocol/sdk/types.js";
import {
  ENGINES, DENIED, POLICY, callsReaching, connect, rawRequest, startEverything, startRecorder, startTestGateway,
  type Everything, type Recorder, type Session, type TestGateway,
} from "./harness";


function text(result: Record<string, unknown>): string {
  const content = result.content as Array<{ text?: string }> | undefined;
  return (content ?? []).map((c) => c.text ?? "").join("");
}

async function until(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

for (const engine of ENGINES) describe(`e2e [${engine}]: an MCP session through the gateway`, function () {
  let everything: Everything;
  let recorder: Recorder;
  let gw: TestGateway;
  const sessions: Session[] = [];
  // The gateway with its key, as LibreChat connects; the server itself without.
  const open = async (via: TestGateway | string): Promise<Session> => {
    const s = typeof via === "string" ? await connect(via) : await connect(via.url, via.auth);
    sessions.push(s);
    return s;
  };

  before(async function () {
    everything = await startEverything();
    recorder = await startRecorder(everything.url);
    gw = await startTestGateway(recorder.url, POLICY, engine);
  });

  after(async function () {
    for (const s of sessions) await s.close();
    await gw?.close();
    await recorder?.stop();
    await everything?.stop();
  });

  it("initialize hands the server's session id to the client, and later requests carry it to the server", async function () {
    const s = await open(gw);
    const sid = s.transport.sessionId;
    assert.match(sid ?? "", /^[0-9a-f-]{36}$/, "the initialize response's mcp-session-id reached the client");
    await s.client.ping();
    // The SDK opens its GET stream on its own schedule, so it may reach the server after the ping.
    const ping = recorder.requests.filter((r) => r.method === "POST" && r.body.toString().includes('"method":"ping"'));
    assert.equal(ping.length, 1, "the ping reached the server once");
    assert.equal(ping[0].headers["mcp-session-id"], sid, "the server received the session id the client sent");
  });

  it("tools/list hides the denied tools and keeps every other tool", async function () {
    const direct = await open(everything.url);
    const all = (await direct.client.listTools()).tools.map((t) => t.name).sort();
    for (const d of DENIED) assert.ok(all.includes(d), `server-everything offers ${d}, so hiding it is observable`);
    const s = await open(gw);
    const seen = (await s.client.listTools()).tools.map((t) => t.name).sort();
    assert.deepEqual(seen, all.filter((n) => !DENIED.includes(n)));
  });

  it("an allowed tools/call runs: get-sum of 7 and 3 is 10", async function () {
    const s = await open(gw);
    recorder.requests.length = 0;
    const result = await s.client.callTool({ name: "get-sum", arguments: { a: 7, b: 3 } });
    assert.match(text(result), /\b10\b/);
    // The filter tags what it judged, for Envoy routing; the headers must reach the server.
    const [forwarded] = recorder.requests.filter((r) => r.method === "POST");
    assert.equal(forwarded.headers["x-mcp-method"], "tools/call");
    assert.equal(forwarded.headers["x-mcp-tool"], "get-sum");
  });

  it("a denied tools/call reaches the SDK as a JSON-RPC error and the same session keeps working", async function () {
    const s = await open(gw);
    const counted = await gw.gateway.metric("mcp_filter.denied.no-env-no-fetch") ?? 0;
    await assert.rejects(s.client.callTool({ name: "get-env", arguments: {} }), (err: unknown) => {
      assert.ok(err instanceof McpError, `expected McpError, got ${String(err)}`);
      assert.equal(err.code, -32602);
      assert.match(err.message, /Unknown tool: get-env/);
      assert.ok(!err.message.includes(everything.canary));
      return true;
    });
    assert.equal(await gw.gateway.metric("mcp_filter.denied.no-env-no-fetch"), counted + 1, "the denial is counted under its rule");
    assert.deepEqual(callsReaching(recorder, ["get-env"]), [], "the denied call never reached the server");
    const result = await s.client.callTool({ name: "get-sum", arguments: { a: 1, b: 2 } });
    assert.match(text(result), /\b3\b/);
  });

  it("progress notifications of a long-running tool arrive while it runs, not in one lump at the end", async function () {
    const s = await open(gw);
    const steps = 5;
    const stepMs = 300;
    const t0 = Date.now();
    const arrivals: number[] = [];
    const result = await s.client.callTool(
      { name: "trigger-long-running-operation", arguments: { duration: (steps * stepMs) / 1000, steps } },
      undefined,
      { onprogress: () => { arrivals.push(Date.now() - t0); } },
    );
    const done = Date.now() - t0;
    assert.match(text(result), /completed/i);
    assert.equal(arrivals.length, steps, `progress arrivals (ms): ${arrivals.join(", ")}`);
    // Each step is emitted stepMs apart; buffering anywhere would squeeze the gaps to ~0.
    for (let i = 1; i < steps; i++) {
      assert.ok(arrivals[i] - arrivals[i - 1] >= stepMs / 2, `gap ${i} too small; arrivals (ms): ${arrivals.join(", ")}`);
    }
    assert.ok(done - arrivals[0] >= (steps - 2) * stepMs, `first progress at ${arrivals[0]} ms, result at ${done} ms`);
  });

  it("the GET SSE stream carries server-initiated messages, and DELETE ends the session at the server", async function () {
    const s = await open(gw);
    const sid = s.transport.sessionId ?? "";
    const logs: string[] = [];
    s.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => { logs.push(String(n.params.data)); });
    // The SDK opens the GET stream after initialization; messages sent before it exists are not delivered.
    await until("the GET stream to reach the server", () => recorder.requests.some((r) => r.method === "GET" && r.headers["mcp-session-id"] === sid));
    await new Promise((r) => setTimeout(r, 200));
    // toggle-simulated-logging sends one log message at once, unrelated to any request:
    // the server can only deliver it on the GET stream.
    await s.client.callTool({ name: "toggle-simulated-logging", arguments: {} });
    await until("a log message on the GET stream", () => logs.length > 0);
    assert.match(logs[0], new RegExp(sid));
    await s.client.callTool({ name: "toggle-simulated-logging", arguments: {} });

    await s.transport.terminateSession();
    assert.ok(recorder.requests.some((r) => r.method === "DELETE" && r.headers["mcp-session-id"] === sid), "DELETE reached the server");
    assert.equal(s.transport.sessionId, undefined, "the SDK accepted the DELETE response");
    const refused = await rawRequest(`${gw.url}/mcp`, "POST", {
      ...gw.auth,
      "content-type": "application/json", accept: "application/json, text/event-stream",
      "mcp-session-id": sid, "mcp-protocol-version": s.transport.protocolVersion ?? "",
    }, JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/list" }));
    assert.ok(refused.status >= 400 && refused.status < 500, `the ended session is refused by the server (got ${refused.status})`);
  });

  it("the server's answer for an unknown session reaches the client unchanged", async function () {
    const s = await open(gw);
    const headers = {
      "content-type": "application/json", accept: "application/json, text/event-stream",
      "mcp-session-id": "00000000-0000-4000-8000-000000000000", "mcp-protocol-version": s.transport.protocolVersion ?? "",
    };
    const body = JSON.stringify({ jsonrpc: "2.0", id: 5, method: "tools/list" });
    const direct = await rawRequest(`${everything.url}/mcp`, "POST", headers, body);
    const via = await rawRequest(`${gw.url}/mcp`, "POST", { ...headers, ...gw.auth }, body);
    assert.ok(direct.status >= 400, `server-everything refuses the unknown session (got ${direct.status})`);
    assert.equal(via.status, direct.status);
    assert.equal(via.headers["content-type"], direct.headers["content-type"]);
    assert.equal(via.text, direct.text);
  });
});
