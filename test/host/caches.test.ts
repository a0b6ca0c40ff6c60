// The emulator's caches must never answer with stale data: each test changes what a cache
// was built from and reads again.
import * as assert from "node:assert/strict";
import { HeaderList } from "../../filter/host";
import { HeaderMap } from "../../filter/host/headers";
import { lines, parsePairsBytes, startHost } from "./helpers";
import { OUT_PTR, OUT_SIZE, ProxyModule, drop, i32 } from "./proxy-module";

const LIST: HeaderList = [[":method", "POST"], [":path", "/mcp"], ["content-type", "application/json"], ["x-tag", "a"]];

const pairsOf = (m: HeaderMap): HeaderList => parsePairsBytes(Buffer.from(m.pairs()));

describe("host: caches", () => {
  describe("keys of the previous header list", () => {
    it("do not carry over to a list with other keys", () => {
      assert.deepEqual(HeaderMap.from([["X-A", "1"], ["content-type", "a"]], "request").toList(), [["x-a", "1"], ["content-type", "a"]]);
      assert.deepEqual(HeaderMap.from([["content-type", "b"], ["X-A", "2"]], "request").toList(), [["content-type", "b"], ["x-a", "2"]]);
      assert.deepEqual(HeaderMap.from([["Content-Type", "c"], ["content-type", "d"]], "request").toList(), [["content-type", "c,d"]]);
      assert.deepEqual(HeaderMap.from([["host", "h"], [":path", "/"]], "request").toList(), [[":authority", "h"], [":path", "/"]]);
      assert.deepEqual(HeaderMap.from([["host", "h"]], "response").toList(), [["host", "h"]]);
      assert.deepEqual(HeaderMap.from([["x-bb", "1"]], "response").toList(), [["x-bb", "1"]]);
    });

    it("still place an added pseudo-header after the others and join a repeated inline header", () => {
      for (let i = 0; i < 2; i++) {
        const m = HeaderMap.from(LIST, "request");
        m.add(":protocol", "ws");
        m.add("content-type", "more");
        assert.deepEqual(m.toList(), [LIST[0], LIST[1], [":protocol", "ws"], ["content-type", "application/json,more"], LIST[3]]);
      }
    });

    it("come with the new list's values, and a change to one map does not reach the next", () => {
      const first = HeaderMap.from(LIST, "request");
      first.add(":authority", "x");
      first.add("x-more", "m");
      first.set("content-type", "text/plain");
      const other: HeaderList = LIST.map(([k, v]) => [k, `${v}2`]);
      assert.deepEqual(HeaderMap.from(other, "request").toList(), other);
      assert.deepEqual(HeaderMap.from(LIST, "request").toList(), LIST);
    });
  });

  it("a header map finds a key it holds whatever case the key was added or asked in", () => {
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

  describe("pairs bytes of a header map", () => {
    it("follow every change of the map they were built from", () => {
      const m = HeaderMap.from(LIST, "request");
      assert.deepEqual(pairsOf(m), LIST);
      m.set("x-tag", "b");
      assert.deepEqual(pairsOf(m), [...LIST.slice(0, 3), ["x-tag", "b"]]);
      m.add("x-new", "n");
      assert.deepEqual(pairsOf(m), [...LIST.slice(0, 3), ["x-tag", "b"], ["x-new", "n"]]);
      m.remove("content-type");
      assert.deepEqual(pairsOf(m), [...LIST.slice(0, 2), ["x-tag", "b"], ["x-new", "n"]]);
      m.clear();
      assert.deepEqual(pairsOf(m), []);
    });

    it("are built again for a map with the same keys and another value", () => {
      assert.deepEqual(pairsOf(HeaderMap.from(LIST, "request")), LIST);
      const other: HeaderList = [...LIST.slice(0, 3), ["x-tag", "z"]];
      assert.deepEqual(pairsOf(HeaderMap.from(other, "request")), other);
    });

    it("are built again for a map with the same values under other keys", () => {
      assert.deepEqual(pairsOf(HeaderMap.from(LIST, "request")), LIST);
      const other: HeaderList = [...LIST.slice(0, 3), ["x-other", "a"]];
      assert.deepEqual(pairsOf(HeaderMap.from(other, "request")), other);
    });

    it("stay right for the former entries after the map that built them changed", () => {
      const first = HeaderMap.from(LIST, "request");
      pairsOf(first);
      first.set(":path", "/changed");
      assert.deepEqual(pairsOf(HeaderMap.from(LIST, "request")), LIST);
      assert.deepEqual(pairsOf(first), [LIST[0], [":path", "/changed"], ...LIST.slice(2)]);
    });

    it("reach the module changed after the module replaced a header", () => {
      const m = new ProxyModule(["proxy_get_header_map_pairs", "proxy_replace_header_map_value"]);
      const k = m.str("x-tag"), v = m.str("b");
      const readPairs = [...m.call("proxy_get_header_map_pairs", 0, OUT_PTR, OUT_SIZE), ...drop, ...m.logOut()];
      m.on("proxy_on_request_headers", 3, [
        ...readPairs, ...m.call("proxy_replace_header_map_value", 0, k.ptr, k.len, v.ptr, v.len), ...drop, ...readPairs, ...i32(0),
      ]);
      const host = startHost(m.build());
      host.newHttpContext().requestHeaders(LIST, true);
      host.newHttpContext().requestHeaders([...LIST.slice(0, 3), ["x-tag", "c"]], true);
      const seen = lines(host).map((l) => parsePairsBytes(Buffer.from(l, "latin1")));
      const withTag = (t: string): HeaderList => [...LIST.slice(0, 3), ["x-tag", t]];
      assert.deepEqual(seen, [LIST, withTag("b"), withTag("c"), withTag("b")]);
    });
  });
});
