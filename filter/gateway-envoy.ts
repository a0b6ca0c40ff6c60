// The gateway's envoy engine: real Envoy, with envoy/envoy.yaml rendered by the same code as
// `pulumi up` (infra/envoyConfig.ts), only the wasm path and the addresses made local.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { localEnvoyConfig } from "../infra/envoyConfig";
import { EnvoyStartError, lineReader, startEnvoy, type EnvoyLine, type EnvoyProcess } from "../envoy/run";
import type { LogEntry, LogLevel } from "./host";
const LISTENER = "mcp_listener";

export interface EnvoyGatewayOptions {
  upstream: URL;
  listen: { host: string; port: number };
  /** envoy/envoy.yaml rendered with the policy and the gateway key (renderGatewayYaml). */
  rendered: string;
  /** The built filter: Envoy loads it from a file. */
  wasm: string | Uint8Array;
  logLevel: LogLevel;
  /** The filter's lines, and Envoy's own at warn and above. */
  onLog: (entry: LogEntry) => void;
  /** Envoy's access log lines (envoy.yaml writes them to stdout). */
  onAccessLog: (line: string) => void;
  /** Envoy worker threads. Default 2: more than one VM, as in production. */
  concurrency?: number;
  /** How often Envoy writes out its buffered log lines, in ms. Default 200. */
  logFlushMs?: number;
}

/** Envoy refused the configuration; `message` is Envoy's own critical lines. */
export class EnvoyRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EnvoyRefused";
  }
}

function upstreamAddress(url: URL): { host: string; port: number } {
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  return { host, port: url.port === "" ? 80 : Number(url.port) };
}

function toEntry(line: EnvoyLine): LogEntry | undefined {
  if (line.plugin !== undefined) return { level: line.level, message: line.plugin };
  // Envoy's own chatter at info and below stays out; warnings and errors say what went wrong.
  if (line.level === "warn" || line.level === "error" || line.level === "critical") {
    return { level: line.level, message: `envoy[${line.logger}]: ${line.message}` };
  }
  return undefined;
}

export interface EnvoyGatewayHandle {
  url: string;
  envoy: EnvoyProcess;
  close(): Promise<void>;
}

export async function startEnvoyGateway(options: EnvoyGatewayOptions): Promise<EnvoyGatewayHandle> {
  let wasmPath: string;
  let tmp: string | undefined;
  if (typeof options.wasm === "string") {
    wasmPath = path.resolve(options.wasm);
  } else {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-gateway-wasm-"));
    wasmPath = path.join(tmp, "mcp_filter.wasm");
    fs.writeFileSync(wasmPath, options.wasm);
  }
  const cleanup = () => { if (tmp) fs.rmSync(tmp, { recursive: true, force: true }); };
  const config = localEnvoyConfig(options.rendered, {
    wasmPath,
    listen: options.listen,
    upstream: upstreamAddress(options.upstream),
    admin: { host: "127.0.0.1", port: 0 },
  });
  let envoy: EnvoyProcess;
  try {
    envoy = await startEnvoy({
      config,
      concurrency: options.concurrency ?? 2,
      logLevel: "warn",
      componentLogLevels: { wasm: options.logLevel },
      // Show each line soon after its request: sooner than the stack's interval, for a person
      // watching the playground.
      logFlushMs: options.logFlushMs ?? 200,
      onLine: (line) => { const e = toEntry(line); if (e) options.onLog(e); },
      onStdout: lineReader(options.onAccessLog),
    });
  } catch (err) {
    cleanup();
    if (err instanceof EnvoyStartError) throw new EnvoyRefused(err.message);
    throw err;
  }
  const bound = await envoy.listener(LISTENER);
  const host = bound.host.includes(":") ? `[${bound.host}]` : bound.host;
  return {
    url: `http://${host}:${bound.port}`,
    envoy,
    close: async () => { await envoy.stop(); cleanup(); },
  };
}
