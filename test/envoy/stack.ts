// The Envoy the stack deploys, started on this machine for the tests under test/envoy:
// envoy/envoy.yaml rendered with a policy by renderEnvoyConfig (what `pulumi up` uploads),
// made local by localEnvoyConfig. A test that needs a variant edits the bootstrap these
// produce, through `edit`, and says why. Also: a small MCP server stand-in (with a recording hop
// in front, startStackRig), the host emulator set up as envoy.yaml sets up the filter, and
// readers for Envoy's stats.
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { parse, stringify } from "yaml";
import { randomBytes } from "node:crypto";
import { MCP_CLUSTER, gatewayKeyHeader, localEnvoyConfig, pluginConfigurationOf, renderEnvoyConfig, ROOT_ID } from "../../infra/envoyConfig";
import { lineReader, startEnvoy, type EnvoyProcess } from "../../envoy/run";
import { ProxyWasmHost, type HeaderList, type HostOptions } from "../../filter/host";
import { startRecorder, type Recorder } from "../e2e/harness";

const ROOT = path.join(__dirname, "..", "..");
export const ENVOY_YAML = fs.readFileSync(path.join(ROOT, "envoy", "envoy.yaml"), "utf8");
export const FILTER_WASM = path.join(ROOT, "filter", "build", "mcp_filter.wasm");
/** The stack's default policy, exactly as envoy.yaml (and Pulumi.yaml) carry it. */
export const STACK_POLICY: Record<string, unknown> = JSON.parse(pluginConfigurationOf(ENVOY_YAML));
export const LISTENER = "mcp_listener";
/** The gateway key these Envoys are rendered with, new each run, and the header it goes in. */
export const GATEWAY_KEY = randomBytes(24).toString("hex");
export const GATEWAY_AUTH: Record<string, string> = { [gatewayKeyHeader(ENVOY_YAML)]: GATEWAY_KEY };

/** What LibreChat's MCP client sends with a POST: the gateway key, and JSON. */
export const JSON_HEADERS = { ...GATEWAY_AUTH, "content-type": "application/json", accept: "application/json, text/event-stream" };
export const rpc = (id: number | string, method: string, params?: object): string =>
  JSON.stringify({ jsonrpc: "2.0", id, method, ...(params ? { params } : {}) });
export const call = (id: number | string, tool: string, args: object = {}): string => rpc(id, "tools/call", { name: tool, arguments: args });

export interface HostPort { host: string; port: number }
type Policy = Record<string, unknown> | string;
// The bootstrap as parsed YAML: tests reach into it by the paths envoy.yaml has.
export type Bootstrap = any; // eslint-disable-line @typescript-eslint/no-explicit-any

export function hostPortOf(url: string): HostPort {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
}

export interface StackConfigOptions {
  upstream: HostPort;
  policy?: Policy;
  /** Default: the built filter. A test module runs in the same configuration with only this swapped. */
  wasmPath?: string;
  /** A variant of the rendered bootstrap, for a test that needs one. */
  edit?: (bootstrap: Bootstrap) => void;
}

/** The rendered envoy.yaml, local: listener and admin on free ports of 127.0.0.1. */
export function stackConfig(o: StackConfigOptions): string {
  const wasmPath = o.wasmPath ?? FILTER_WASM;
  // A missing build fails the run here, with what to do; it never skips.
  if (!fs.existsSync(wasmPath)) throw new Error(`${wasmPath} not found; build the filter first with: npm run build:filter`);
  const yaml = localEnvoyConfig(renderEnvoyConfig(ENVOY_YAML, o.policy ?? STACK_POLICY, GATEWAY_KEY), {
    wasmPath, upstream: o.upstream, listen: { host: "127.0.0.1", port: 0 }, admin: { host: "127.0.0.1", port: 0 },
  });
  if (!o.edit) return yaml;
  const doc: Bootstrap = parse(yaml);
  o.edit(doc);
  return stringify(doc);
}

/** The HTTP connection manager of the MCP listener in a parsed bootstrap. */
export function mcpConnectionManager(bootstrap: Bootstrap): Bootstrap {
  return bootstrap.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
}

/** The body envoy.yaml's local_reply_config gives Envoy's own reply with this status. */
export function mappedBody(status: number): string {
  const mappers: Bootstrap[] = mcpConnectionManager(parse(ENVOY_YAML)).local_reply_config.mappers;
  const m = mappers.find((x) => x.filter?.status_code_filter?.comparison?.value?.default_value === status);
  if (!m) throw new Error(`envoy.yaml maps no local reply with status ${status}`);
  return m.body_format_override.text_format_source.inline_string;
}

export interface StackEnvoy {
  envoy: EnvoyProcess;
  /** http://127.0.0.1:PORT (the MCP listener) */
  url: string;
  /** http://127.0.0.1:PORT/mcp */
  mcpUrl: string;
  /** envoy.yaml's access log lines, parsed. */
  accessLog: Array<Record<string, unknown>>;
  /** Waits until the access log has `n` lines: Envoy writes a line when a stream ends, after the client has its answer. */
  accessLines(n: number): Promise<Array<Record<string, unknown>>>;
  /** What the filter itself logged (its lines on the wasm logger, without Envoy's prefix). */
  pluginLines(): string[];
  stop(): Promise<void>;
}

export interface StackEnvoyOptions extends StackConfigOptions {
  /** Worker threads, each with its own VM. Default 1. */
  concurrency?: number;
}

export async function startStackEnvoy(o: StackEnvoyOptions): Promise<StackEnvoy> {
  const accessLog: Array<Record<string, unknown>> = [];
  const envoy = await startEnvoy({
    config: stackConfig(o),
    concurrency: o.concurrency ?? 1,
    logLevel: "warn",
    componentLogLevels: { wasm: "info" },
    // The tests read each access log line as its stream ends; Envoy's default waits 10 s.
    logFlushMs: 20,
    onStdout: lineReader((line) => { if (line.trim() !== "") accessLog.push(JSON.parse(line) as Record<string, unknown>); }),
  });
  try {
    const bound = await envoy.listener(LISTENER);
    const url = `http://${bound.host}:${bound.port}`;
    return {
      envoy, url, mcpUrl: `${url}/mcp`, accessLog,
      accessLines: (n) => waitFor(() => accessLog.length >= n, `${n} access log lines (have ${accessLog.length})`).then(() => accessLog.slice(0, n)),
      pluginLines: () => envoy.lines.filter((l) => l.plugin !== undefined).map((l) => l.plugin as string),
      stop: () => envoy.stop(),
    };
  } catch (err) {
    await envoy.stop();
    throw err;
  }
}

export async function waitFor(done: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Requests Envoy's router has started to a cluster: a check on "nothing reached the server"
 *  that does not race the server's side. */
export async function upstreamRequests(envoy: EnvoyProcess, cluster = MCP_CLUSTER): Promise<number> {
  return (await envoy.stats()).get(`cluster.${cluster}.upstream_rq_total`) ?? 0;
}

/** Connections each worker thread has accepted on the MCP listener, in worker order. */
export async function connectionsPerWorker(envoy: EnvoyProcess): Promise<number[]> {
  return [...await envoy.stats()]
    .filter(([k]) => /^listener\.127\.0\.0\.1_\d+\.worker_\d+\.downstream_cx_total$/.test(k))
    .sort(([a], [b]) => (a < b ? -1 : 1)).map(([, v]) => v);
}

/** Counter and gauge values by series name, from /stats/prometheus text (labels kept in the name). */
export function prometheusValues(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

/** The host emulator set up as envoy.yaml sets up the filter: the same plugin settings, failure
 *  policy and listener buffer limit, read from the rendered bootstrap. */
export function emulatorLikeStack(policy: Policy = STACK_POLICY, wasm: string | Uint8Array = FILTER_WASM, options: HostOptions = {}): ProxyWasmHost {
  const doc: Bootstrap = parse(renderEnvoyConfig(ENVOY_YAML, policy, GATEWAY_KEY));
  const listener = doc.static_resources.listeners[0];
  const wasmFilter = mcpConnectionManager(doc).http_filters.find((f: Bootstrap) => f.typed_config?.config?.root_id === ROOT_ID);
  const plugin = wasmFilter.typed_config.config;
  return ProxyWasmHost.load(wasm, {
    pluginConfig: plugin.configuration.value,
    rootId: plugin.root_id,
    pluginName: plugin.name,
    vmId: plugin.vm_config.vm_id,
    allowOnHeadersStopIteration: plugin.allow_on_headers_stop_iteration === true,
    failurePolicy: plugin.failure_policy ?? "FAIL_CLOSED",
    bufferLimitBytes: listener.per_connection_buffer_limit_bytes,
    ...options,
  });
}

/** A request as Envoy hands it to the filter: pseudo-headers first, keys lowercased. */
export function requestHeaderList(method: string, urlPath: string, headers: Record<string, string>): HeaderList {
  return [
    [":authority", "127.0.0.1"], [":path", urlPath], [":method", method], [":scheme", "http"],
    ...Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v] as [string, string]),
  ];
}

/** Tools the stand-in lists: two that the stack's policy denies. */
export const STUB_TOOLS = ["echo", "get-sum", "get-env", "gzip-file-as-resource"];

export interface Stub { url: string; name: string; stop(): Promise<void> }

/** What the stand-in answers to one POST body: each request gets a JSON result naming the stub
 *  (tools/list gets STUB_TOOLS); a body with nothing to answer gets 202, as MCP servers do. */
export function stubAnswer(name: string, body: Buffer): { status: number; body: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {
    return { status: 400, body: '{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"stub: parse error"}}' };
  }
  const list = (Array.isArray(parsed) ? parsed : [parsed]) as Array<Record<string, unknown>>;
  const answers = list.filter((m) => m && typeof m.method === "string" && m.id !== undefined).map((m) => ({
    jsonrpc: "2.0", id: m.id,
    result: m.method === "tools/list"
      ? { tools: STUB_TOOLS.map((t) => ({ name: t, inputSchema: { type: "object" } })) }
      : { stub: name },
  }));
  if (answers.length === 0) return { status: 202, body: "" };
  return { status: 200, body: JSON.stringify(Array.isArray(parsed) ? answers : answers[0]) };
}

/** A small MCP server stand-in on 127.0.0.1 that answers POSTs with stubAnswer and GETs with an empty SSE stream. */
export async function startStub(name = "stub"): Promise<Stub> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.method !== "POST") { res.writeHead(200, { "content-type": "text/event-stream" }); res.end(); return; }
      const a = stubAnswer(name, Buffer.concat(chunks));
      res.writeHead(a.status, a.body === "" ? {} : { "content-type": "application/json" });
      res.end(a.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`, name,
    stop: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}

export interface StackRig { stub: Stub; recorder: Recorder; stack: StackEnvoy; stop(): Promise<void> }

/** The stack's Envoy in front of a recording hop (what reached the server) and a stand-in server. */
export async function startStackRig(o: Omit<StackEnvoyOptions, "upstream"> = {}): Promise<StackRig> {
  const stub = await startStub();
  const recorder = await startRecorder(stub.url);
  const stop = async (stack?: StackEnvoy) => { await stack?.stop(); await recorder.stop(); await stub.stop(); };
  let stack: StackEnvoy;
  try {
    stack = await startStackEnvoy({ ...o, upstream: hostPortOf(recorder.url) });
  } catch (err) {
    await stop();
    throw err;
  }
  return { stub, recorder, stack, stop: () => stop(stack) };
}
