// Seeded fuzz: malformed, random and mutated MCP bodies in random chunkings. The filter must
// never trap, must agree with the server's JSON.parse on what is JSON, and must never forward
// a body in which the server would find a denied tool call.
import * as assert from "node:assert/strict";
import { startHost, requestHeaders, exchange, call } from "./helpers";
import { SAMPLE_BODIES, serverParse, serverToolCalls, mulberry32 } from "./fixtures";

const RUNS = 100_000;
const SEED = Number(process.env.FUZZ_SEED ?? 20261124);


const TOKENS = ['"', "\\", "\\u", "\\u0067", "\\ud800", "{", "}", "[", "]", ",", ":", " ", "\n", "\u0000", "\u001f", "1e5", "-0", "true", "nul", "get-env", '"name"', '"method"', '"params"', "tools/call", "\xff", "\u00e9", "\ufeff"];
const SEEDS = [
  ...SAMPLE_BODIES.map(([, b]) => b),
  call("get-env", 1), call("echo", "x", { deep: [[[{ a: "\"" }]]] }),
  `[${call("echo", 1)},${call("get-env", 2)}]`,
  '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"get-env"}}',
  '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get\\u002denv"}}',
];

function mutate(r: () => number, src: Buffer): Buffer {
  const edits = 1 + Math.floor(r() * 4);
  let b = src;
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(r() * (b.length + 1));
    const kind = Math.floor(r() * 5);
    if (kind === 0 && b.length > 0) { b = Buffer.from(b); b[Math.min(at, b.length - 1)] = Math.floor(r() * 256); }
    else if (kind === 1) b = Buffer.concat([b.subarray(0, at), Buffer.from(TOKENS[Math.floor(r() * TOKENS.length)], "latin1"), b.subarray(at)]);
    else if (kind === 2) b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + Math.floor(r() * 8)))]);
    else if (kind === 3) { const from = Math.floor(r() * b.length); b = Buffer.concat([b.subarray(0, at), b.subarray(from, from + Math.floor(r() * 16)), b.subarray(at)]); }
    else b = Buffer.concat([b.subarray(0, at), Buffer.from(TOKENS[Math.floor(r() * TOKENS.length)]), b.subarray(at)]);
  }
  return b;
}

function randomJson(r: () => number, depth: number): string {
  const k = Math.floor(r() * (depth > 6 ? 4 : 7));
  if (k === 0) return String(Math.floor(r() * 1000) - 500);
  if (k === 1) return JSON.stringify(TOKENS[Math.floor(r() * TOKENS.length)]);
  if (k === 2) return ["true", "false", "null"][Math.floor(r() * 3)];
  if (k === 3) return JSON.stringify("s".repeat(Math.floor(r() * 40)) + "\"\\\u0001");
  if (k === 4) return "[" + Array.from({ length: Math.floor(r() * 4) }, () => randomJson(r, depth + 1)).join(",") + "]";
  if (k === 5) return "[".repeat(200 + Math.floor(r() * 2000)) + "]".repeat(Math.floor(r() * 2300));
  const keys = ["jsonrpc", "id", "method", "params", "name", "x"];
  return "{" + Array.from({ length: Math.floor(r() * 5) }, () => JSON.stringify(keys[Math.floor(r() * keys.length)]) + ":" + randomJson(r, depth + 1)).join(",") + "}";
}

function body(r: () => number): Buffer {
  const k = r();
  if (k < 0.6) return mutate(r, Buffer.from(SEEDS[Math.floor(r() * SEEDS.length)]));
  if (k < 0.9) return Buffer.from(randomJson(r, 0));
  const n = Math.floor(r() * 64);
  return Buffer.from(Array.from({ length: n }, () => Math.floor(r() * 256)));
}

describe("filter: fuzz", function () {
  this.timeout(600_000);

  it(`${RUNS} malformed, random and mutated bodies in random chunkings: no trap, parse agreement, no denied call forwarded (seed ${SEED})`, () => {
    const host = startHost({ defaultAction: "allow", maxBodyBytes: 65536, rules: [{ name: "no-env", action: "deny", tools: ["get-env"] }] });
    const r = mulberry32(SEED);
    let forwarded = 0;
    let parseErrors = 0;
    for (let i = 0; i < RUNS; i++) {
      const b = body(r);
      const ctx = host.newHttpContext();
      ctx.requestHeaders(requestHeaders(), b.length === 0);
      let at = 0;
      while (at < b.length && !ctx.localReply) {
        const n = r() < 0.5 ? b.length - at : 1 + Math.floor(r() * (b.length - at));
        ctx.requestBody(b.subarray(at, at + n), at + n === b.length);
        at += n;
      }
      const x = exchange(ctx);
      ctx.done();
      const server = serverParse(b);
      const context = () => `run ${i}: ${JSON.stringify(b.toString("latin1"))}`;
      if (x.forwarded) {
        forwarded++;
        assert.notEqual(server, undefined, `forwarded a body the server cannot parse, ${context()}`);
        assert.ok(!serverToolCalls(b).includes("get-env"), `forwarded a get-env call, ${context()}`);
      } else {
        assert.ok(x.reply, `neither forwarded nor answered, ${context()}`);
        const isParseError = x.reply.status === 400 && x.json?.error?.code === -32700;
        if (isParseError) parseErrors++;
        assert.equal(isParseError, server === undefined, `parse verdict differs from JSON.parse, ${context()}`);
      }
    }
    assert.equal(host.traps, 0);
    // The corpus must exercise both sides, or the oracle checks nothing.
    assert.ok(forwarded > RUNS * 0.01, `only ${forwarded} forwarded`);
    assert.ok(parseErrors > RUNS * 0.2, `only ${parseErrors} parse errors`);
  });
});
