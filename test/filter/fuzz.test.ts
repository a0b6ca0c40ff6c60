// Seeded fuzz: malformed, random and mutated MCP bodies in random chunkings. The filter must
// never trap, must agree with the server's JSON.parse on what is JSON, and must never forward
// a body in which the server would find a denied tool call.
import * as assert from "node:assert/strict";
import { startHost, requestHeaders, exchange } from "./helpers";
import { serverParse, serverToolCalls, mulberry32 } from "./fixtures";
import { fuzzBody } from "./corpus";

const RUNS = 100_000;
const SEED = Number(process.env.FUZZ_SEED ?? 20261124);

describe("filter: fuzz", function () {
  this.timeout(600_000);

  it(`${RUNS} malformed, random and mutated bodies in random chunkings: no trap, parse agreement, no denied call forwarded (seed ${SEED})`, () => {
    const host = startHost({ defaultAction: "allow", maxBodyBytes: 65536, rules: [{ name: "no-env", action: "deny", tools: ["get-env"] }] });
    const r = mulberry32(SEED);
    let forwarded = 0;
    let parseErrors = 0;
    for (let i = 0; i < RUNS; i++) {
      const b = fuzzBody(r);
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
