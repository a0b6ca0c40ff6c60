// The instruction bench's own correctness, not its numbers: it counts the measured requests and
// nothing else, in real Envoy under callgrind, and sets each count against passthrough's. A
// missing valgrind fails, saying what to install. And the benches' command-line reader.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startEnvoy } from "../../envoy/run";
import { UPSTREAM_LISTENER, benchConfigs, upstreamConfig } from "../../filter/bench/envoy/configs";
import { countInstructions, dumpTotal, goalBudget, instructionRows, underCallgrind } from "../../filter/bench/envoy/instructions";
import { BenchArgs } from "../../filter/bench/envoy/options";
import { MIN_THROUGHPUT_SHARE } from "../../filter/bench/envoy/report";

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
    assert.equal(Math.round(goalBudget(rows)), Math.round(200_000 / MIN_THROUGHPUT_SHARE));
    assert.throws(() => instructionRows([{ config: "B", instructionsPerReq: 1 }]), /no passthrough \(A\)/);
  });

  it("a missing valgrind is an error that says what to install, before any Envoy starts", async function () {
    const saved = process.env.VALGRIND;
    process.env.VALGRIND = "/nonexistent/valgrind";
    try {
      await assert.rejects(countInstructions({ configs: ["A"], requests: 1, warmup: 0 }), /VALGRIND=\/nonexistent\/valgrind does not exist.*apt install valgrind/);
    } finally {
      if (saved === undefined) delete process.env.VALGRIND; else process.env.VALGRIND = saved;
    }
  });

  // Two windows in one Envoy, the second with twice the calls: a window that took in anything
  // but its own calls (start-up, the warm-up, a connection) would not double.
  it("counts each window's calls and nothing else, in real Envoy: twice the calls, twice the instructions; an empty wasm filter costs more than passthrough", async function () {
    this.timeout(600_000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "instructions-test-"));
    const upstream = await startEnvoy({ config: upstreamConfig() });
    try {
      const configs = benchConfigs(await upstream.listener(UPSTREAM_LISTENER), dir);
      const perCall: number[] = [];
      for (const config of ["A", "E"] as const) {
        fs.mkdirSync(path.join(dir, config));
        const [once, twice] = await underCallgrind(config, configs[config], path.join(dir, config), async (c) => {
          await c.count(10); // warm-up
          return [await c.count(20), await c.count(40)];
        });
        const ratio = twice / once;
        assert.ok(ratio > 1.85 && ratio < 2.15, `${config}: 40 calls took ${twice} instructions, 20 took ${once}`);
        perCall.push(twice / 40);
      }
      const [a, e] = perCall;
      assert.ok(e > a, `E (${e}) should cost more than A (${a}) per call: every wasm callback is a call into V8`);
    } finally {
      await upstream.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("bench command lines", function () {
  const parse = (argv: string[]) => new BenchArgs(argv, ["--json"], ["--requests", "--configs"]);

  it("reads switches and options with their values", function () {
    const args = parse(["--json", "--requests", "50", "--configs", "A,B"]);
    assert.equal(args.has("--json"), true);
    assert.equal(args.count("--requests", 200, 1), 50);
    assert.equal(args.text("--configs"), "A,B");
    assert.equal(parse([]).count("--requests", 200, 1), 200);
  });

  it("refuses an unknown flag, a stray word, a missing value, a repeated flag and a bad number", function () {
    assert.throws(() => parse(["--reqests", "5"]), /unknown argument --reqests/);
    assert.throws(() => parse(["--json", "A"]), /unknown argument A/);
    assert.throws(() => parse(["--requests"]), /--requests needs a value/);
    assert.throws(() => parse(["--requests", "--json"]), /--requests needs a value/);
    assert.throws(() => parse(["--json", "--json"]), /--json is given twice/);
    assert.throws(() => parse(["--requests", "0"]).count("--requests", 200, 1), /at least 1, got 0/);
    assert.throws(() => parse(["--requests", "2.5"]).count("--requests", 200, 1), /whole number/);
  });
});
