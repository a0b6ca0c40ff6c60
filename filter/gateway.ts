// `npm run gateway`: the compiled filter in front of an MCP server, to try policies and to test.
// Two engines run it:
// - emulator (the default): a local HTTP/1.1 proxy that runs the filter in the host emulator,
//   one HTTP context per request; it needs nothing but npm.
// - envoy: real Envoy (`npm run setup:envoy`) with envoy/envoy.yaml rendered as `pulumi up`
//   renders it, only the wasm path and the addresses made local.
// Production traffic goes through Envoy in the stack; this is a playground and a test rig.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import type { AddressInfo } from "node:net";
import { ProxyWasmHost } from "./host";
import type { LogEntry, LogLevel } from "./host";
import { Exchange, refuseUnparsable } from "./gateway-exchange";
import { readGatewaySettings, renderGatewayYaml } from "./gateway-settings";
import { gatewayKeyHeader } from "../infra/envoyConfig";
import { EnvoyRefused, startEnvoyGateway } from "./gateway-envoy";
import type { EnvoyProcess } from "../envoy/run";

export const DEFAULT_WASM = path.join(__dirname, "build", "mcp_filter.wasm");
const LOG_LEVELS: LogLevel[] = ["trace", "debug", "info", "warn", "error", "critical"];
export const ENGINES = ["emulator", "envoy"] as const;
export type Engine = (typeof ENGINES)[number];

export interface GatewayOptions {
  /** Which runs the filter: the host emulator (default) or real Envoy. */
  engine?: Engine;
  /** The MCP server's origin, e.g. http://127.0.0.1:3001. Request paths are kept as they are. */
  upstream: string;
  /** host:port to listen on; port 0 picks a free one. Default 127.0.0.1:10000. */
  listen?: string;
  /** The filter configuration: the same JSON Envoy passes as the plugin configuration. */
  pluginConfig: string;
  /** The gateway key clients must send in X-MCP-Gateway-Key, as in the stack. Default: a
   *  random one, which `key` tells. */
  gatewayKey?: string;
  /** The compiled filter, as a path or bytes. Default filter/build/mcp_filter.wasm. */
  wasm?: string | Uint8Array;
  /** Envoy's log level for the wasm logger. Default info. */
  logLevel?: LogLevel;
  /** Receives the filter's log lines and the gateway's own. Default: print to stderr. */
  onLog?: (entry: LogEntry) => void;
  /** envoy engine: each access log line. Default: print to stderr. */
  onAccessLog?: (line: string) => void;
  /** envoy engine: how often Envoy writes out its buffered log lines, in ms. Default 200. */
  logFlushMs?: number;
}

interface GatewayBase {
  /** e.g. http://127.0.0.1:10000 */
  readonly url: string;
  /** The gateway key, and the header it goes in: envoy.yaml's api_key_auth refuses any request
   *  without it. */
  readonly key: string;
  readonly keyHeader: string;
  /** A filter metric by the name the filter defines (mcp_filter.denied.<rule>); undefined
   *  until the filter has defined it. */
  metric(name: string): Promise<number | undefined>;
  /** Stops accepting, ends open streams and idle upstream connections. */
  close(): Promise<void>;
}

export interface EmulatorGateway extends GatewayBase {
  readonly engine: "emulator";
  /** The emulated VM: metrics, logs and trap counts for tests and the playground. */
  readonly host: ProxyWasmHost;
}

export interface EnvoyGateway extends GatewayBase {
  readonly engine: "envoy";
  /** The Envoy process: its admin interface, stats and log lines. */
  readonly envoy: EnvoyProcess;
}

export type Gateway = EmulatorGateway | EnvoyGateway;

/** The plugin did not start: on_configure refused the config (or on_vm_start failed, or the VM
 *  trapped). Envoy rejects the listener's configuration then, so the gateway does not listen. */
export class FilterConfigRefused extends Error {
  constructor(readonly lines: LogEntry[]) {
    super(
      "the filter refused to start (on_configure returned false or the VM failed); fix the config file and retry."
      + (lines.length > 0 ? "\n" + lines.map((e) => `  ${e.level}: ${e.message}`).join("\n") : ""),
    );
    this.name = "FilterConfigRefused";
  }
}

export function printLog(entry: LogEntry): void {
  process.stderr.write(`[mcp_filter] ${entry.level}: ${entry.message}\n`);
}

/** Parses "host:port" or "[v6]:port". */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port > 65535) {
    throw new Error(`--listen ${JSON.stringify(listen)} is not HOST:PORT; use e.g. 127.0.0.1:10000 (port 0 picks a free port)`);
  }
  return { host: m[1] ?? m[2], port };
}

function parseUpstream(upstream: string): URL {
  let url: URL;
  try {
    url = new URL(upstream);
  } catch {
    throw new Error(`--upstream ${JSON.stringify(upstream)} is not a URL; use the MCP server's origin, e.g. http://127.0.0.1:3001`);
  }
  if (url.protocol !== "http:") {
    throw new Error(`--upstream ${upstream}: only http:// upstreams are supported (the gateway speaks HTTP/1.1 in clear text)`);
  }
  if (url.pathname !== "/" || url.search !== "") {
    throw new Error(`--upstream ${upstream}: give the origin only; request paths such as /mcp are forwarded as the client sent them`);
  }
  return url;
}

function loadWasm(wasm: string | Uint8Array | undefined): Uint8Array {
  if (wasm instanceof Uint8Array) return wasm;
  const file = wasm ?? DEFAULT_WASM;
  if (!fs.existsSync(file)) throw new Error(`${file} not found; build the filter first with: npm run build:filter`);
  return fs.readFileSync(file);
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const upstream = parseUpstream(options.upstream);
  const listen = parseListen(options.listen ?? "127.0.0.1:10000");
  const onLog = options.onLog ?? printLog;
  const key = options.gatewayKey ?? randomBytes(32).toString("hex");
  const rendered = renderGatewayYaml(options.pluginConfig, key);
  const keyHeader = gatewayKeyHeader(rendered);
  if ((options.engine ?? "emulator") === "envoy") {
    const handle = await startEnvoyGateway({
      upstream, listen, rendered, wasm: options.wasm ?? DEFAULT_WASM,
      logLevel: options.logLevel ?? "info", onLog, logFlushMs: options.logFlushMs,
      onAccessLog: options.onAccessLog ?? ((line) => process.stderr.write(`[access] ${line}\n`)),
    });
    return {
      engine: "envoy",
      url: handle.url,
      key,
      keyHeader,
      envoy: handle.envoy,
      metric: async (name) => (await handle.envoy.stats()).get(`wasmcustom.${name}`),
      close: () => handle.close(),
    };
  }
  return startEmulatorGateway(options, rendered, upstream, listen, onLog);
}

async function startEmulatorGateway(
  options: GatewayOptions, rendered: string, upstream: URL, listen: { host: string; port: number }, onLog: (entry: LogEntry) => void,
): Promise<EmulatorGateway> {
  // The Envoy settings come from envoy/envoy.yaml rendered as the envoy engine runs it, so the
  // emulator proves the setup that is deployed, not another one.
  const settings = readGatewaySettings(rendered);
  const host = ProxyWasmHost.load(loadWasm(options.wasm), {
    pluginConfig: options.pluginConfig,
    rootId: settings.rootId,
    allowOnHeadersStopIteration: settings.allowOnHeadersStopIteration,
    failurePolicy: settings.failurePolicy,
    bufferLimitBytes: settings.bufferLimitBytes,
    mapLocalReply: settings.mapLocalReply,
    logLevel: options.logLevel ?? "info",
    onLog,
  });
  // The filter names the bad field at critical level; a trap is logged at error level.
  if (!host.start()) throw new FilterConfigRefused(host.logs("error"));

  const agent = new http.Agent({ keepAlive: true });
  const env = {
    host, settings, upstream, agent,
    log: (level: "info" | "warn" | "error", message: string) => onLog({ level, message: `gateway: ${message}` }),
  };
  const handle = (req: http.IncomingMessage, res: http.ServerResponse, expectsContinue: boolean) => {
    try {
      new Exchange(env, req, res, expectsContinue).run();
    } catch (err) {
      env.log("error", `request ${req.method} ${req.url}: ${(err as Error).message}`);
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end();
    }
  };
  // The exchange answers an HTTP/1.1 request without Host as Envoy does (gateway-http1.ts), and
  // refuseUnparsable what Node's parser refuses; the head size limit is envoy.yaml's.
  const server = http.createServer({ noDelay: true, requireHostHeader: false, maxHeaderSize: settings.maxRequestHeadersBytes },
    (req, res) => handle(req, res, false));
  // The exchange sends 100 Continue where Envoy does: only for a request it does not refuse first.
  server.on("checkContinue", (req, res) => handle(req, res, true));
  // Envoy answers no other expectation (Node would answer 417): the request goes on with it.
  server.on("checkExpectation", (req, res) => handle(req, res, false));
  server.on("clientError", (err, socket) => refuseUnparsable(env, err, socket));
  // Long MCP streams (GET SSE, long tool calls) must not be cut by Node's default timeouts;
  // envoy.yaml likewise disables the route timeout.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => { server.off("error", reject); resolve(); });
  });
  const addr = server.address() as AddressInfo;
  const hostPart = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;

  let closing: Promise<void> | undefined;
  return {
    engine: "emulator",
    url: `http://${hostPart}:${addr.port}`,
    key: settings.keyAuth.keys[0],
    keyHeader: settings.keyAuth.header,
    host,
    metric: async (name) => host.metric(name),
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Open SSE streams would keep close() waiting forever.
        server.closeAllConnections();
        agent.destroy();
      });
      return closing;
    },
  };
}

interface CliArgs { engine: Engine; upstream: string; listen: string; config: string; wasm?: string; logLevel: LogLevel; gatewayKey?: string }

const USAGE = "usage: npm run gateway -- --upstream http://127.0.0.1:3001 --listen 127.0.0.1:10000 --config policy.json"
  + " [--engine emulator|envoy] [--key GATEWAY_KEY] [--wasm filter/build/mcp_filter.wasm] [--log-level info]";

function parseArgs(argv: string[]): CliArgs {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf("=");
    const [key, inline] = eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
    if (!["--engine", "--upstream", "--listen", "--config", "--key", "--wasm", "--log-level"].includes(key)) {
      throw new Error(`unknown argument ${JSON.stringify(arg)}\n${USAGE}`);
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`${key} needs a value\n${USAGE}`);
    values.set(key, value);
  }
  const upstream = values.get("--upstream");
  const config = values.get("--config");
  if (upstream === undefined || config === undefined) throw new Error(`--upstream and --config are required\n${USAGE}`);
  const logLevel = (values.get("--log-level") ?? "info") as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new Error(`--log-level ${logLevel}: use one of ${LOG_LEVELS.join(", ")}`);
  const engine = (values.get("--engine") ?? "emulator") as Engine;
  if (!ENGINES.includes(engine)) throw new Error(`--engine ${engine}: use one of ${ENGINES.join(", ")}`);
  return {
    engine, upstream, config, listen: values.get("--listen") ?? "127.0.0.1:10000", wasm: values.get("--wasm"), logLevel,
    gatewayKey: values.get("--key"),
  };
}

async function main(argv: string[]): Promise<number> {
  let args: CliArgs;
  try {
    args = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`gateway: ${(err as Error).message}\n`);
    return 2;
  }
  let pluginConfig: string;
  try {
    pluginConfig = fs.readFileSync(args.config, "utf8");
  } catch (err) {
    process.stderr.write(`gateway: cannot read --config ${args.config}: ${(err as Error).message}\n`);
    return 2;
  }
  let gateway: Gateway;
  try {
    gateway = await startGateway({ ...args, pluginConfig });
  } catch (err) {
    // The filter's own lines already went to stderr through printLog; the headline suffices.
    // Envoy's refusal is Envoy's own message, whole.
    const message = err instanceof FilterConfigRefused ? err.message.split("\n")[0]
      : err instanceof EnvoyRefused ? `Envoy refused the configuration:\n${err.message}` : (err as Error).message;
    process.stderr.write(`gateway: ${message}\n`);
    return 1;
  }
  process.stdout.write(`mcp gateway: listening on ${gateway.url} -> ${args.upstream} (filter config ${args.config}, engine ${args.engine})\n`
    + `mcp gateway: send the gateway key with every request: ${gateway.keyHeader}: ${gateway.key}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => { clearInterval(orphanWatch); void gateway.close().then(resolve); };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
    // `npm run gateway` starts us under `sh -c`, which does not pass npm's SIGTERM on: when the
    // launcher dies we are re-parented, and must not linger holding the port.
    const parent = process.ppid;
    const orphanWatch = setInterval(() => { if (process.ppid !== parent) stop(); }, 500);
  });
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (err: unknown) => {
    process.stderr.write(`gateway: ${String(err)}\n`);
    process.exit(1);
  });
}
