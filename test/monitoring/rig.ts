// What the dashboard test runs: the stack's Envoy (rendered envoy.yaml, made local) in front of
// an MCP server stand-in whose answers take a known time and which can fail on demand, and a
// GET SSE stream held open through it.
import * as http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { localEnvoyConfig, METRICS_LISTENER, renderEnvoyConfig } from "../../infra/envoyConfig";
import { startEnvoy, type EnvoyProcess } from "../../envoy/run";
import { freePort } from "../e2e/harness";
import { ENVOY_YAML, FILTER_WASM, GATEWAY_AUTH, GATEWAY_KEY, JSON_HEADERS, LISTENER, STACK_POLICY, stubAnswer } from "../envoy/stack";

/** The stack's policy and a second deny rule, for one user. */
export const POLICY = {
  ...STACK_POLICY,
  rules: [...(STACK_POLICY.rules as object[]), { name: "no-sum-for-guests", action: "deny", users: ["guest"], tools: ["get-sum"] }],
};
/** A POST's headers as LibreChat sends them for `user`. */
export const as = (user: string) => ({ ...JSON_HEADERS, "x-user-id": user });

/** Every POST answer waits this long: Envoy's upstream time then falls in its (50, 100] ms bucket,
 *  with room on both sides for a busy machine. */
export const UPSTREAM_DELAY_MS = 60;
/** Tools the stand-in fails on: an HTTP 500, and a connection closed before any answer. */
export const FAILING_TOOLS = { serverError: "boom", hangUp: "hang-up" } as const;

export interface Upstream {
  port: number;
  /** Stops accepting connections and drops the idle ones, keeping open SSE streams: Envoy's next
   *  request to it fails to connect. */
  refuseNewConnections(): void;
  stop(): Promise<void>;
}

export async function startUpstream(): Promise<Upstream> {
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      // A GET is the client's SSE stream for server messages: it stays open until the test ends.
      if (req.method === "GET") { res.writeHead(200, { "content-type": "text/event-stream" }); res.write(": open\n\n"); return; }
      const body = Buffer.concat(chunks);
      const tool = (() => { try { return JSON.parse(body.toString()).params?.name as unknown; } catch { return undefined; } })();
      setTimeout(() => {
        if (tool === FAILING_TOOLS.hangUp) { req.socket.destroy(); return; }
        if (tool === FAILING_TOOLS.serverError) { res.writeHead(500, { "content-type": "text/plain" }); res.end("boom"); return; }
        const a = stubAnswer("monitoring", body);
        res.writeHead(a.status, a.body === "" ? {} : { "content-type": "application/json" });
        res.end(a.body);
      }, UPSTREAM_DELAY_MS);
    });
  });
  server.on("connection", (s: Socket) => { sockets.add(s); s.on("close", () => sockets.delete(s)); });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    refuseNewConnections: () => { server.close(); server.closeIdleConnections(); },
    stop: async () => { server.close(); for (const s of sockets) s.destroy(); },
  };
}

export interface ScrapedEnvoy {
  envoy: EnvoyProcess;
  mcpUrl: string;
  /** host:port of the metrics listener, what Prometheus scrapes. */
  metricsTarget: string;
  stop(): Promise<void>;
}

/** The stack's Envoy with `policy`, its admin on a fixed free port so that the metrics listener
 *  (which forwards to it, as in the container) works. */
export async function startScrapedEnvoy(policy: Record<string, unknown>, upstreamPort: number): Promise<ScrapedEnvoy> {
  const adminPort = await freePort();
  const config = localEnvoyConfig(renderEnvoyConfig(ENVOY_YAML, policy, GATEWAY_KEY), {
    wasmPath: FILTER_WASM,
    listen: { host: "127.0.0.1", port: 0 },
    metrics: { host: "127.0.0.1", port: 0 },
    admin: { host: "127.0.0.1", port: adminPort },
    upstream: { host: "127.0.0.1", port: upstreamPort },
  });
  const envoy = await startEnvoy({ config, logLevel: "warn" });
  const listener = await envoy.listener(LISTENER);
  const metrics = await envoy.listener(METRICS_LISTENER);
  return { envoy, mcpUrl: `http://127.0.0.1:${listener.port}/mcp`, metricsTarget: `127.0.0.1:${metrics.port}`, stop: () => envoy.stop() };
}

/** Opens a GET SSE stream through Envoy, as an MCP client does for server messages; resolves
 *  once the stream's first bytes arrived, with a function that closes it. */
export function openSseStream(mcpUrl: string): Promise<() => void> {
  const u = new URL(mcpUrl);
  return new Promise((resolve, reject) => {
    const req = http.get({ hostname: u.hostname, port: u.port, path: u.pathname, agent: false,
      headers: { ...GATEWAY_AUTH, accept: "text/event-stream", "mcp-session-id": "monitoring-test" } }, (res) => {
      if (res.statusCode !== 200) { reject(new Error(`GET SSE answered ${res.statusCode}`)); res.resume(); return; }
      res.once("data", () => resolve(() => req.destroy()));
    });
    req.on("error", reject);
  });
}
