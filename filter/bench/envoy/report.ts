// What the bench concludes from its measurements: the per-case table, the CPU ratio against
// Envoy's native MCP filter, and the goals, each printed as met or NOT met.
import { CONFIGS, CONFIG_TITLES, type ConfigName } from "./configs";
import type { LatencyResult } from "./latency";
import type { SseResult } from "./sse";

export interface CaseResult {
  name: string;
  bytes: number;
  config: ConfigName;
  rps: number;
  p50Us: number;
  p99Us: number;
  cpuUsPerReq: number;
}

export interface Ratio {
  name: string;
  /** (B − A) / (C − A) of CPU per request; null when C added no measurable CPU over A. */
  addedCpuVsNative: number | null;
}

/** With `--baseline REF`: the filter's added CPU per request against the same filter built at REF. */
export interface BaselineRatio {
  name: string;
  /** (B − A) / (B0 − A) of CPU per request; null when B0 added no measurable CPU over A. */
  addedCpuVsBaseline: number | null;
}

export interface Goal { goal: string; met: boolean; detail: string }

export interface Report {
  envoyVersion: string;
  envoyLogLevel: string;
  cases: CaseResult[];
  ratios: Ratio[];
  baseline?: { ref: string; commit: string; ratios: BaselineRatio[] };
  /** The small call at a fixed rate on one connection, below saturation (latency.ts). */
  latency: { rps: number; connections: number; results: LatencyResult[] };
  sse: { medianAddedUs: number; p99AddedUs: number };
  /** What a rate limit adds to the small call: R's CPU per request over B's. */
  rateLimit: { limit: string; addedCpuUsPerReq: number };
  goals: Goal[];
  machine: { cpus: number; loadAverageBefore: number[]; loadAverageAfter: number[] };
}

/** The case the throughput and latency goals are about. */
export const SMALL_CASE = "tools/call ~300 B";
/** The tools/list case. Its ratio is shown but held to no goal: there B also rewrites the answer,
 *  which C cannot do. Every other case is a tools/call, which both filters judge. */
export const TOOLS_LIST_CASE = "tools/list";
const isCallCase = (name: string): boolean => name !== TOOLS_LIST_CASE;

const MAX_RATIO = 1.0;
/** The throughput goal: with the filter, at least this share of passthrough's (the instruction
 *  bench sets its counts against it too). */
export const MIN_THROUGHPUT_SHARE = 0.9;
const MAX_ADDED_P99_US = 200;

function find(cases: CaseResult[], name: string, config: ConfigName): CaseResult {
  const c = cases.find((x) => x.name === name && x.config === config);
  if (!c) throw new Error(`no result for ${name} through ${config}`);
  return c;
}

/** (B − A) / (X − A) of CPU per request: B's added CPU over passthrough against X's; null when X
 *  added no measurable CPU over A. */
function addedCpuRatio(cases: CaseResult[], name: string, against: ConfigName): number | null {
  const [a, b, x] = (["A", "B", against] as const).map((k) => find(cases, name, k).cpuUsPerReq);
  return x - a > 0 ? Math.round(((b - a) / (x - a)) * 100) / 100 : null;
}

const caseNames = (cases: CaseResult[]): string[] => [...new Set(cases.map((c) => c.name))];

export function ratios(cases: CaseResult[]): Ratio[] {
  return caseNames(cases).map((name) => ({ name, addedCpuVsNative: addedCpuRatio(cases, name, "C") }));
}

export function baselineRatios(cases: CaseResult[]): BaselineRatio[] {
  return caseNames(cases).map((name) => ({ name, addedCpuVsBaseline: addedCpuRatio(cases, name, "B0") }));
}

/** R − B of the small call's CPU per request: the cost of one limit check in shared data. */
export function rateLimitCost(cases: CaseResult[], limit: string): { limit: string; addedCpuUsPerReq: number } {
  const [b, r] = (["B", "R"] as const).map((k) => find(cases, SMALL_CASE, k).cpuUsPerReq);
  return { limit, addedCpuUsPerReq: Math.round((r - b) * 10) / 10 };
}

const latencyOf = (results: LatencyResult[], config: ConfigName): LatencyResult => {
  const r = results.find((x) => x.config === config);
  if (!r) throw new Error(`no latency result for ${config}`);
  return r;
};

export function goals(cases: CaseResult[], rs: Ratio[], sse: SseResult, latency: LatencyResult[]): Goal[] {
  const out: Goal[] = [];
  for (const r of rs.filter((x) => isCallCase(x.name))) {
    out.push({
      goal: `${r.name}: B adds no more CPU per request than C (ratio <= ${MAX_RATIO})`,
      met: r.addedCpuVsNative !== null && r.addedCpuVsNative <= MAX_RATIO,
      detail: r.addedCpuVsNative === null ? "C added no measurable CPU over A, so there is no ratio" : `ratio ${r.addedCpuVsNative.toFixed(2)}`,
    });
  }
  const a = find(cases, SMALL_CASE, "A");
  const b = find(cases, SMALL_CASE, "B");
  const share = b.rps / a.rps;
  out.push({
    goal: `${SMALL_CASE}: B's throughput >= ${MIN_THROUGHPUT_SHARE * 100}% of A's`,
    met: share >= MIN_THROUGHPUT_SHARE,
    detail: `${(share * 100).toFixed(1)}% (${Math.round(b.rps)} vs ${Math.round(a.rps)} req/s)`
      + [["E", "an empty wasm filter"], ["F", "B's host calls alone"]].map(([k, what]) => {
        const x = cases.find((y) => y.name === SMALL_CASE && y.config === k);
        return x ? `; ${k} (${what}) reaches ${((x.rps / a.rps) * 100).toFixed(1)}%` : "";
      }).join(""),
  });
  const [la, lb] = [latencyOf(latency, "A"), latencyOf(latency, "B")];
  const addedP99 = lb.p99Us - la.p99Us;
  out.push({
    goal: `${SMALL_CASE}: B adds < ${MAX_ADDED_P99_US / 1000} ms to p99 latency (fixed rate, below saturation)`,
    met: addedP99 < MAX_ADDED_P99_US,
    detail: `${Math.round(addedP99)} µs (p99 ${lb.p99Us} vs ${la.p99Us} µs at ${la.rps} req/s; at saturation, where it is queueing: ${Math.round(b.p99Us - a.p99Us)} µs)`,
  });
  out.push({
    goal: `SSE: B adds < ${MAX_ADDED_P99_US / 1000} ms to the p99 latency of an event`,
    met: sse.p99AddedUs < MAX_ADDED_P99_US,
    detail: `p99 ${sse.latencyUs.B[1]} vs ${sse.latencyUs.A[1]} µs, over ${sse.events} events`,
  });
  return out;
}

export function printReport(r: Report, sse: SseResult, setup: string): void {
  const lines: string[] = [];
  lines.push(`Envoy ${r.envoyVersion}, one worker. ${setup}`);
  lines.push(`Machine: ${r.machine.cpus} CPUs; load average (1, 5, 15 min) ${r.machine.loadAverageBefore.map((x) => x.toFixed(2)).join(" ")} before, ${r.machine.loadAverageAfter.map((x) => x.toFixed(2)).join(" ")} after.`);
  for (const k of CONFIGS) lines.push(`  ${k}: ${CONFIG_TITLES[k]}`);
  if (r.baseline) lines.push(`  B0: ${CONFIG_TITLES.B0}, ${r.baseline.ref} (${r.baseline.commit.slice(0, 12)})`);
  lines.push(`  E: ${CONFIG_TITLES.E}`);
  lines.push(`  F: ${CONFIG_TITLES.F}`);
  lines.push(`  R: ${CONFIG_TITLES.R}`);
  lines.push("");
  const cols: Array<[string, number]> = [["case", 22], ["bytes", 9], ["config", 8], ["req/s", 9], ["p50 µs", 9], ["p99 µs", 9], ["CPU µs/req", 12]];
  lines.push(cols.map(([h, w], i) => (i === 0 ? h.padEnd(w) : h.padStart(w))).join(""));
  for (const c of r.cases) {
    lines.push(c.name.padEnd(22) + String(c.bytes).padStart(9) + c.config.padStart(8) + String(Math.round(c.rps)).padStart(9)
      + String(c.p50Us).padStart(9) + String(c.p99Us).padStart(9) + c.cpuUsPerReq.toFixed(1).padStart(12));
  }
  lines.push("");
  lines.push("Added CPU per request over A (µs), and the ratio (B − A) / (C − A):");
  for (const ratio of r.ratios) {
    const [a, b, c] = CONFIGS.map((k) => find(r.cases, ratio.name, k).cpuUsPerReq);
    const value = ratio.addedCpuVsNative === null ? "n/a" : ratio.addedCpuVsNative.toFixed(2);
    lines.push(`  ${ratio.name.padEnd(22)} B +${(b - a).toFixed(1).padStart(7)}   C +${(c - a).toFixed(1).padStart(7)}   ratio ${value}${isCallCase(ratio.name) ? "" : " (B also rewrites the answer; C cannot)"}`);
  }
  const floor = r.cases.find((x) => x.name === SMALL_CASE && x.config === "F");
  const empty = r.cases.find((x) => x.name === SMALL_CASE && x.config === "E");
  if (floor && empty) {
    const [a, b] = (["A", "B"] as const).map((k) => find(r.cases, SMALL_CASE, k).cpuUsPerReq);
    lines.push(`  ${SMALL_CASE}, B's added CPU taken apart: any wasm filter (E) +${(empty.cpuUsPerReq - a).toFixed(1)}; B's host calls (F) +${(floor.cpuUsPerReq - empty.cpuUsPerReq).toFixed(1)} more; B's own work +${(b - floor.cpuUsPerReq).toFixed(1)} more`);
  }
  lines.push(`  ${SMALL_CASE}, a rate limit (${r.rateLimit.limit}, R over B): +${r.rateLimit.addedCpuUsPerReq.toFixed(1)} µs (a negative figure is the machine's noise)`);
  if (r.baseline) {
    lines.push("");
    lines.push(`Added CPU per request over A (µs) of this filter (B) and of the filter at ${r.baseline.ref} (B0), and the ratio (B − A) / (B0 − A):`);
    for (const ratio of r.baseline.ratios) {
      const [a, b, b0] = (["A", "B", "B0"] as const).map((k) => find(r.cases, ratio.name, k).cpuUsPerReq);
      const value = ratio.addedCpuVsBaseline === null ? "n/a" : ratio.addedCpuVsBaseline.toFixed(2);
      lines.push(`  ${ratio.name.padEnd(22)} B +${(b - a).toFixed(1).padStart(7)}   B0 +${(b0 - a).toFixed(1).padStart(7)}   ratio ${value}`);
    }
  }
  lines.push("");
  lines.push(`Latency of ${SMALL_CASE} at a fixed ${r.latency.rps} req/s on ${r.latency.connections} connection, below saturation (µs):`);
  for (const l of r.latency.results) lines.push(`  ${l.config.padEnd(3)} p50 ${String(l.p50Us).padStart(6)}   p99 ${String(l.p99Us).padStart(6)}   (${l.rps} req/s)`);
  lines.push("");
  lines.push(`SSE: delay B adds per event against A: median ${r.sse.medianAddedUs} µs, p99 ${r.sse.p99AddedUs} µs`
    + ` (latency through A: median ${sse.latencyUs.A[0]} µs, p99 ${sse.latencyUs.A[1]} µs; through B: median ${sse.latencyUs.B[0]} µs, p99 ${sse.latencyUs.B[1]} µs;`
    + ` a negative figure is the machine's noise)`);
  lines.push("");
  lines.push("Goals:");
  for (const g of r.goals) lines.push(`  ${g.met ? "met    " : "NOT MET"}  ${g.goal}: ${g.detail}`);
  process.stdout.write(lines.join("\n") + "\n");
}
