// Envoy's admin interface is out of reach of every network but the container's loopback; the
// metrics listener serves GET /stats/prometheus and /ready and nothing else; and the
// container's healthcheck passes through it. Shown in real Envoy, running the rendered
// envoy.yaml with the container's bind addresses kept (only ports made free).
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import * as net from "node:net";
import { CONTAINER_PORTS } from "../../infra/config";
import { localEnvoyConfig, METRICS_LISTENER, renderEnvoyConfig } from "../../infra/envoyConfig";
import { envoyReadyCheck } from "../../infra/healthchecks";
import { startEnvoy, type EnvoyProcess } from "../../envoy/run";
import { freePort, rawRequest } from "../e2e/harness";
import { ENVOY_YAML, FILTER_WASM, GATEWAY_AUTH, GATEWAY_KEY, LISTENER, STACK_POLICY } from "./stack";

// The address another container on Envoy's network uses stands in as 127.0.0.2: on Linux every
// 127/8 address reaches this machine, but a socket bound to 127.0.0.1 only answers on 127.0.0.1,
// just as the container's loopback only answers inside the container.
const OTHER_CONTAINER = "127.0.0.2";

function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once("connect", () => { socket.destroy(); resolve(true); });
    socket.once("error", () => resolve(false));
  });
}

function runCheck(argv: string[]): Promise<number> {
  return new Promise((resolve) => {
    execFile(argv[0], argv.slice(1), { timeout: 10_000 }, (err) => resolve(err ? Number((err as NodeJS.ErrnoException).code ?? 1) || 1 : 0));
  });
}

describe("Envoy's admin interface and the metrics listener", function () {
  let envoy: EnvoyProcess;
  let adminPort: number;
  let mcpPort: number;
  let metricsPort: number;

  before(async function () {
    const rendered = renderEnvoyConfig(ENVOY_YAML, STACK_POLICY, GATEWAY_KEY);
    adminPort = await freePort();
    // The container's bind addresses (0.0.0.0 for the listeners, 127.0.0.1 for the admin),
    // on free ports. The MCP server is not needed: nothing here is forwarded to it.
    const config = localEnvoyConfig(rendered, {
      wasmPath: FILTER_WASM,
      listen: { host: "0.0.0.0", port: 0 },
      metrics: { host: "0.0.0.0", port: 0 },
      admin: { host: "127.0.0.1", port: adminPort },
      upstream: { host: "127.0.0.1", port: await freePort() },
    });
    envoy = await startEnvoy({ config, logLevel: "warn" });
    mcpPort = (await envoy.listener(LISTENER)).port;
    metricsPort = (await envoy.listener(METRICS_LISTENER)).port;
  });

  after(async function () {
    await envoy?.stop();
  });

  it("another container's address reaches the MCP and metrics listeners, never the admin", async function () {
    assert.equal(await connects(OTHER_CONTAINER, mcpPort), true, "the stand-in address reaches Envoy at all");
    assert.equal(await connects(OTHER_CONTAINER, metricsPort), true);
    assert.equal(await connects(OTHER_CONTAINER, adminPort), false, "the admin interface answers off loopback");
    assert.equal(await connects("127.0.0.1", adminPort), true, "the admin is there, on loopback");
  });

  it("the MCP listener has no admin pages either", async function () {
    for (const p of ["/quitquitquit", "/stats/prometheus", "/ready"]) {
      // Without the gateway key nothing gets past Envoy's key check.
      assert.equal((await rawRequest(`http://${OTHER_CONTAINER}:${mcpPort}${p}`, "POST", {})).status, 401, `POST ${p} without the key`);
      assert.equal((await rawRequest(`http://${OTHER_CONTAINER}:${mcpPort}${p}`, "GET", GATEWAY_AUTH)).status, 404, `GET ${p}`);
      // A POST meets the policy filter first, which refuses a body without a JSON content type.
      assert.equal((await rawRequest(`http://${OTHER_CONTAINER}:${mcpPort}${p}`, "POST", GATEWAY_AUTH)).status, 415, `POST ${p}`);
    }
    assert.deepEqual([(await envoy.admin("/ready")).status], [200], "Envoy is still serving");
  });

  it("the metrics listener serves GET /stats/prometheus and /ready", async function () {
    const stats = await rawRequest(`http://${OTHER_CONTAINER}:${metricsPort}/stats/prometheus`, "GET", {});
    assert.equal(stats.status, 200);
    assert.match(stats.text, /^mcp_filter_parse_errors\{\} 0$/m, "the filter's counters are there");
    const ready = await rawRequest(`http://${OTHER_CONTAINER}:${metricsPort}/ready`, "GET", {});
    assert.deepEqual([ready.status, ready.text.trim()], [200, "LIVE"]);
  });

  it("the metrics listener refuses every other path and method, and Envoy keeps running", async function () {
    const attempts: Array<[string, string]> = [
      ["POST", "/quitquitquit"], ["GET", "/quitquitquit"], ["POST", "/runtime_modify?x=1"], ["POST", "/logging?level=trace"],
      ["POST", "/healthcheck/fail"], ["POST", "/drain_listeners"], ["GET", "/config_dump"], ["GET", "/stats"], ["GET", "/"],
      ["POST", "/stats/prometheus"], ["POST", "/ready"], ["GET", "/stats/prometheus/../../quitquitquit"],
      ["GET", "/stats%2Fprometheus"], ["GET", "/ready/"], ["GET", "//quitquitquit"],
    ];
    for (const [method, p] of attempts) {
      const res = await rawRequest(`http://${OTHER_CONTAINER}:${metricsPort}${p}`, method, {});
      assert.ok(res.status === 404 || res.status === 400, `${method} ${p} got ${res.status}: ${res.text.slice(0, 120)}`);
    }
    const ready = await envoy.admin("/ready");
    assert.deepEqual([ready.status, ready.text.trim()], [200, "LIVE"], "Envoy is still serving, not draining");
  });

  it("the container's healthcheck passes through the metrics listener, and fails where nothing answers", async function () {
    assert.equal(CONTAINER_PORTS.envoyMetrics, 9902);
    assert.equal(await runCheck(envoyReadyCheck(metricsPort)), 0);
    assert.notEqual(await runCheck(envoyReadyCheck(await freePort())), 0);
  });
});
