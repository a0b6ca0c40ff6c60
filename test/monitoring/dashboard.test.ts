// Every query of every dashboard panel, run by real Prometheus (Debian's package) on what it
// scraped from real Envoy with the filter, after a known mix of traffic: each must return the
// series its panel is meant to show, with the values that traffic gives. Prometheus runs the
// stack's generated config (infra/monitoring/prometheusConfig.ts) with only the target and the
// scrape interval changed.
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { prometheusCheck } from "../../infra/healthchecks";
import { PANELS, RATE_WINDOW, withRateWindow, type Panel } from "../../infra/monitoring/panels";
import { renderPrometheusConfig } from "../../infra/monitoring/prometheusConfig";
import { rawRequest } from "../e2e/harness";
import { STACK_POLICY, call, rpc } from "../envoy/stack";
import { rateBounds, startPrometheus, trafficWindow, valueOf, type PrometheusProcess, type Sample, type TrafficWindow } from "./prometheus";
import { as, FAILING_TOOLS, openSseStream, POLICY, startScrapedEnvoy, startUpstream, UPSTREAM_DELAY_MS, type ScrapedEnvoy, type Upstream } from "./rig";

const SCRAPE_SECONDS = 1;
const MAX_BODY = STACK_POLICY.maxBodyBytes as number;

interface Step { body: string; status: number; user?: string; headers?: Record<string, string> }
const send = async (mcpUrl: string, steps: Step[]) => {
  for (const [i, s] of steps.entries()) {
    const res = await rawRequest(mcpUrl, "POST", s.headers ?? as(s.user ?? "alice"), s.body);
    assert.equal(res.status, s.status, `step ${i} (${s.body.slice(0, 60)}): ${res.text.slice(0, 200)}`);
  }
};
const calls = (tool: string, n: number, status = 200, user?: string): Step[] =>
  Array.from({ length: n }, (_, i) => ({ body: call(100 + i, tool), status, user }));

/** Before the window: one call of each tool, so that every tool's series exists (Prometheus cannot
 *  see the rise of a series in the sample that first shows it). 3 of them reach the server and end. */
const WARM_UP: Step[] = [...calls("echo", 1), ...calls("get-sum", 1), ...calls("get-env", 1), ...calls("gzip-file-as-resource", 1),
  ...calls(FAILING_TOOLS.serverError, 1, 500), ...calls(FAILING_TOOLS.hangUp, 1, 503)];
const WARM_COMPLETED = 3;

/** In the window; then two GET SSE streams stay open, and a last call finds the server gone. */
const MIX: Step[] = [
  { body: rpc(1, "initialize", { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } }), status: 200 },
  { body: rpc(2, "tools/list"), status: 200 },
  { body: rpc(3, "ping"), status: 200 }, { body: rpc(4, "ping"), status: 200 },
  ...calls("echo", 3), ...calls("get-sum", 2), ...calls("get-sum", 1, 200, "guest"),
  ...calls("get-env", 2), ...calls("gzip-file-as-resource", 1),
  ...calls(FAILING_TOOLS.serverError, 1, 500), ...calls(FAILING_TOOLS.hangUp, 1, 503),
  { body: "{bad", status: 400 },
  { body: '{"jsonrpc":"1.0","id":30,"method":"ping"}', status: 400 },
  { body: call(31, "echo", { message: "x".repeat(MAX_BODY) }), status: 413 },
  { body: rpc(32, "ping"), status: 415, headers: { ...as("alice"), "content-type": "text/plain" } },
];
const MIX_COMPLETED = 10; // initialize, tools/list, 2 pings, 3 echo, 2 get-sum, the 500
const LAST_CALL: Step = { body: call(40, "echo"), status: 503 }; // connect failure
const OPEN_STREAMS = 2;

/** What each query should show for the window: counts (checked as rates) or a gauge's value.
 *  A labelled query lists each label value it should show; every other series it returns reads 0. */
type Expected = { by?: string; counts: Record<string, number> } | { gauge: number } | { quantile: number };
const BUCKET = [50, 100]; // Envoy's histogram bucket that UPSTREAM_DELAY_MS falls in
const EXPECTED: Record<string, Record<string, Expected>> = {
  requests: { A: { by: "method", counts: { initialize: 1, tools_list: 1, ping: 2, tools_call: 12 } } },
  toolCalls: { A: { by: "tool", counts: { echo: 4, get_sum: 3, get_env: 2, gzip_file_as_resource: 1, boom: 1, hang_up: 1 } } },
  denials: {
    A: { by: "rule", counts: { deny_risky_tools: 3, no_sum_for_guests: 1, default: 0 } },
    B: { by: "rule", counts: { deny_risky_tools: 0, no_sum_for_guests: 0, default: 0 } }, // enforce mode
  },
  rejectedBodies: { A: { counts: { "": 1 } }, B: { counts: { "": 1 } }, C: { counts: { "": 1 } }, D: { counts: { "": 1 } } },
  // Every answer took UPSTREAM_DELAY_MS, so all fall in one bucket, and the quantile is read off it linearly.
  latency: { A: { quantile: BUCKET[0] + (BUCKET[1] - BUCKET[0]) * 0.5 }, B: { quantile: BUCKET[0] + (BUCKET[1] - BUCKET[0]) * 0.99 } },
  openStreams: { A: { gauge: OPEN_STREAMS }, B: { gauge: OPEN_STREAMS } },
  // 5xx: the 500, and Envoy's 503s for the hang-up and the failed connection.
  upstreamErrors: { A: { counts: { "": 3 } }, B: { counts: { "": 1 } }, C: { counts: { "": 1 } }, D: { counts: { "": 0 } } },
};

/**
 * The query with each rate() over Grafana's window replaced by the counter's exact rise in the
 * window: its value at the window's end minus its value at the start. rate() itself stretches
 * the rise towards the window's ends, so only bounds hold for it; this form gives the counts.
 */
function exactRise(expr: string, range: string): string {
  return expr.replace(new RegExp(`rate\\(([^\\[\\]()]+)\\[${RATE_WINDOW.replace("$", "\\$")}\\]\\)`, "g"),
    (_, series: string) => `(${series} - ${series} offset ${range})`);
}

function checkQuery(what: string, rates: Sample[], rises: Sample[], expected: Expected, w: TrafficWindow): void {
  assert.ok(rates.length > 0, `${what} returned nothing`);
  if ("gauge" in expected || "quantile" in expected) {
    const want = "gauge" in expected ? expected.gauge : expected.quantile;
    for (const [form, result] of [["panel's query", rates], ["exact form", rises]] as const) {
      assert.equal(result.length, 1, `${what} (${form}): ${JSON.stringify(result)}`);
      assert.ok(Math.abs(result[0].value - want) < 1e-9, `${what} (${form}): ${result[0].value}, expected ${want}`);
    }
    return;
  }
  const key = (s: Sample) => (expected.by ? s.labels[expected.by] : "");
  const got = new Map(rates.map((s) => [key(s), s.value]));
  assert.equal(got.size, rates.length, `${what}: series without their label: ${JSON.stringify(rates)}`);
  // Every series the panel shows, with the exact count of the traffic (0 for those it did not touch).
  const want = Object.fromEntries([...got.keys()].map((name) => [name, expected.counts[name] ?? 0]));
  assert.deepEqual(Object.fromEntries(rises.map((s) => [key(s), s.value])), { ...want, ...expected.counts }, `${what}: counts in the window`);
  for (const [name, value] of got) {
    const [low, high] = rateBounds(want[name], w);
    assert.ok(value >= low - 1e-9 && value <= high + 1e-9,
      `${what} "${name}": ${value}/s, expected ${want[name]} in ${w.seconds.toFixed(2)} s (${low.toFixed(4)}..${high.toFixed(4)})`);
  }
}

/** The panel's every query at the window's end, with Grafana's rate window set to the window. */
async function checkPanel(prom: PrometheusProcess, panel: Panel, expected: Record<string, Expected>, w: TrafficWindow) {
  assert.deepEqual(Object.keys(expected).sort(), panel.queries.map((q) => q.refId).sort(), `${panel.title}: a query without expectations`);
  for (const q of panel.queries) {
    const rates = await prom.query(withRateWindow(q.expr, w.range), w.time);
    const exact = exactRise(q.expr, w.range);
    assert.ok(!exact.includes(RATE_WINDOW), `${panel.title} / ${q.refId}: a rate window exactRise does not read: ${exact}`);
    const rises = await prom.query(exact, w.time);
    checkQuery(`${panel.title} / ${q.refId}`, rates, rises, expected[q.refId], w);
  }
}

const panel = (key: string) => PANELS.find((p) => p.key === key)!;

describe("the dashboard's queries against real Prometheus and Envoy", function () {
  this.timeout(90_000);
  let upstream: Upstream;
  let envoy: ScrapedEnvoy;
  let prom: PrometheusProcess;
  let window: TrafficWindow;
  const closeStreams: (() => void)[] = [];

  before(async function () {
    upstream = await startUpstream();
    envoy = await startScrapedEnvoy(POLICY, upstream.port);
    prom = await startPrometheus(renderPrometheusConfig({ target: envoy.metricsTarget, scrapeInterval: `${SCRAPE_SECONDS}s` }));
    await send(envoy.mcpUrl, WARM_UP);
    const completed = () => valueOf(prom, 'sum(envoy_cluster_upstream_rq_time_count{envoy_cluster_name="mcp_server"})');
    window = await trafficWindow({
      scrapeSeconds: SCRAPE_SECONDS,
      before: async () => (await completed()) === WARM_COMPLETED && (await prom.query("mcp_filter_tool_calls")).length === 6,
      traffic: async () => {
        await send(envoy.mcpUrl, MIX);
        for (let i = 0; i < OPEN_STREAMS; i++) closeStreams.push(await openSseStream(envoy.mcpUrl));
        upstream.refuseNewConnections();
        await new Promise((r) => setTimeout(r, 200)); // for Envoy to see its idle connections closed
        await send(envoy.mcpUrl, [LAST_CALL]);
      },
      after: async () => (await completed()) === WARM_COMPLETED + MIX_COMPLETED &&
        (await valueOf(prom, "sum(envoy_cluster_upstream_cx_connect_fail)")) === 1 &&
        (await valueOf(prom, "sum(mcp_filter_oversize_bodies)")) === 1,
    });
  });

  after(async function () {
    closeStreams.forEach((close) => close());
    await prom?.stop();
    await envoy?.stop();
    await upstream?.stop();
  });

  it("sent the traffic in a window of a few scrapes, upstream answers taking their set time", () => {
    assert.ok(window.seconds > 3 * SCRAPE_SECONDS && window.seconds < 30, `${window.seconds} s`);
    assert.ok(UPSTREAM_DELAY_MS > BUCKET[0] && UPSTREAM_DELAY_MS < BUCKET[1]);
  });

  for (const key of Object.keys(EXPECTED)) {
    it(`panel "${panel(key).title}" shows the traffic`, async () => {
      await checkPanel(prom, panel(key), EXPECTED[key], window);
    });
  }

  it("checks every panel of the dashboard, here or in the rate-limit test below", () => {
    assert.deepEqual([...Object.keys(EXPECTED), "rateLimits"].sort(), PANELS.map((p) => p.key).sort());
  });

  it("is healthy by the container's healthcheck command, run against this Prometheus", async () => {
    const code = await new Promise<number>((resolve) => {
      const [cmd, ...args] = prometheusCheck(prom.port);
      execFile(cmd, args, { timeout: 10_000 }, (err) => resolve(err ? 1 : 0));
    });
    assert.equal(code, 0);
  });
});

describe("the rate-limit panel against real Prometheus and Envoy (a policy with limits)", function () {
  this.timeout(90_000);
  const LIMIT = { name: "echo-per-user", key: "user", tools: ["echo"], maxTokens: 2, tokensPerFill: 2, fillInterval: "60s" };
  let upstream: Upstream;
  let envoy: ScrapedEnvoy | undefined;
  let prom: PrometheusProcess | undefined;

  after(async function () {
    await prom?.stop();
    await envoy?.stop();
    await upstream?.stop();
  });

  it(`shows one refusal by ${LIMIT.name} after three calls of a user allowed two`, async () => {
    upstream = await startUpstream();
    envoy = await startScrapedEnvoy({ defaultAction: "allow", userHeader: "x-user-id", mode: "enforce", rules: [], limits: [LIMIT] }, upstream.port);
    prom = await startPrometheus(renderPrometheusConfig({ target: envoy.metricsTarget, scrapeInterval: `${SCRAPE_SECONDS}s` }));
    // An over-limit call is answered with a JSON-RPC error on HTTP 200. Alice's refusal, before the
    // window, makes the limit's series exist; Bob's, in it, is the one the panel must show.
    const threeCalls = (user: string) => [...calls("echo", 2, 200, user), ...calls("echo", 1, 200, user)];
    await send(envoy.mcpUrl, threeCalls("alice"));
    const refused = () => valueOf(prom!, "sum(mcp_filter_rate_limited)");
    const w = await trafficWindow({
      scrapeSeconds: SCRAPE_SECONDS,
      before: async () => (await refused()) === 1,
      traffic: () => send(envoy!.mcpUrl, threeCalls("bob")),
      after: async () => (await refused()) === 2,
    });
    await checkPanel(prom, panel("rateLimits"), {
      A: { by: "limit", counts: { echo_per_user: 1 } },
      B: { by: "limit", counts: { echo_per_user: 0 } },
    }, w);
  });
});
