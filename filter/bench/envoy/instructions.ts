// Instructions per request: the small call through each configuration's Envoy under valgrind's
// callgrind, counted exactly. CPU time on a shared 2-core VM varies by ±20% from run to run;
// an instruction count does not, so it shows small differences (a host call, a callback) that
// the timed bench cannot, and it bounds what the timed bench's throughput can reach.
//
// What is counted: every user-space instruction of the Envoy under test, all its threads, from
// the moment the counters are zeroed to the dump, over `requests` sequential requests on one
// keep-alive connection, after a warm-up that lets V8 compile the module's hot code. Not
// counted: the kernel (system calls, the network stack), which the CPU times include.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { findEnvoy } from "../../../envoy/binary";
import { startEnvoy, type EnvoyProcess } from "../../../envoy/run";
import { benchBodies } from "../bodies";
import { LISTENER, UPSTREAM_LISTENER, WASM_PATH, proxyConfigs, rateLimitedPolicy, upstreamConfig, type ConfigName } from "./configs";
import { post } from "./checks";
import { findTool } from "./load";
import { writeEmptyWasm, writeFloorWasm } from "./floor";

export const VALGRIND_HINT =
  "The instruction bench runs Envoy under valgrind's callgrind. Install it with `apt install valgrind` " +
  "(Debian, Ubuntu), or set VALGRIND to its path. Linux only.";

/** The configurations the instruction bench counts (no baseline B0), in the order it reports them. */
export type InstructionConfig = Exclude<ConfigName, "B0">;
export const INSTRUCTION_CONFIGS: InstructionConfig[] = ["A", "C", "E", "F", "B", "R"];

// Envoy under valgrind starts some 50 times slower: V8 and the wasm module are compiled on a
// simulated CPU.
const READY_UNDER_VALGRIND_MS = 300_000;

export interface InstructionCount {
  config: InstructionConfig;
  instructionsPerReq: number;
}

/** The total instruction count of one callgrind dump (its `summary:` or `totals:` line). */
export function dumpTotal(text: string): number {
  const m = /^(?:summary|totals): (\d+)/m.exec(text);
  if (!m) throw new Error("a callgrind dump without a summary or totals line");
  return Number(m[1]);
}

/** The Envoy configurations to count, with the wasm modules E and F need written into `dir`. */
export function instructionConfigs(upstream: { host: string; port: number }, dir: string): Record<InstructionConfig, string> {
  const { A, B, C } = proxyConfigs(upstream);
  return {
    A, B, C,
    E: proxyConfigs(upstream, writeEmptyWasm(dir)).B,
    F: proxyConfigs(upstream, writeFloorWasm(dir)).B,
    R: proxyConfigs(upstream, WASM_PATH, rateLimitedPolicy()).B,
  };
}

/** Sends `n` small calls one after another on one keep-alive connection; each must get a 200. */
async function sendSmallCalls(url: string, n: number, agent: http.Agent, what: InstructionConfig): Promise<void> {
  const body = benchBodies()[0].body;
  for (let i = 0; i < n; i++) {
    const reply = await post(url, body, {}, agent);
    if (reply.status !== 200) throw new Error(`${what}: the small call got ${reply.status}: ${reply.body.slice(0, 200)}`);
  }
}

/** Runs one callgrind command (zero, dump) on the Envoy with this pid; waits until it is done. */
function callgrindControl(valgrind: string, command: "-z" | "-d", pid: number): void {
  const control = path.join(path.dirname(valgrind), "callgrind_control");
  execFileSync(fs.existsSync(control) ? control : "callgrind_control", [command, String(pid)], { stdio: "ignore" });
}

/**
 * Counts the instructions per small call of each configuration in `configs`: one Envoy (one
 * worker) at a time under callgrind, `warmup` calls, then `requests` counted ones.
 */
export async function countInstructions(options: {
  configs: InstructionConfig[]; requests: number; warmup: number; log?: (s: string) => void;
}): Promise<InstructionCount[]> {
  const valgrind = findTool("valgrind", "VALGRIND", VALGRIND_HINT);
  const envoyBin = findEnvoy();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-instructions-"));
  const started: EnvoyProcess[] = [];
  try {
    const upstream = await startEnvoy({ config: upstreamConfig() });
    started.push(upstream);
    const configs = instructionConfigs(await upstream.listener(UPSTREAM_LISTENER), dir);
    const out: InstructionCount[] = [];
    for (const config of options.configs) {
      options.log?.(`${config}: counting under callgrind\n`);
      const dumps = path.join(dir, config);
      fs.mkdirSync(dumps);
      const envoy = await startEnvoy({
        config: configs[config],
        bin: envoyBin,
        // --smc-check: V8 writes and rewrites the code it runs (the wasm module's), which valgrind
        // must see to count it.
        launcher: [valgrind, "--tool=callgrind", "--smc-check=all-non-file", `--callgrind-out-file=${dumps}/out.%p`],
        readyTimeoutMs: READY_UNDER_VALGRIND_MS,
      });
      started.push(envoy);
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const l = await envoy.listener(LISTENER);
        const url = `http://${l.host}:${l.port}/mcp`;
        await sendSmallCalls(url, options.warmup, agent, config);
        callgrindControl(valgrind, "-z", envoy.pid);
        await sendSmallCalls(url, options.requests, agent, config);
        callgrindControl(valgrind, "-d", envoy.pid);
      } finally {
        agent.destroy();
      }
      // The dump after zeroing is out.<pid>.1; the one Envoy writes when it exits is out.<pid>.
      const dump = path.join(dumps, `out.${envoy.pid}.1`);
      if (!fs.existsSync(dump)) throw new Error(`${config}: callgrind wrote no dump at ${dump}`);
      out.push({ config, instructionsPerReq: dumpTotal(fs.readFileSync(dump, "utf8")) / options.requests });
      await envoy.stop();
    }
    return out;
  } finally {
    await Promise.all(started.map((e) => e.stop()));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The throughput goal of bench:envoy: with the filter, at least this share of passthrough's. */
export const THROUGHPUT_GOAL = 0.9;

export interface InstructionRow extends InstructionCount {
  /** Over passthrough (A). */
  addedPerReq: number;
  /** A's count over this one: the share of A's throughput one worker reaches if its time per
   *  request follows its instruction count. Measured, it has been an upper bound: an instruction
   *  on the wasm path takes a little more time than one on passthrough's (filter/README.md). */
  throughputVsA: number;
  meetsThroughputGoal: boolean;
}

/** Each count set against A's; A must be among them. */
export function instructionRows(counts: InstructionCount[]): InstructionRow[] {
  const a = counts.find((c) => c.config === "A");
  if (a === undefined) throw new Error("the instruction counts have no passthrough (A) to compare with");
  return counts.map((c) => {
    const throughputVsA = a.instructionsPerReq / c.instructionsPerReq;
    return { ...c, addedPerReq: c.instructionsPerReq - a.instructionsPerReq, throughputVsA, meetsThroughputGoal: throughputVsA >= THROUGHPUT_GOAL };
  });
}

/** The most instructions per request a configuration can spend and still meet the throughput
 *  goal, going by A's count. */
export function goalBudget(rows: InstructionRow[]): number {
  return rows.find((r) => r.config === "A")!.instructionsPerReq / THROUGHPUT_GOAL;
}
