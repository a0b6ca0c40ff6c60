// Runs a real Envoy process on this machine: for the tests, `npm run gateway -- --engine envoy`
// and the benchmark. It writes the configuration to a temporary directory, starts Envoy with its
// admin interface wherever the configuration puts it, waits until Envoy says it is ready, and
// stops it with SIGTERM. Envoy's own lines are parsed so callers can read the filter's log.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { ENVOY_LOG_FLUSH_MS, envoyLogFlags } from "../infra/envoyConfig";
import { findEnvoy } from "./binary";

const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;
// One parseable line per message: time, level, logger, then the message.
const LOG_FORMAT = "[%Y-%m-%d %T.%e][%l][%n] %v";
const LOG_LINE = /^\[[^\]]*\]\[(\w+)\]\[([\w-]+)\] (.*)$/;
// Envoy's wasm logger prefixes what a plugin logs with "wasm log <plugin> <root id> [<vm id>]: ".
const WASM_LOG = /^wasm log(?: [^ :]+)*: (.*)$/s;

export type EnvoyLogLevel = "trace" | "debug" | "info" | "warn" | "error" | "critical";

export interface EnvoyLine {
  level: EnvoyLogLevel;
  /** Envoy's logger: main, config, wasm, http, ... */
  logger: string;
  message: string;
  /** For a plugin's own log line (logger wasm), the message without Envoy's prefix. */
  plugin?: string;
}

export interface EnvoyOptions {
  /** The bootstrap as YAML. */
  config: string;
  /** Default: findEnvoy(). */
  bin?: string;
  /** Worker threads. Default 1. */
  concurrency?: number;
  /** Envoy's log level for every logger (default info). */
  logLevel?: EnvoyLogLevel;
  /** Levels for single loggers, e.g. { wasm: "debug" }: the wasm logger carries plugins' lines. */
  componentLogLevels?: Record<string, EnvoyLogLevel>;
  /** How often Envoy writes out its buffered log and access log lines (default: the stack's,
   *  ENVOY_LOG_FLUSH_MS). */
  logFlushMs?: number;
  /** Each line Envoy logs, parsed. */
  onLine?: (line: EnvoyLine, raw: string) => void;
  /** Each chunk Envoy writes to stdout (where envoy.yaml's access log goes). */
  onStdout?: (chunk: Buffer) => void;
  /** A command Envoy runs under, given Envoy's path and flags after its own (the instruction
   *  bench's valgrind). It must become Envoy's process (exec, not a child), so that pid is Envoy's. */
  launcher?: string[];
  /** How long Envoy may take to be ready (default READY_TIMEOUT_MS); longer under a launcher. */
  readyTimeoutMs?: number;
}

export interface EnvoyProcess {
  readonly pid: number;
  /** e.g. http://127.0.0.1:40857 */
  readonly adminUrl: string;
  /** Every line Envoy logged so far, parsed. */
  readonly lines: EnvoyLine[];
  /** The address a named listener is bound to (port 0 in the configuration is resolved). */
  listener(name: string): Promise<{ host: string; port: number }>;
  /** A GET on the admin interface. */
  admin(pathAndQuery: string): Promise<{ status: number; text: string }>;
  /** Counter and gauge values by Envoy stat name, e.g. wasmcustom.mcp_filter.parse_errors. */
  stats(): Promise<Map<string, number>>;
  /** Resolves when Envoy exits, with its exit code (null after a signal). */
  readonly exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** Envoy exited before it was ready: usually it refused the configuration. `message` is Envoy's. */
export class EnvoyStartError extends Error {
  constructor(message: string, readonly code: number | null, readonly lines: EnvoyLine[]) {
    super(message);
    this.name = "EnvoyStartError";
  }
}

function toLevel(envoyLevel: string): EnvoyLogLevel {
  return envoyLevel === "warning" ? "warn" : (envoyLevel as EnvoyLogLevel);
}

function envoyLevel(level: EnvoyLogLevel): string {
  return level === "warn" ? "warning" : level;
}

export function parseEnvoyLine(raw: string): EnvoyLine | undefined {
  const m = LOG_LINE.exec(raw);
  if (!m) return undefined;
  const line: EnvoyLine = { level: toLevel(m[1]), logger: m[2], message: m[3] };
  if (line.logger === "wasm") {
    const w = WASM_LOG.exec(line.message);
    if (w) line.plugin = w[1];
  }
  return line;
}

export function adminGet(adminUrl: string, pathAndQuery: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${adminUrl}${pathAndQuery}`, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
  });
}

/** Splits a stream into lines; a line only counts once its newline has arrived. */
export function lineReader(onLine: (line: string) => void): (chunk: Buffer) => void {
  let pending = "";
  return (chunk) => {
    pending += chunk.toString("utf8");
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      onLine(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts Envoy and resolves once its admin /ready answers LIVE; rejects with Envoy's own
 *  critical message if it exits first. */
export async function startEnvoy(options: EnvoyOptions): Promise<EnvoyProcess> {
  const bin = options.bin ?? findEnvoy();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-envoy-"));
  const configFile = path.join(dir, "envoy.yaml");
  const adminFile = path.join(dir, "admin-address");
  fs.writeFileSync(configFile, options.config);
  const args = [
    "-c", configFile,
    // Several Envoys share a machine (tests, the benchmark): no hot-restart shared memory.
    "--disable-hot-restart",
    "--admin-address-path", adminFile,
    "--concurrency", String(options.concurrency ?? 1),
    "--log-level", envoyLevel(options.logLevel ?? "info"),
    "--log-format", LOG_FORMAT,
  ];
  // Envoy logs as the stack runs it (envoyLogFlags): through its buffered log file, here a FIFO
  // this process reads. Not its stderr: Node's child pipes are sockets, which Envoy cannot open
  // by path. Opened read-write, so that reading never sees an end of file while Envoy has not
  // opened it yet (or exits before it does).
  const logFifo = path.join(dir, "envoy.log");
  execFileSync("mkfifo", ["-m", "600", logFifo]);
  const logStream = new net.Socket({ fd: fs.openSync(logFifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK), readable: true, writable: false });
  args.push(...envoyLogFlags(logFifo, options.logFlushMs ?? ENVOY_LOG_FLUSH_MS));
  const components = Object.entries(options.componentLogLevels ?? {});
  if (components.length > 0) args.push("--component-log-level", components.map(([k, v]) => `${k}:${envoyLevel(v)}`).join(","));
  // setpriv (util-linux) makes Envoy get SIGTERM when this process dies, however it dies, so a
  // crashed test or a killed gateway leaves no Envoy behind.
  const setpriv = process.platform === "linux" && fs.existsSync("/usr/bin/setpriv");
  const command = [...(options.launcher ?? []), bin, ...args];
  const child: ChildProcess = setpriv
    ? spawn("/usr/bin/setpriv", ["--pdeathsig", "SIGTERM", "--", ...command], { stdio: ["ignore", "pipe", "pipe"] })
    : spawn(command[0], command.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  const lines: EnvoyLine[] = [];
  const onRawLine = (raw: string): void => {
    const line = parseEnvoyLine(raw);
    // A message with a newline goes on in lines of its own, without Envoy's prefix.
    if (line === undefined && lines.length > 0) lines[lines.length - 1].message += `\n${raw}`;
    else lines.push(line ?? { level: "info", logger: "stderr", message: raw });
    options.onLine?.(line ?? { level: "info", logger: "stderr", message: raw }, raw);
  };
  // Lines Envoy writes before it has opened its log file (a bad flag) come on stderr.
  child.stderr!.on("data", lineReader(onRawLine));
  logStream.on("data", lineReader(onRawLine));
  child.stdout!.on("data", (chunk: Buffer) => options.onStdout?.(chunk));
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => {
      // What Envoy wrote just before it exited may still be in the FIFO.
      setTimeout(() => { logStream.destroy(); fs.rmSync(dir, { recursive: true, force: true }); resolve(code); }, 50);
    });
  });
  let exitCode: number | null | undefined;
  void exited.then((c) => { exitCode = c; });

  const stop = async (): Promise<void> => {
    if (exitCode !== undefined) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  };

  const readyTimeoutMs = options.readyTimeoutMs ?? READY_TIMEOUT_MS;
  const deadline = Date.now() + readyTimeoutMs;
  let adminUrl: string | undefined;
  for (;;) {
    if (exitCode !== undefined) {
      const critical = lines.filter((l) => l.level === "critical").map((l) => l.message);
      const message = critical.length > 0 ? critical.join("\n") : lines.slice(-5).map((l) => l.message).join("\n");
      throw new EnvoyStartError(message, exitCode, lines);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new EnvoyStartError(`Envoy was not ready within ${readyTimeoutMs} ms`, null, lines);
    }
    if (adminUrl === undefined && fs.existsSync(adminFile)) {
      const address = fs.readFileSync(adminFile, "utf8").trim();
      if (address !== "") adminUrl = `http://${address}`;
    }
    if (adminUrl !== undefined) {
      const ready = await adminGet(adminUrl, "/ready").catch(() => undefined);
      if (ready?.status === 200) break;
    }
    await sleep(25);
  }
  const admin = adminUrl;

  return {
    pid: child.pid!,
    adminUrl: admin,
    lines,
    exited,
    stop,
    admin: (p) => adminGet(admin, p),
    async listener(name) {
      const res = await adminGet(admin, "/listeners?format=json");
      const statuses = (JSON.parse(res.text) as { listener_statuses?: Array<{ name: string; local_address: { socket_address: { address: string; port_value: number } } }> }).listener_statuses ?? [];
      const found = statuses.find((s) => s.name === name);
      if (!found) throw new Error(`Envoy has no listener ${name}; it has ${statuses.map((s) => s.name).join(", ")}`);
      return { host: found.local_address.socket_address.address, port: found.local_address.socket_address.port_value };
    },
    async stats() {
      const res = await adminGet(admin, "/stats?format=json");
      const out = new Map<string, number>();
      for (const s of (JSON.parse(res.text) as { stats: Array<{ name?: string; value?: number }> }).stats) {
        if (s.name !== undefined && typeof s.value === "number") out.set(s.name, s.value);
      }
      return out;
    },
  };
}

export interface Validation { ok: boolean; output: string }

/** `envoy --mode validate`: Envoy builds everything the configuration names, wasm plugins
 *  included (it loads the module and runs its on_configure), without binding or connecting. */
export function validateEnvoyConfig(config: string, bin = findEnvoy()): Promise<Validation> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-envoy-validate-"));
  const file = path.join(dir, "envoy.yaml");
  fs.writeFileSync(file, config);
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ["--mode", "validate", "-c", file, "--log-format", LOG_FORMAT], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (c: Buffer) => { output += c.toString(); });
    child.stderr.on("data", (c: Buffer) => { output += c.toString(); });
    child.once("error", reject);
    child.once("exit", (code) => {
      fs.rmSync(dir, { recursive: true, force: true });
      resolve({ ok: code === 0, output });
    });
  });
}
