// The filter's metrics as real Envoy shows them on /stats/prometheus: the names filter/README.md
// documents, and exact counts after a known mix of requests, summed over two workers' VMs.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { rawRequest } from "../e2e/harness";
import { startGateway, type EmulatorGateway } from "../../filter/gateway";
import { GATEWAY_KEY, JSON_HEADERS, STACK_POLICY, call, connectionsPerWorker, hostPortOf, prometheusValues, rpc, startStackEnvoy, startStub, type StackEnvoy, type Stub } from "./stack";

const README = fs.readFileSync(path.join(__dirname, "..", "..", "filter", "README.md"), "utf8");
const MAX_BODY = STACK_POLICY.maxBodyBytes as number;
/** The stack's policy with a limit that MIX's fourth echo call goes over. */
const POLICY = { ...STACK_POLICY, limits: [{ name: "echo-calls", key: "tool", tools: ["echo"], maxTokens: 3, fillInterval: "1h" }] };

const notification = (method: string) => JSON.stringify({ jsonrpc: "2.0", method });

interface Step { what: string; body: string; status: number; headers?: Record<string, string> }

/** One request of each kind the metrics count, each on its own connection. */
const MIX: Step[] = [
  { what: "allowed call", body: call(1, "echo", { message: "a" }), status: 200 },
  { what: "allowed call", body: call(2, "echo", { message: "b" }), status: 200 },
  { what: "denied call", body: call(3, "get-env"), status: 200 },
  { what: "call denied by a glob", body: call(4, "gzip-file-as-resource"), status: 200 },
  { what: "tools/list (two tools hidden)", body: rpc(5, "tools/list"), status: 200 },
  { what: "initialize", body: rpc(6, "initialize", { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } }), status: 200 },
  { what: "notification", body: notification("notifications/initialized"), status: 202 },
  { what: "allowed batch", body: `[${rpc(10, "ping")},${call(11, "echo")},${notification("notifications/progress")}]`, status: 200 },
  { what: "batch with a denied call", body: `[${call(20, "get-env")},${rpc(21, "ping")}]`, status: 200 },
  { what: "parse error", body: "{bad", status: 400 },
  { what: "invalid request", body: '{"jsonrpc":"1.0","id":30,"method":"ping"}', status: 400 },
  { what: "invalid params", body: rpc(31, "tools/call", {}), status: 400 },
  { what: "oversize body", body: call(32, "echo", { message: "x".repeat(MAX_BODY) }), status: 413 },
  { what: "unjudgeable content type", body: rpc(33, "ping"), status: 415, headers: { ...JSON_HEADERS, "content-type": "text/plain" } },
  { what: "client response", body: '{"jsonrpc":"2.0","id":"s1","result":{}}', status: 202 },
  { what: "method outside MCP", body: rpc(34, "vendor/extension"), status: 200 },
  { what: "call over a limit", body: call(35, "echo"), status: 200 },
];

/** What MIX must leave on /stats/prometheus; every other mcp_filter series reads 0. */
const EXPECTED: Record<string, number> = {
  mcp_filter_requests_tools_call: 7, // 5 single calls and one in each batch
  mcp_filter_tool_calls_echo: 4,
  mcp_filter_rate_limited_echo_calls: 1,
  mcp_filter_tool_calls_get_env: 2,
  mcp_filter_tool_calls_gzip_file_as_resource: 1,
  mcp_filter_denied_deny_risky_tools: 3,
  mcp_filter_requests_tools_list: 1,
  mcp_filter_tools_hidden: 2,
  mcp_filter_requests_initialize: 1,
  mcp_filter_requests_notifications_initialized: 1,
  mcp_filter_requests_notifications_progress: 1,
  mcp_filter_requests_ping: 2,
  mcp_filter_batches: 2,
  mcp_filter_parse_errors: 1,
  mcp_filter_invalid_requests: 2,
  mcp_filter_oversize_bodies: 1,
  mcp_filter_unjudgeable_bodies: 1,
  mcp_filter_requests_client_response: 1,
  mcp_filter_requests_other: 1,
};

async function send(url: string, steps: Step[]): Promise<void> {
  for (const s of steps) {
    const res = await rawRequest(url, "POST", s.headers ?? JSON_HEADERS, s.body);
    assert.equal(res.status, s.status, `${s.what}: ${res.text.slice(0, 200)}`);
  }
}

/** The metric names of filter/README.md's table, e.g. `mcp_filter.denied.<rule>`. */
function documentedNames(): string[] {
  const section = README.slice(README.indexOf("## Metrics"), README.indexOf("## Audit log"));
  return [...section.matchAll(/^\| `(mcp_filter\.[^`]+)` \|/gm)].map((m) => m[1]);
}

/** A documented name as a /stats/prometheus series: `.` as `_`, a <label> as one or more [A-Za-z0-9_]. */
function seriesPattern(documented: string): RegExp {
  const parts = documented.split(/<[a-z]+>/).map((p) => p.replace(/\./g, "_"));
  return new RegExp(`^${parts.join("[A-Za-z0-9_]+")}\\{\\}$`);
}

// The one gauge: the VM's memory, which depends on which worker's VM wrote last, not on the mix.
const GAUGE = "mcp_filter_vm_memory_bytes";

/** The filter's counter lines of /stats/prometheus text, in Envoy's order. */
const filterLines = (text: string) => text.split("\n").filter((l) => /^(# TYPE )?mcp_filter_/.test(l) && !l.includes(GAUGE)).join("\n");

describe("Envoy: the filter's metrics on /stats/prometheus", function () {
  let stub: Stub;
  let stack: StackEnvoy;
  let prometheus: string;

  before(async function () {
    stub = await startStub();
    // Two workers: two VMs, each with its own counters' handles on the same stats.
    stack = await startStackEnvoy({ upstream: hostPortOf(stub.url), policy: POLICY, concurrency: 2 });
    await send(stack.mcpUrl, MIX);
    prometheus = (await stack.envoy.admin("/stats/prometheus")).text;
  });
  after(async function () {
    await stack?.stop();
    await stub?.stop();
  });

  it("every metric filter/README.md documents is a series of that name, without labels, and nothing else is there", function () {
    const documented = documentedNames();
    assert.ok(documented.length >= 10, `the README's metrics table: ${documented.join(", ")}`);
    const series = [...prometheusValues(prometheus).keys()].filter((k) => k.startsWith("mcp_filter_"));
    for (const name of documented) {
      assert.ok(series.some((s) => seriesPattern(name).test(s)), `${name} has no series on /stats/prometheus`);
    }
    const undocumented = series.filter((s) => !documented.some((name) => seriesPattern(name).test(s)));
    assert.deepEqual(undocumented, []);
  });

  it("Envoy keeps the stat as wasmcustom.<name>, with the rule's own name; /stats/prometheus turns - and . into _", async function () {
    const stats = await stack.envoy.stats();
    assert.equal(stats.get("wasmcustom.mcp_filter.denied.deny-risky-tools"), 3);
    assert.equal(stats.get("wasmcustom.mcp_filter.tool_calls.get_env"), 2, "tool labels are sanitized by the filter itself");
    assert.match(prometheus, /^# TYPE mcp_filter_denied_deny_risky_tools counter\nmcp_filter_denied_deny_risky_tools\{\} 3$/m);
  });

  it("after the known mix, every count is exact, summed over both workers' VMs", async function () {
    const actual = new Map([...prometheusValues(prometheus)].filter(([k]) => k.startsWith("mcp_filter_") && !k.startsWith(GAUGE)));
    const expected = new Map([...actual.keys()].map((k) => [k, EXPECTED[k.slice(0, -2)] ?? 0]));
    assert.deepEqual(actual, expected);
    for (const name of Object.keys(EXPECTED)) assert.ok(actual.has(`${name}{}`), `${name} is missing`);
    // Each request came on its own connection; both workers took some, so both VMs counted.
    const perWorker = await connectionsPerWorker(stack.envoy);
    assert.equal(perWorker.length, 2, "two workers");
    assert.equal(perWorker[0] + perWorker[1], MIX.length);
    assert.ok(perWorker.every((n) => n > 0), `connections per worker: ${perWorker.join(", ")}`);
  });

  it("the VM's memory is a gauge of whole wasm pages", function () {
    assert.match(prometheus, new RegExp(`^# TYPE ${GAUGE} gauge$`, "m"));
    const bytes = prometheusValues(prometheus).get(`${GAUGE}{}`) ?? 0;
    assert.ok(bytes > 0 && bytes % 65536 === 0, `${GAUGE} = ${bytes}`);
  });

  it("the emulator shows the same /stats/prometheus counter lines for the same requests", async function () {
    const gateway = await startGateway({
      engine: "emulator", upstream: stub.url, listen: "127.0.0.1:0", pluginConfig: JSON.stringify(POLICY), gatewayKey: GATEWAY_KEY, onLog: () => undefined,
    }) as EmulatorGateway;
    try {
      await send(`${gateway.url}/mcp`, MIX);
      assert.equal(filterLines(gateway.host.prometheus()), filterLines(prometheus));
    } finally {
      await gateway.close();
    }
  });
});

describe("Envoy: monitor mode counts would-be denials and forwards them", function () {
  let stub: Stub;
  let stack: StackEnvoy;

  before(async function () {
    stub = await startStub();
    stack = await startStackEnvoy({ upstream: hostPortOf(stub.url), policy: { ...STACK_POLICY, mode: "monitor" }, concurrency: 2 });
  });
  after(async function () {
    await stack?.stop();
    await stub?.stop();
  });

  it("a call the policy would deny reaches the server and counts under would_deny, not denied", async function () {
    const res = await rawRequest(stack.mcpUrl, "POST", JSON_HEADERS, call(1, "get-env"));
    assert.deepEqual(JSON.parse(res.text), { jsonrpc: "2.0", id: 1, result: { stub: stub.name } });
    const listed = await rawRequest(stack.mcpUrl, "POST", JSON_HEADERS, rpc(2, "tools/list"));
    assert.equal((JSON.parse(listed.text) as { result: { tools: unknown[] } }).result.tools.length, 4, "monitor mode hides nothing");
    const values = prometheusValues((await stack.envoy.admin("/stats/prometheus")).text);
    assert.equal(values.get("mcp_filter_would_deny_deny_risky_tools{}"), 1);
    assert.equal(values.get("mcp_filter_denied_deny_risky_tools{}"), 0);
    assert.equal(values.get("mcp_filter_tools_hidden{}"), 0);
  });
});
