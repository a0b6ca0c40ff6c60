// npm run build:filter && npm run bench:envoy [-- --json] [--rounds 3] [--duration 2]
//   [--warmup 0.3] [--clients 4] [--sse-events 2000] [--sse-interval-ms 1] [--log-level info]
//   [--baseline REF] [--latency-rps 500]
// The filter's cost in real Envoy (one worker), against passthrough (A) and Envoy's native MCP
// filter with RBAC (C): requests/s, p50 and p99 latency, and Envoy's CPU time per request, for
// a small tools/call, 64 KB and 1 MB bodies and a tools/list whose answer the filter rewrites;
// then the delay the filter adds to each SSE event. Configurations alternate within each round,
// so a machine that gets busier or quieter during the run shifts all three alike. With
// --baseline REF, a fourth configuration (B0) runs the filter built from git at REF, so that a
// change to the filter is measured against the code before it in the same run. F, the floor
// (floor.ts), runs the small call only: the cost of B's host calls alone; E the cost of any
// wasm filter; R, the small call through B with a rate limit it never exhausts. Last, the small call
// again at a fixed rate well below saturation (latency.ts), for the latency a filter adds.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { envoyVersionOf, findEnvoy } from "../../../envoy/binary";
import { startEnvoy, type EnvoyLogLevel, type EnvoyProcess } from "../../../envoy/run";
import { benchBodies } from "../bodies";
import { buildBaselineWasm, commitOf } from "./baseline";
import { BENCH_LIMIT, LISTENER, UPSTREAM_LISTENER, WASM_PATH, benchConfigs, checkWasmIsFresh, proxyConfigs, upstreamConfig, type ConfigName } from "./configs";
import { CLIENT_HEADERS, TOOLS_LIST_HEADERS, TOOLS_LIST_REQUEST, checkBodies, checkPolicies } from "./checks";
import { cpuTimeUs, findH2load, median, quantile, runLoad } from "./load";
import { FLOOR_REQUESTS_METRIC } from "./floor";
import { measureLatency } from "./latency";
import { SMALL_CASE, TOOLS_LIST_CASE, baselineRatios, goals, printReport, rateLimitCost, ratios, type CaseResult, type Report } from "./report";
import { BenchArgs } from "./options";
import { measureSse } from "./sse";

interface Options {
  json: boolean; rounds: number; durationS: number; warmupS: number; clients: number;
  sseEvents: number; sseIntervalMs: number;
  /** Envoy's log level. info, as the stack runs Envoy, writes the filter's audit line for every
   *  request; warn measures the filter without it. */
  logLevel: EnvoyLogLevel;
  /** A git ref whose filter runs as B0, or null. */
  baseline: string | null;
  /** The fixed rate of the latency runs, requests per second on one connection. */
  latencyRps: number;
}

const LOG_LEVELS: EnvoyLogLevel[] = ["trace", "debug", "info", "warn", "error", "critical"];

function parseOptions(argv: string[]): Options {
  const args = new BenchArgs(argv, ["--json"], ["--rounds", "--duration", "--warmup", "--clients", "--sse-events", "--sse-interval-ms", "--log-level", "--baseline", "--latency-rps"]);
  const level = (args.text("--log-level") ?? "info") as EnvoyLogLevel;
  if (!LOG_LEVELS.includes(level)) throw new Error(`--log-level must be one of ${LOG_LEVELS.join(", ")}, got ${level}`);
  return {
    json: args.has("--json"),
    rounds: args.count("--rounds", 3, 1),
    durationS: args.number("--duration", 2, 0.5),
    warmupS: args.number("--warmup", 0.3, 0),
    clients: args.count("--clients", 4, 1),
    sseEvents: args.count("--sse-events", 2000, 2),
    sseIntervalMs: args.number("--sse-interval-ms", 1, 0),
    logLevel: level,
    baseline: args.text("--baseline") ?? null,
    latencyRps: args.count("--latency-rps", 500, 1),
  };
}

/** E and F measure the small call only: the case whose cost they bound; R, the small call with a
 *  limit check, whose cost does not grow with the body. */
const runsCase = (k: ConfigName, caseName: string): boolean => !["E", "F", "R"].includes(k) || caseName === SMALL_CASE;

interface BenchCase { name: string; body: Buffer; headers: Record<string, string>; file: string }

function benchCases(tmp: string): BenchCase[] {
  const calls = benchBodies().map((b) => ({ name: b.name, body: b.body, headers: {} as Record<string, string> }));
  const all = [...calls, { name: TOOLS_LIST_CASE, body: Buffer.from(TOOLS_LIST_REQUEST), headers: TOOLS_LIST_HEADERS }];
  return all.map((c, i) => {
    const file = path.join(tmp, `body-${i}.json`);
    fs.writeFileSync(file, c.body);
    return { ...c, file };
  });
}

const COUNTERS = "^(http\\.mcp\\.downstream_rq_(total|4xx|5xx)|cluster\\.mcp_server\\.upstream_rq_total)$";

/** The proxy's request counters: downstream requests, their 4xx and 5xx answers, and requests
 *  sent upstream. */
async function counters(envoy: EnvoyProcess): Promise<{ total: number; refused: number; upstream: number }> {
  const res = await envoy.admin(`/stats?filter=${encodeURIComponent(COUNTERS)}`);
  const value = (name: string): number => {
    const m = new RegExp(`^${name.replace(/\./g, "\\.")}: (\\d+)$`, "m").exec(res.text);
    if (!m) throw new Error(`Envoy has no stat ${name}: ${res.text}`);
    return Number(m[1]);
  };
  return {
    total: value("http.mcp.downstream_rq_total"),
    refused: value("http.mcp.downstream_rq_4xx") + value("http.mcp.downstream_rq_5xx"),
    upstream: value("cluster.mcp_server.upstream_rq_total"),
  };
}

interface Sample { rps: number; p50Us: number; p99Us: number; cpuUsPerReq: number }

/** F's request counter, which its module increments once per request body. */
async function floorCount(envoy: EnvoyProcess): Promise<number> {
  const res = await envoy.admin(`/stats?filter=${encodeURIComponent(`^wasmcustom\\.${FLOOR_REQUESTS_METRIC.replace(".", "\\.")}$`)}`);
  const m = /: (\d+)$/m.exec(res.text);
  if (!m) throw new Error(`the floor module defined no ${FLOOR_REQUESTS_METRIC} counter: ${res.text}`);
  return Number(m[1]);
}

/** One measured period of one case through one configuration. */
async function measure(h2load: string, k: ConfigName, envoy: EnvoyProcess, url: string, c: BenchCase, o: Options, tmp: string): Promise<Sample> {
  const floorBefore = k === "F" ? await floorCount(envoy) : 0;
  const before = { cpu: cpuTimeUs(envoy.pid), n: await counters(envoy) };
  const load = await runLoad(h2load, { url, bodyFile: c.file, headers: { ...CLIENT_HEADERS, ...c.headers }, clients: o.clients, durationS: o.durationS, warmupS: o.warmupS }, tmp);
  const after = { cpu: cpuTimeUs(envoy.pid), n: await counters(envoy) };
  // The floor is only a floor if it made its host calls for every request.
  if (k === "F" && (await floorCount(envoy)) - floorBefore < after.n.total - before.n.total - o.clients) throw new Error("the floor module skipped requests");
  // Envoy's log of thousands of requests (access log, audit lines) is not needed: keep memory flat.
  envoy.lines.length = 0;
  const requests = after.n.total - before.n.total;
  const statuses = [...load.statuses].map(([s, n]) => `${n} × ${s}`).join(", ");
  if (load.requests === 0 || load.statuses.get(200) !== load.requests) throw new Error(`${c.name}: not every request got a 200 (${statuses || "none completed"})`);
  // No request, warm-up included, was refused, and each went upstream, but for the few that
  // were in flight when h2load stopped (at most one per connection).
  const refused = after.n.refused - before.n.refused;
  const sent = after.n.upstream - before.n.upstream;
  if (refused !== 0 || sent < requests - o.clients) throw new Error(`${c.name}: of ${requests} requests ${refused} were refused and ${sent} went upstream`);
  return {
    rps: load.rps,
    p50Us: quantile(load.latenciesUs, 0.5),
    p99Us: quantile(load.latenciesUs, 0.99),
    // CPU over every request in the window, warm-up included: the window and the count match.
    cpuUsPerReq: (after.cpu - before.cpu) / requests,
  };
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const h2load = findH2load();
  const envoyVersion = envoyVersionOf(findEnvoy());
  checkWasmIsFresh();
  const loadAverageBefore = os.loadavg();
  const log = (s: string) => { if (!o.json) process.stderr.write(s); };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bench-envoy-"));
  const started: EnvoyProcess[] = [];
  try {
    const start = async (config: string): Promise<EnvoyProcess> => { const e = await startEnvoy({ config, logLevel: o.logLevel }); started.push(e); return e; };
    const upstream = await start(upstreamConfig());
    const upstreamAddress = await upstream.listener(UPSTREAM_LISTENER);
    const { A, B, C, E, F, R } = benchConfigs(upstreamAddress, tmp);
    const baselineWasm = o.baseline === null ? null : buildBaselineWasm(o.baseline, tmp);
    const configs: Partial<Record<ConfigName, string>> = { A, B, C, ...(baselineWasm === null ? {} : { B0: proxyConfigs(upstreamAddress, baselineWasm).B }), E, F, R };
    const names = Object.keys(configs) as ConfigName[];
    const envoys = {} as Record<ConfigName, EnvoyProcess>;
    const urls = {} as Record<ConfigName, string>;
    for (const k of names) {
      envoys[k] = await start(configs[k]!);
      const l = await envoys[k].listener(LISTENER);
      urls[k] = `http://${l.host}:${l.port}/mcp`;
    }
    const cases = benchCases(tmp);
    await checkPolicies(urls);
    await checkBodies(urls, cases);

    const samples = new Map<string, Sample[]>();
    for (let round = 0; round < o.rounds; round++) {
      log(`round ${round + 1}/${o.rounds}:`);
      for (const c of cases) {
        // Each round and case starts with another configuration, so none always runs first.
        const here = names.filter((k) => runsCase(k, c.name));
        const order = here.map((_, i) => here[(i + round + cases.indexOf(c)) % here.length]);
        for (const k of order) {
          const key = `${c.name}\u0000${k}`;
          samples.set(key, [...(samples.get(key) ?? []), await measure(h2load, k, envoys[k], urls[k], c, o, tmp)]);
        }
        log(".");
      }
      log("\n");
    }
    log("latency at a fixed rate...\n");
    const small = cases.find((c) => c.name === SMALL_CASE)!;
    const latency = await measureLatency({ h2load, envoys, urls, bodyFile: small.file, headers: CLIENT_HEADERS, rps: o.latencyRps, rounds: o.rounds, durationS: Math.max(o.durationS, 2), warmupS: o.warmupS, tmp });
    await Promise.all(started.map((e) => e.stop()));

    log("SSE...\n");
    const sse = await measureSse({ events: o.sseEvents, warmup: Math.floor(o.sseEvents / 10), intervalMs: o.sseIntervalMs, wasmPath: WASM_PATH, logLevel: o.logLevel });

    const results: CaseResult[] = cases.flatMap((c) => names.filter((k) => runsCase(k, c.name)).map((k) => {
      const s = samples.get(`${c.name}\u0000${k}`)!;
      const med = (f: (x: Sample) => number) => median(s.map(f));
      return { name: c.name, bytes: c.body.length, config: k, rps: Math.round(med((x) => x.rps)), p50Us: Math.round(med((x) => x.p50Us)), p99Us: Math.round(med((x) => x.p99Us)), cpuUsPerReq: Math.round(med((x) => x.cpuUsPerReq) * 10) / 10 };
    }));
    const rs = ratios(results);
    const report: Report = {
      envoyVersion,
      envoyLogLevel: o.logLevel,
      cases: results,
      ratios: rs,
      ...(o.baseline === null ? {} : { baseline: { ref: o.baseline, commit: commitOf(o.baseline), ratios: baselineRatios(results) } }),
      latency: { rps: o.latencyRps, connections: 1, results: latency },
      sse: { medianAddedUs: sse.medianAddedUs, p99AddedUs: sse.p99AddedUs },
      rateLimit: rateLimitCost(results, BENCH_LIMIT),
      goals: goals(results, rs, sse, latency),
      machine: { cpus: os.cpus().length, loadAverageBefore, loadAverageAfter: os.loadavg() },
    };
    if (o.json) {
      process.stdout.write(JSON.stringify(report) + "\n");
    } else {
      printReport(report, sse, `Upstream: a separate Envoy that answers at once. Load: h2load, ${o.clients} keep-alive HTTP/1.1 connections, `
        + `one request in flight on each; ${o.rounds} rounds of ${o.durationS} s (after ${o.warmupS} s warm-up) per case and configuration, `
        + `configurations alternated; each figure is the median of the rounds. CPU: user + system time of the Envoy under test, per request. `
        + `Envoy log level ${o.logLevel}${o.logLevel === "info" ? " (as the stack runs it: the filter writes an audit line per request)" : " (the filter's audit lines are not written)"}.`);
    }
  } finally {
    await Promise.all(started.map((e) => e.stop()));
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:envoy: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
