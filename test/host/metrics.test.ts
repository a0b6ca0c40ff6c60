// Custom metrics as Envoy keeps them and shows them on /stats/prometheus.
import * as assert from "node:assert/strict";
import { MetricType as T } from "../../filter/host";
import { REQUEST, R, letter, lines, startHost } from "./helpers";
import { ProxyModule, drop, i32, i64, op } from "./proxy-module";

const ID = (n: number) => 128 + n * 4; // where the module keeps metric ids

/** on_vm_start defines `defs` (id n at ID(n)); on_request_headers runs `ops` and logs each result. */
function metricsModule(defs: Array<[number, string]>, ops: (m: ProxyModule) => number[][]): Uint8Array {
  const m = new ProxyModule(["proxy_define_metric", "proxy_increment_metric", "proxy_record_metric", "proxy_get_metric"]);
  const defines = defs.flatMap(([type, name], n) => {
    const s = m.str(name);
    return m.logCode(m.call("proxy_define_metric", type, s.ptr, s.len, ID(n)));
  });
  m.on("proxy_on_vm_start", 2, [...defines, ...i32(1)]);
  m.on("proxy_on_request_headers", 3, [...ops(m).flatMap((o) => m.logCode(o)), ...i32(0)]);
  return m.build();
}
const id = (n: number): number[] => [...i32(ID(n)), ...op.load()];
const inc = (m: ProxyModule, n: number, by: bigint) => m.call("proxy_increment_metric", id(n), i64(by));
const rec = (m: ProxyModule, n: number, v: bigint) => m.call("proxy_record_metric", id(n), i64(v));

function run(wasm: Uint8Array, requests = 1) {
  const host = startHost(wasm);
  host.clearLogs();
  for (let i = 0; i < requests; i++) host.newHttpContext().requestHeaders(REQUEST, true);
  return { host, lines: lines(host) };
}

describe("host: metrics", () => {
  it("defining the same name twice gives two ids for one stat", () => {
    const { host } = run(metricsModule([[T.Counter, "hits"], [T.Counter, "hits"]], (m) => [inc(m, 0, 2n), inc(m, 1, 3n)]));
    assert.equal(host.metric("hits"), 5);
  });

  it("answers BadArgument for a metric type above 2", () => {
    const host = startHost(metricsModule([[3, "x"]], () => []));
    assert.deepEqual(lines(host), [letter(R.BadArgument)]);
  });

  const increments: Array<{ name: string; type: number; by: bigint; result: number; value: number }> = [
    { name: "a counter by a positive amount adds it", type: T.Counter, by: 4n, result: R.Ok, value: 4 },
    { name: "a counter by 0 is BadArgument", type: T.Counter, by: 0n, result: R.BadArgument, value: 0 },
    { name: "a counter by a negative amount is BadArgument", type: T.Counter, by: -1n, result: R.BadArgument, value: 0 },
    { name: "a gauge by 0 is Ok, unlike a counter", type: T.Gauge, by: 0n, result: R.Ok, value: 0 },
    { name: "a histogram is BadArgument", type: T.Histogram, by: 1n, result: R.BadArgument, value: 0 },
  ];
  for (const t of increments) {
    it(`increment_metric on ${t.name}`, () => {
      const { host, lines: l } = run(metricsModule([[t.type, "m"]], (m) => [inc(m, 0, t.by)]));
      assert.deepEqual(l, [letter(t.result)]);
      assert.equal(host.metric("m"), t.value);
    });
  }

  it("a gauge goes down as well as up", () => {
    const { host } = run(metricsModule([[T.Gauge, "g"]], (m) => [inc(m, 0, 5n), inc(m, 0, -2n)]));
    assert.equal(host.metric("g"), 3);
  });

  it("counters and gauges wrap around as Envoy's uint64_t does", () => {
    const { host } = run(metricsModule([[T.Counter, "c"], [T.Gauge, "g"]], (m) => [rec(m, 0, -1n), inc(m, 0, 2n), inc(m, 1, -1n)]));
    assert.match(host.prometheus(), /^c\{\} 1$/m);
    assert.match(host.prometheus(), /^g\{\} 18446744073709551615$/m);
  });

  it("record_metric adds to a counter, sets a gauge and samples a histogram", () => {
    const { host } = run(metricsModule([[T.Counter, "c"], [T.Gauge, "g"], [T.Histogram, "h"]],
      (m) => [rec(m, 0, 2n), rec(m, 0, 2n), rec(m, 1, 7n), rec(m, 1, 3n), rec(m, 2, 12n)]));
    assert.deepEqual([host.metric("c"), host.metric("g"), host.metric("h")], [4, 3, 1]);
  });

  const gets: Array<{ name: string; type: number; result: number }> = [
    { name: "a counter", type: T.Counter, result: R.Ok },
    { name: "a histogram is BadArgument", type: T.Histogram, result: R.BadArgument },
  ];
  for (const t of gets) {
    it(`get_metric on ${t.name}`, () => {
      const { lines: l } = run(metricsModule([[t.type, "m"]], (m) => [m.call("proxy_get_metric", id(0), 24)]));
      assert.deepEqual(l, [letter(t.result)]);
    });
  }

  it("get_metric on an id never handed out is NotFound", () => {
    const { lines: l } = run(metricsModule([], (m) => [m.call("proxy_get_metric", 400, 24)]));
    assert.deepEqual(l, [letter(R.NotFound)]);
  });

  it("shows metrics on /stats/prometheus without the wasmcustom prefix, names sanitized", () => {
    const { host } = run(metricsModule([[T.Counter, "mcp.requests-total"], [T.Gauge, "mcp.open"], [T.Counter, "9lives"]],
      (m) => [inc(m, 0, 2n), rec(m, 1, 7n), inc(m, 2, 1n)]));
    assert.equal(host.prometheus(), [
      "# TYPE mcp_requests_total counter", "mcp_requests_total{} 2",
      "# TYPE mcp_open gauge", "mcp_open{} 7", "",
    ].join("\n"));
  });

  it("shows histograms with Envoy's default buckets, sum and count", () => {
    const { host } = run(metricsModule([[T.Histogram, "lat"]], (m) => [rec(m, 0, 3n), rec(m, 0, 700n)]));
    const text = host.prometheus();
    assert.match(text, /^# TYPE lat histogram$/m);
    assert.match(text, /^lat_bucket\{le="0.5"\} 0$/m);
    assert.match(text, /^lat_bucket\{le="5"\} 1$/m);
    assert.match(text, /^lat_bucket\{le="1000"\} 2$/m);
    assert.match(text, /^lat_bucket\{le="\+Inf"\} 2$/m);
    assert.match(text, /^lat_sum\{\} 703$/m);
    assert.match(text, /^lat_count\{\} 2$/m);
  });

  it("lists metrics by name with their type", () => {
    const { host } = run(metricsModule([[T.Counter, "c"], [T.Gauge, "g"]], (m) => [inc(m, 0, 1n)]));
    assert.deepEqual([...host.metrics()], [["c", { type: "counter", value: 1 }], ["g", { type: "gauge", value: 0 }]]);
  });

  it("keeps counting across requests", () => {
    const { host } = run(metricsModule([[T.Counter, "c"]], (m) => [inc(m, 0, 1n)]), 3);
    assert.equal(host.metric("c"), 3);
    assert.equal(host.metric("unknown"), undefined);
  });
});
