// The Prometheus configuration the stack uploads, as Prometheus's own checker reads it.
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ALIASES, CONTAINER_PORTS } from "../../infra/config";
import { renderPrometheusConfig, STACK_SCRAPE_INTERVAL } from "../../infra/monitoring/prometheusConfig";
import { findPrometheus } from "./prometheus";

describe("the stack's Prometheus configuration", () => {
  it("passes promtool check config (Debian's prometheus package ships promtool beside prometheus)", () => {
    const promtool = path.join(path.dirname(findPrometheus()), "promtool");
    assert.ok(fs.existsSync(promtool), `${promtool} not found: install Debian's prometheus package`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-promtool-"));
    try {
      const file = path.join(dir, "prometheus.yml");
      fs.writeFileSync(file, renderPrometheusConfig({ target: `${ALIASES.envoy}:${CONTAINER_PORTS.envoyMetrics}`, scrapeInterval: STACK_SCRAPE_INTERVAL }));
      const out = execFileSync(promtool, ["check", "config", file], { encoding: "utf8" });
      assert.match(out, /SUCCESS/);
      // And a broken rule is refused, so the check can fail.
      fs.writeFileSync(file, renderPrometheusConfig({ target: "envoy:9902", scrapeInterval: "15s" }).replace("(.+)", "(.+"));
      assert.throws(() => execFileSync(promtool, ["check", "config", file], { encoding: "utf8", stdio: "pipe" }));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
