// Instructions per request: the small call through each configuration's Envoy under valgrind's
// callgrind. CPU time on a shared 2-core VM varies by ±20% from run to run; an instruction
// count barely moves, so it shows small differences (a host call, a callback) that the timed
// bench cannot, and where a configuration's cost goes. It is not time: an instruction on one path
// can take longer than on another (cache misses, the kernel's share is left out).
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
import { startEnvoy } from "../../../envoy/run";
import { benchBodies } from "../bodies";
import { CALL_ANSWER_SSE, LISTENER, UPSTREAM_LISTENER, benchConfigs, upstreamConfig, type ConfigName } from "./configs";
import { post } from "./checks";
import { findTool } from "./load";
import { MIN_THROUGHPUT_SHARE } from "./report";

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

/** Sends `n` small calls one after another on the agent's one kept-alive connection; each must
 *  come back from the upstream (a denial or a refused limit is an HTTP 200 too). */
async function sendSmallCalls(url: string, n: number, agent: http.Agent, what: InstructionConfig): Promise<void> {
  const body = benchBodies()[0].body;
  for (let i = 0; i < n; i++) {
    const reply = await post(url, body, {}, agent);
    if (reply.status !== 200 || reply.body !== CALL_ANSWER_SSE) {
      throw new Error(`${what}: the small call did not come back from the upstream: ${reply.status} ${reply.body.slice(0, 200)}`);
    }
  }
}

/** Counts what one Envoy under callgrind spends on small calls. */
export interface CallgrindCounter {
  /** Sends `n` small calls and returns the instructions Envoy spent from the first to the last. */
  count(n: number): Promise<number>;
}

/**
 * Starts the Envoy of `config` under callgrind, with its dumps in `dir`, and hands `use` a counter
 * for it; stops it after. Every count is zeroed before its calls and dumped after them, through
 * vgdb, which fails when callgrind did not take the command.
 */
export async function underCallgrind<T>(config: InstructionConfig, yaml: string, dir: string, use: (c: CallgrindCounter) => Promise<T>): Promise<T> {
  const valgrind = findTool("valgrind", "VALGRIND", VALGRIND_HINT);
  const vgdb = path.join(path.dirname(valgrind), "vgdb");
  if (!fs.existsSync(vgdb)) throw new Error(`no vgdb next to ${valgrind}. ${VALGRIND_HINT}`);
  const envoy = await startEnvoy({
    config: yaml,
    // valgrind replaces itself with the tool, which runs Envoy: one process, Envoy's pid.
    // --smc-check=all-non-file (valgrind's default on amd64, stated so that it stays): V8 writes
    // and rewrites the code it runs, the wasm module's, which callgrind must see to count.
    launcher: [valgrind, "--tool=callgrind", "--smc-check=all-non-file", `--callgrind-out-file=${dir}/out.%p`],
    readyTimeoutMs: READY_UNDER_VALGRIND_MS,
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    // A launcher that ran Envoy in a child (a wrapper script on PATH) would leave it uncounted.
    const comm = fs.readFileSync(`/proc/${envoy.pid}/comm`, "utf8").trim();
    if (!comm.startsWith("callgrind")) throw new Error(`${config}: process ${envoy.pid} is ${comm}, not Envoy under callgrind`);
    const l = await envoy.listener(LISTENER);
    const url = `http://${l.host}:${l.port}/mcp`;
    // Connect before the first window, so that no window counts a connection being opened.
    await sendSmallCalls(url, 1, agent, config);
    let dumps = 0;
    const connections = async (): Promise<number> => (await envoy.stats()).get("http.mcp.downstream_cx_total") ?? NaN;
    const vgdbCommand = (command: "zero" | "dump"): void => {
      try {
        execFileSync(vgdb, [`--pid=${envoy.pid}`, command], { stdio: "pipe", timeout: 60_000 });
      } catch (err) {
        throw new Error(`${config}: callgrind did not ${command}: ${(err as { stderr?: Buffer }).stderr?.toString().trim() ?? String(err)}`);
      }
    };
    return await use({
      async count(n) {
        const before = await connections();
        vgdbCommand("zero");
        await sendSmallCalls(url, n, agent, config);
        vgdbCommand("dump");
        // The window's calls all went over the one connection opened before it.
        if ((await connections()) !== before || Number.isNaN(before)) throw new Error(`${config}: Envoy accepted a connection inside the counted window`);
        const dump = path.join(dir, `out.${envoy.pid}.${++dumps}`);
        if (!fs.existsSync(dump)) throw new Error(`${config}: callgrind wrote no dump at ${dump}`);
        return dumpTotal(fs.readFileSync(dump, "utf8"));
      },
    });
  } finally {
    agent.destroy();
    await envoy.stop();
  }
}

/**
 * Counts the instructions per small call of each configuration in `configs`: one Envoy (one
 * worker) at a time under callgrind, `warmup` calls, then `requests` counted ones.
 */
export async function countInstructions(options: {
  configs: InstructionConfig[]; requests: number; warmup: number; log?: (s: string) => void;
}): Promise<InstructionCount[]> {
  findTool("valgrind", "VALGRIND", VALGRIND_HINT); // before anything starts
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-instructions-"));
  const upstream = await startEnvoy({ config: upstreamConfig() });
  try {
    const configs = benchConfigs(await upstream.listener(UPSTREAM_LISTENER), dir);
    const out: InstructionCount[] = [];
    for (const config of options.configs) {
      options.log?.(`${config}: counting under callgrind\n`);
      const dumps = path.join(dir, config);
      fs.mkdirSync(dumps);
      const total = await underCallgrind(config, configs[config], dumps, async (c) => {
        if (options.warmup > 0) await c.count(options.warmup);
        return c.count(options.requests);
      });
      out.push({ config, instructionsPerReq: total / options.requests });
    }
    return out;
  } finally {
    await upstream.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export interface InstructionRow extends InstructionCount {
  /** Over passthrough (A). */
  addedPerReq: number;
  /** A's count over this one: the share of A's throughput one worker would reach if its time
   *  per request followed its instruction count. An estimate (see filter/README.md). */
  throughputVsA: number;
  meetsThroughputGoal: boolean;
}

/** Each count set against A's; A must be among them. */
export function instructionRows(counts: InstructionCount[]): InstructionRow[] {
  const a = counts.find((c) => c.config === "A");
  if (a === undefined) throw new Error("the instruction counts have no passthrough (A) to compare with");
  return counts.map((c) => {
    const throughputVsA = a.instructionsPerReq / c.instructionsPerReq;
    return { ...c, addedPerReq: c.instructionsPerReq - a.instructionsPerReq, throughputVsA, meetsThroughputGoal: throughputVsA >= MIN_THROUGHPUT_SHARE };
  });
}

/** The most instructions per request a configuration can spend and still meet the throughput
 *  goal, going by A's count. */
export function goalBudget(rows: InstructionRow[]): number {
  return rows.find((r) => r.config === "A")!.instructionsPerReq / MIN_THROUGHPUT_SHARE;
}
