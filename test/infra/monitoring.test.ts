// enableMonitoring under Pulumi mocks: Prometheus and Grafana with their generated files, the
// secret admin password, 127.0.0.1 publishing, and the order Envoy -> Prometheus -> Grafana.
import * as assert from "assert";
import { parse } from "yaml";
import * as pulumi from "@pulumi/pulumi";
import { ALIASES, CONTAINER_PORTS } from "../../infra/config";
import { GRAFANA_ADMIN_USER, PROMETHEUS_CONFIG_PATH } from "../../infra/monitoring/component";
import { DASHBOARD_UID, DATASOURCE } from "../../infra/monitoring/dashboard";
import { GRAFANA_PATHS } from "../../infra/monitoring/grafanaProvisioning";
import { PANELS } from "../../infra/monitoring/panels";
import { filterRelabelRules, STACK_SCRAPE_INTERVAL } from "../../infra/monitoring/prometheusConfig";
import { FAKE_SECRETS, mockImageId, plainStrings, pulumiYamlDefaults, Run, runStack, settled, wireEnv } from "./harness";

const PREFIX = "mcp-envoy-wasm-dev";
const CONTAINER = "docker:index/container:Container";
const MONITORING_RESOURCES = [
  "mcp-envoy-wasm:infra:Monitoring monitoring",
  "docker:index/network:Network monitoring-network",
  "docker:index/volume:Volume monitoring-prometheus-data",
  "docker:index/remoteImage:RemoteImage monitoring-prometheus-image",
  `${CONTAINER} monitoring-prometheus`,
  "command:local:Command monitoring-grafana-password",
  "docker:index/remoteImage:RemoteImage monitoring-grafana-image",
  `${CONTAINER} monitoring-grafana`,
];
const defaults = pulumiYamlDefaults();
const names = (run: Run) => run.registrations.map((r) => `${r.type} ${r.name}`);
const upload = (run: Run, container: string, file: string): string => {
  const found = run.get(container).inputs.uploads.find((u: { file: string }) => u.file === file);
  assert.ok(found, `${container} uploads no ${file}`);
  return found.content;
};

describe("monitoring under mocks (enableMonitoring)", () => {
  let run: Run;
  let off: Run;
  before(async () => {
    run = await runStack({ config: { enableMonitoring: "true" } });
    off = await runStack();
  });

  it("is off by default, and then adds nothing: no resource, no output", () => {
    assert.strictEqual(defaults["mcp-envoy-wasm:enableMonitoring"], "false");
    assert.deepStrictEqual(names(off).filter((n) => / monitoring/.test(n)), []);
    assert.strictEqual(off.stack.monitoring, undefined);
    for (const key of ["grafanaUrl", "grafanaAdminPassword", "prometheusUrl"] as const) assert.strictEqual(off.stack.outputs[key], undefined);
  });

  it("adds Prometheus and Grafana, and changes nothing else", () => {
    assert.deepStrictEqual(names(run).filter((n) => !names(off).includes(n)).sort(), [...MONITORING_RESOURCES].sort());
    for (const name of ["gateway-container", "librechat-container"]) {
      assert.deepStrictEqual(run.get(name).inputs, off.get(name).inputs, name);
    }
  });

  it("runs the pinned images from Pulumi.yaml", () => {
    for (const [container, key] of [["monitoring-prometheus", "prometheusImage"], ["monitoring-grafana", "grafanaImage"]]) {
      assert.strictEqual(run.get(container).inputs.image, mockImageId(defaults[`mcp-envoy-wasm:${key}`]), container);
    }
  });

  it("publishes both on 127.0.0.1 only, even when the stack is published on 0.0.0.0", async () => {
    const lan = await runStack({ config: { enableMonitoring: "true", publishAddress: "0.0.0.0", grafanaPort: "13000", prometheusPort: "19090" } });
    for (const [r, grafana, prometheus] of [[run, 3000, 9090], [lan, 13000, 19090]] as [Run, number, number][]) {
      assert.deepStrictEqual(r.get("monitoring-prometheus").inputs.ports, [{ internal: CONTAINER_PORTS.prometheus, external: prometheus, ip: "127.0.0.1" }]);
      assert.deepStrictEqual(r.get("monitoring-grafana").inputs.ports, [{ internal: CONTAINER_PORTS.grafana, external: grafana, ip: "127.0.0.1" }]);
    }
    assert.strictEqual(lan.stack.outputs.grafanaUrl, "http://localhost:13000");
    assert.strictEqual(lan.stack.outputs.prometheusUrl, "http://127.0.0.1:19090");
  });

  it("uploads the generated Prometheus config: Envoy's metrics listener by its alias, with the relabelling", () => {
    const prom = run.get("monitoring-prometheus");
    assert.ok(prom.inputs.command.includes(`--config.file=${PROMETHEUS_CONFIG_PATH}`));
    const config = parse(upload(run, "monitoring-prometheus", PROMETHEUS_CONFIG_PATH));
    assert.strictEqual(config.global.scrape_interval, STACK_SCRAPE_INTERVAL);
    const [job] = config.scrape_configs;
    assert.deepStrictEqual(job.static_configs, [{ targets: [`${ALIASES.envoy}:${CONTAINER_PORTS.envoyMetrics}`] }]);
    assert.strictEqual(job.metrics_path, "/stats/prometheus");
    assert.deepStrictEqual(job.metric_relabel_configs, filterRelabelRules());
    assert.deepStrictEqual(prom.inputs.volumes, [{ volumeName: `${PREFIX}-prometheus`, containerPath: "/prometheus" }]);
  });

  it("puts Prometheus where it reaches Envoy, and Grafana where it reaches Prometheus only", () => {
    assert.deepStrictEqual(run.get("monitoring-prometheus").inputs.networksAdvanced,
      [{ name: PREFIX }, { name: `${PREFIX}-monitoring`, aliases: [ALIASES.prometheus] }]);
    assert.deepStrictEqual(run.get("monitoring-grafana").inputs.networksAdvanced, [{ name: `${PREFIX}-monitoring` }]);
  });

  it("provisions Grafana from files: the Prometheus data source, the provider, and the dashboard from panels.ts", () => {
    const sources = parse(upload(run, "monitoring-grafana", GRAFANA_PATHS.datasources));
    assert.deepStrictEqual(sources.datasources, [{
      name: "Prometheus", uid: DATASOURCE.uid, type: "prometheus", access: "proxy",
      url: `http://${ALIASES.prometheus}:${CONTAINER_PORTS.prometheus}`, isDefault: true, editable: false,
      jsonData: { timeInterval: STACK_SCRAPE_INTERVAL },
    }]);
    const provider = parse(upload(run, "monitoring-grafana", GRAFANA_PATHS.dashboardProvider)).providers[0];
    assert.strictEqual(provider.type, "file");
    assert.strictEqual(provider.options.path, GRAFANA_PATHS.dashboardsDir);
    assert.ok(GRAFANA_PATHS.dashboard.startsWith(`${GRAFANA_PATHS.dashboardsDir}/`));
    const board = JSON.parse(upload(run, "monitoring-grafana", GRAFANA_PATHS.dashboard));
    assert.strictEqual(board.uid, DASHBOARD_UID);
    assert.deepStrictEqual(board.panels.map((p: { title: string }) => p.title), PANELS.map((p) => p.title));
    board.panels.forEach((p: { datasource: unknown; targets: { expr: string; datasource: unknown }[] }, i: number) => {
      assert.deepStrictEqual(p.targets.map((t) => t.expr), PANELS[i].queries.map((q) => q.expr));
      for (const t of [p, ...p.targets]) assert.deepStrictEqual(t.datasource, DATASOURCE);
    });
  });

  it("gives Grafana a generated admin password as a secret, never in plain state, and no way in without it", async () => {
    const env = wireEnv(run.get("monitoring-grafana"));
    const password = env.find((e) => e.entry.startsWith("GF_SECURITY_ADMIN_PASSWORD="));
    assert.deepStrictEqual(password, { entry: `GF_SECURITY_ADMIN_PASSWORD=${FAKE_SECRETS.grafanaAdminPassword}`, secret: true });
    const plain = env.map((e) => e.entry);
    for (const entry of [`GF_SECURITY_ADMIN_USER=${GRAFANA_ADMIN_USER}`, "GF_AUTH_ANONYMOUS_ENABLED=false", "GF_USERS_ALLOW_SIGN_UP=false",
      "GF_USERS_ALLOW_ORG_CREATE=false", "GF_SERVER_ROOT_URL=http://localhost:3000"]) {
      assert.ok(plain.includes(entry), `missing ${entry}`);
    }
    const generator = run.get("monitoring-grafana-password");
    assert.deepStrictEqual(generator.additionalSecretOutputs, ["stdout"]);
    assert.strictEqual(generator.inputs.logging, "none");
    const leaked = run.registrations.flatMap((r) => plainStrings(r.wire).filter((s) => s.includes(FAKE_SECRETS.grafanaAdminPassword)));
    assert.deepStrictEqual(leaked, []);
    const out = run.stack.outputs.grafanaAdminPassword as pulumi.Output<string>;
    assert.strictEqual(await settled(out), FAKE_SECRETS.grafanaAdminPassword);
    assert.strictEqual(await pulumi.isSecret(out), true);
    assert.strictEqual(run.stack.outputs.grafanaUrl, "http://localhost:3000");
    assert.strictEqual(run.stack.outputs.prometheusUrl, "http://127.0.0.1:9090");
  });

  it("starts in order: Envoy healthy, then Prometheus healthy, then Grafana", () => {
    const urn = (name: string) => run.get(name).urn;
    assert.ok(run.get("monitoring-prometheus").dependencies.includes(urn("gateway-container")));
    assert.ok(run.get("monitoring-grafana").dependencies.includes(urn("monitoring-prometheus")));
    for (const name of ["gateway-container", "monitoring-prometheus", "monitoring-grafana"]) {
      assert.strictEqual(run.get(name).inputs.wait, true, name);
      assert.strictEqual(run.get(name).inputs.healthcheck.tests[0], "CMD", name);
    }
  });
});
