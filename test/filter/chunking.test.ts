// Property: how a body is cut into chunks never changes what the filter decides or sends.
import * as assert from "node:assert/strict";
import { ProxyWasmHost } from "../../filter/host";
import { startHost, post, respond, Exchange } from "./helpers";
import { SAMPLE_BODIES, toolsResult, sse, mulberry32 } from "./fixtures";

function outcome(x: Exchange): string {
  return JSON.stringify({ forwarded: x.forwarded, upstream: x.upstreamBody, status: x.reply?.status, reply: x.reply?.body.toString("utf8") });
}


describe("filter: chunk-split property", () => {
  for (const [what, body] of SAMPLE_BODIES) {
    it(`${what}: every split point gives the whole-body outcome`, () => {
      const host = startHost();
      const whole = outcome(post(host, body));
      const len = Buffer.byteLength(body);
      for (let k = 1; k < len; k++) assert.equal(outcome(post(host, body, { chunks: [k] })), whole, `split at ${k}`);
      const rnd = mulberry32(len);
      for (let n = 0; n < 200; n++) {
        const cuts = [...new Set([1 + Math.floor(rnd() * (len - 1)), 1 + Math.floor(rnd() * (len - 1)), 1 + Math.floor(rnd() * (len - 1))])].sort((a, b) => a - b);
        assert.equal(outcome(post(host, body, { chunks: cuts })), whole, `cuts ${cuts}`);
      }
      assert.equal(host.traps, 0);
    });
  }

  const answers: Array<[string, string, string]> = [
    ["an SSE tools/list answer", "text/event-stream", ": keepalive\n\n" + sse(toolsResult())],
    ["a CRLF SSE tools/list answer", "text/event-stream", sse(toolsResult()).replace(/\n/g, "\r\n")],
    ["a JSON tools/list answer", "application/json", toolsResult()],
  ];
  for (const [what, type, answer] of answers) {
    it(`${what}: every split point gives the same rewritten answer`, () => {
      const host: ProxyWasmHost = startHost();
      const list = JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" });
      const headers: Array<[string, string]> = [[":status", "200"], ["content-type", type]];
      const whole = respond(post(host, list).ctx, headers, answer);
      assert.ok(!whole.includes("get-env"), "the rewrite must remove get-env");
      const len = Buffer.byteLength(answer);
      for (let k = 1; k < len; k++) assert.equal(respond(post(host, list).ctx, headers, answer, [k]), whole, `split at ${k}`);
    });
  }
});
