// The dashboard picture's drawing: legends filled from labels as Grafana fills them, every panel
// drawn under its title, lines at 0 counted rather than drawn, and an empty panel saying so.
import { strict as assert } from "node:assert";
import { Resvg } from "@resvg/resvg-js";
import { dashboardSvg, legendOf, type PanelData } from "../../infra/monitoring/chart";
import { PANELS } from "../../infra/monitoring/panels";

describe("the dashboard picture", () => {
  it("fills legend templates from a series' labels", () => {
    assert.equal(legendOf("{{rule}} (monitor mode: would deny)", { rule: "deny_risky_tools" }), "deny_risky_tools (monitor mode: would deny)");
    assert.equal(legendOf("p99", { le: "100" }), "p99");
  });

  it("draws each panel under its title, leaves out flat lines, and marks a panel with no data", () => {
    const data: PanelData[] = PANELS.map((panel, i) => ({
      panel,
      lines: i === 0 ? [{ name: "tools_call", points: [[100, 0], [110, 2.5]] }, { name: "ping", points: [[100, 0], [110, 0]] }] : [],
    }));
    const svg = dashboardSvg(data, [100, 110], 10, "caption & more");
    for (const p of PANELS) assert.ok(svg.includes(p.title.replace(/&/g, "&amp;")), p.title);
    assert.ok(svg.includes(">tools_call<") && !svg.includes(">ping<"));
    assert.ok(svg.includes("+1 series at 0, not drawn"));
    assert.equal(svg.split(">no data<").length - 1, PANELS.length - 1);
    assert.ok(svg.includes("caption &amp; more"));
    const png = new Resvg(svg).render().asPng();
    assert.deepEqual([...png.subarray(1, 4)], [...Buffer.from("PNG")]);
  });
});
