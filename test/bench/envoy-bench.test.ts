// The Envoy bench's own correctness, not its numbers: its three configurations are what it says
// they are, its checks can fail, and its conclusions show a missed goal. No timing is asserted.
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { startEnvoy, validateEnvoyConfig, type EnvoyProcess } from "../../envoy/run";
import { localEnvoyConfig, renderEnvoyConfig } from "../../infra/envoyConfig";
import { BENCH_GATEWAY_KEY, BENCH_LIMIT, CALL_ANSWER_SSE, CONFIGS, ENVOY_YAML, ROOT, LISTENER, UPSTREAM_LISTENER, WASM_PATH, defaultPolicy, proxyConfigs, rateLimitedPolicy, upstreamConfig, type ComparedConfig, type ConfigName } from "../../filter/bench/envoy/configs";
import { buildBaselineWasm } from "../../filter/bench/envoy/baseline";
import { FLOOR_REQUESTS_METRIC, writeEmptyWasm, writeFloorWasm } from "../../filter/bench/envoy/floor";
import { checkPolicies, post, toolsCall } from "../../filter/bench/envoy/checks";
import { waitFor } from "../envoy/stack";
import { parseH2loadLog, quantile } from "../../filter/bench/envoy/load";
import { baselineRatios, goals, rateLimitCost, ratios, SMALL_CASE, type CaseResult } from "../../filter/bench/envoy/report";

const UPSTREAM = { host: "127.0.0.1", port: 3001 };

type Doc = { static_resources: { listeners: Array<{ filter_chains: Array<{ filters: Array<{ typed_config: { http_filters: Array<{ name: string }> } }> }> }> } };
const hcmOf = (doc: Doc) => doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;

describe("bench:envoy configurations", function () {
  const configs = proxyConfigs(UPSTREAM);

  it("B is the stack's envoy.yaml as pulumi up renders it with Pulumi.yaml's default policy, made local", function () {
    const expected = localEnvoyConfig(renderEnvoyConfig(fs.readFileSync(ENVOY_YAML, "utf8"), defaultPolicy(), BENCH_GATEWAY_KEY), {
      wasmPath: WASM_PATH, listen: { host: "127.0.0.1", port: 0 }, upstream: UPSTREAM, admin: { host: "127.0.0.1", port: 0 },
    });
    assert.equal(configs.B, expected);
  });

  it("A and C differ from B in the HCM's http_filters only", function () {
    const withoutFilters = (yaml: string) => {
      const doc = parse(yaml) as Doc;
      hcmOf(doc).http_filters = [];
      return doc;
    };
    assert.deepEqual(withoutFilters(configs.A), withoutFilters(configs.B));
    assert.deepEqual(withoutFilters(configs.C), withoutFilters(configs.B));
    const names = (k: ComparedConfig) => hcmOf(parse(configs[k]) as Doc).http_filters.map((f) => f.name);
    // The stack's gateway key check stays in all three; only the policy filter differs.
    const keyCheck = (k: ComparedConfig) => JSON.stringify(hcmOf(parse(configs[k]) as Doc).http_filters[0]);
    assert.equal(keyCheck("A"), keyCheck("B"));
    assert.equal(keyCheck("C"), keyCheck("B"));
    assert.deepEqual(names("A"), ["envoy.filters.http.api_key_auth", "envoy.filters.http.router"]);
    assert.deepEqual(names("B"), ["envoy.filters.http.api_key_auth", "envoy.filters.http.wasm", "envoy.filters.http.router"]);
    assert.deepEqual(names("C"), ["envoy.filters.http.api_key_auth", "envoy.filters.http.mcp", "envoy.filters.http.rbac", "envoy.filters.http.router"]);
  });

  for (const k of CONFIGS) {
    it(`Envoy accepts ${k}`, async function () {
      const result = await validateEnvoyConfig(configs[k]);
      assert.ok(result.ok, result.output);
    });
  }

  it("Envoy accepts R, B's configuration whose policy has limits", async function () {
    const r = proxyConfigs(UPSTREAM, WASM_PATH, rateLimitedPolicy()).B;
    assert.notEqual(r, configs.B);
    const result = await validateEnvoyConfig(r);
    assert.ok(result.ok, result.output);
  });

  it("Envoy accepts the upstream", async function () {
    const result = await validateEnvoyConfig(upstreamConfig());
    assert.ok(result.ok, result.output);
  });
});

describe("bench:envoy checks, in real Envoy", function () {
  const started: EnvoyProcess[] = [];
  const urls = {} as Record<ConfigName, string>;
  const envoys = {} as Record<ConfigName, EnvoyProcess>;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bench-test-"));

  before(async function () {
    const upstream = await startEnvoy({ config: upstreamConfig() });
    started.push(upstream);
    const address = await upstream.listener(UPSTREAM_LISTENER);
    // B0 as --baseline HEAD builds it: the filter's sources at HEAD, from git, not the work tree.
    const configs: Record<ConfigName, string> = {
      ...proxyConfigs(address), B0: proxyConfigs(address, buildBaselineWasm("HEAD", tmp)).B,
      E: proxyConfigs(address, writeEmptyWasm(tmp)).B, F: proxyConfigs(address, writeFloorWasm(tmp)).B,
      R: proxyConfigs(address, WASM_PATH, rateLimitedPolicy()).B,
    };
    for (const k of [...CONFIGS, "B0", "E", "F", "R"] as const) {
      const e = await startEnvoy({ config: configs[k] });
      started.push(e);
      envoys[k] = e;
      const l = await e.listener(LISTENER);
      urls[k] = `http://${l.host}:${l.port}/mcp`;
    }
  });
  after(async function () {
    await Promise.all(started.map((e) => e.stop()));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("pass: B, B0, R and C deny get-env and allow get-sum, only the filter hides get-env from tools/list, and R's limits refuse a second call", async function () {
    await checkPolicies(urls);
  });

  it("R's measured calls all pass: the bench user's limit is never exhausted, and the check limit is the only one that refuses", async function () {
    const refusals = async () => (await envoys.R.stats()).get(`wasmcustom.mcp_filter.rate_limited.${BENCH_LIMIT}`);
    const before = await refusals();
    assert.ok(before !== undefined, "the filter defines the limit's counter at configure time");
    for (let i = 0; i < 50; i++) assert.equal((await post(urls.R, toolsCall("get-sum", i, { a: 1, b: 2 }))).body, CALL_ANSWER_SSE);
    assert.equal(await refusals(), before);
  });

  it("fail when R's limits are not in force", async function () {
    await assert.rejects(checkPolicies({ R: urls.B }), /check failed for R: the rate-check user's second call was not refused/);
  });

  it("fail when a configuration that should deny does not", async function () {
    await assert.rejects(checkPolicies({ ...urls, C: urls.A }), /check failed for C: get-env was not denied by RBAC/);
    await assert.rejects(checkPolicies({ ...urls, B: urls.C }), /check failed for B: get-env was not denied with a JSON-RPC error/);
    await assert.rejects(checkPolicies({ ...urls, B0: urls.A }), /check failed for B0: get-env was not denied with a JSON-RPC error/);
  });

  it("the floor F makes its host calls for every request in Envoy: its counters count each body", async function () {
    const stat = async (name: string) => (await envoys.F.stats()).get(`wasmcustom.${name}`);
    const before = await stat(FLOOR_REQUESTS_METRIC);
    assert.ok(before !== undefined, "the floor defines its counter at configure time");
    for (let i = 0; i < 5; i++) assert.equal((await post(urls.F, toolsCall("get-sum", i))).status, 200);
    assert.equal(await stat(FLOOR_REQUESTS_METRIC), before + 5);
    assert.equal(await stat("bench_floor.tool_calls"), before + 5);
    await waitFor(() => envoys.F.lines.some((l) => l.message.includes('"audit":"mcp"')), "the floor's audit-sized log line");
  });

  it("the empty and floor modules import only what Envoy registers for their ABI", function () {
    for (const file of [writeEmptyWasm(tmp), writeFloorWasm(tmp)]) {
      const out = execFileSync(process.execPath, [path.join(ROOT, "..", "shared", "tools", "wasm-abi-check.mjs"), file], { encoding: "utf8" });
      assert.match(out, /^abi ok: proxy_abi_version_0_2_0/, file);
    }
  });

  it("the empty module E passes every request and answer through unchanged", async function () {
    await checkPolicies({ E: urls.E });
    await assert.rejects(checkPolicies({ B: urls.E }), /get-env was not denied/);
  });

  it("a baseline ref git does not know is refused before anything is built", function () {
    assert.throws(() => buildBaselineWasm("no-such-ref-3f9a", tmp), /no-such-ref-3f9a/);
  });

  it("C reads the whole body: a duplicate params.name after a long argument decides, as in B", async function () {
    // The last "name" wins for the server; a filter that stopped at the first would pass get-env.
    const body = `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"get-sum","arguments":{"text":"${"x".repeat(200_000)}"},"name":"get-env"}}`;
    assert.equal((await post(urls.C, body)).status, 403);
    assert.match((await post(urls.B, body)).body, /"error"/);
    assert.equal((await post(urls.C, toolsCall("gzip-file-as-resource", 6))).status, 403, "gzip-* is denied as a prefix");
  });
});

describe("bench:envoy results", function () {
  it("reads h2load's per-request log and takes nearest-rank percentiles", function () {
    const log = parseH2loadLog("1796223792411229\t200\t3494\n1796223792413377\t200\t2449\n1796223792414395\t503\t1827\n");
    assert.deepEqual(log.latenciesUs, [1827, 2449, 3494]);
    assert.deepEqual([...log.statuses], [[200, 2], [503, 1]]);
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(quantile(xs, 0.5), 50);
    assert.equal(quantile(xs, 0.99), 99);
    assert.throws(() => parseH2loadLog("garbage\n"), /unexpected h2load log row/);
  });

  const row = (name: string, config: ConfigName, rps: number, p99Us: number, cpuUsPerReq: number): CaseResult =>
    ({ name, bytes: 1, config, rps, p50Us: p99Us / 2, p99Us, cpuUsPerReq });
  const latency = [{ config: "A" as const, rps: 500, p50Us: 150, p99Us: 400 }, { config: "B" as const, rps: 500, p50Us: 190, p99Us: 500 }];
  const sse = { events: 100, medianAddedUs: 20, p99AddedUs: 80, latencyUs: { A: [100, 400] as [number, number], B: [120, 480] as [number, number] } };

  it("the ratio is B's added CPU over C's, and a missed goal is reported as missed", function () {
    const cases = [
      row(SMALL_CASE, "A", 1000, 500, 100), row(SMALL_CASE, "B", 850, 800, 130), row(SMALL_CASE, "C", 950, 600, 120),
    ];
    const rs = ratios(cases);
    assert.deepEqual(rs, [{ name: SMALL_CASE, addedCpuVsNative: 1.5 }]);
    const slow = [latency[0], { ...latency[1], p99Us: 700 }];
    const missed = goals(cases, rs, sse, slow).filter((g) => !g.met).map((g) => g.goal);
    assert.equal(missed.length, 3, missed.join("; "));
    assert.ok(goals(cases, rs, sse, latency).find((g) => g.goal.startsWith("SSE"))!.met);
  });

  it("the p99 goal is judged at the fixed rate, not at saturation, where latency is queueing", function () {
    const cases = [row(SMALL_CASE, "A", 1000, 500, 100), row(SMALL_CASE, "B", 950, 5000, 110), row(SMALL_CASE, "C", 950, 600, 120)];
    const p99 = (l: typeof latency) => goals(cases, ratios(cases), sse, l).find((g) => g.goal.includes("p99 latency (fixed rate"))!;
    assert.ok(p99(latency).met, p99(latency).detail);
    assert.match(p99(latency).detail, /at saturation, where it is queueing: 4500 µs/);
    assert.ok(!p99([latency[0], { ...latency[1], p99Us: 601 }]).met);
    assert.throws(() => goals(cases, ratios(cases), sse, [latency[1]]), /no latency result for A/);
  });

  it("with a baseline, B's added CPU is also set against B0's", function () {
    const cases = [row(SMALL_CASE, "A", 1000, 500, 100), row(SMALL_CASE, "B", 900, 600, 130), row(SMALL_CASE, "B0", 950, 550, 125), row(SMALL_CASE, "C", 950, 600, 120)];
    assert.deepEqual(baselineRatios(cases), [{ name: SMALL_CASE, addedCpuVsBaseline: 1.2 }]);
    assert.deepEqual(baselineRatios([...cases.slice(0, 2), row(SMALL_CASE, "B0", 1000, 500, 99)]), [{ name: SMALL_CASE, addedCpuVsBaseline: null }]);
  });

  it("the rate limit's cost is R's CPU per request over B's, for the small call", function () {
    const cases = [row(SMALL_CASE, "B", 900, 600, 130), row(SMALL_CASE, "R", 880, 620, 131.5)];
    assert.deepEqual(rateLimitCost(cases, "x"), { limit: "x", addedCpuUsPerReq: 1.5 });
    assert.throws(() => rateLimitCost(cases.slice(0, 1), "x"), /no result for tools\/call ~300 B through R/);
  });

  it("no ratio when C adds no CPU over A, and that is a miss, not a pass", function () {
    const cases = [row(SMALL_CASE, "A", 1000, 500, 100), row(SMALL_CASE, "B", 990, 510, 101), row(SMALL_CASE, "C", 1000, 500, 99)];
    const rs = ratios(cases);
    assert.equal(rs[0].addedCpuVsNative, null);
    assert.equal(goals(cases, rs, sse, latency)[0].met, false);
  });
});
