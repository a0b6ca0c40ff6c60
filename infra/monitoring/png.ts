// npm run dashboard:png: draws each dashboard panel's query results from a Prometheus into a PNG.
//   --prometheus URL   the Prometheus to ask (default: the stack's, http://127.0.0.1:9090)
//   --minutes N        the time range, ending now (default 30)
//   --scrape-seconds N its scrape interval, for the rate window as Grafana sizes it (default 15)
//   --local N          instead: run the dashboard test's real Envoy and Prometheus here, send a
//                      fixed traffic mix for N seconds, and draw that (how docs/dashboard.png is made)
//   --out FILE         default docs/dashboard.png
import * as fs from "fs";
import * as path from "path";
import { Resvg } from "@resvg/resvg-js";
import { dashboardSvg, legendOf, type PanelData } from "./chart";
import { PANELS, withRateWindow } from "./panels";
import { STACK_SCRAPE_INTERVAL } from "./prometheusConfig";

type Matrix = { metric: Record<string, string>; values: [number, string][] }[];

async function queryRange(url: string, expr: string, start: number, end: number, step: number): Promise<Matrix> {
  const params = new URLSearchParams({ query: expr, start: String(start), end: String(end), step: String(step) });
  const res = await fetch(`${url}/api/v1/query_range?${params}`);
  const body = await res.json() as { status: string; error?: string; data?: { result: Matrix } };
  if (body.status !== "success" || !body.data) throw new Error(`${expr}: ${body.error ?? res.status}`);
  return body.data.result;
}

export function stepOf(start: number, end: number, scrapeSeconds: number): number {
  return Math.max(scrapeSeconds, Math.ceil((end - start) / 150));
}

/** Every panel's every query over [start, end], with Grafana's rate window for that step. */
export async function panelData(url: string, start: number, end: number, scrapeSeconds: number): Promise<PanelData[]> {
  const step = stepOf(start, end, scrapeSeconds);
  const rateWindow = `${Math.max(4 * scrapeSeconds, step + scrapeSeconds)}s`; // as Grafana's $__rate_interval
  return Promise.all(PANELS.map(async (panel) => ({
    panel,
    lines: (await Promise.all(panel.queries.map(async (q) => (await queryRange(url, withRateWindow(q.expr, rateWindow), start, end, step))
      .map((s) => ({ name: legendOf(q.legend, s.metric), points: s.values.map(([t, v]) => [t, Number(v)] as [number, number]) }))))).flat(),
  })));
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const out = path.resolve(arg("out") ?? path.join(__dirname, "..", "..", "docs", "dashboard.png"));
  const local = arg("local");
  let url = arg("prometheus") ?? "http://127.0.0.1:9090";
  let scrapeSeconds = Number(arg("scrape-seconds") ?? STACK_SCRAPE_INTERVAL.replace(/s$/, ""));
  let end = Date.now() / 1000;
  let start = end - 60 * Number(arg("minutes") ?? 30);
  let stop = async () => {};
  if (local !== undefined) {
    // Test code: only this mode loads it.
    const { runDemo } = await import("../../test/monitoring/demo");
    const demo = await runDemo(Number(local));
    ({ start, end, scrapeSeconds, stop } = demo);
    url = demo.prometheusUrl;
  }
  try {
    const data = await panelData(url, Math.floor(start), Math.ceil(end), scrapeSeconds);
    const caption = "The dashboard's panels, drawn by npm run dashboard:png from each panel's PromQL over Prometheus data " +
      "(not a Grafana screenshot).";
    const svg = dashboardSvg(data, [start, end], stepOf(Math.floor(start), Math.ceil(end), scrapeSeconds), caption);
    const png = new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans" } }).render().asPng();
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, png);
    console.log(`wrote ${out} (${png.length} bytes; ${data.map((d) => `${d.panel.key}: ${d.lines.length} series`).join(", ")})`);
  } finally {
    await stop();
  }
}

if (require.main === module) {
  main().catch((err) => { console.error(err instanceof Error ? err.message : err); process.exit(1); });
}
