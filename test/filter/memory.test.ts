// A long-lived Envoy VM serves every request: per-request memory must be given back, or the
// VM grows until V8's wasm memory cap and then fails every request.
import * as assert from "node:assert/strict";
import { startHost, requestHeaders, call, POLICY } from "./helpers";
import { toolsResult, sse } from "./fixtures";
import { ProxyWasmHost } from "../../filter/host";

function serve(host: ProxyWasmHost, body: Buffer, answer?: string): void {
  const ctx = host.newHttpContext();
  ctx.requestHeaders(requestHeaders([["x-user-id", "u-1"], ["mcp-session-id", "s-1"]]), false);
  ctx.requestBody(body, true);
  if (answer !== undefined && !ctx.localReply) {
    ctx.responseHeaders([[":status", "200"], ["content-type", "text/event-stream"]], false);
    ctx.responseBody(Buffer.from(answer), true);
  }
  ctx.done();
}

describe("filter: memory over many requests", function () {
  this.timeout(120_000);

  it("does not grow with the number of requests (allowed, denied, malformed, batched, tools/list)", () => {
    const host = startHost(POLICY);
    const bodies = [call("echo", 1, { message: "x".repeat(200) }), call("get-env", 2), '{"jsonrpc":"2.0","id":3,', `[${call("echo", 4)},${call("get-sum", 5)}]`]
      .map((b) => Buffer.from(b));
    const list = Buffer.from(JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/list" }));
    const answer = sse(toolsResult(9));
    const round = (n: number) => { for (let i = 0; i < n; i++) { serve(host, bodies[i % bodies.length]); if (i % 10 === 0) serve(host, list, answer); } };
    round(5_000);
    const warmed = host.memoryBytes;
    round(50_000);
    assert.equal(host.memoryBytes, warmed, `grew from ${warmed} to ${host.memoryBytes} bytes`);
    assert.equal(host.traps, 0);
  });

  it("plateaus with large bodies instead of growing per request", () => {
    const host = startHost({ defaultAction: "allow", maxBodyBytes: 4 * 1024 * 1024 });
    const big = Buffer.from(call("echo", 1, { data: "y".repeat(1_500_000) }));
    for (let i = 0; i < 100; i++) serve(host, big);
    const warmed = host.memoryBytes;
    for (let i = 0; i < 400; i++) serve(host, big);
    assert.equal(host.memoryBytes, warmed, `grew from ${warmed} to ${host.memoryBytes} bytes`);
    assert.ok(warmed < 16 * big.length, `${warmed} bytes for ${big.length}-byte bodies`);
  });

  it("gives back the streams it cannot keep when many finish at once, colliding ids included", () => {
    // At most 64 finished streams are kept for reuse; the rest must be freed. With more than
    // 1024 live at once, ids share slots of the stream table and the later ones overflow.
    const host = startHost(POLICY);
    const body = Buffer.from(call("echo", 1, { message: "x".repeat(200) }));
    const wave = () => {
      const live = Array.from({ length: 1100 }, () => {
        const ctx = host.newHttpContext();
        ctx.requestHeaders(requestHeaders([["x-user-id", "u-1"]]), false);
        return ctx;
      });
      for (const ctx of live) { ctx.requestBody(body, true); assert.equal(ctx.localReply, undefined); }
      for (const ctx of live) ctx.done();
    };
    for (let i = 0; i < 2; i++) wave();
    const warmed = host.memoryBytes;
    for (let i = 0; i < 10; i++) wave();
    assert.equal(host.memoryBytes, warmed, `grew from ${warmed} to ${host.memoryBytes} bytes`);
    assert.equal(host.traps, 0);
  });

  describe("the gauge mcp_filter.vm_memory_bytes", () => {
    const GAUGE = "mcp_filter.vm_memory_bytes";

    it("is a gauge holding the VM's linear memory once configured", () => {
      const host = startHost(POLICY);
      assert.deepEqual(host.metrics().get(GAUGE), { type: "gauge", value: host.memoryBytes });
      assert.match(host.prometheus(), new RegExp(`^# TYPE mcp_filter_vm_memory_bytes gauge\\nmcp_filter_vm_memory_bytes\\{\\} ${host.memoryBytes}$`, "m"));
    });

    it("follows the memory a large body makes the VM grow, when its stream ends", () => {
      const host = startHost({ defaultAction: "allow", maxBodyBytes: 4 * 1024 * 1024 });
      const before = host.memoryBytes;
      const ctx = host.newHttpContext();
      ctx.requestHeaders(requestHeaders([["x-user-id", "u-1"]]), false);
      ctx.requestBody(Buffer.from(call("echo", 1, { data: "y".repeat(1_500_000) })), true);
      assert.ok(host.memoryBytes > before, "the 1.5 MB body did not grow the VM");
      assert.equal(host.metric(GAUGE), before, "set before the stream ended");
      ctx.done();
      assert.equal(host.metric(GAUGE), host.memoryBytes);
    });
  });
});
