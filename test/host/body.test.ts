// Request/response bodies as Envoy hands them to the filter and passes them on.
import * as assert from "node:assert/strict";
import { FilterDataStatus as D, NO_STATUS } from "../../filter/host";
import { REQUEST, R, letter, lines, startHost } from "./helpers";
import { OUT_PTR, OUT_SIZE, ProxyModule, drop, i32, local, op } from "./proxy-module";

const BODY = 0;

/**
 * on_request_body logs body_buffer_length (as a letter: A + n) and the bytes it can read, then
 * returns `mid` before the end of stream and `last` at the end. `atEnd` runs before returning at the end.
 */
function bodyModule(mid: number, last: number, atEnd: (m: ProxyModule) => number[] = () => [], imports: string[] = []): Uint8Array {
  const m = new ProxyModule(["proxy_get_buffer_bytes", ...imports]);
  return m.on("proxy_on_request_body", 3, [
    ...m.logCode(local(1)),
    ...m.call("proxy_get_buffer_bytes", BODY, 0, local(1), OUT_PTR, OUT_SIZE), ...drop, ...m.logOut(),
    ...local(2), ...op.ifI32, ...atEnd(m), ...i32(last), ...op.else, ...i32(mid), ...op.end,
  ]).build();
}

function send(wasm: Uint8Array, chunks: string[], options = {}) {
  const host = startHost(wasm, options);
  const ctx = host.newHttpContext();
  ctx.requestHeaders(REQUEST, false);
  const results = chunks.map((c, i) => ctx.requestBody(Buffer.from(c), i === chunks.length - 1));
  return { host, ctx, results, lines: lines(host) };
}

const L = (n: number) => letter(n);

describe("host: bodies", () => {
  it("after StopIterationAndBuffer the next callback sees everything buffered so far", () => {
    const { lines: l, ctx } = send(bodyModule(D.StopIterationAndBuffer, D.Continue), ["ab", "cd", "ef"]);
    assert.deepEqual(l, [L(2), "ab", L(4), "abcd", L(6), "abcdef"]);
    assert.equal(ctx.upstream.body.toString(), "abcdef");
    assert.equal(ctx.upstream.ended, true);
  });

  it("with StopIterationNoBuffer each callback sees only its chunk, and stopped chunks are dropped", () => {
    const { lines: l, ctx } = send(bodyModule(D.StopIterationNoBuffer, D.Continue), ["ab", "cd", "ef"]);
    assert.deepEqual(l, [L(2), "ab", L(2), "cd", L(2), "ef"]);
    assert.equal(ctx.upstream.body.toString(), "ef");
    assert.equal(ctx.upstream.ended, true);
  });

  it("with StopIterationAndWatermark each callback sees its chunk while Envoy buffers them all", () => {
    const { lines: l, ctx } = send(bodyModule(D.StopIterationAndWatermark, D.Continue), ["ab", "cd", "ef"]);
    assert.deepEqual(l, [L(2), "ab", L(2), "cd", L(2), "ef"]);
    assert.equal(ctx.upstream.body.toString(), "abcdef");
  });

  it("Continue passes each chunk upstream as it comes", () => {
    const host = startHost(bodyModule(D.Continue, D.Continue));
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, false);
    ctx.requestBody(Buffer.from("ab"), false);
    assert.equal(ctx.upstream.body.toString(), "ab");
    assert.equal(ctx.upstream.ended, false);
    ctx.requestBody(Buffer.from("cd"), true);
    assert.equal(ctx.upstream.body.toString(), "abcd");
    assert.equal(ctx.upstream.ended, true);
  });

  it("returns the raw status the module returned", () => {
    const { results } = send(bodyModule(D.StopIterationAndBuffer, 7), ["a", "b"]);
    assert.deepEqual(results, [D.StopIterationAndBuffer, 7]);
  });

  it("treats a status above 3 as StopIterationNoBuffer", () => {
    const { ctx } = send(bodyModule(D.Continue, 7), ["a", "b"]);
    assert.equal(ctx.upstream.body.toString(), "a");
    assert.equal(ctx.upstream.ended, false);
    assert.equal(ctx.requestStalled, true);
  });

  it("does not call the body callback for a headers-only request", () => {
    const host = startHost(bodyModule(D.Continue, D.Continue));
    host.newHttpContext().requestHeaders(REQUEST, true);
    assert.deepEqual(lines(host), []);
  });

  const sets: Array<{ name: string; start: number; length: number; data: string; want: string; result: number }> = [
    { name: "start 0, length 0 prepends", start: 0, length: 0, data: "X", want: "Xabc", result: R.Ok },
    { name: "start 0, length n replaces the first n bytes", start: 0, length: 2, data: "X", want: "Xc", result: R.Ok },
    { name: "start 0, length >= size replaces the whole body", start: 0, length: 100, data: "XY", want: "XY", result: R.Ok },
    { name: "start = size appends", start: 3, length: 0, data: "X", want: "abcX", result: R.Ok },
    { name: "start inside the body is BadArgument and changes nothing", start: 1, length: 1, data: "X", want: "abc", result: R.BadArgument },
  ];
  for (const t of sets) {
    it(`set_buffer_bytes: ${t.name}`, () => {
      const m = new ProxyModule(["proxy_set_buffer_bytes"]);
      const d = m.str(t.data);
      m.on("proxy_on_request_body", 3, [...m.logCode(m.call("proxy_set_buffer_bytes", BODY, t.start, t.length, d.ptr, d.len)), ...i32(0)]);
      const { ctx, lines: l } = send(m.build(), ["abc"]);
      assert.deepEqual(l, [letter(t.result)]);
      assert.equal(ctx.upstream.body.toString(), t.want);
    });
  }

  it("set_buffer_bytes over the whole buffered body replaces what goes upstream", () => {
    const wasm = bodyModule(D.StopIterationAndBuffer, D.Continue, (m) => {
      const z = m.str("Z");
      return [...m.call("proxy_set_buffer_bytes", BODY, 0, local(1), z.ptr, z.len), ...drop];
    }, ["proxy_set_buffer_bytes"]);
    assert.equal(send(wasm, ["ab", "cd"]).ctx.upstream.body.toString(), "Z");
  });

  for (const kind of ["Buffer", "Uint8Array view"]) {
    it(`a chunk given as a ${kind} reaches the filter, and the caller's bytes stay as they were when the filter rewrites them`, () => {
      const m = new ProxyModule(["proxy_get_buffer_bytes", "proxy_set_buffer_bytes"]);
      const z = m.str("Z");
      m.on("proxy_on_request_body", 3, [
        ...m.call("proxy_get_buffer_bytes", BODY, 0, local(1), OUT_PTR, OUT_SIZE), ...drop, ...m.logOut(),
        ...m.call("proxy_set_buffer_bytes", BODY, 0, 1, z.ptr, z.len), ...drop, ...i32(0),
      ]);
      const host = startHost(m.build());
      const ctx = host.newHttpContext();
      ctx.requestHeaders(REQUEST, false);
      const whole = Buffer.from("<abc>");
      const chunk = kind === "Buffer" ? whole.subarray(1, 4) : new Uint8Array(whole.buffer, whole.byteOffset + 1, 3);
      ctx.requestBody(chunk, true);
      assert.deepEqual(lines(host), ["abc"]);
      assert.equal(ctx.upstream.body.toString(), "Zbc");
      assert.equal(whole.toString(), "<abc>");
    });
  }

  it("get_buffer_status answers the body length", () => {
    const m = new ProxyModule(["proxy_get_buffer_status"]);
    m.on("proxy_on_request_body", 3, [...m.call("proxy_get_buffer_status", BODY, OUT_SIZE, OUT_PTR), ...drop,
      ...m.logCode([...i32(OUT_SIZE), ...op.load()]), ...i32(0)]);
    assert.deepEqual(send(m.build(), ["abcd"]).lines, [L(4)]);
  });

  it("answers 413 and stops calling the filter when the buffered request exceeds the buffer limit", () => {
    const { ctx, lines: l, results } = send(bodyModule(D.StopIterationAndBuffer, D.Continue), ["12345", "67890"], { bufferLimitBytes: 8 });
    assert.deepEqual(l, [L(5), "12345"]);
    assert.equal(results[1], NO_STATUS);
    assert.equal(ctx.localReply?.status, 413);
    assert.equal(ctx.localReply?.details, "request_payload_too_large");
    assert.equal(ctx.downstream.headers?.find(([k]) => k === ":status")?.[1], "413");
    assert.equal(ctx.downstream.body.toString(), "Payload Too Large");
    assert.equal(ctx.upstream.ended, false);
  });

  it("does not apply the 413 limit to StopIterationAndWatermark", () => {
    const { ctx } = send(bodyModule(D.StopIterationAndWatermark, D.Continue), ["12345", "67890"], { bufferLimitBytes: 8 });
    assert.equal(ctx.localReply, undefined);
    assert.equal(ctx.upstream.body.toString(), "1234567890");
  });

  it("buffers a response body under StopIterationAndBuffer like a request body", () => {
    const m = new ProxyModule(["proxy_get_buffer_bytes"]);
    m.on("proxy_on_response_body", 3, [
      ...m.call("proxy_get_buffer_bytes", 1, 0, local(1), OUT_PTR, OUT_SIZE), ...drop, ...m.logOut(),
      ...local(2), ...op.ifI32, ...i32(0), ...op.else, ...i32(1), ...op.end,
    ]);
    const host = startHost(m.build());
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, true);
    ctx.responseHeaders([[":status", "200"]], false);
    ctx.responseBody(Buffer.from("ab"), false);
    assert.equal(ctx.downstream.body.length, 0);
    ctx.responseBody(Buffer.from("cd"), true);
    assert.deepEqual(lines(host), ["ab", "abcd"]);
    assert.equal(ctx.downstream.body.toString(), "abcd");
    assert.equal(ctx.downstream.ended, true);
  });
});
