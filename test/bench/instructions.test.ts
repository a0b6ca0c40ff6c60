// The instruction bench's own correctness, not its numbers: it counts the measured requests and
// nothing else, in real Envoy under callgrind, and sets each count against passthrough's. A
// missing valgrind fails, saying what to install.
import { strict as assert } from "node:assert";
import { THROUGHPUT_GOAL, VALGRIND_HINT, countInstructions, dumpTotal, goalBudget, instructionRows } from "../../filter/bench/envoy/instructions";
import { findTool } from "../../filter/bench/envoy/load";

describe("bench:envoy:instructions", function () {
  it("reads a callgrind dump's total from its summary or totals line, and refuses a dump with neither", function () {
    assert.equal(dumpTotal("version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nsummary: 43757200\n"), 43757200);
    assert.equal(dumpTotal("events: Ir\nfn=main\n0 5\ntotals: 1200\n"), 1200);
    assert.throws(() => dumpTotal("events: Ir\nfn=main\n0 5\n"), /without a summary or totals line/);
  });

  it("sets each count against A's, and says which meet the throughput goal", function () {
    const rows = instructionRows([
      { config: "A", instructionsPerReq: 200_000 },
      { config: "E", instructionsPerReq: 220_000 },
      { config: "B", instructionsPerReq: 250_000 },
    ]);
    assert.deepEqual(rows.map((r) => [r.config, r.addedPerReq, Math.round(r.throughputVsA * 1000) / 1000, r.meetsThroughputGoal]), [
      ["A", 0, 1, true], ["E", 20_000, 0.909, true], ["B", 50_000, 0.8, false],
    ]);
    assert.equal(Math.round(goalBudget(rows)), Math.round(200_000 / THROUGHPUT_GOAL));
    assert.throws(() => instructionRows([{ config: "B", instructionsPerReq: 1 }]), /no passthrough \(A\)/);
  });

  it("a missing valgrind is an error that says what to install", function () {
    const saved = process.env.VALGRIND;
    process.env.VALGRIND = "/nonexistent/valgrind";
    try {
      assert.throws(() => findTool("valgrind", "VALGRIND", VALGRIND_HINT), /apt install valgrind/);
    } finally {
      if (saved === undefined) delete process.env.VALGRIND; else process.env.VALGRIND = saved;
    }
  });

  it("counts the measured requests only, in real Envoy: passthrough in the hundreds of thousands, an empty wasm filter above it", async function () {
    this.timeout(600_000);
    const counts = await countInstructions({ configs: ["A", "E"], requests: 20, warmup: 10 });
    const [a, e] = counts.map((c) => c.instructionsPerReq);
    // Envoy's start-up alone is billions of instructions: a window that took it in would give
    // tens of millions per request; one that missed the requests, next to nothing.
    assert.ok(a > 50_000 && a < 1_000_000, `A: ${a} instructions per request`);
    assert.ok(e > a, `E (${e}) should cost more than A (${a}): every wasm callback is a call into V8`);
  });
});
