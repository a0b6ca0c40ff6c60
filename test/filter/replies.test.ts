// What the filter answers to MCP requests itself (JSON-RPC errors), and what it counts and audits.
import * as assert from "node:assert/strict";
import { BareVm } from "./bare-vm";
import { startHost, post, call, header, audits, requestHeaders, POLICY } from "./helpers";

describe("filter: replies, metrics and audit", () => {
  describe("replies", () => {
    it("malformed JSON gets -32700 with HTTP 400 and id null", () => {
      const host = startHost();
      const x = post(host, '{"jsonrpc":"2.0","id":1,"method":"tools/call",}');
      assert.equal(x.reply?.status, 400);
      assert.equal(x.json.error.code, -32700);
      assert.match(x.json.error.message, /^Parse error: unexpected token at byte \d+$/);
      assert.equal(x.json.id, null);
      assert.equal(host.metric("mcp_filter.parse_errors"), 1);
    });

    it("answers as JSON over HTTP, with the reason in the response details and no gRPC status", () => {
      const x = post(startHost(), call("get-env", 7));
      assert.equal(x.reply?.status, 200);
      assert.deepEqual(x.reply?.headers, [["content-type", "application/json"]]);
      assert.equal(x.reply?.details, "mcp_filter_denied");
      assert.equal(x.reply?.grpcStatus, -1);
      assert.equal(header(x.ctx.downstream.headers, "content-type"), "application/json");
      assert.equal(x.json.id, 7);
    });

    it("reads an escaped jsonrpc version as the server does", () => {
      const x = post(startHost(), '{"jsonrpc":"\\u0032.0","id":1,"method":"ping"}');
      assert.equal(x.forwarded, true);
      const y = post(startHost(), '{"jsonrpc":"2\\u002e1","id":1,"method":"ping"}');
      assert.equal(y.json.error.code, -32600);
    });

    it("an empty POST body gets -32700", () => {
      const x = post(startHost(), "");
      assert.equal(x.json.error.code, -32700);
    });

    const invalid: Array<[string, unknown, string]> = [
      ["jsonrpc is not 2.0", { jsonrpc: "1.0", id: 1, method: "ping" }, "Invalid Request: jsonrpc must be \"2.0\""],
      ["jsonrpc is 2.00", { jsonrpc: "2.00", id: 1, method: "ping" }, "Invalid Request: jsonrpc must be \"2.0\""],
      ["jsonrpc is 2.1", { jsonrpc: "2.1", id: 1, method: "ping" }, "Invalid Request: jsonrpc must be \"2.0\""],
      ["jsonrpc is 2", { jsonrpc: "2", id: 1, method: "ping" }, "Invalid Request: jsonrpc must be \"2.0\""],
      ["method is not a string", { jsonrpc: "2.0", id: 1, method: 5 }, "Invalid Request: method must be a string"],
      ["id is null", { jsonrpc: "2.0", id: null, method: "ping" }, "Invalid Request: id must be a string or a number"],
      ["params is an array", { jsonrpc: "2.0", id: 1, method: "ping", params: [] }, "Invalid Request: params must be an object"],
      ["the message is not an object", [1], "Invalid Request: a JSON-RPC message must be an object"],
      ["there is no method", { jsonrpc: "2.0", id: 1 }, "Invalid Request: missing method"],
    ];
    for (const [what, body, message] of invalid) {
      it(`an invalid request (${what}) gets -32600 with HTTP 400`, () => {
        const x = post(startHost(), JSON.stringify(body));
        assert.equal(x.reply?.status, 400);
        const err = Array.isArray(x.json) ? x.json[0] : x.json;
        assert.equal(err.error.code, -32600);
        assert.equal(err.error.message, message);
        assert.equal(x.upstreamBody, "");
      });
    }

    it("tools/call without params.name gets -32602", () => {
      const x = post(startHost(), JSON.stringify({ jsonrpc: "2.0", id: 3, method: "tools/call", params: { arguments: {} } }));
      assert.equal(x.json.error.code, -32602);
      assert.equal(x.json.error.message, "Invalid params: tools/call needs params.name");
      assert.equal(x.json.id, 3);
    });

    it("an empty batch gets -32600", () => {
      const x = post(startHost(), "[]");
      assert.equal(x.json[0].error.code, -32600);
    });

    it("a body over maxBodyBytes gets a JSON-RPC error and nothing is forwarded", () => {
      const host = startHost({ ...POLICY, maxBodyBytes: 100 });
      const body = call("echo", 1, { message: "x".repeat(200) });
      const x = post(host, body, { chunks: [50, 90, 150] });
      assert.equal(x.reply?.status, 413);
      assert.equal(x.json.error.code, -32600);
      assert.match(x.json.error.message, /exceeds maxBodyBytes \(100\)/);
      assert.equal(x.ctx.upstream.headers, undefined);
      assert.equal(host.metric("mcp_filter.oversize_bodies"), 1);
    });

    it("a declared content-length over maxBodyBytes is refused at the headers", () => {
      const host = startHost({ ...POLICY, maxBodyBytes: 100 });
      const ctx = host.newHttpContext();
      ctx.requestHeaders(requestHeaders([["content-length", "5000"]]), false);
      assert.equal(ctx.localReply?.status, 413);
    });

    it("a body exactly at maxBodyBytes is judged and forwarded", () => {
      const base = call("echo", 1, { message: "" });
      const body = call("echo", 1, { message: "y".repeat(120 - base.length) });
      assert.equal(body.length, 120);
      assert.equal(post(startHost({ ...POLICY, maxBodyBytes: 120 }), body, { chunks: [60] }).forwarded, true);
    });

    it("a batch over maxBatchMessages gets one -32600 for the whole batch and nothing is forwarded", () => {
      const host = startHost();
      const batch = JSON.stringify(Array.from({ length: 101 }, (_, i) => JSON.parse(call("echo", i))));
      const x = post(host, batch);
      assert.equal(x.reply?.status, 400);
      assert.equal(x.json.id, null);
      assert.equal(x.json.error.code, -32600);
      assert.equal(x.json.error.message, "Invalid Request: a batch of 101 messages exceeds maxBatchMessages (100)");
      assert.equal(x.ctx.upstream.headers, undefined);
      assert.equal(host.metric("mcp_filter.invalid_requests"), 1);
      assert.equal(audits(host).length, 1);
      assert.equal(audits(host)[0].decision, "reject");
    });

    it("a batch of exactly maxBatchMessages is judged message by message", () => {
      const host = startHost({ ...POLICY, maxBatchMessages: 3 });
      const batch = (tools: string[]) => JSON.stringify(tools.map((t, i) => JSON.parse(call(t, i))));
      assert.equal(post(host, batch(["echo", "echo", "echo"])).forwarded, true);
      const refused = post(host, batch(["echo", "get-env", "echo"]));
      assert.deepEqual(refused.json.map((e: any) => e.error.code), [-32000, -32602, -32000]);
    });

    it("a huge batch of tiny messages is refused with one small reply, and the filter keeps working", () => {
      // 2M messages in 4 MB: answering each would take a reply and audit lines of hundreds of MB.
      const host = startHost({ ...POLICY, maxBodyBytes: 8 * 1024 * 1024, maxBatchMessages: 10000 });
      const body = "[" + "1,".repeat(2 * 1024 * 1024 - 1) + "1]";
      const x = post(host, body);
      assert.equal(x.reply?.status, 400);
      assert.match(x.json.error.message, /a batch of 2097152 messages exceeds maxBatchMessages \(10000\)/);
      assert.ok(x.reply!.body.length < 200, `${x.reply!.body.length} bytes`);
      assert.equal(host.traps, 0);
      assert.equal(post(host, call("echo")).forwarded, true);
    });

    it("a batch over maxBatchMessages that is also malformed gets -32700", () => {
      const x = post(startHost({ ...POLICY, maxBatchMessages: 2 }), "[1,2,3,4,]");
      assert.equal(x.json.error.code, -32700);
    });

    it("the reply echoes a string id verbatim", () => {
      const x = post(startHost(), call("get-env", "req-\"7\""));
      assert.equal(x.json.id, "req-\"7\"");
    });
  });

  describe("metrics and audit", () => {
    it("counts requests by method, tool calls by tool and denials by rule", () => {
      const host = startHost();
      post(host, call("echo", 1));
      post(host, call("echo", 2));
      post(host, call("get-env", 3));
      post(host, JSON.stringify({ jsonrpc: "2.0", id: 4, method: "tools/list" }));
      post(host, JSON.stringify({ jsonrpc: "2.0", id: 5, method: "x-custom/thing" }));
      assert.equal(host.metric("mcp_filter.requests.tools_call"), 3);
      assert.equal(host.metric("mcp_filter.requests.tools_list"), 1);
      assert.equal(host.metric("mcp_filter.requests.other"), 1);
      assert.equal(host.metric("mcp_filter.tool_calls.echo"), 2);
      assert.equal(host.metric("mcp_filter.tool_calls.get_env"), 1);
      assert.equal(host.metric("mcp_filter.denied.deny-risky-tools"), 1);
      assert.match(host.prometheus(), /mcp_filter_denied_deny_risky_tools\b.* 1/);
    });

    it("counts tool names that read alike in /stats/prometheus on one counter, one series", () => {
      const host = startHost();
      post(host, call("x-y", 1));
      post(host, call("x_y", 2));
      post(host, call("x.y", 3));
      assert.equal(host.metric("mcp_filter.tool_calls.x_y"), 3);
      const series = host.prometheus().split("\n").filter((l) => l.startsWith("mcp_filter_tool_calls_x_y"));
      assert.equal(series.length, 1, series.join("\n"));
    });

    it("bounds tool-name metrics so a client cannot create unbounded stats", () => {
      const host = startHost();
      for (let i = 0; i < 130; i++) post(host, call(`tool-${i}`, i));
      const names = [...host.metrics().keys()].filter((k) => k.startsWith("mcp_filter.tool_calls."));
      assert.ok(names.length <= 101, `${names.length} tool metrics`);
      assert.equal(host.metric("mcp_filter.tool_calls._other"), 30);
    });

    it("counts tool names longer than 256 bytes as _other rather than keep them", () => {
      const host = startHost();
      post(host, call("t".repeat(257)));
      post(host, call("t".repeat(256)));
      assert.equal(host.metric("mcp_filter.tool_calls._other"), 1);
      assert.equal(host.metric(`mcp_filter.tool_calls.${"t".repeat(64)}`), 1);
    });

    it("writes audit lines as valid UTF-8 whatever bytes the client sends in headers and ids", () => {
      // The emulator keeps log lines as text; the bare VM hands over the bytes the filter wrote.
      const vm = new BareVm([JSON.stringify(POLICY)]);
      const raw = "\xff\x80\xc3(\xed\xa0A\xf4\x90\x80\x80ok\xe2\x82";
      const id = Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":"'), Buffer.from(raw, "latin1"), Buffer.from('","method":"tools/call","params":{"name":"get-env"}}')]);
      assert.equal(vm.post(1, [["mcp-session-id", raw], ["x-user-id", raw], ["mcp-protocol-version", raw]], id), false);
      const line = vm.info.find((b) => b.toString("latin1").startsWith('{"audit"'));
      assert.ok(line, "an audit line was written");
      const text = new TextDecoder("utf-8", { fatal: true }).decode(line);
      const decoded = new TextDecoder().decode(Buffer.from(raw, "latin1")); // how a UTF-8 reader sees the bytes
      const audit = JSON.parse(text);
      for (const field of ["session", "user", "protocol", "id"]) assert.equal(audit[field], decoded, field);
      assert.equal(audit.decision, "deny");
    });

    it("cuts a client string over 4096 bytes to a whole character and an ellipsis in audit lines and denials", () => {
      const host = startHost({ defaultAction: "deny" });
      const long = "\u20ac".repeat(2000); // 3 bytes each: byte 4096 falls inside a character
      const x = post(host, call(long, 1, {}), {});
      assert.equal(x.json.error.message, "Unknown tool: " + "\u20ac".repeat(1365) + "\u2026");
      assert.equal(audits(host).at(-1).tool, "\u20ac".repeat(1365) + "\u2026");
      const exact = "a".repeat(4096);
      const y = post(host, JSON.stringify({ jsonrpc: "2.0", id: 2, method: "prompts/get", params: { name: exact } }));
      assert.equal(y.json.error.message, "Unknown prompt: " + exact);
      assert.equal(audits(host).at(-1).prompt, exact);
    });

    it("judges a tool name of megabytes of invalid UTF-8 without a trap, and answers it in a few KB", () => {
      // Each 0xFF byte reads as U+FFFD (3 bytes): 10 MB become 30 MB of name.
      const host = startHost({ defaultAction: "deny", maxBodyBytes: 16 * 1024 * 1024 });
      const head = Buffer.from('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"');
      const body = Buffer.concat([head, Buffer.alloc(10 * 1024 * 1024, 0xff), Buffer.from('"}}')]);
      const x = post(host, body);
      assert.equal(x.json.error.code, -32602);
      assert.ok(x.reply!.body.length < 5000, `${x.reply!.body.length} bytes`);
      assert.ok(host.logs("info").every((l) => l.message.length < 5000));
      assert.equal(host.traps, 0);
      assert.equal(post(host, call("echo")).forwarded, false);
      assert.equal(host.traps, 0);
    });

    it("writes one audit line per message with session, user, method, tool, decision, rule and size", () => {
      const host = startHost();
      const body = `[${call("echo", 1)},${call("get-env", 2)}]`;
      post(host, body, { headers: [["x-user-id", "u-1"], ["mcp-session-id", "s-9"], ["mcp-protocol-version", "2025-06-18"]] });
      const lines = audits(host);
      assert.equal(lines.length, 2);
      assert.deepEqual(lines[1], {
        audit: "mcp", session: "s-9", user: "u-1", protocol: "2025-06-18", method: "tools/call", id: 2, tool: "get-env",
        decision: "deny", rule: "deny-risky-tools", mode: "enforce", forwarded: false, bytes: Buffer.byteLength(body), batch: 2,
      });
      assert.equal(lines[0].decision, "allow");
      assert.equal(lines[0].rule, "default");
      assert.equal(lines[0].forwarded, false);
    });

    it("escapes client strings in the audit line", () => {
      const host = startHost();
      post(host, call("get-env\",\"decision\":\"allow"), { headers: [["x-user-id", "eve\"}"]] });
      const line = audits(host).at(-1);
      assert.equal(line.tool, "get-env\",\"decision\":\"allow");
      assert.equal(line.user, "eve\"}");
      assert.equal(line.decision, "allow"); // the tool is not get-env, so the default decides
    });

    it("writes a tool name into the audit line and the denial exactly as JSON.parse reads it, whatever sits where", () => {
      // Every character class the JSON writer treats apart, at every position of names around
      // its 16-byte steps: lone surrogates (\ud800) and U+D7FF share a lead byte (0xED).
      const specials = ["\"", "\\", "\n", "\u0001", "\u001f", "\u007f", "/", "é", "\ud7ff", "\ud800", "\udfff", "😀"];
      const host = startHost();
      for (let len = 0; len <= 34; len++) {
        for (let at = 0; at <= len; at++) {
          for (const special of specials) {
            const name = "gzip-" + "x".repeat(at) + special + "y".repeat(len - at);
            host.clearLogs();
            const r = post(host, call(name));
            assert.equal(r.json?.error?.message, `Unknown tool: ${name}`, JSON.stringify(name));
            assert.equal(audits(host)[0].tool, name, JSON.stringify(name));
          }
        }
      }
    });
  });
});
