// What the filter does with MCP requests: forward, refuse, hold, route.
import * as assert from "node:assert/strict";
import { startHost, post, call, header, audits, requestHeaders, POLICY } from "./helpers";

describe("filter: requests", () => {
  describe("decisions", () => {
    const cases: Array<{ name: string; body: string; user?: string; forwarded: boolean; code?: number; message?: string }> = [
      { name: "an allowed tools/call is forwarded unchanged", body: call("echo", 1, { message: "hi" }), forwarded: true },
      { name: "a denied tool is answered with Unknown tool and not forwarded", body: call("get-env", 7), forwarded: false, code: -32602, message: "Unknown tool: get-env" },
      { name: "a glob rule denies every matching tool", body: call("gzip-file-as-resource", 2), forwarded: false, code: -32602, message: "Unknown tool: gzip-file-as-resource" },
      { name: "a glob's trailing * also matches nothing: gzip-* denies the tool named gzip-", body: call("gzip-", 2), forwarded: false, code: -32602, message: "Unknown tool: gzip-" },
      { name: "a glob's literal part must match whole: gzip-* leaves the tool named gzip alone", body: call("gzip", 2), forwarded: true },
      { name: "a per-user allow rule lets the named user through", body: call("get-sum", 3, { a: 7, b: 3 }), user: "alice", forwarded: true },
      { name: "the same tool is denied to another user", body: call("get-sum", 3, { a: 7, b: 3 }), user: "bob", forwarded: false, code: -32602, message: "Unknown tool: get-sum" },
      { name: "a missing user header is the empty user", body: call("get-sum", 3), forwarded: false, code: -32602 },
      { name: "methods without a tool are not matched by tool rules", body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }), forwarded: true },
      { name: "a client response (no method) is forwarded", body: JSON.stringify({ jsonrpc: "2.0", id: 5, result: {} }), forwarded: true },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const host = startHost();
        const headers: Array<[string, string]> = c.user ? [["x-user-id", c.user]] : [];
        const x = post(host, c.body, { headers });
        assert.equal(x.forwarded, c.forwarded);
        if (c.forwarded) {
          assert.equal(x.upstreamBody, c.body);
        } else {
          assert.equal(x.reply?.status, 200);
          assert.equal(x.upstreamBody, "");
          assert.equal(x.json.error.code, c.code);
          if (c.message) assert.equal(x.json.error.message, c.message);
          assert.equal(x.json.id, JSON.parse(c.body).id);
        }
        assert.equal(host.traps, 0);
      });
    }

    it("the first matching rule wins over later ones", () => {
      const host = startHost({ defaultAction: "deny", rules: [{ action: "allow", tools: ["echo"] }, { action: "deny", tools: ["*"] }] });
      assert.equal(post(host, call("echo")).forwarded, true);
      assert.equal(post(host, call("get-sum")).forwarded, false);
    });

    it("defaultAction deny refuses a method no rule allows", () => {
      const host = startHost({ defaultAction: "deny", rules: [{ action: "allow", methods: ["initialize", "tools/*"] }] });
      assert.equal(post(host, JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" })).forwarded, true);
      const x = post(host, JSON.stringify({ jsonrpc: "2.0", id: 2, method: "prompts/list" }));
      assert.equal(x.json.error.code, -32601);
      assert.equal(x.json.error.message, "Method not found: prompts/list");
    });

    it("resource rules match resources/read uris and answer Resource not found", () => {
      const host = startHost({ defaultAction: "allow", rules: [{ action: "deny", resources: ["file:///etc/*"] }] });
      const denied = post(host, JSON.stringify({ jsonrpc: "2.0", id: 4, method: "resources/read", params: { uri: "file:///etc/passwd" } }));
      assert.equal(denied.json.error.code, -32002);
      assert.equal(denied.json.error.message, "Resource not found: file:///etc/passwd");
      assert.equal(post(host, JSON.stringify({ jsonrpc: "2.0", id: 5, method: "resources/read", params: { uri: "demo://resource/static/document/1" } })).forwarded, true);
    });

    it("prompt rules match prompts/get names and answer Unknown prompt", () => {
      const host = startHost({ defaultAction: "allow", rules: [{ action: "deny", prompts: ["complex?prompt"] }] });
      const x = post(host, JSON.stringify({ jsonrpc: "2.0", id: "p", method: "prompts/get", params: { name: "complex-prompt" } }));
      assert.equal(x.json.error.message, "Unknown prompt: complex-prompt");
      assert.equal(x.json.id, "p");
    });

    it("an escaped glob star matches only a literal star", () => {
      const host = startHost({ defaultAction: "allow", rules: [{ action: "deny", tools: ["a\\*"] }] });
      assert.equal(post(host, call("a*")).forwarded, false);
      assert.equal(post(host, call("ab")).forwarded, true);
    });

    it("denyResponse explain names the rule with code -32003", () => {
      const host = startHost({ ...POLICY, denyResponse: "explain" });
      const x = post(host, call("get-env", 9));
      assert.equal(x.json.error.code, -32003);
      assert.equal(x.json.error.message, "Denied by policy rule deny-risky-tools: tools/call get-env");
    });

    it("monitor mode forwards a would-be denial and counts it", () => {
      const host = startHost({ ...POLICY, mode: "monitor" });
      const x = post(host, call("get-env"));
      assert.equal(x.forwarded, true);
      assert.equal(host.metric("mcp_filter.would_deny.deny-risky-tools"), 1);
      assert.equal(host.metric("mcp_filter.denied.deny-risky-tools") ?? 0, 0);
      const line = audits(host).at(-1);
      assert.equal(line.decision, "deny");
      assert.equal(line.forwarded, true);
      assert.equal(line.mode, "monitor");
    });
  });

  describe("holding and passing", () => {
    it("holds the request headers and body until the whole body is judged", () => {
      const host = startHost();
      const ctx = host.newHttpContext();
      ctx.requestHeaders(requestHeaders(), false);
      const body = Buffer.from(call("echo"));
      ctx.requestBody(body.subarray(0, 10), false);
      assert.equal(ctx.upstream.headers, undefined);
      assert.equal(ctx.upstream.body.length, 0);
      ctx.requestBody(body.subarray(10), true);
      assert.ok(ctx.upstream.headers);
      assert.equal(ctx.upstream.body.toString(), body.toString());
    });

    for (const method of ["GET", "DELETE"]) {
      it(`${method} passes through untouched`, () => {
        const host = startHost();
        const ctx = host.newHttpContext();
        ctx.requestHeaders(requestHeaders([["mcp-session-id", "s1"]], method), true);
        assert.equal(ctx.localReply, undefined);
        assert.equal(header(ctx.upstream.headers, "mcp-session-id"), "s1");
      });
    }

    it("a non-tools/list response streams chunk by chunk", () => {
      const host = startHost();
      const x = post(host, call("echo"));
      x.ctx.responseHeaders([[":status", "200"], ["content-type", "text/event-stream"]], false);
      x.ctx.responseBody(Buffer.from("event: message\ndata: {\"a\":1}\n\n"), false);
      assert.equal(x.ctx.downstream.body.toString(), "event: message\ndata: {\"a\":1}\n\n");
      x.ctx.responseBody(Buffer.from("data: 2\n\n"), false);
      assert.equal(x.ctx.downstream.body.toString(), "event: message\ndata: {\"a\":1}\n\ndata: 2\n\n");
    });

    it("stalls when Envoy turns StopIteration into StopAllIterationAndWatermark (allow_on_headers_stop_iteration false)", () => {
      const host = startHost(POLICY, { allowOnHeadersStopIteration: false });
      const ctx = host.newHttpContext();
      ctx.requestHeaders(requestHeaders(), false);
      ctx.requestBody(Buffer.from(call("echo")), true);
      assert.equal(ctx.requestStalled, true);
      assert.equal(ctx.upstream.headers, undefined);
    });
  });

  describe("routing headers", () => {
    it("sets x-mcp-method and x-mcp-tool on a forwarded tools/call", () => {
      const x = post(startHost(), call("echo"));
      assert.equal(header(x.ctx.upstream.headers, "x-mcp-method"), "tools/call");
      assert.equal(header(x.ctx.upstream.headers, "x-mcp-tool"), "echo");
    });

    it("Envoy's router matches on the x-mcp headers set in on_request_body (the route is recomputed)", () => {
      const x = post(startHost(), call("echo"));
      const route = x.ctx.route;
      assert.ok(route, "the request reached the router");
      assert.equal(route.recomputed, true);
      assert.equal(header(route.headers, "x-mcp-method"), "tools/call");
      assert.equal(header(route.headers, "x-mcp-tool"), "echo");
    });

    it("replaces client-supplied x-mcp headers", () => {
      const x = post(startHost(), JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }), { headers: [["x-mcp-method", "initialize"], ["x-mcp-tool", "echo"]] });
      assert.equal(header(x.ctx.upstream.headers, "x-mcp-method"), "ping");
      assert.equal(header(x.ctx.upstream.headers, "x-mcp-tool"), undefined);
    });

    it("sets no x-mcp header for a name over 256 bytes (MCP names are at most 128 characters), and drops the client's", () => {
      const sent: Array<[string, string]> = [["x-mcp-method", "initialize"], ["x-mcp-tool", "echo"]];
      const longTool = post(startHost(), call("t".repeat(257)), { headers: sent });
      assert.equal(longTool.forwarded, true);
      assert.equal(header(longTool.ctx.upstream.headers, "x-mcp-method"), "tools/call");
      assert.equal(header(longTool.ctx.upstream.headers, "x-mcp-tool"), undefined);
      const longMethod = post(startHost(), JSON.stringify({ jsonrpc: "2.0", id: 1, method: "m".repeat(20000) }), { headers: sent });
      assert.equal(longMethod.forwarded, true);
      assert.equal(header(longMethod.ctx.upstream.headers, "x-mcp-method"), undefined);
      assert.equal(header(longMethod.ctx.upstream.headers, "x-mcp-tool"), undefined);
      const at256 = post(startHost(), call("t".repeat(256)));
      assert.equal(header(at256.ctx.upstream.headers, "x-mcp-tool"), "t".repeat(256));
    });

    for (const method of ["GET", "DELETE", "PUT"]) {
      it(`removes client-supplied x-mcp headers from a ${method} too`, () => {
        const host = startHost();
        const ctx = host.newHttpContext();
        ctx.requestHeaders(requestHeaders([["x-mcp-method", "tools/call"], ["x-mcp-tool", "echo"]], method), true);
        assert.equal(header(ctx.upstream.headers, "x-mcp-method"), undefined);
        assert.equal(header(ctx.upstream.headers, "x-mcp-tool"), undefined);
      });
    }

    it("marks a batch as x-mcp-method batch", () => {
      const x = post(startHost(), `[${call("echo", 1)},${call("echo", 2)}]`);
      assert.equal(header(x.ctx.upstream.headers, "x-mcp-method"), "batch");
    });

    it("writes the decoded method, not the escaped one", () => {
      const x = post(startHost(), '{"jsonrpc":"2.0","id":1,"method":"tools\\/call","params":{"name":"ech\\u006f"}}');
      assert.equal(header(x.ctx.upstream.headers, "x-mcp-method"), "tools/call");
      assert.equal(header(x.ctx.upstream.headers, "x-mcp-tool"), "echo");
    });

    it("writes control characters of a name as ? (tab stays), since header values must not carry them", () => {
      const x = post(startHost(), JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "a\u0001b\tc\u007fd\r\ne" } }));
      assert.equal(x.forwarded, true);
      assert.equal(header(x.ctx.upstream.headers, "x-mcp-tool"), "a?b\tc?d??e");
      const note = post(startHost(), JSON.stringify({ jsonrpc: "2.0", method: "notifications/x\u0000y" }));
      assert.equal(header(note.ctx.upstream.headers, "x-mcp-method"), "notifications/x?y");
      const plain = post(startHost(), call("echo", 2));
      assert.equal(header(plain.ctx.upstream.headers, "x-mcp-tool"), "echo", "a clean name is set as it is");
    });
  });
});
