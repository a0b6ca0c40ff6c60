// Failure in real Envoy: a policy the filter refuses (at start-up, and in a listener update),
// and a VM that fails at run time under the stack's FAIL_CLOSED.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse, stringify } from "yaml";
import { rawRequest, type RawResponse } from "../e2e/harness";
import { EnvoyStartError, startEnvoy, type EnvoyLine, type EnvoyProcess } from "../../envoy/run";
import { ProxyModule, op } from "../host/proxy-module";
import { REQUEST } from "../host/helpers";
import {
  GATEWAY_AUTH,
  JSON_HEADERS, LISTENER, STACK_POLICY, call, connectionsPerWorker, emulatorLikeStack, hostPortOf, mappedBody, prometheusValues,
  stackConfig, startStackRig, startStub, upstreamRequests, waitFor, type StackRig, type Stub,
} from "./stack";

const REFUSED_POLICY = { ...STACK_POLICY, defaultAction: "maybe" };

/** The wasm logger's lines at error and above, as `level text`; a plugin's own line without Envoy's prefix. */
function wasmErrors(lines: EnvoyLine[]): string[] {
  return lines.filter((l) => l.logger === "wasm" && (l.level === "error" || l.level === "critical"))
    .map((l) => `${l.level} ${l.plugin ?? l.message}`);
}

describe("Envoy: a policy the filter refuses, at start-up", function () {
  let refusal: EnvoyStartError;

  before(async function () {
    const started = await startEnvoy({ config: stackConfig({ upstream: { host: "127.0.0.1", port: 1 }, policy: REFUSED_POLICY }), concurrency: 2 })
      .then((envoy) => envoy, (err: unknown) => err);
    if (!(started instanceof EnvoyStartError)) {
      if (started && typeof (started as EnvoyProcess).stop === "function") await (started as EnvoyProcess).stop();
      assert.fail(`Envoy started with a policy the filter refuses: ${String(started)}`);
    }
    refusal = started;
  });

  it("Envoy exits (code 1) before it is ready, after the filter's critical line naming the field", function () {
    assert.equal(refusal.code, 1);
    assert.match(refusal.message, /mcp_filter: invalid configuration: defaultAction: expected "allow" or "deny", got "maybe"; the filter refuses to start/);
    assert.match(refusal.message, /Unable to create Wasm plugin mcp_filter/);
    const main = refusal.lines.filter((l) => l.logger === "main" && l.level === "critical");
    assert.match(main[main.length - 1].message, /^error `Unable to create Wasm plugin mcp_filter` initializing config/);
  });

  it("the emulator, set up as envoy.yaml sets up the filter, logs the same lines at error and above", function () {
    const host = emulatorLikeStack(REFUSED_POLICY);
    assert.equal(host.start(), false);
    assert.deepEqual(host.logs("error").map((l) => `${l.level} ${l.message}`), wasmErrors(refusal.lines));
  });
});

/** A bootstrap that takes its listeners from a file (LDS), so a test can change a policy while Envoy runs. */
function withListenersFromFile(config: string, ldsFile: string): string {
  const bootstrap = parse(config);
  delete bootstrap.static_resources.listeners;
  bootstrap.node = { id: "test", cluster: "test" }; // xDS requires them
  bootstrap.dynamic_resources = {
    lds_config: { resource_api_version: "V3", path_config_source: { path: ldsFile, watched_directory: { path: path.dirname(ldsFile) } } },
  };
  return stringify(bootstrap);
}

/** Replaces the listener file at once (a rename), as the watch expects. */
function writeListener(config: string, ldsFile: string): void {
  const listener = parse(config).static_resources.listeners[0];
  fs.writeFileSync(`${ldsFile}.tmp`, stringify({ resources: [{ "@type": "type.googleapis.com/envoy.config.listener.v3.Listener", ...listener }] }));
  fs.renameSync(`${ldsFile}.tmp`, ldsFile);
}

describe("Envoy: a listener update that carries a refused policy", function () {
  let stub: Stub;
  let envoy: EnvoyProcess;
  let dir: string;
  let ldsFile: string;
  let mcpUrl: string;

  const configWith = (policy: Record<string, unknown>) => stackConfig({ upstream: hostPortOf(stub.url), policy });
  const counter = async (name: string) => (await envoy.stats()).get(name) ?? 0;
  const answer = async (tool: string) => JSON.parse((await rawRequest(mcpUrl, "POST", JSON_HEADERS, call(1, tool))).text) as Record<string, unknown>;
  const denied = (reply: Record<string, unknown>) => (reply.error as { message?: string } | undefined)?.message?.startsWith("Unknown tool") === true;

  before(async function () {
    stub = await startStub();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-lds-"));
    ldsFile = path.join(dir, "listeners.yaml");
    writeListener(configWith(STACK_POLICY), ldsFile);
    envoy = await startEnvoy({ config: withListenersFromFile(configWith(STACK_POLICY), ldsFile), logLevel: "warn" });
    const bound = await envoy.listener(LISTENER);
    mcpUrl = `http://${bound.host}:${bound.port}/mcp`;
  });
  after(async function () {
    await envoy?.stop();
    await stub?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("is rejected: the listener keeps its policy, and mcp_filter_config_errors counts the refusal", async function () {
    assert.ok(denied(await answer("get-env")));
    writeListener(configWith(REFUSED_POLICY), ldsFile);
    await waitFor(async () => (await counter("listener_manager.lds.update_rejected")) === 1, "the update to be rejected");
    // Envoy's log is buffered (envoyLogFlags): the line comes within a flush interval.
    await waitFor(() => envoy.lines.some((l) => l.message === "lds: listener 'mcp_listener' config rejected: Unable to create Wasm plugin mcp_filter"), "Envoy to log the rejection");
    assert.ok(denied(await answer("get-env")), "the previous policy still applies");
    assert.ok(!denied(await answer("echo")));
    const values = prometheusValues((await envoy.admin("/stats/prometheus")).text);
    assert.equal(values.get("mcp_filter_config_errors{}"), 1);
  });

  it("a valid update is applied, so the refusal above was Envoy's, not a missed file", async function () {
    const applied = await counter("listener_manager.lds.update_success");
    writeListener(configWith({ ...STACK_POLICY, rules: [{ name: "no-echo", action: "deny", tools: ["echo"] }] }), ldsFile);
    await waitFor(async () => (await counter("listener_manager.lds.update_success")) === applied + 1, "the update to be applied");
    await waitFor(async () => denied(await answer("echo")), "the new policy to answer");
    assert.ok(!denied(await answer("get-env")));
  });
});

/** Any request body traps. Like the filter, it holds the headers of a request with a body
 *  (StopIteration) and lets a bodiless one go (Continue). Imports only proxy_log. */
function trapOnBodyModule(): Uint8Array {
  const m = new ProxyModule([]);
  const EQZ = 0x45; // i32.eqz: end_of_stream 0 -> 1 (StopIteration), 1 -> 0 (Continue)
  m.on("proxy_on_request_headers", 3, [...m.log("headers"), ...op.get(2), EQZ]);
  m.on("proxy_on_request_body", 3, op.unreachable);
  m.on("proxy_on_delete", 1, [], false);
  return m.build();
}

interface Exchange { status: number; contentType?: string; body: string }
const exchange = (r: RawResponse): Exchange => ({ status: r.status, contentType: r.headers["content-type"], body: r.text });

/** The stack's Envoy with only the wasm swapped for the trap module. */
async function startWithTrapModule(concurrency: number): Promise<StackRig> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-trap-"));
  const wasmPath = path.join(dir, "trap.wasm");
  fs.writeFileSync(wasmPath, trapOnBodyModule());
  try {
    return await startStackRig({ wasmPath, concurrency });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true }); // Envoy has read it once it is ready
  }
}

describe("Envoy: after a VM failure under FAIL_CLOSED", function () {
  let trap: StackRig;
  const seen: { before?: Exchange; trapped?: Exchange; after: Exchange[]; reached: number[] } = { after: [], reached: [] };

  before(async function () {
    trap = await startWithTrapModule(1);
    const url = trap.stack.mcpUrl;
    const reached = () => seen.reached.push(trap.recorder.requests.length);
    seen.before = exchange(await rawRequest(url, "GET", { ...GATEWAY_AUTH, accept: "text/event-stream" }));
    reached();
    seen.trapped = exchange(await rawRequest(url, "POST", JSON_HEADERS, call(1, "echo")));
    reached();
    seen.after.push(exchange(await rawRequest(url, "GET", { ...GATEWAY_AUTH, accept: "text/event-stream" })));
    seen.after.push(exchange(await rawRequest(url, "POST", JSON_HEADERS, call(2, "echo"))));
    reached();
  });
  after(async function () {
    await trap?.stop();
  });

  it("before the trap, requests pass", function () {
    assert.equal(seen.before?.status, 200);
    assert.equal(seen.reached[0], 1);
  });

  it("the request that traps, and every later one, get envoy.yaml's JSON-RPC 503; none reaches the server", async function () {
    const closed: Exchange = { status: 503, contentType: "application/json", body: mappedBody(503) };
    assert.deepEqual(seen.trapped, closed);
    assert.deepEqual(seen.after, [closed, closed]);
    assert.deepEqual(seen.reached, [1, 1, 1]);
    assert.equal(await upstreamRequests(trap.stack.envoy), 1, "Envoy started one upstream request: the first GET");
  });

  it("Envoy logs the trap, and records wasm_fail_stream for each refused stream, as the emulator does", async function () {
    const lines = await trap.stack.accessLines(4);
    assert.deepEqual(lines.map((l) => [l.status, l.details]), [[200, "via_upstream"], [503, "wasm_fail_stream"], [503, "wasm_fail_stream"], [503, "wasm_fail_stream"]]);
    const host = emulatorLikeStack(STACK_POLICY, trapOnBodyModule(), { logLevel: "info" });
    assert.equal(host.start(), true);
    const trapping = host.newHttpContext();
    trapping.requestHeaders(REQUEST, false);
    trapping.requestBody(Buffer.from(call(1, "echo")), true);
    const later = host.newHttpContext();
    later.requestHeaders(REQUEST, true);
    assert.deepEqual([trapping, later].map((c) => [c.localReply?.status, c.details]), [[503, "wasm_fail_stream"], [503, "wasm_fail_stream"]]);
    await waitFor(() => wasmErrors(trap.stack.envoy.lines).length > 0, "Envoy to log the trap");
    assert.deepEqual(host.logs("error").map((l) => `${l.level} ${l.message}`), wasmErrors(trap.stack.envoy.lines));
  });
});

describe("Envoy: FAIL_CLOSED closes only the worker whose VM failed", function () {
  let trap: StackRig;

  before(async function () {
    trap = await startWithTrapModule(2);
  });
  after(async function () {
    await trap?.stop();
  });

  it("after one VM traps, requests on the other worker still pass through its healthy VM", async function () {
    const { envoy, mcpUrl } = trap.stack;
    assert.equal((await rawRequest(mcpUrl, "POST", JSON_HEADERS, call(1, "echo"))).status, 503);
    const start = await connectionsPerWorker(envoy);
    const statuses: number[] = [];
    // Each GET on its own connection; the kernel spreads connections over the workers.
    for (let i = 0; i < 24; i++) statuses.push((await rawRequest(mcpUrl, "GET", { ...GATEWAY_AUTH, accept: "text/event-stream" })).status);
    const end = await connectionsPerWorker(envoy);
    const taken = end.map((n, i) => n - start[i]).sort((a, b) => a - b);
    const answered = [statuses.filter((s) => s === 503).length, statuses.filter((s) => s === 200).length].sort((a, b) => a - b);
    assert.deepEqual(answered, taken, `statuses ${statuses.join(",")}`);
    assert.ok(taken.every((n) => n > 0), `connections per worker: ${taken.join(", ")}`);
    assert.equal(statuses.filter((s) => s !== 200 && s !== 503).length, 0);
  });
});
