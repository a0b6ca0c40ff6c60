// End-to-end rig: the real server-everything in a child process, a recording hop in front of it
// (so tests can see exactly what reached the server), the gateway in-process, the SDK client.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ENGINES, startGateway, type Engine, type Gateway } from "../../filter/gateway";

/** Every e2e test runs on both: the host emulator, and real Envoy with the rendered envoy.yaml. */
export { ENGINES };
import type { LogEntry } from "../../filter/host";

const EVERYTHING = path.join(__dirname, "..", "..", "node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js");
const START_TIMEOUT_MS = 15_000;

/** The policy most e2e tests run: the default stack's denials, with a small body limit. */
export const DENIED = ["get-env", "gzip-file-as-resource"];
export const POLICY = {
  defaultAction: "allow",
  rules: [{ name: "no-env-no-fetch", action: "deny", tools: ["get-env", "gzip-*"] }],
  userHeader: "x-user-id",
  hideDeniedTools: true,
  maxBodyBytes: 65536,
  mode: "enforce",
};

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface Everything { url: string; canary: string; stop(): Promise<void> }

/** Starts `mcp-server-everything streamableHttp` with a canary in its environment: `get-env`
 *  would print it, so a response containing it proves a denied tool ran. */
export async function startEverything(): Promise<Everything> {
  const port = await freePort();
  const canary = `canary-${randomBytes(12).toString("hex")}`;
  const child = spawn(process.execPath, [EVERYTHING, "streamableHttp"], {
    // A minimal environment: whatever get-env leaks in a failing test is only this.
    env: { PATH: process.env.PATH ?? "", PORT: String(port), MCP_E2E_CANARY: canary },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server-everything did not start in ${START_TIMEOUT_MS} ms:\n${output}`)), START_TIMEOUT_MS);
    const onData = (d: Buffer): void => {
      output += d.toString();
      if (output.includes(`listening on port ${port}`)) { clearTimeout(timer); resolve(); }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => { clearTimeout(timer); reject(new Error(`server-everything exited with ${code}:\n${output}`)); });
  });
  await ready;
  return { url: `http://127.0.0.1:${port}`, canary, stop: () => stopChild(child) };
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
  await exited;
  clearTimeout(timer);
}

export interface Recorded { method: string; path: string; headers: http.IncomingHttpHeaders; body: Buffer }
export interface Recorder { url: string; requests: Recorded[]; stop(): Promise<void> }

/** A transparent hop that remembers each request the server received. Responses are piped
 *  through unbuffered, so streaming tests still see the server's timing. */
export async function startRecorder(target: string): Promise<Recorder> {
  const to = new URL(target);
  const requests: Recorded[] = [];
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer({ noDelay: true }, (req, res) => {
    const chunks: Buffer[] = [];
    const entry: Recorded = { method: req.method ?? "", path: req.url ?? "", headers: req.headers, body: Buffer.alloc(0) };
    requests.push(entry);
    const up = http.request({ hostname: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers, agent }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      res.flushHeaders();
      ur.pipe(res);
    });
    up.on("error", () => res.destroy());
    res.on("close", () => { if (!res.writableFinished) up.destroy(); });
    req.on("data", (c: Buffer) => { chunks.push(c); up.write(c); });
    req.on("end", () => { entry.body = Buffer.concat(chunks); up.end(); });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    stop: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); agent.destroy(); }),
  };
}

/** Every JSON-RPC message in a body, decoded the way a server that honours content-encoding
 *  and reads any content type would read it. Undecodable bodies carry no message. */
export function messagesIn(req: Recorded): Array<Record<string, unknown>> {
  let body = req.body;
  try {
    const enc = String(req.headers["content-encoding"] ?? "").toLowerCase();
    if (enc === "gzip") body = zlib.gunzipSync(body);
    else if (enc === "deflate") body = zlib.inflateSync(body);
    else if (enc === "br") body = zlib.brotliDecompressSync(body);
    const parsed: unknown = JSON.parse(body.toString("utf8"));
    const list = Array.isArray(parsed) ? parsed : [parsed];
    return list.filter((m): m is Record<string, unknown> => typeof m === "object" && m !== null);
  } catch {
    return [];
  }
}

/** tools/call messages (requests or notification-shaped) naming one of `tools`, as the server parses them. */
export function callsReaching(recorder: Recorder, tools: string[]): Array<Record<string, unknown>> {
  const hits: Array<Record<string, unknown>> = [];
  for (const req of recorder.requests) {
    for (const m of messagesIn(req)) {
      const params = m.params as Record<string, unknown> | undefined;
      if (m.method === "tools/call" && typeof params?.name === "string" && tools.includes(params.name)) hits.push(m);
    }
  }
  return hits;
}

export interface TestGateway {
  gateway: Gateway;
  url: string;
  /** The gateway key header, as LibreChat sends it: every request through the gateway needs it. */
  auth: Record<string, string>;
  logs: LogEntry[];
  close(): Promise<void>;
}

/** The gateway in-process, with the real filter build: a missing build throws here and fails the run. */
export async function startTestGateway(upstream: string, policy: object, engine: Engine): Promise<TestGateway> {
  const logs: LogEntry[] = [];
  const gateway = await startGateway({
    engine, upstream, listen: "127.0.0.1:0", pluginConfig: JSON.stringify(policy), onLog: (e) => logs.push(e), onAccessLog: () => undefined,
  });
  return { gateway, url: gateway.url, auth: { [gateway.keyHeader]: gateway.key }, logs, close: () => gateway.close() };
}

export interface Session {
  client: Client;
  transport: StreamableHTTPClientTransport;
  /** The headers the session sends on every request (the gateway key, a user id). */
  headers: Record<string, string>;
  close(): Promise<void>;
}

export async function connect(baseUrl: string, headers: Record<string, string> = {}): Promise<Session> {
  const transport = new StreamableHTTPClientTransport(new URL("/mcp", baseUrl), { requestInit: { headers } });
  const client = new Client({ name: "e2e", version: "1.0.0" });
  await client.connect(transport);
  return {
    client, transport, headers,
    close: async () => { await client.close().catch(() => undefined); },
  };
}

export interface RawResponse { status: number; headers: http.IncomingHttpHeaders; text: string }

/** Sends bytes exactly as given: node:http adds no content-type of its own, unlike fetch. With
 *  `chunkSize`, the body goes out chunked, one write per slice, each on its own turn. */
export async function rawRequest(
  url: string, method: string, headers: Record<string, string>, body?: string | Buffer, chunkSize?: number,
): Promise<RawResponse> {
  const u = new URL(url);
  const data = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body);
  const h: Record<string, string> = { ...headers };
  if (data !== undefined && chunkSize === undefined) h["content-length"] = String(data.length);
  if (chunkSize !== undefined) h["transfer-encoding"] = "chunked";
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname: u.hostname, port: u.port, path: u.pathname + u.search, method, headers: h, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    if (data === undefined) { req.end(); return; }
    if (chunkSize === undefined) { req.end(data); return; }
    let offset = 0;
    const next = (): void => {
      if (offset >= data.length) { req.end(); return; }
      req.write(data.subarray(offset, offset + chunkSize));
      offset += chunkSize;
      setTimeout(next, 1);
    };
    next();
  });
}

/** The JSON-RPC messages of a response, whether the server answered in JSON or in SSE. */
export function responseMessages(res: RawResponse): Array<Record<string, unknown>> {
  const type = String(res.headers["content-type"] ?? "");
  if (type.includes("text/event-stream")) {
    return res.text.split(/\r?\n\r?\n/).flatMap((event) => {
      const data = event.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
      if (data === "") return [];
      const parsed: unknown = JSON.parse(data);
      return Array.isArray(parsed) ? parsed : [parsed];
    });
  }
  if (res.text.trim() === "") return [];
  const parsed: unknown = JSON.parse(res.text);
  return Array.isArray(parsed) ? parsed : [parsed as Record<string, unknown>];
}

/** Headers a Streamable HTTP client sends inside a live session. */
export function sessionHeaders(s: Session, contentType: string | undefined = "application/json"): Record<string, string> {
  const h: Record<string, string> = {
    ...s.headers,
    accept: "application/json, text/event-stream",
    "mcp-session-id": s.transport.sessionId ?? "",
    "mcp-protocol-version": s.transport.protocolVersion ?? "",
  };
  if (contentType !== undefined) h["content-type"] = contentType;
  return h;
}
