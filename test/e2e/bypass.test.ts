// Bypass attempts, sent raw inside a live session. Each must neither run a denied tool (the
// canary that get-env would print never comes back) nor deliver a denied call to the server in
// any form the server, or a laxer server, would read.
import { strict as assert } from "node:assert";
import * as zlib from "node:zlib";
import {
  ENGINES, DENIED, POLICY, callsReaching, connect, rawRequest, responseMessages, sessionHeaders, startEverything, startRecorder, startTestGateway,
  type Everything, type RawResponse, type Recorder, type Session, type TestGateway,
} from "./harness";


// JSON text is written out by hand below: JSON.stringify would normalise away the very escapes
// and duplicate keys under test.
const call = (id: number, name: string, args = "{}"): string =>
  `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"${name}","arguments":${args}}}`;

interface Attempt {
  title: string;
  body: string | Buffer;
  contentType?: string;
  headers?: Record<string, string>;
  chunkSize?: number;
  /** "denied": the server would read a denied call, so a JSON-RPC error for this id must come
   *  back on HTTP 200. "answered": the server would read an allowed message; either the filter
   *  forwards it or refuses the duplicate keys, but the id gets an answer. */
  expect?: { id: number; outcome: "denied" | "answered" };
}

const denied = (id: number) => ({ id, outcome: "denied" as const });
const answered = (id: number) => ({ id, outcome: "answered" as const });

const ATTEMPTS: Attempt[] = [
  { title: "a \\u escape inside the tool name (get\\u002denv)", body: call(1, "get\\u002denv"), expect: denied(1) },
  { title: "a \\u escape of the first letter (\\u0067et-env)", body: call(2, "\\u0067et-env"), expect: denied(2) },
  { title: "an escaped slash in the method (tools\\/call)", body: `{"jsonrpc":"2.0","id":3,"method":"tools\\/call","params":{"name":"get-env","arguments":{}}}`, expect: denied(3) },
  { title: "a \\u escape in the method (tools\\u002fcall)", body: `{"jsonrpc":"2.0","id":4,"method":"tools\\u002fcall","params":{"name":"get-env","arguments":{}}}`, expect: denied(4) },
  { title: "a \\u escape in the key (n\\u0061me)", body: `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"n\\u0061me":"get-env","arguments":{}}}`, expect: denied(5) },
  { title: "name twice, allowed then denied", body: `{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"echo","name":"get-env","arguments":{"message":"x"}}}`, expect: denied(6) },
  { title: "name twice, denied then allowed", body: `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get-env","name":"echo","arguments":{"message":"x"}}}`, expect: answered(7) },
  { title: "method twice, harmless then tools/call", body: `{"jsonrpc":"2.0","id":8,"method":"ping","method":"tools/call","params":{"name":"get-env","arguments":{}}}`, expect: denied(8) },
  { title: "method twice, tools/call then harmless", body: `{"jsonrpc":"2.0","id":9,"method":"tools/call","method":"ping","params":{"name":"get-env","arguments":{}}}`, expect: answered(9) },
  { title: "params twice, allowed then denied", body: `{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"echo","arguments":{"message":"x"}},"params":{"name":"get-env","arguments":{}}}`, expect: denied(10) },
  { title: "params twice, denied then allowed", body: `{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"get-env","arguments":{}},"params":{"name":"echo","arguments":{"message":"x"}}}`, expect: answered(11) },
  { title: "a notification-shaped call (no id)", body: `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"get-env","arguments":{}}}` },
  { title: "a chunked upload in 7-byte chunks", body: call(12, "get-env"), chunkSize: 7, expect: denied(12) },
  { title: "content-type text/plain", body: call(13, "get-env"), contentType: "text/plain" },
  { title: "content-type application/json; charset=utf-8", body: call(14, "get-env"), contentType: "application/json; charset=utf-8", expect: denied(14) },
  { title: "content-type APPLICATION/JSON", body: call(15, "get-env"), contentType: "APPLICATION/JSON", expect: denied(15) },
  { title: "no content-type", body: call(16, "get-env"), contentType: undefined },
  { title: "content-encoding: gzip", body: zlib.gzipSync(call(17, "get-env")), headers: { "content-encoding": "gzip" } },
  { title: "the gzip tool under its real name", body: call(18, "gzip-file-as-resource", `{"name":"x.gz","data":"data:text/plain;base64,aGk="}`), expect: denied(18) },
];

for (const engine of ENGINES) describe(`e2e [${engine}]: bypass attempts inside a live session never run a denied tool`, function () {
  let everything: Everything;
  let recorder: Recorder;
  let gw: TestGateway;
  let session: Session;

  before(async function () {
    everything = await startEverything();
    recorder = await startRecorder(everything.url);
    gw = await startTestGateway(recorder.url, POLICY, engine);
    session = await connect(gw.url, gw.auth);
  });

  after(async function () {
    await session?.close();
    await gw?.close();
    await recorder?.stop();
    await everything?.stop();
  });

  async function send(a: Attempt): Promise<RawResponse> {
    recorder.requests.length = 0;
    const headers = { ...sessionHeaders(session, "contentType" in a ? a.contentType : "application/json"), ...a.headers };
    return rawRequest(`${gw.url}/mcp`, "POST", headers, a.body, a.chunkSize);
  }

  function assertContained(res: RawResponse): void {
    // Never echo the response here: it would be the server's environment.
    assert.ok(!res.text.includes(everything.canary), "the response carries the canary: get-env ran");
    assert.deepEqual(callsReaching(recorder, DENIED), [], "a denied call reached the server");
  }

  for (const a of ATTEMPTS) {
    it(`${a.title}: the denied tool does not run`, async function () {
      const res = await send(a);
      assertContained(res);
      if (a.expect === undefined) return;
      const reply = responseMessages(res).find((m) => m.id === a.expect?.id);
      assert.ok(reply !== undefined, `no JSON-RPC answer for id ${a.expect.id}: ${res.status} ${res.text.slice(0, 200)}`);
      if (a.expect.outcome === "denied") {
        assert.equal(res.status, 200, "denials are JSON-RPC errors on HTTP 200");
        assert.ok(reply.error !== undefined && reply.result === undefined, res.text.slice(0, 200));
      }
    });
  }

  it("a batch with one denied element is answered whole by the filter: nothing reaches the server", async function () {
    const res = await send({ title: "batch", body: `[${call(31, "get-sum", `{"a":1,"b":2}`)},${call(32, "get-env")}]` });
    assertContained(res);
    assert.deepEqual(recorder.requests.filter((r) => r.method === "POST").map((r) => r.body.toString()), [], "nothing was forwarded");
    const replies = responseMessages(res);
    assert.deepEqual(replies.map((m) => m.id).sort(), [31, 32], res.text);
    assert.ok(replies.every((m) => m.error !== undefined && m.result === undefined), res.text);
  });

  it("the allowed twin of the chunked upload runs: get-sum sent in 5-byte chunks gives 10", async function () {
    const res = await send({ title: "chunked get-sum", body: call(41, "get-sum", `{"a":7,"b":3}`), chunkSize: 5 });
    assert.equal(res.status, 200, res.text);
    assert.match(JSON.stringify(responseMessages(res).find((m) => m.id === 41)?.result), /\b10\b/);
  });

  it("the allowed twin of the charset variant runs: application/json; charset=utf-8 get-sum gives 10", async function () {
    const res = await send({ title: "charset get-sum", body: call(42, "get-sum", `{"a":7,"b":3}`), contentType: "application/json; charset=utf-8" });
    assert.equal(res.status, 200, res.text);
    assert.match(JSON.stringify(responseMessages(res).find((m) => m.id === 42)?.result), /\b10\b/);
  });

  it("after every attempt the session still works through the SDK", async function () {
    const result = await session.client.callTool({ name: "get-sum", arguments: { a: 7, b: 3 } });
    assert.match(JSON.stringify(result.content), /\b10\b/);
  });
});
