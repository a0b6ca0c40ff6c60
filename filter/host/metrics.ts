// Custom metrics as Envoy keeps them (source/extensions/common/wasm/context.cc defineMetric,
// incrementMetric, recordMetric, getMetric) and shows them on /stats/prometheus
// (source/server/admin/prometheus_stats.cc).
// - proxy_define_metric(type, name) creates the stat "wasmcustom.<name>"; defining the same
//   name again returns a NEW id that refers to the same stat (ids are type-tagged:
//   id & 3 is the type, ids step by 4; proxy-wasm-cpp-host wasm.h kMetricTypeMask).
// - Stats outlive a VM: a reloaded VM defines the same names and sees the old values.
// - Counters only go up (increment by <= 0 is BadArgument); gauges accept negative deltas;
//   histograms record; get_metric on a histogram is BadArgument.
// Histograms here are exact; Envoy approximates them (circllhist) and publishes on its
// stats flush interval (5 s by default).

import { MetricType, WasmResult } from "./constants";

export type MetricKind = "counter" | "gauge" | "histogram";
const KINDS: readonly MetricKind[] = ["counter", "gauge", "histogram"];
/** Envoy's default histogram buckets (source/common/stats/histogram_impl.h). */
const BUCKETS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];
export const CUSTOM_STAT_NAMESPACE = "wasmcustom";

export class Metric {
  /** A uint64_t: every change wraps modulo 2^64. */
  private current = 0n;
  readonly samples: number[] = [];
  constructor(readonly kind: MetricKind, readonly name: string) {}

  get value(): bigint {
    return this.current;
  }

  /** Adds `delta` (negative for a gauge going down). */
  add(delta: bigint): void {
    this.current = BigInt.asUintN(64, this.current + delta);
  }

  set(value: bigint): void {
    this.current = BigInt.asUintN(64, value);
  }
}

/** Stats store: one per host, shared by every VM instance. */
export class MetricStore {
  private readonly byKey = new Map<string, Metric>();

  get(kind: MetricKind, name: string): Metric {
    const key = `${kind}:${name}`;
    let m = this.byKey.get(key);
    if (!m) {
      m = new Metric(kind, name);
      this.byKey.set(key, m);
    }
    return m;
  }

  find(name: string): Metric | undefined {
    for (const kind of KINDS) {
      const m = this.byKey.get(`${kind}:${name}`);
      if (m) return m;
    }
    return undefined;
  }

  all(): Metric[] {
    return [...this.byKey.values()];
  }

  /** /stats/prometheus text for the custom metrics: namespace dropped, names sanitized. */
  prometheus(): string {
    const out: string[] = [];
    for (const kind of KINDS) {
      const named = this.all()
        .filter((m) => m.kind === kind)
        .map((m) => ({ m, name: promName(m.name) }))
        .filter((x): x is { m: Metric; name: string } => x.name !== undefined)
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const { m, name } of named) {
        out.push(`# TYPE ${name} ${kind}`);
        if (kind !== "histogram") {
          out.push(`${name}{} ${m.value}`);
          continue;
        }
        for (const le of BUCKETS) out.push(`${name}_bucket{le="${fmtG(le)}"} ${m.samples.filter((v) => v <= le).length}`);
        out.push(`${name}_bucket{le="+Inf"} ${m.samples.length}`);
        out.push(`${name}_sum{} ${fmtG(m.samples.reduce((a, b) => a + b, 0))}`);
        out.push(`${name}_count{} ${m.samples.length}`);
      }
    }
    return out.length ? out.join("\n") + "\n" : "";
  }
}

/**
 * PrometheusStatsFormatter::metricName for a stat in a custom namespace: strip it, replace
 * every char outside [a-zA-Z0-9_] with "_", and drop names that are empty or start with a digit.
 */
function promName(name: string): string | undefined {
  const n = name.replace(/[^a-zA-Z0-9_]/g, "_");
  return n === "" || /^[0-9]/.test(n) ? undefined : n;
}

/** fmt's "{:.32g}" as Envoy prints bucket bounds and sums. */
function fmtG(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e21) return String(x);
  const s = x.toPrecision(32);
  if (s.includes("e")) {
    const [mant, exp] = s.split("e");
    return `${mant.replace(/\.?0+$/, "")}e${exp[0]}${exp.slice(1).padStart(2, "0")}`;
  }
  return s.replace(/\.?0+$/, "");
}

/** The per-VM half: ids handed to one module instance, pointing into the shared store. */
export class VmMetrics {
  private readonly ids = new Map<number, Metric>();
  // proxy-wasm-cpp-host wasm.h: next_counter_metric_id_ starts at MetricType::Counter, etc.
  private readonly next: number[] = [MetricType.Counter, MetricType.Gauge, MetricType.Histogram];

  constructor(private readonly store: MetricStore) {}

  define(type: number, name: string): { result: number; id?: number } {
    if (type > MetricType.Max) return { result: WasmResult.BadArgument };
    this.next[type] += 4;
    const id = this.next[type];
    this.ids.set(id, this.store.get(KINDS[type], name));
    return { result: WasmResult.Ok, id };
  }

  increment(id: number, offset: bigint): number {
    const type = id & 3;
    const m = this.ids.get(id);
    if (type === MetricType.Counter) {
      if (!m) return WasmResult.NotFound;
      if (offset <= 0n) return WasmResult.BadArgument;
      m.add(offset);
      return WasmResult.Ok;
    }
    if (type === MetricType.Gauge) {
      if (!m) return WasmResult.NotFound;
      m.add(offset);
      return WasmResult.Ok;
    }
    return WasmResult.BadArgument;
  }

  record(id: number, value: bigint): number {
    const m = this.ids.get(id);
    if (!m) return WasmResult.NotFound;
    const v = BigInt.asUintN(64, value);
    if (m.kind === "counter") m.add(v);
    else if (m.kind === "gauge") m.set(v);
    else m.samples.push(Number(v));
    return WasmResult.Ok;
  }

  get(id: number): { result: number; value?: bigint } {
    const type = id & 3;
    if (type !== MetricType.Counter && type !== MetricType.Gauge) return { result: WasmResult.BadArgument };
    const m = this.ids.get(id);
    return m ? { result: WasmResult.Ok, value: m.value } : { result: WasmResult.NotFound };
  }
}
