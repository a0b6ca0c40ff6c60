// The load generator and the CPU clock of the bench.
//
// h2load (Debian's nghttp2-client) drives the load. Why it and not the other candidates:
// - it POSTs a body file over keep-alive HTTP/1.1 connections at a fixed number of clients with
//   no script (wrk needs a Lua script for a body);
// - --log-file writes every request's status and time, so the bench computes its percentiles
//   itself, the same way for every configuration, and checks that every request got a 200;
// - it is one single-threaded process, which matters on a 2-core machine that also runs the two
//   Envoys; and it is a distribution package (fortio and oha would need a Go or Rust toolchain).
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export const H2LOAD_HINT =
  "The Envoy bench drives its load with h2load. Install it with `apt install nghttp2-client` " +
  "(Debian, Ubuntu) or `brew install nghttp2` (macOS), or set H2LOAD to its path.";

/** h2load: H2LOAD, else the one on PATH; throws, saying what to install, when there is none. */
export function findH2load(): string { return findTool("h2load", "H2LOAD", H2LOAD_HINT); }

/** A bench tool: the path in the environment variable `envVar`, else `name` on PATH; throws with
 *  `hint` (what to install) when there is none. */
export function findTool(name: string, envVar: string, hint: string): string {
  const fromEnv = process.env[envVar];
  if (fromEnv !== undefined && fromEnv !== "") {
    if (!fs.existsSync(fromEnv)) throw new Error(`${envVar}=${fromEnv} does not exist. ${hint}`);
    return fromEnv;
  }
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (dir === "") continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  throw new Error(`${name} was not found. ${hint}`);
}

export interface LoadSpec {
  url: string;
  /** The request body, POSTed on every request. */
  bodyFile: string;
  headers: Record<string, string>;
  /** Connections, each with one request in flight. */
  clients: number;
  durationS: number;
  warmupS: number;
  /** Requests per second per connection, or, when absent, as fast as answers come back. */
  rps?: number;
}

export interface LoadResult {
  /** Requests that completed in the measured period (after the warm-up). */
  requests: number;
  rps: number;
  /** Request times in microseconds, sorted. */
  latenciesUs: number[];
  /** Status codes seen in the measured period, with their counts. */
  statuses: Map<number, number>;
}

/** h2load --log-file rows: start time (µs since the epoch), status, µs until the response ended. */
export function parseH2loadLog(text: string): { latenciesUs: number[]; statuses: Map<number, number> } {
  const latenciesUs: number[] = [];
  const statuses = new Map<number, number>();
  for (const row of text.split("\n")) {
    if (row === "") continue;
    const [, status, us] = row.split("\t");
    const code = Number(status);
    const time = Number(us);
    if (!Number.isInteger(code) || !Number.isFinite(time)) throw new Error(`unexpected h2load log row: ${JSON.stringify(row)}`);
    statuses.set(code, (statuses.get(code) ?? 0) + 1);
    latenciesUs.push(time);
  }
  latenciesUs.sort((a, b) => a - b);
  return { latenciesUs, statuses };
}

/** The value below which a fraction q of the sorted samples lie (nearest rank). */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export function median(xs: number[]): number {
  return quantile([...xs].sort((a, b) => a - b), 0.5);
}

/** Runs h2load for one measurement: warm-up, then the measured period. */
export function runLoad(h2load: string, spec: LoadSpec, tmpDir: string): Promise<LoadResult> {
  const logFile = path.join(tmpDir, "h2load.log");
  fs.rmSync(logFile, { force: true });
  const args = [
    "--h1", "-c", String(spec.clients), "-t", "1", "-m", "1",
    // h2load reads a fraction of a second only with a unit.
    "-D", `${Math.round(spec.durationS * 1000)}ms`, "--warm-up-time", `${Math.round(spec.warmupS * 1000)}ms`,
    "-d", spec.bodyFile, "--log-file", logFile,
    ...(spec.rps === undefined ? [] : ["--rps", String(spec.rps)]),
    ...Object.entries(spec.headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]),
    spec.url,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(h2load, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => { out += c.toString(); });
    child.stderr.on("data", (c: Buffer) => { out += c.toString(); });
    child.once("error", reject);
    child.once("exit", (code) => {
      if (code !== 0) { reject(new Error(`h2load exited with ${code}:\n${out}`)); return; }
      const { latenciesUs, statuses } = parseH2loadLog(fs.readFileSync(logFile, "utf8"));
      resolve({ requests: latenciesUs.length, rps: latenciesUs.length / spec.durationS, latenciesUs, statuses });
    });
  });
}

let clockTicks: number | undefined;

/** Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux). */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    const run = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
    const n = Number(run.stdout.trim());
    clockTicks = run.status === 0 && n > 0 ? n : 100;
  }
  return clockTicks;
}

/** CPU time a process has used, user plus system, all its threads, in microseconds
 *  (/proc/<pid>/stat utime and stime; the resolution is one clock tick, 10 ms). */
export function cpuTimeUs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1e6) / ticksPerSecond();
}
