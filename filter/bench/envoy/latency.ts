// Latency below saturation: the small call at a fixed request rate over one connection, through
// each configuration. The saturation runs in main.ts keep four connections' requests queued on
// the one worker, so their latency is mostly waiting behind other requests and repeats what the
// throughput says; here each request finds Envoy idle, so the p99 is the delay a filter adds to
// one request, plus the machine's noise.
import type { EnvoyProcess } from "../../../envoy/run";
import type { ConfigName } from "./configs";
import { median, quantile, runLoad } from "./load";

export interface LatencyResult { config: ConfigName; rps: number; p50Us: number; p99Us: number }

export interface LatencyRun {
  h2load: string;
  envoys: Partial<Record<ConfigName, EnvoyProcess>>;
  urls: Partial<Record<ConfigName, string>>;
  bodyFile: string;
  headers: Record<string, string>;
  /** Requests per second, all on one connection. */
  rps: number;
  rounds: number;
  durationS: number;
  warmupS: number;
  tmp: string;
}

/** Each configuration for `durationS` per round, alternated; the median of the rounds. */
export async function measureLatency(run: LatencyRun): Promise<LatencyResult[]> {
  const names = Object.keys(run.urls) as ConfigName[];
  const samples = new Map<ConfigName, Array<{ rps: number; p50Us: number; p99Us: number }>>();
  for (let round = 0; round < run.rounds; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length]);
    for (const k of order) {
      const load = await runLoad(run.h2load, {
        url: run.urls[k]!, bodyFile: run.bodyFile, headers: run.headers, clients: 1,
        durationS: run.durationS, warmupS: run.warmupS, rps: run.rps,
      }, run.tmp);
      run.envoys[k]!.lines.length = 0;
      const statuses = [...load.statuses].map(([s, n]) => `${n} × ${s}`).join(", ");
      if (load.requests === 0 || load.statuses.get(200) !== load.requests) throw new Error(`latency through ${k}: not every request got a 200 (${statuses || "none completed"})`);
      // A rate the configuration cannot keep up with would measure queueing again.
      if (load.rps < run.rps * 0.9) throw new Error(`latency through ${k}: ${Math.round(load.rps)} req/s of the ${run.rps} asked; lower --latency-rps`);
      samples.set(k, [...(samples.get(k) ?? []), { rps: load.rps, p50Us: quantile(load.latenciesUs, 0.5), p99Us: quantile(load.latenciesUs, 0.99) }]);
    }
  }
  return names.map((k) => {
    const s = samples.get(k)!;
    return { config: k, rps: Math.round(median(s.map((x) => x.rps))), p50Us: Math.round(median(s.map((x) => x.p50Us))), p99Us: Math.round(median(s.map((x) => x.p99Us))) };
  });
}
