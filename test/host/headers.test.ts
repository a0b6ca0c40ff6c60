// Header maps through the ABI, with the semantics of Envoy's HeaderMapImpl and context.cc.
import * as assert from "node:assert/strict";
import { HeaderList } from "../../filter/host";
import { HeaderMap } from "../../filter/host/headers";
import { REQUEST, R, letter, lines, pairsBytes, parsePairsBytes, startHost } from "./helpers";
import { Abi, OUT_PTR, OUT_SIZE, ProxyModule, drop, i32 } from "./proxy-module";

const REQ = 0;

/** A module whose on_request_headers runs `body(m)` and then returns `status`. */
function onRequestHeaders(imports: string[], body: (m: ProxyModule) => number[], abi: Abi = "0_2_0", status = 0): Uint8Array {
  const m = new ProxyModule(imports, abi);
  return m.on("proxy_on_request_headers", abi === "0_1_0" ? 2 : 3, [...body(m), ...i32(status)]).build();
}

function getHeader(key: string, abi: Abi = "0_2_0"): Uint8Array {
  return onRequestHeaders(["proxy_get_header_map_value"], (m) => {
    const k = m.str(key);
    return [...m.logCode(m.call("proxy_get_header_map_value", REQ, k.ptr, k.len, OUT_PTR, OUT_SIZE)), ...m.logOut()];
  }, abi);
}

function run(wasm: Uint8Array, headers: HeaderList = REQUEST) {
  const host = startHost(wasm);
  const ctx = host.newHttpContext();
  ctx.requestHeaders(headers, true);
  return { host, ctx, lines: lines(host) };
}

describe("host: header maps", () => {
  it("lowercases incoming header keys and keeps repeated headers as separate entries", () => {
    const { ctx } = run(onRequestHeaders([], () => []), [...REQUEST, ["X-Tag", "a"], ["x-tag", "b"]]);
    assert.deepEqual(ctx.upstream.headers?.filter(([k]) => k === "x-tag"), [["x-tag", "a"], ["x-tag", "b"]]);
  });

  it("joins a repeated inline header (content-type) with a comma, as Envoy's codec does", () => {
    const { ctx } = run(onRequestHeaders([], () => []), [...REQUEST, ["Content-Type", "a"], ["content-type", "b"]]);
    assert.deepEqual(ctx.upstream.headers?.filter(([k]) => k === "content-type"), [["content-type", "a,b"]]);
  });

  // Envoy 1.40 (official build) joins these repeated request headers too: the cors, cache,
  // compressor and grpc filters register them as custom inline headers (source/common/http/
  // header_map_impl.cc CustomInlineHeaderRegistry). mcp-session-id and last-event-id stay apart.
  // Measured by test/envoy/differential.test.ts, which sends them twice through both engines.
  it("joins repeated custom inline headers of the official build (accept, content-encoding) and keeps others apart", () => {
    const { ctx } = run(onRequestHeaders([], () => []), [
      ...REQUEST, ["accept", "a"], ["content-encoding", "gzip"], ["mcp-session-id", "s"], ["accept", "b"], ["content-encoding", "br"], ["mcp-session-id", "t"],
    ]);
    assert.deepEqual(ctx.upstream.headers?.slice(REQUEST.length), [["accept", "a,b"], ["content-encoding", "gzip,br"], ["mcp-session-id", "s"], ["mcp-session-id", "t"]]);
  });

  it("keeps pseudo-headers in front of the others, also when the filter adds one", () => {
    const wasm = onRequestHeaders(["proxy_add_header_map_value"], (m) => {
      const k = m.str(":protocol"), v = m.str("websocket");
      return [...m.call("proxy_add_header_map_value", REQ, k.ptr, k.len, v.ptr, v.len), ...drop];
    });
    const { ctx } = run(wasm, [["x-a", "1"], [":method", "GET"], [":path", "/"]]);
    assert.deepEqual(ctx.upstream.headers, [[":method", "GET"], [":path", "/"], [":protocol", "websocket"], ["x-a", "1"]]);
  });

  it("maps a Host header to :authority", () => {
    const { ctx } = run(onRequestHeaders([], () => []), [[":method", "GET"], [":path", "/"], ["Host", "example"]]);
    assert.deepEqual(ctx.upstream.headers, [[":method", "GET"], [":path", "/"], [":authority", "example"]]);
  });

  const gets: Array<{ name: string; abi: Abi; key: string; headers: HeaderList; want: string[] }> = [
    { name: "returns the value for any key case", abi: "0_2_0", key: "X-TAG", headers: [["x-tag", "v"]], want: [letter(R.Ok), "v"] },
    { name: "returns the first value of a repeated header", abi: "0_2_0", key: "x-tag", headers: [["x-tag", "a"], ["x-tag", "b"]], want: [letter(R.Ok), "a"] },
    { name: "answers NotFound for a missing header under ABI 0.2.0", abi: "0_2_0", key: "x-none", headers: [], want: [letter(R.NotFound), ""] },
    { name: "answers Ok and an empty value for a missing header under ABI 0.1.0", abi: "0_1_0", key: "x-none", headers: [], want: [letter(R.Ok), ""] },
  ];
  for (const t of gets) {
    it(`get_header_map_value ${t.name}`, () => {
      const { lines: l } = run(getHeader(t.key, t.abi), [...REQUEST, ...t.headers]);
      // The module logs the result code, then the value (empty when the host wrote none).
      assert.deepEqual(l, t.want);
    });
  }

  const edits: Array<{ name: string; ops: (m: ProxyModule) => number[]; headers: HeaderList; want: HeaderList }> = [
    {
      name: "add lowercases the key and appends a separate entry",
      ops: (m) => { const k = m.str("X-Tag"), v = m.str("c"); return [...m.call("proxy_add_header_map_value", REQ, k.ptr, k.len, v.ptr, v.len), ...drop]; },
      headers: [["x-tag", "a"]], want: [["x-tag", "a"], ["x-tag", "c"]],
    },
    {
      name: "add to an inline header (user-agent) appends to its value",
      ops: (m) => { const k = m.str("user-agent"), v = m.str("b"); return [...m.call("proxy_add_header_map_value", REQ, k.ptr, k.len, v.ptr, v.len), ...drop]; },
      headers: [["user-agent", "a"]], want: [["user-agent", "a,b"]],
    },
    {
      // Envoy source/common/http/header_map_impl.cc HeaderMapImpl::setCopy: remove, then addCopy.
      // Real Envoy 1.40 forwards a replaced x-mcp-method after x-request-id (test/envoy/differential.test.ts).
      name: "replace removes every entry of the key and adds the new value at the end",
      ops: (m) => { const k = m.str("x-tag"), v = m.str("z"); return [...m.call("proxy_replace_header_map_value", REQ, k.ptr, k.len, v.ptr, v.len), ...drop]; },
      headers: [["x-tag", "a"], ["x-other", "o"], ["x-tag", "b"]], want: [["x-other", "o"], ["x-tag", "z"]],
    },
    {
      name: "replace of an inline header (content-type) moves it to the end too",
      ops: (m) => { const k = m.str("content-type"), v = m.str("text/plain"); return [...m.call("proxy_replace_header_map_value", REQ, k.ptr, k.len, v.ptr, v.len), ...drop]; },
      headers: [["content-type", "application/json"], ["x-other", "o"]], want: [["x-other", "o"], ["content-type", "text/plain"]],
    },
    {
      name: "replace of a missing header adds it",
      ops: (m) => { const k = m.str("x-new"), v = m.str("n"); return [...m.call("proxy_replace_header_map_value", REQ, k.ptr, k.len, v.ptr, v.len), ...drop]; },
      headers: [], want: [["x-new", "n"]],
    },
    {
      name: "remove drops every entry of the key",
      ops: (m) => { const k = m.str("X-Tag"); return [...m.call("proxy_remove_header_map_value", REQ, k.ptr, k.len), ...drop]; },
      headers: [["x-tag", "a"], ["x-other", "o"], ["x-tag", "b"]], want: [["x-other", "o"]],
    },
    {
      name: "set_header_map_pairs replaces the map, lowercasing keys",
      ops: (m) => { const p = m.str(pairsBytes([["X-One", "1"], ["x-two", "2"]])); return [...m.call("proxy_set_header_map_pairs", REQ, p.ptr, p.len), ...drop]; },
      headers: [["x-old", "o"]], want: [["x-one", "1"], ["x-two", "2"]],
    },
    {
      name: "set_header_map_pairs with malformed pairs empties the map (PairsUtil::toPairs gives none)",
      ops: (m) => { const p = m.str(pairsBytes([["x-one", "1"]]).subarray(0, 10)); return [...m.call("proxy_set_header_map_pairs", REQ, p.ptr, p.len), ...drop]; },
      headers: [["x-old", "o"]], want: [],
    },
  ];
  for (const t of edits) {
    it(t.name, () => {
      const imports = ["proxy_add_header_map_value", "proxy_replace_header_map_value", "proxy_remove_header_map_value", "proxy_set_header_map_pairs"];
      const { ctx } = run(onRequestHeaders(imports, t.ops), t.headers);
      assert.deepEqual(ctx.upstream.headers, t.want);
    });
  }

  it("remove of a missing header answers Ok", () => {
    const wasm = onRequestHeaders(["proxy_remove_header_map_value"], (m) => {
      const k = m.str("x-none");
      return m.logCode(m.call("proxy_remove_header_map_value", REQ, k.ptr, k.len));
    });
    assert.deepEqual(run(wasm).lines, [letter(R.Ok)]);
  });

  it("get_header_map_pairs returns the wire format: count, sizes, NUL-terminated keys and values", () => {
    const wasm = onRequestHeaders(["proxy_get_header_map_pairs"], (m) => [
      ...m.call("proxy_get_header_map_pairs", REQ, OUT_PTR, OUT_SIZE), ...drop, ...m.logOut(),
    ]);
    const host = startHost(wasm);
    host.newHttpContext().requestHeaders([[":path", "/x"], ["x-tag", "a"], ["x-tag", "b"]], true);
    const raw = Buffer.from(lines(host)[0], "latin1");
    assert.deepEqual(parsePairsBytes(raw), [[":path", "/x"], ["x-tag", "a"], ["x-tag", "b"]]);
  });

  it("get_header_map_size answers the sum of key and value lengths", () => {
    const wasm = onRequestHeaders(["proxy_get_header_map_size"], (m) => [
      ...m.call("proxy_get_header_map_size", REQ, OUT_SIZE), ...drop,
      ...m.logCode([...i32(OUT_SIZE), 0x28, 2, 0]),
    ]);
    const host = startHost(wasm);
    host.newHttpContext().requestHeaders([[":path", "/x"], ["x-tag", "ab"]], true); // 5+2 + 5+2 = 14
    assert.deepEqual(lines(host), [letter(14)]);
  });

  it("get_header_map_pairs shows the module's own changes: a replaced header moves to the end", () => {
    const m = new ProxyModule(["proxy_get_header_map_pairs", "proxy_replace_header_map_value"]);
    const k = m.str("content-type"), v = m.str("text/plain");
    const readPairs = [...m.call("proxy_get_header_map_pairs", REQ, OUT_PTR, OUT_SIZE), ...drop, ...m.logOut()];
    m.on("proxy_on_request_headers", 3, [
      ...readPairs, ...m.call("proxy_replace_header_map_value", REQ, k.ptr, k.len, v.ptr, v.len), ...drop, ...readPairs, ...i32(0),
    ]);
    const host = startHost(m.build());
    const list: HeaderList = [...REQUEST, ["content-type", "application/json"], ["x-tag", "a"]];
    host.newHttpContext().requestHeaders(list, true);
    const seen = lines(host).map((l) => parsePairsBytes(Buffer.from(l, "latin1")));
    assert.deepEqual(seen, [list, [...REQUEST, ["x-tag", "a"], ["content-type", "text/plain"]]]);
  });

  it("answers BadArgument for a header map type above 7", () => {
    const wasm = onRequestHeaders(["proxy_get_header_map_value"], (m) => {
      const k = m.str(":path");
      return m.logCode(m.call("proxy_get_header_map_value", 8, k.ptr, k.len, OUT_PTR, OUT_SIZE));
    });
    assert.deepEqual(run(wasm).lines, [letter(R.BadArgument)]);
  });

  it("answers BadArgument for response headers while only the request has arrived", () => {
    const wasm = onRequestHeaders(["proxy_get_header_map_value"], (m) => {
      const k = m.str(":status");
      return m.logCode(m.call("proxy_get_header_map_value", 2, k.ptr, k.len, OUT_PTR, OUT_SIZE));
    });
    assert.deepEqual(run(wasm).lines, [letter(R.BadArgument)]);
  });
});

describe("host: HeaderMap as a codec and the filter manager use it", () => {
  it("lowercases keys, joins a repeated inline header and keeps :authority for host only in request maps", () => {
    assert.deepEqual(HeaderMap.from([["X-A", "1"], ["content-type", "a"]], "request").toList(), [["x-a", "1"], ["content-type", "a"]]);
    assert.deepEqual(HeaderMap.from([["Content-Type", "c"], ["content-type", "d"]], "request").toList(), [["content-type", "c,d"]]);
    assert.deepEqual(HeaderMap.from([["host", "h"], [":path", "/"]], "request").toList(), [[":authority", "h"], [":path", "/"]]);
    assert.deepEqual(HeaderMap.from([["host", "h"]], "response").toList(), [["host", "h"]]);
  });

  it("places an added pseudo-header after the others and joins an added inline header to the first entry", () => {
    const list: HeaderList = [[":method", "POST"], [":path", "/mcp"], ["content-type", "application/json"], ["x-tag", "a"]];
    const m = HeaderMap.from(list, "request");
    m.add(":protocol", "ws");
    m.add("content-type", "more");
    assert.deepEqual(m.toList(), [list[0], list[1], [":protocol", "ws"], ["content-type", "application/json,more"], list[3]]);
  });

  it("finds a key whatever case it was added or asked in", () => {
    const m = HeaderMap.from([["X-Tag", "a"], ["Content-Type", "t"], ["X-Other", "o"]], "request");
    m.set("x-tag", "b");
    m.set("X-TAG", "c");
    m.add("content-type", "u");
    assert.equal(m.get("x-OTHER"), "o");
    m.remove("x-other");
    m.add("X-other", "p");
    m.remove("X-OTHER");
    assert.deepEqual(m.toList(), [["x-tag", "c"], ["content-type", "t,u"]]);
  });

  it("set changes the first entry in place, as Envoy's inline setters do", () => {
    const m = HeaderMap.from([[":status", "200"], ["x-tag", "a"], ["x-other", "o"], ["x-tag", "b"]], "response");
    m.set("x-tag", "c");
    assert.deepEqual(m.toList(), [[":status", "200"], ["x-tag", "c"], ["x-other", "o"], ["x-tag", "b"]]);
  });
});
