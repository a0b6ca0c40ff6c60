// Each class of attempt to make the filter read a body differently from the server.
// The oracle is the server's own reading: JSON.parse(new TextDecoder().decode(body)).
import * as assert from "node:assert/strict";
import { startHost, post, call, header } from "./helpers";
import { serverParse, serverToolCalls } from "./fixtures";

const DENIED = new Set(["get-env"]);

const attempts: Array<[string, string | Buffer]> = [
  ["a unicode escape in the tool name", '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\\u0067et-env"}}'],
  ["an escaped hyphen in the tool name", '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get\\u002denv"}}'],
  ["upper-case hex in an escape", '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get\\u002Denv"}}'],
  ["an escaped slash in the method", '{"jsonrpc":"2.0","id":1,"method":"tools\\/call","params":{"name":"get-env"}}'],
  ["escaped key names", '{"jsonrpc":"2.0","id":1,"m\\u0065thod":"tools/call","p\\u0061rams":{"n\\u0061me":"get-env"}}'],
  ["a duplicate name, allowed first and denied last", '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"get-env"}}'],
  ["a duplicate method, harmless first", '{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call","params":{"name":"get-env"}}'],
  ["a duplicate params, harmless first", '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"},"params":{"name":"get-env"}}'],
  ["params before method", '{"params":{"name":"get-env"},"id":1,"jsonrpc":"2.0","method":"tools/call"}'],
  ["a denied element late in a batch", `[${call("echo", 1)},${call("echo", 2)},${call("get-env", 3)}]`],
  ["a denied notification (no id)", '{"jsonrpc":"2.0","method":"tools/call","params":{"name":"get-env"}}'],
  ["a denied notification inside a batch", `[${call("echo", 1)},{"jsonrpc":"2.0","method":"tools/call","params":{"name":"get-env"}}]`],
  ["whitespace everywhere", ' \r\n\t{ "jsonrpc" : "2.0" , "id" : 1 , "method" : "tools/call" , "params" : { "name" : "get-env" } } \n'],
  ["a leading byte-order mark", Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(call("get-env"))])],
  ["a name after a deeply nested argument", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"x":${"[".repeat(50000)}${"]".repeat(50000)}},"name":"get-env"}}`],
  ["a name after a 1 MB string argument", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"x":"${"A\\\"".repeat(250000)}"},"name":"get-env"}}`],
  ["a surrogate pair escape elsewhere in the name's object", '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"k":"\\ud83d\\ude00","name":"get-env"}}'],
];

describe("filter: bypass attempts", () => {
  for (const [what, body] of attempts) {
    it(`${what} does not reach the server`, () => {
      const buf = typeof body === "string" ? Buffer.from(body) : body;
      assert.ok(serverToolCalls(buf).some((n) => DENIED.has(n)), "the attempt must really call get-env as the server reads it");
      const host = startHost({ defaultAction: "allow", maxBodyBytes: 4 * 1024 * 1024, rules: [{ name: "no-env", action: "deny", tools: ["get-env"] }] });
      const x = post(host, buf, { chunks: [1, Math.floor(buf.length / 2)] });
      assert.equal(x.forwarded, false);
      assert.equal(x.upstreamBody, "");
      assert.equal(host.traps, 0);
    });
  }

  it("invalid UTF-8 in a name is read as U+FFFD, as the server reads it", () => {
    const host = startHost({ defaultAction: "deny", rules: [{ action: "allow", tools: ["ok-\uFFFD"] }] });
    const body = Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ok-'), Buffer.from([0xff]), Buffer.from('"}}')]);
    assert.deepEqual(serverToolCalls(body), ["ok-\uFFFD"]);
    assert.equal(post(host, body).forwarded, true);
  });

  it("an overlong encoding is not read as the ASCII character it imitates", () => {
    const host = startHost({ defaultAction: "deny", rules: [{ action: "allow", tools: ["get?env"] }, { action: "deny", tools: ["*"] }] });
    // 0xC0 0xAD imitates '-'; TextDecoder yields two U+FFFD, so `?` (one character) cannot match.
    const body = Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get'), Buffer.from([0xc0, 0xad]), Buffer.from('env"}}')]);
    assert.equal(post(host, body).forwarded, false);
  });

  it("a lone surrogate escape stays distinct from U+FFFD", () => {
    const host = startHost({ defaultAction: "allow", rules: [{ action: "deny", tools: ["x\uFFFD"] }] });
    assert.equal(post(host, '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x\\ud800"}}').forwarded, true);
    assert.equal(post(host, '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x\\ufffd"}}').forwarded, false);
  });

  describe("reading JSON as the server does (filter/README.md)", () => {
    const HEAD = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":';
    const mismatched: Array<[string, string, string]> = [
      ["an array closed with }", '{"a":[1}}', "}"],
      ["an object closed with ]", '{"a":{"b":1]]', "]"],
    ];
    for (const [what, args, wrong] of mismatched) {
      it(`params.arguments with ${what} gets -32700 at the wrong closer and is not forwarded`, () => {
        const body = HEAD + args + "}}";
        assert.equal(serverParse(body), undefined, "the server must refuse this body too");
        const host = startHost();
        const x = post(host, body);
        assert.equal(x.forwarded, false, "a body the server cannot parse was forwarded");
        assert.equal(x.upstreamBody, "");
        assert.equal(x.reply?.status, 400);
        assert.equal(x.json.error.code, -32700);
        assert.equal(x.json.error.message, `Parse error: unexpected token at byte ${HEAD.length + args.indexOf(wrong)}`);
      });
    }

    it("decodes an escape in the name key alone: a denied tool is refused as unknown, an allowed one is forwarded", () => {
      // Only `name` is escaped, so a filter that cannot decode keys would refuse both as
      // lacking params.name rather than judge the tool.
      const written = (tool: string) => `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"n\\u0061me":"${tool}","arguments":{}}}`;
      const host = startHost();
      const denied = written("get-env");
      assert.deepEqual(serverToolCalls(denied), ["get-env"]);
      const x = post(host, denied);
      assert.equal(x.forwarded, false);
      assert.equal(x.json.error.code, -32602);
      assert.equal(x.json.error.message, "Unknown tool: get-env", "judged as the tool get-env, not as a call without a name");
      const allowed = written("echo");
      assert.deepEqual(serverToolCalls(allowed), ["echo"]);
      const y = post(host, allowed);
      assert.equal(y.forwarded, true, "an allowed tool whose name key is escaped was refused");
      assert.equal(y.upstreamBody, allowed);
      assert.equal(header(y.ctx.upstream.headers, "x-mcp-tool"), "echo");
    });

    it("skips one leading BOM as TextDecoder does: an allowed call is forwarded byte for byte; a second BOM is a parse error", () => {
      const bom = Buffer.from([0xef, 0xbb, 0xbf]);
      const host = startHost();
      const once = Buffer.concat([bom, Buffer.from(call("echo", 3))]);
      assert.equal(serverParse(once).params.name, "echo");
      const x = post(host, once);
      assert.equal(x.forwarded, true, "an allowed call after one BOM was refused");
      assert.deepEqual(x.ctx.upstream.body, once);
      assert.equal(header(x.ctx.upstream.headers, "x-mcp-tool"), "echo");
      // TextDecoder drops only the first; JSON.parse refuses the U+FEFF that is left.
      const twice = Buffer.concat([bom, bom, Buffer.from(call("echo", 4))]);
      assert.equal(serverParse(twice), undefined);
      const y = post(host, twice);
      assert.equal(y.forwarded, false, "a body the server cannot parse (a BOM left after the first) was forwarded");
      assert.equal(y.json.error.code, -32700);
      assert.equal(y.json.error.message, "Parse error: unexpected token at byte 3");
    });
  });

  describe("bodies the filter cannot judge fail closed", () => {
    const cases: Array<[string, Array<[string, string]>]> = [
      ["content-encoding gzip", [["content-type", "application/json"], ["content-encoding", "gzip"]]],
      ["content-type text/plain", [["content-type", "text/plain"]]],
      ["a missing content-type", []],
      ["a utf-16 charset", [["content-type", "application/json; charset=utf-16"]]],
      ["two joined content-types", [["content-type", "application/json, text/plain"]]],
      ["a lookalike media type", [["content-type", "application/jsonx"]]],
    ];
    for (const [what, headers] of cases) {
      it(`${what} is refused with 415`, () => {
        const host = startHost();
        const x = post(host, call("get-env"), { replaceHeaders: [[":method", "POST"], [":path", "/mcp"], [":authority", "g"], ...headers] });
        assert.equal(x.reply?.status, 415);
        assert.equal(x.json.error.code, -32600);
        assert.equal(x.upstreamBody, "");
        assert.equal(host.metric("mcp_filter.unjudgeable_bodies"), 1);
      });
    }

    const accepted: Array<[string, string]> = [
      ["upper case", "APPLICATION/JSON"],
      ["a utf-8 charset parameter", "application/json; charset=UTF-8"],
      ["a quoted charset", "application/json;charset=\"utf-8\""],
      ["another parameter", "application/json ; profile=mcp"],
    ];
    for (const [what, ct] of accepted) {
      it(`a JSON content-type with ${what} is judged like any other`, () => {
        const host = startHost();
        const hdrs: Array<[string, string]> = [[":method", "POST"], [":path", "/mcp"], [":authority", "g"], ["content-type", ct]];
        assert.equal(post(host, call("get-env"), { replaceHeaders: hdrs }).forwarded, false);
        assert.equal(post(host, call("echo"), { replaceHeaders: hdrs }).forwarded, true);
      });
    }

    it("unjudgeableBody forward passes them unjudged and logs it", () => {
      const host = startHost({ defaultAction: "allow", unjudgeableBody: "forward" });
      const x = post(host, "anything", { replaceHeaders: [[":method", "POST"], [":path", "/mcp"], [":authority", "g"], ["content-type", "text/plain"]] });
      assert.equal(x.forwarded, true);
      assert.ok(host.logs("info").some((l) => l.message.includes("\"decision\":\"unjudged\"")));
    });

    it("unjudgeableBody forward still drops routing headers the client made up", () => {
      const host = startHost({ defaultAction: "allow", unjudgeableBody: "forward" });
      const x = post(host, "anything", { replaceHeaders: [[":method", "POST"], [":path", "/mcp"], [":authority", "g"], ["content-type", "text/plain"], ["x-mcp-method", "ping"], ["x-mcp-tool", "echo"]] });
      assert.equal(x.forwarded, true);
      assert.equal(header(x.ctx.upstream.headers, "x-mcp-method"), undefined);
      assert.equal(header(x.ctx.upstream.headers, "x-mcp-tool"), undefined);
    });
  });

  describe("a user header sent more than once is refused, whichever rule it would dodge", () => {
    // A user-scoped deny rule must not be dodged by a second value ("mallory,mallory" matches no
    // user), nor a user-scoped allow rule borrowed by one.
    const policy = { defaultAction: "allow", rules: [{ name: "no-sum-for-mallory", action: "deny", tools: ["get-sum"], users: ["mallory"] }] };
    const cases: Array<[string, Array<[string, string]>]> = [
      ["the same user twice", [["x-user-id", "mallory"], ["x-user-id", "mallory"]]],
      ["a user and an empty value", [["x-user-id", "mallory"], ["x-user-id", ""]]],
      ["two users", [["x-user-id", "alice"], ["x-user-id", "mallory"]]],
    ];
    for (const [what, users] of cases) {
      it(what, () => {
        const host = startHost(policy);
        const x = post(host, call("get-sum", 4), { headers: users });
        assert.equal(x.forwarded, false);
        assert.equal(x.reply?.status, 400);
        assert.equal(x.json.error.code, -32600);
        assert.equal(x.json.error.message, "Invalid Request: the user header is repeated");
        assert.equal(host.metric("mcp_filter.invalid_requests"), 1);
      });
    }

    it("one user header is judged as usual", () => {
      const host = startHost(policy);
      assert.equal(post(host, call("get-sum", 4), { headers: [["x-user-id", "mallory"]] }).forwarded, false);
      assert.equal(post(host, call("get-sum", 4), { headers: [["x-user-id", "alice"]] }).forwarded, true);
    });
  });

  it("request trailers on a held POST are refused, not judged late", () => {
    const host = startHost();
    const ctx = host.newHttpContext();
    ctx.requestHeaders([[":method", "POST"], [":path", "/mcp"], [":authority", "g"], ["content-type", "application/json"]], false);
    ctx.requestBody(Buffer.from(call("get-env")), false);
    ctx.requestTrailers([["x-t", "1"]]);
    assert.equal(ctx.localReply?.status, 400);
    assert.equal(ctx.upstream.body.length, 0);
  });
});
