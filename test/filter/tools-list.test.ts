// tools/list answers lose the tools the caller may not call, in JSON and in SSE framing.
import * as assert from "node:assert/strict";
import { startHost, post, respond, header, requestHeaders, POLICY } from "./helpers";
import { TOOLS, toolsResult, sse } from "./fixtures";

const LIST = JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" });
function names(json: string): string[] {
  return JSON.parse(json).result.tools.map((t: { name: string }) => t.name);
}

function sseData(stream: string): string[] {
  return stream.split(/\n\n/).filter((e) => e.includes("data:")).map((e) => e.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(l.startsWith("data: ") ? 6 : 5)).join("\n"));
}

describe("filter: tools/list", () => {
  it("removes denied tools from a JSON answer and keeps the others in order", () => {
    const host = startHost();
    const x = post(host, LIST);
    const out = respond(x.ctx, [[":status", "200"], ["content-type", "application/json"], ["content-length", "999"]], toolsResult());
    assert.deepEqual(names(out), ["echo", "trigger-long-running-operation"]);
    assert.equal(header(x.ctx.downstream.headers, "content-length"), undefined);
    assert.equal(host.metric("mcp_filter.tools_hidden"), 3);
  });

  it("removes a denied tool that comes last in a plain JSON answer, and the answer stays JSON", () => {
    const host = startHost();
    const x = post(host, LIST);
    const out = respond(x.ctx, [[":status", "200"], ["content-type", "application/json"]], toolsResult(2, ["echo", "trigger-long-running-operation", "get-env"]));
    assert.deepEqual(names(out), ["echo", "trigger-long-running-operation"]);
    assert.equal(host.metric("mcp_filter.tools_hidden"), 1);
    const alone = respond(post(host, LIST).ctx, [[":status", "200"], ["content-type", "application/json"]], toolsResult(2, ["get-env"]));
    assert.deepEqual(names(alone), []);
  });

  it("reads response headers of any size: small ones and ones over 1 KB in turn", () => {
    // Small header maps are read into a static buffer, larger ones into the heap.
    const host = startHost();
    for (const pad of [0, 3000, 0, 3000]) {
      const x = post(host, LIST);
      const headers: Array<[string, string]> = [[":status", "200"], ["content-type", "application/json"], ["x-pad", "p".repeat(pad)]];
      assert.deepEqual(names(respond(x.ctx, headers, toolsResult())), ["echo", "trigger-long-running-operation"], `x-pad of ${pad}`);
    }
  });

  it("shows a per-user allowed tool to that user only", () => {
    const host = startHost();
    const alice = post(host, LIST, { headers: [["x-user-id", "alice"]] });
    assert.ok(names(respond(alice.ctx, [[":status", "200"], ["content-type", "application/json"]], toolsResult())).includes("get-sum"));
    const bob = post(host, LIST, { headers: [["x-user-id", "bob"]] });
    assert.ok(!names(respond(bob.ctx, [[":status", "200"], ["content-type", "application/json"]], toolsResult())).includes("get-sum"));
  });

  it("rewrites the data of an SSE answer split across chunks", () => {
    const host = startHost();
    const x = post(host, LIST);
    const stream = ": ping\n\n" + sse(toolsResult());
    const out = respond(x.ctx, [[":status", "200"], ["content-type", "text/event-stream"]], stream, [3, 20, 40, 41]);
    assert.ok(out.startsWith(": ping\n\nevent: message\nid: 1\n"));
    assert.deepEqual(names(sseData(out)[0]), ["echo", "trigger-long-running-operation"]);
  });

  it("handles CRLF framing and multi-line data", () => {
    const host = startHost();
    const x = post(host, LIST);
    const pretty = JSON.stringify(JSON.parse(toolsResult()), null, 1);
    const stream = "event: message\r\n" + pretty.split("\n").map((l) => "data: " + l).join("\r\n") + "\r\n\r\n";
    const out = respond(x.ctx, [[":status", "200"], ["content-type", "text/event-stream"]], stream);
    assert.deepEqual(names(sseData(out.replace(/\r\n/g, "\n"))[0]), ["echo", "trigger-long-running-operation"]);
  });

  it("keeps other events of the stream byte for byte", () => {
    const host = startHost();
    const x = post(host, LIST);
    const note = sse(JSON.stringify({ jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: "get-env" } }));
    const out = respond(x.ctx, [[":status", "200"], ["content-type", "text/event-stream"]], note + sse(toolsResult()));
    assert.ok(out.startsWith(note));
  });

  it("filters every tools array when a duplicate result key appears", () => {
    const host = startHost();
    const x = post(host, LIST);
    const body = `{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"get-env"}]},"result":{"tools":[{"name":"echo"},{"name":"get-env"}]}}`;
    const out = respond(x.ctx, [[":status", "200"], ["content-type", "application/json"]], body);
    assert.deepEqual(names(out), ["echo"]);
    assert.ok(!out.includes("get-env"));
  });

  it("judges a tool by its last name key, as the client reads it", () => {
    const host = startHost();
    const x = post(host, LIST);
    const out = respond(x.ctx, [[":status", "200"], ["content-type", "application/json"]], `{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"echo","name":"get-env"},{"name":"echo"}]}}`);
    assert.equal(JSON.parse(out).result.tools.length, 1);
  });

  it("leaves the answer alone when hideDeniedTools is false", () => {
    const host = startHost({ ...POLICY, hideDeniedTools: false });
    const x = post(host, LIST);
    x.ctx.responseHeaders([[":status", "200"], ["content-type", "application/json"]], false);
    x.ctx.responseBody(Buffer.from(toolsResult().slice(0, 10)), false);
    assert.equal(x.ctx.downstream.body.toString(), toolsResult().slice(0, 10));
  });

  it("hides nothing in monitor mode", () => {
    const host = startHost({ ...POLICY, mode: "monitor" });
    const x = post(host, LIST);
    assert.deepEqual(names(respond(x.ctx, [[":status", "200"], ["content-type", "application/json"]], toolsResult())), TOOLS);
  });

  for (const status of ["201", "203", "206", "299"]) {
    it(`filters a ${status} answer, which clients read like a 200`, () => {
      const host = startHost();
      const x = post(host, LIST);
      assert.deepEqual(names(respond(x.ctx, [[":status", status], ["content-type", "application/json"]], toolsResult())), ["echo", "trigger-long-running-operation"]);
    });
  }

  it("filters an SSE answer that starts with a byte order mark, which the client's decoder drops", () => {
    const host = startHost();
    const x = post(host, LIST);
    const out = respond(x.ctx, [[":status", "200"], ["content-type", "text/event-stream"]], Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(sse(toolsResult()))]));
    assert.ok(out.startsWith("\uFEFFevent: message\n"));
    assert.deepEqual(names(sseData(out.slice(1))[0]), ["echo", "trigger-long-running-operation"]);
  });

  describe("an answer whose body ends in trailers", () => {
    const cases: Array<[string, string, (out: string) => void]> = [
      ["JSON", "application/json", (out) => assert.deepEqual(names(out), ["echo", "trigger-long-running-operation"])],
      ["SSE", "text/event-stream", (out) => assert.deepEqual(names(sseData(out)[0]), ["echo", "trigger-long-running-operation"])],
      ["unreadable", "text/plain", (out) => assert.equal(JSON.parse(out).error.code, -32603)],
    ];
    for (const [what, type, check] of cases) {
      it(`is filtered too (${what})`, () => {
        const host = startHost();
        const x = post(host, LIST);
        const body = Buffer.from(type === "text/event-stream" ? sse(toolsResult()) : toolsResult());
        x.ctx.responseHeaders([[":status", "200"], ["content-type", type]], false);
        x.ctx.responseBody(body.subarray(0, 40), false);
        x.ctx.responseBody(body.subarray(40), false);
        x.ctx.responseTrailers([["x-checksum", "1"]]);
        const out = x.ctx.downstream.body.toString();
        assert.ok(!out.includes("get-env"), out);
        check(out);
        assert.equal(x.ctx.downstream.ended, true);
      });
    }
  });

  it("does not buffer an error status", () => {
    const host = startHost();
    const x = post(host, LIST);
    x.ctx.responseHeaders([[":status", "404"], ["content-type", "application/json"]], false);
    x.ctx.responseBody(Buffer.from("{\"jsonrpc\""), false);
    assert.equal(x.ctx.downstream.body.toString(), "{\"jsonrpc\"");
  });

  it("asks the server for an unencoded answer", () => {
    const host = startHost();
    const x = post(host, LIST, { headers: [["accept-encoding", "gzip"]] });
    assert.equal(header(x.ctx.upstream.headers, "accept-encoding"), undefined);
  });

  it("filters a JSON answer whatever charset it declares (the client ignores it)", () => {
    const host = startHost();
    const x = post(host, LIST);
    const out = respond(x.ctx, [[":status", "200"], ["content-type", "application/json; charset=ISO-8859-1"]], toolsResult());
    assert.deepEqual(names(out), ["echo", "trigger-long-running-operation"]);
  });

  const unfilterable: Array<[string, Array<[string, string]>]> = [
    ["an unexpected content type", [["content-type", "text/plain"]]],
    ["no content type", []],
    ["two joined content types", [["content-type", "application/json, text/event-stream"]]],
  ];
  for (const [what, typeHeaders] of unfilterable) {
    it(`replaces a 200 answer with ${what} by a JSON-RPC error rather than pass it unfiltered`, () => {
      const host = startHost();
      const x = post(host, LIST);
      const out = respond(x.ctx, [[":status", "200"], ...typeHeaders], toolsResult());
      assert.equal(JSON.parse(out).error.code, -32603);
      assert.ok(!out.includes("get-env"));
      assert.equal(header(x.ctx.downstream.headers, "content-type"), "application/json");
    });
  }

  it("replaces an encoded answer it cannot filter with a JSON-RPC error", () => {
    const host = startHost();
    const x = post(host, LIST);
    const out = respond(x.ctx, [[":status", "200"], ["content-type", "application/json"], ["content-encoding", "gzip"]], Buffer.from([0x1f, 0x8b, 1, 2, 3]));
    assert.equal(JSON.parse(out).error.code, -32603);
    assert.equal(header(x.ctx.downstream.headers, "content-encoding"), undefined);
  });
});

describe("filter: a resumed event stream (Last-Event-ID)", () => {
  // On a GET with Last-Event-ID the server replays the events after that id; a tools/list
  // answer among them must lose the hidden tools like the original did.
  const NOTE = sse(JSON.stringify({ jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: "get-env" } }), 7);
  const REPLAY = ": ping\n\n" + NOTE + sse(toolsResult(), 8);
  const SSE_OK: Array<[string, string]> = [[":status", "200"], ["content-type", "text/event-stream"]];

  function resume(host: ReturnType<typeof startHost>, extra: Array<[string, string]> = []) {
    const ctx = host.newHttpContext();
    ctx.requestHeaders(requestHeaders([["accept", "text/event-stream"], ["last-event-id", "6"], ["accept-encoding", "gzip"], ...extra], "GET"), true);
    return ctx;
  }

  it("rewrites a replayed tools/list answer and keeps the other events byte for byte", () => {
    const host = startHost();
    const ctx = resume(host);
    assert.equal(header(ctx.upstream.headers, "accept-encoding"), undefined);
    const out = respond(ctx, SSE_OK, REPLAY);
    assert.ok(out.startsWith(": ping\n\n" + NOTE));
    assert.deepEqual(names(sseData(out).at(-1)!), ["echo", "trigger-long-running-operation"]);
    assert.equal(host.metric("mcp_filter.tools_hidden"), 3);
  });

  it("gives the same output wherever the stream is split, CRLF and CR framing included", () => {
    for (const stream of [REPLAY, REPLAY.replace(/\n/g, "\r\n"), REPLAY.replace(/\n/g, "\r")]) {
      const whole = respond(resume(startHost()), SSE_OK, stream);
      assert.deepEqual(names(sseData(whole.replace(/\r\n?/g, "\n")).at(-1)!), ["echo", "trigger-long-running-operation"]);
      for (let cut = 1; cut < stream.length; cut++) {
        for (const second of [cut + 1, stream.length - 1]) {
          const cuts = second > cut && second < stream.length ? [cut, second] : [cut];
          assert.equal(respond(resume(startHost()), SSE_OK, stream, cuts), whole, `cut at ${cuts}`);
        }
      }
    }
  });

  it("passes each event on as soon as it is whole, and holds only the unfinished one", () => {
    const host = startHost();
    const ctx = resume(host);
    ctx.responseHeaders(SSE_OK, false);
    ctx.responseBody(Buffer.from(NOTE + "event: mess"), false);
    assert.equal(ctx.downstream.body.toString(), NOTE);
    ctx.responseBody(Buffer.from("age\ndata: {}\n\n"), false);
    assert.equal(ctx.downstream.body.toString(), NOTE + "event: message\ndata: {}\n\n");
  });

  it("judges the replay for the user who resumes, as the original answer was", () => {
    const host = startHost();
    const alice = respond(resume(host, [["x-user-id", "alice"]]), SSE_OK, REPLAY);
    assert.ok(names(sseData(alice).at(-1)!).includes("get-sum"));
    const bob = respond(resume(host, [["x-user-id", "bob"]]), SSE_OK, REPLAY);
    assert.ok(!names(sseData(bob).at(-1)!).includes("get-sum"));
  });

  it("refuses a resume whose user header is repeated", () => {
    const host = startHost();
    const ctx = resume(host, [["x-user-id", "alice"], ["x-user-id", "bob"]]);
    assert.equal(ctx.localReply?.status, 400);
    assert.equal(ctx.upstream.headers, undefined);
  });

  it("skips a leading \"\u00ef\u00bb\u00bf\" (a byte order mark read as Latin-1) as the SDK's event parser does", () => {
    const host = startHost();
    const stream = Buffer.concat([Buffer.from("\u00ef\u00bb\u00bf", "utf8"), Buffer.from(REPLAY.slice(": ping\n\n".length))]);
    const out = respond(resume(host), SSE_OK, stream);
    assert.deepEqual(names(sseData(out.slice(3)).at(-1)!), ["echo", "trigger-long-running-operation"]);
    const post1 = post(host, LIST);
    const whole = respond(post1.ctx, SSE_OK, Buffer.concat([Buffer.from("\u00ef\u00bb\u00bf", "utf8"), Buffer.from(sse(toolsResult()))]));
    assert.deepEqual(names(sseData(whole.slice(3))[0]), ["echo", "trigger-long-running-operation"]);
  });

  it("is left alone in monitor mode, with hideDeniedTools off, and without Last-Event-ID", () => {
    for (const [config, extra] of [[{ ...POLICY, mode: "monitor" }, true], [{ ...POLICY, hideDeniedTools: false }, true], [POLICY, false]] as const) {
      const host = startHost(config);
      const ctx = host.newHttpContext();
      ctx.requestHeaders(requestHeaders(extra ? [["last-event-id", "6"]] : [], "GET"), true);
      ctx.responseHeaders(SSE_OK, false);
      ctx.responseBody(Buffer.from(REPLAY.slice(0, 10)), false);
      assert.equal(ctx.downstream.body.toString(), REPLAY.slice(0, 10));
    }
  });

  it("drops the rest of a resumed stream once one event outgrows maxBodyBytes", () => {
    const host = startHost({ ...POLICY, maxBodyBytes: 1000 });
    const ctx = resume(host);
    ctx.responseHeaders(SSE_OK, false);
    ctx.responseBody(Buffer.from(NOTE + "data: " + "x".repeat(1200)), false);
    ctx.responseBody(Buffer.from("\n\n" + sse(toolsResult())), false);
    assert.equal(ctx.downstream.body.toString(), NOTE);
    assert.ok(host.logs("info").some((l) => l.message.includes("exceeds maxBodyBytes; the rest of the stream is dropped")));
  });

  it("filters a replayed answer that comes as JSON rather than SSE", () => {
    const host = startHost();
    const out = respond(resume(host), [[":status", "200"], ["content-type", "application/json"]], toolsResult());
    assert.deepEqual(names(out), ["echo", "trigger-long-running-operation"]);
  });

  it("reads a replay labelled JSON that is not JSON as events, as the MCP SDK reads any answer to a GET", () => {
    for (const type of ["application/json", "application/json; charset=utf-8"]) {
      const host = startHost();
      const out = respond(resume(host), [[":status", "200"], ["content-type", type]], REPLAY);
      assert.ok(out.startsWith(": ping\n\n" + NOTE), type);
      assert.deepEqual(names(sseData(out).at(-1)!), ["echo", "trigger-long-running-operation"], type);
      assert.equal(host.metric("mcp_filter.tools_hidden"), 3, type);
    }
  });
});
