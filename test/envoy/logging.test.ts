// Envoy's log as the stack runs it (envoyLogFlags): through Envoy's buffered log file rather
// than a write to stderr per line. The filter writes an audit line for every MCP message, so
// unbuffered that was a system call per request on the proxy's worker.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import { ENVOY_LOG_FLUSH_MS } from "../../infra/envoyConfig";
import { startEnvoy, type EnvoyProcess } from "../../envoy/run";
import { rawRequest } from "../e2e/harness";
import { JSON_HEADERS, LISTENER, call, stackConfig, startStub, waitFor, type Stub } from "./stack";

const REQUESTS = 200;

/** Write system calls the process has made so far (Linux's per-process I/O accounting). */
function writeCalls(pid: number): number {
  const m = /^syscw: (\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/io`, "utf8"));
  assert.ok(m, `no syscw for process ${pid}`);
  return Number(m[1]);
}

const auditLines = (envoy: EnvoyProcess) => envoy.lines.filter((l) => l.plugin?.includes('{"audit":"mcp"') === true);

describe("Envoy's log, buffered as the stack runs it", function () {
  let stub: Stub;
  let envoy: EnvoyProcess;
  let mcpUrl: string;

  before(async function () {
    stub = await startStub();
    const upstream = new URL(stub.url);
    // At info, as the stack runs Envoy, and with the stack's flush interval.
    envoy = await startEnvoy({ config: stackConfig({ upstream: { host: upstream.hostname, port: Number(upstream.port) } }), logLevel: "info" });
    const bound = await envoy.listener(LISTENER);
    mcpUrl = `http://${bound.host}:${bound.port}/mcp`;
  });
  after(async function () {
    await envoy?.stop();
    await stub?.stop();
  });

  it("runs with --log-path and the stack's flush interval", function () {
    const args = fs.readFileSync(`/proc/${envoy.pid}/cmdline`, "utf8").split("\0");
    const at = args.indexOf("--log-path");
    assert.ok(at > 0, args.join(" "));
    assert.equal(args[args.indexOf("--file-flush-interval-msec") + 1], String(ENVOY_LOG_FLUSH_MS));
  });

  it("writes the audit lines of many requests in a few system calls, and loses none", async function () {
    await waitFor(() => envoy.lines.some((l) => l.plugin?.includes("configured:") === true), "the filter's start-up line");
    const before = { writes: writeCalls(envoy.pid), audits: auditLines(envoy).length };
    for (let i = 0; i < REQUESTS; i++) {
      const reply = await rawRequest(mcpUrl, "POST", JSON_HEADERS, call(i, i % 2 === 0 ? "echo" : "get-env"));
      assert.equal(reply.status, 200);
    }
    await waitFor(() => auditLines(envoy).length - before.audits === REQUESTS, `${REQUESTS} audit lines`, 5 * ENVOY_LOG_FLUSH_MS);
    const writes = writeCalls(envoy.pid) - before.writes;
    // One write per audit line would be 200; buffered, a write carries every line of a flush
    // interval (the access log's lines included), however many requests that was.
    assert.ok(writes < REQUESTS / 4, `${writes} write calls for ${REQUESTS} requests`);
  });
});
