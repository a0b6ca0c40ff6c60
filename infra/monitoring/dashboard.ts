// The Grafana dashboard, built with Grafana's foundation SDK from panels.ts: `pulumi up`
// generates its JSON while the program runs and uploads it into the Grafana container
// (component.ts); `npm run dashboard:json` writes the same JSON to a file.
import * as fs from "fs";
import * as path from "path";
import * as common from "@grafana/grafana-foundation-sdk/common";
import * as dashboard from "@grafana/grafana-foundation-sdk/dashboard";
import * as prometheus from "@grafana/grafana-foundation-sdk/prometheus";
import * as timeseries from "@grafana/grafana-foundation-sdk/timeseries";
import { PANELS } from "./panels";

export const DASHBOARD_UID = "mcp-envoy-wasm";
/** The provisioned Prometheus data source the panels query (grafanaProvisioning.ts). */
export const DATASOURCE = { type: "prometheus", uid: "mcp-prometheus" };

const PANEL_WIDTH = 12; // of Grafana's 24 columns: two panels a row
const PANEL_HEIGHT = 8;

export function buildDashboard(): dashboard.Dashboard {
  const builder = new dashboard.DashboardBuilder("MCP gateway")
    .uid(DASHBOARD_UID)
    .description("MCP traffic through the Envoy policy filter: methods, tools, denials, rate limits, rejected bodies, upstream latency and errors.")
    .tags(["mcp", "envoy"])
    .time({ from: "now-1h", to: "now" })
    .refresh("30s")
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .readonly();
  PANELS.forEach((p, i) => {
    const panel = new timeseries.PanelBuilder()
      .id(i + 1)
      .title(p.title)
      .description(p.description)
      .datasource(DATASOURCE)
      .unit(p.unit)
      .min(0)
      .legend(new common.VizLegendOptionsBuilder().showLegend(true).displayMode(common.LegendDisplayMode.List)
        .placement(common.LegendPlacement.Bottom))
      .gridPos({ x: (i % 2) * PANEL_WIDTH, y: Math.floor(i / 2) * PANEL_HEIGHT, w: PANEL_WIDTH, h: PANEL_HEIGHT });
    for (const q of p.queries) {
      panel.withTarget(new prometheus.DataqueryBuilder().refId(q.refId).expr(q.expr).legendFormat(q.legend).datasource(DATASOURCE).range());
    }
    builder.withPanel(panel);
  });
  return builder.build();
}

/** The dashboard as the JSON file Grafana's file provider reads. */
export function dashboardJson(): string {
  return JSON.stringify(buildDashboard(), null, 2) + "\n";
}

// `npm run dashboard:json [FILE]`: the same JSON, for importing into another Grafana (default
// infra/monitoring/build/mcp-gateway.json, git-ignored).
if (require.main === module) {
  const out = process.argv[2] ?? path.join(__dirname, "build", "mcp-gateway.json");
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, dashboardJson());
  console.log(`wrote ${out}`);
}
