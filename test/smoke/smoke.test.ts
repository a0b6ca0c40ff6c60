// `npm run smoke` against the local stand-in of a deployed stack: real Envoy running envoy.yaml as
// `pulumi up` renders it (default policy, a gateway key, the metrics listener) in front of a real
// server-everything. LibreChat's check is switched off: there is no LibreChat here.
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { localEnvoyConfig, METRICS_LISTENER, renderEnvoyConfig } from "../../infra/envoyConfig";
import { startEnvoy, type EnvoyProcess } from "../../envoy/run";
import { freePort, startEverything, type Everything } from "../e2e/harness";

const ROOT = path.join(__dirname, "..", "..");
const DEFAULT_POLICY = (parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as { config: { policy: { default: Record<string, unknown> } } }).config.policy.default;

interface Stand { envoy: EnvoyProcess; endpoint: string; metrics: string; key: string }

async function standIn(upstream: string, policy: Record<string, unknown>): Promise<Stand> {
  const key = randomBytes(32).toString("hex");
  const u = new URL(upstream);
  // The admin on a fixed free port: the metrics listener reaches it there, as in the container.
  const config = localEnvoyConfig(renderEnvoyConfig(fs.readFileSync(path.join(ROOT, "envoy", "envoy.yaml"), "utf8"), policy, key), {
    wasmPath: path.join(ROOT, "filter", "build", "mcp_filter.wasm"),
    listen: { host: "127.0.0.1", port: 0 },
    metrics: { host: "127.0.0.1", port: 0 },
    admin: { host: "127.0.0.1", port: await freePort() },
    upstream: { host: u.hostname, port: Number(u.port) },
  });
  const envoy = await startEnvoy({ config, concurrency: 2, logLevel: "warn" });
  const mcp = await envoy.listener("mcp_listener");
  const metrics = await envoy.listener(METRICS_LISTENER);
  return { envoy, key, endpoint: `http://127.0.0.1:${mcp.port}/mcp`, metrics: `http://127.0.0.1:${metrics.port}/stats/prometheus` };
}

/** Runs `npm run smoke` as a user would (the npm script's command), with the given flags. */
function smoke(args: string[]): Promise<{ code: number | null; out: string }> {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
  const [cmd, ...cmdArgs] = pkg.scripts.smoke.split(" ");
  assert.equal(cmd, "node", "npm run smoke runs node");
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...cmdArgs, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => { out += d.toString(); });
    child.stderr.on("data", (d: Buffer) => { out += d.toString(); });
    child.once("exit", (code) => resolve({ code, out }));
  });
}

describe("npm run smoke, against real Envoy in front of server-everything", function () {
  let everything: Everything;
  let stand: Stand;

  before(async function () {
    everything = await startEverything();
    stand = await standIn(everything.url, DEFAULT_POLICY);
  });

  after(async function () {
    await stand?.envoy.stop();
    await everything?.stop();
  });

  const flags = (s: Stand, over: Record<string, string> = {}) =>
    Object.entries({ "--endpoint": s.endpoint, "--metrics": s.metrics, "--key": s.key, ...over }).flat().concat("--no-librechat");

  it("passes every step on a healthy gateway, printing a line each", async function () {
    const { code, out } = await smoke(flags(stand));
    assert.equal(code, 0, out);
    const lines = out.trim().split("\n");
    assert.deepEqual(lines.map((l) => l.slice(0, 9)), ["ok   1/7 ", "ok   2/7 ", "ok   3/7 ", "ok   4/7 ", "ok   5/7 ", "ok   6/7 ", "ok   7/7 "], out);
    assert.match(out, /tools\/list hides the denied tools \(\d+ tools, get-env and gzip-\* hidden\)/);
    assert.match(out, /get-env is denied with a JSON-RPC error \(error -32602: .*Unknown tool: get-env/);
    assert.match(out, /a request without the gateway key is refused \(HTTP 401, JSON-RPC error -32000\)/);
    assert.match(out, /the metrics listener counts the calls just made \(initialize \+\d+, tools\/list \+\d+, get-sum call \+1, get-env call \+1, denial \+1\)/);
  });

  it("a wrong key fails the first step, names it, and exits non-zero", async function () {
    const { code, out } = await smoke(flags(stand, { "--key": "0".repeat(64) }));
    assert.equal(code, 1, out);
    assert.match(out, /^FAIL 1\/7 the MCP SDK client initializes through Envoy with the gateway key: .*401/m);
    assert.doesNotMatch(out, /^ok/m);
  });

  it("a gateway whose policy lists get-env fails at tools/list, saying what it saw", async function () {
    const lax = await standIn(everything.url, { ...DEFAULT_POLICY, rules: [] });
    try {
      const { code, out } = await smoke(flags(lax));
      assert.equal(code, 1, out);
      assert.match(out, /^ok   1\/7 /m);
      assert.match(out, /^FAIL 2\/7 tools\/list hides the denied tools: get-env, gzip-file-as-resource listed/m);
    } finally {
      await lax.envoy.stop();
    }
  });

  it("without flags or a stack, it says how to give the targets", async function () {
    const { code, out } = await smoke(["--bogus"]);
    assert.equal(code, 2);
    assert.match(out, /unknown argument "--bogus"\nusage: npm run smoke/);
  });
});
