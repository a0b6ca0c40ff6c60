// The Envoy settings filter/README.md says the filter relies on, shown in real Envoy: what goes
// wrong without allow_on_headers_stop_iteration, and what the buffer limit does to a tools/list
// answer too large to rewrite.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { localEnvoyConfig, renderEnvoyConfig } from "../../infra/envoyConfig";
import { startEnvoy, type EnvoyProcess } from "../../envoy/run";
import { ENGINES, rawRequest, startTestGateway, type TestGateway } from "../e2e/harness";
import { GATEWAY_AUTH, GATEWAY_KEY } from "./stack";

const ROOT = path.join(__dirname, "..", "..");
const WASM = path.join(ROOT, "filter", "build", "mcp_filter.wasm");
const POLICY = { defaultAction: "allow", rules: [{ name: "no-env", action: "deny", tools: ["get-env"] }], hideDeniedTools: true };
const JSON_HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };
const getEnv = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "get-env", arguments: {} } });

interface Upstream { url: string; port: number; seen: string[]; stop(): Promise<void> }

/** Answers every request with `answer`, and remembers each request line it got. */
async function startUpstream(answer: (res: http.ServerResponse) => void): Promise<Upstream> {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    req.on("end", () => answer(res));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`, port, seen,
    stop: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}

describe("Envoy settings the filter relies on", function () {
  describe("allow_on_headers_stop_iteration: false (Envoy's default)", function () {
    let upstream: Upstream;
    let envoy: EnvoyProcess;

    before(async function () {
      upstream = await startUpstream((res) => res.end("{}"));
      const rendered = renderEnvoyConfig(fs.readFileSync(path.join(ROOT, "envoy", "envoy.yaml"), "utf8"), POLICY, GATEWAY_KEY);
      assert.match(rendered, /allow_on_headers_stop_iteration: true/);
      const config = localEnvoyConfig(rendered.replace("allow_on_headers_stop_iteration: true", "allow_on_headers_stop_iteration: false"), {
        wasmPath: WASM, listen: { host: "127.0.0.1", port: 0 }, upstream: { host: "127.0.0.1", port: upstream.port }, admin: { host: "127.0.0.1", port: 0 },
      });
      envoy = await startEnvoy({ config });
    });

    after(async function () {
      await envoy?.stop();
      await upstream?.stop();
    });

    it("stalls a POST: the filter's header pause also stops its body callbacks, so nothing is ever answered", async function () {
      const { port } = await envoy.listener("mcp_listener");
      const outcome = await Promise.race([
        rawRequest(`http://127.0.0.1:${port}/mcp`, "POST", { ...GATEWAY_AUTH, ...JSON_HEADERS }, getEnv).then((r) => `answered ${r.status}`),
        new Promise<string>((resolve) => setTimeout(() => resolve("no answer"), 3000)),
      ]);
      assert.equal(outcome, "no answer", "envoy.yaml sets allow_on_headers_stop_iteration: true because without it the filter cannot work");
      assert.deepEqual(upstream.seen, []);
    });
  });

  for (const engine of ENGINES) {
    describe(`a tools/list answer larger than the buffer limit [${engine}]`, function () {
      let upstream: Upstream;
      let gw: TestGateway;
      // envoy.yaml's per_connection_buffer_limit_bytes is 2 MiB: this answer is 3 MiB.
      const tools = [
        { name: "get-env", description: "x".repeat(3 << 20), inputSchema: { type: "object" } },
        { name: "echo", inputSchema: { type: "object" } },
      ];

      before(async function () {
        upstream = await startUpstream((res) => {
          res.writeHead(200, { "content-type": "text/event-stream" });
          res.end(`event: message\ndata: ${JSON.stringify({ jsonrpc: "2.0", id: 1, result: { tools } })}\n\n`);
        });
        gw = await startTestGateway(upstream.url, POLICY, engine);
      });

      after(async function () {
        await gw?.close();
        await upstream?.stop();
      });

      it("is cut off, never passed on unfiltered", async function () {
        const list = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" });
        // An answer that arrived whole, filtered or not, would resolve: the stream must be reset.
        await assert.rejects(rawRequest(`${gw.url}/mcp`, "POST", { ...gw.auth, ...JSON_HEADERS }, list), /aborted|socket hang up|ECONNRESET/);
        assert.deepEqual(upstream.seen, ["POST /mcp"], "the request itself went through");
      });
    });
  }
});
