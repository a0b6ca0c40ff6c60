// The filter reuses per-request state (stream records, message records, decoded strings) so
// that a request allocates nothing on its own. These tests finish each stream (on_log, on_done,
// on_delete), so the next request really runs on a reused record, and check that nothing of
// the request before it survives.
import * as assert from "node:assert/strict";
import { HttpContext, ProxyWasmHost } from "../../filter/host";
import { startHost, post, call, header, audits, respond, requestHeaders, POLICY } from "./helpers";

const JSON_200: Array<[string, string]> = [[":status", "200"], ["content-type", "application/json"]];

function finished(host: ProxyWasmHost, body: string, headers: Array<[string, string]> = []) {
  const x = post(host, body, { headers });
  x.ctx.done();
  return x;
}

/** Opens a stream and sends its request headers (the filter creates its context there). */
function open(host: ProxyWasmHost, user: string): HttpContext {
  const ctx = host.newHttpContext();
  ctx.requestHeaders(requestHeaders([["x-user-id", user]]), false);
  return ctx;
}

describe("filter: per-request state is reused, never carried over", () => {
  it("forgets the user, session and protocol of the request before", () => {
    const host = startHost();
    const first = finished(host, call("get-sum", 1), [["x-user-id", "alice"], ["mcp-session-id", "s-1"], ["mcp-protocol-version", "2025-06-18"]]);
    assert.equal(first.forwarded, true, "alice may call get-sum");
    const second = finished(host, call("get-sum", 2));
    assert.equal(second.forwarded, false, "without a user header the same call is denied");
    assert.equal(second.json.error.code, -32602);
    const line = audits(host).at(-1);
    assert.equal(line.user, "");
    assert.equal(line.session, null);
    assert.equal(line.protocol, null);
    assert.equal(line.id, 2);
  });

  it("does not rewrite the answer of a request that follows a tools/list", () => {
    const host = startHost();
    const list = post(host, JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }));
    list.ctx.done(); // finished before any response: the rewrite it asked for must not linger
    const next = post(host, call("echo", 2));
    const answer = JSON.stringify({ jsonrpc: "2.0", id: 2, result: { tools: [{ name: "get-env" }] } });
    assert.equal(respond(next.ctx, JSON_200, answer), answer);
    next.ctx.done();
  });

  it("judges a short tool name correctly after a very long one", () => {
    const host = startHost();
    const long = "t".repeat(10_000);
    const first = finished(host, call(long, 1));
    assert.equal(first.forwarded, true);
    assert.equal(header(first.ctx.upstream.headers, "x-mcp-tool"), undefined, "a name over 256 bytes gets no routing header");
    const second = finished(host, call("get-env", 2));
    assert.equal(second.forwarded, false);
    assert.equal(second.json.error.message, "Unknown tool: get-env");
    const third = finished(host, call("echo", 3));
    assert.equal(header(third.ctx.upstream.headers, "x-mcp-tool"), "echo");
  });

  it("answers every element of a batch larger than the record pool, then a single message", () => {
    const host = startHost({ ...POLICY, maxBatchMessages: 1000 });
    const batch = Array.from({ length: 600 }, (_, i) => JSON.parse(call(i % 3 === 0 ? "get-env" : "echo", i)));
    const refused = finished(host, JSON.stringify(batch));
    assert.equal(refused.json.length, 600);
    refused.json.forEach((e: any, i: number) => {
      assert.equal(e.id, i);
      assert.equal(e.error.code, i % 3 === 0 ? -32602 : -32000);
    });
    const single = finished(host, call("echo", 7));
    assert.equal(single.forwarded, true);
    assert.equal(header(single.ctx.upstream.headers, "x-mcp-tool"), "echo");
  });

  it("tells apart live streams whose context ids share a slot of its stream table", () => {
    const host = startHost();
    const first = open(host, "alice");
    // Keep every stream open until one lands on the same slot (the table has 1024).
    const others: HttpContext[] = [];
    let twin: HttpContext | undefined;
    while (!twin && others.length < 4096) {
      const ctx = open(host, "bob");
      if (ctx.id % 1024 === first.id % 1024) twin = ctx;
      else others.push(ctx);
    }
    assert.ok(twin, "no context id shared a slot");
    twin.requestBody(Buffer.from(call("get-sum", 2)), true);
    first.requestBody(Buffer.from(call("get-sum", 1)), true);
    assert.equal(first.upstream.ended && !first.localReply, true, "alice's call is forwarded");
    assert.equal(twin.localReply?.status, 200, "bob's call is answered by the filter");
    assert.match(twin.localReply?.body.toString() ?? "", /Unknown tool: get-sum/);
    for (const ctx of [first, twin, ...others]) ctx.done();
    assert.equal(finished(host, call("get-sum", 3), [["x-user-id", "alice"]]).forwarded, true);
    assert.equal(host.traps, 0);
  });
  it("reads small and large header maps and bodies in turn, each judged on its own bytes", () => {
    // Small ones are read into static buffers that the next request overwrites; large ones
    // (header maps over 4 KB, bodies over 16 KB) into the heap.
    const host = startHost();
    const cookie: Array<[string, string]> = [["cookie", "c=" + "z".repeat(8000)]];
    const cases = [
      { user: "alice", id: 1, headers: [], size: 0 },
      { user: "bob", id: "big-2", headers: cookie, size: 40_000 },
      { user: "alice", id: 3, headers: cookie, size: 0 },
      { user: "bob", id: "small-4", headers: [], size: 40_000 },
      { user: "alice", id: 5, headers: [], size: 0 },
      { user: "bob", id: 6, headers: [], size: 100 },
    ];
    for (const c of cases) {
      const x = finished(host, call("get-sum", c.id, { pad: "p".repeat(c.size) }), [["x-user-id", c.user], ...c.headers]);
      const line = audits(host).at(-1);
      assert.equal(line.user, c.user, `request ${c.id}`);
      assert.equal(line.id, c.id, `request ${c.id}`);
      assert.equal(x.forwarded, c.user === "alice", `request ${c.id}`);
      if (c.user !== "alice") assert.equal(x.json.id, c.id, `request ${c.id} is answered with its own id`);
    }
    assert.equal(host.traps, 0);
  });
});
