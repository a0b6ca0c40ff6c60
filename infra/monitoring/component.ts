// Prometheus and Grafana, with enableMonitoring: Prometheus scrapes Envoy's metrics listener,
// Grafana shows the dashboard from code. Both published on 127.0.0.1 only; Grafana's admin
// password is generated per stack and kept as a secret.
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { ALIASES, CONTAINER_PORTS } from "../config";
import { containerDefaults, healthcheck, onNetwork, pinnedImage, REPLACE_IN_PLACE } from "../docker";
import { grafanaCheck, prometheusCheck } from "../healthchecks";
import { generateSecrets, GRAFANA_SECRET_SIZES } from "../secrets";
import { dashboardJson } from "./dashboard";
import { dashboardProviderYaml, datasourcesYaml, GRAFANA_PATHS } from "./grafanaProvisioning";
import { renderPrometheusConfig, STACK_SCRAPE_INTERVAL } from "./prometheusConfig";

export const PROMETHEUS_CONFIG_PATH = "/etc/prometheus/prometheus.yml";
export const GRAFANA_ADMIN_USER = "admin";

export interface MonitoringArgs {
  /** The network Envoy's metrics listener is reachable on, under ALIASES.envoy. */
  network: docker.Network;
  images: { prometheus: string; grafana: string };
  prometheusPort: number;
  grafanaPort: number;
  containerPrefix: string;
  /** The URL users open Grafana at; Grafana builds its links from it. */
  grafanaUrl: string;
  /** Resources Prometheus waits for: the healthy Envoy. */
  after: pulumi.Resource[];
}

export class Monitoring extends pulumi.ComponentResource {
  public readonly prometheus: docker.Container;
  public readonly grafana: docker.Container;
  /** Grafana's admin password (secret). */
  public readonly grafanaPassword: pulumi.Output<string>;

  constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mcp-envoy-wasm:infra:Monitoring", name, {}, opts);
    // Grafana is a web app with logins: it joins only this network, with Prometheus, and cannot
    // reach MongoDB or LibreChat on the stack network.
    const network = new docker.Network(`${name}-network`, { name: `${args.containerPrefix}-monitoring`, driver: "bridge" }, { parent: this });

    const prometheusPort = CONTAINER_PORTS.prometheus;
    const envoyTarget = `${ALIASES.envoy}:${CONTAINER_PORTS.envoyMetrics}`;
    // TSDB in a named volume: history survives a new container (an image or config change).
    const data = new docker.Volume(`${name}-prometheus-data`, { name: `${args.containerPrefix}-prometheus` }, { parent: this });
    this.prometheus = new docker.Container(
      `${name}-prometheus`,
      {
        name: `${args.containerPrefix}-prometheus`,
        image: pinnedImage(`${name}-prometheus-image`, args.images.prometheus, this).imageId,
        command: [`--config.file=${PROMETHEUS_CONFIG_PATH}`, "--storage.tsdb.path=/prometheus", "--storage.tsdb.retention.time=15d"],
        uploads: [{ file: PROMETHEUS_CONFIG_PATH, content: renderPrometheusConfig({ target: envoyTarget, scrapeInterval: STACK_SCRAPE_INTERVAL }) }],
        volumes: [{ volumeName: data.name, containerPath: "/prometheus" }],
        // Prometheus has no login: this machine only.
        ports: [{ internal: prometheusPort, external: args.prometheusPort, ip: "127.0.0.1" }],
        networksAdvanced: [{ name: args.network.name }, onNetwork(network, ALIASES.prometheus)],
        healthcheck: healthcheck(prometheusCheck(prometheusPort), "30s"),
        ...containerDefaults(120),
      },
      { parent: this, dependsOn: [args.network, network, ...args.after], ...REPLACE_IN_PLACE },
    );

    this.grafanaPassword = pulumi.secret(
      generateSecrets(`${name}-grafana-password`, GRAFANA_SECRET_SIZES, this).values.apply((v) => v.grafanaAdminPassword),
    );
    const grafanaPort = CONTAINER_PORTS.grafana;
    this.grafana = new docker.Container(
      `${name}-grafana`,
      {
        name: `${args.containerPrefix}-grafana`,
        image: pinnedImage(`${name}-grafana-image`, args.images.grafana, this).imageId,
        // No volume: every container starts from the files below, with the current password.
        uploads: [
          { file: GRAFANA_PATHS.datasources, content: datasourcesYaml(`http://${ALIASES.prometheus}:${prometheusPort}`, STACK_SCRAPE_INTERVAL) },
          { file: GRAFANA_PATHS.dashboardProvider, content: dashboardProviderYaml() },
          { file: GRAFANA_PATHS.dashboard, content: dashboardJson() },
        ],
        envs: [
          `GF_SERVER_HTTP_PORT=${grafanaPort}`,
          `GF_SERVER_ROOT_URL=${args.grafanaUrl}`,
          `GF_SECURITY_ADMIN_USER=${GRAFANA_ADMIN_USER}`,
          this.grafanaPassword.apply((p) => `GF_SECURITY_ADMIN_PASSWORD=${p}`),
          // No way in without the password: no anonymous viewers, no sign-up, no new orgs.
          "GF_AUTH_ANONYMOUS_ENABLED=false",
          "GF_USERS_ALLOW_SIGN_UP=false",
          "GF_USERS_ALLOW_ORG_CREATE=false",
          `GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH=${GRAFANA_PATHS.dashboard}`,
          "GF_ANALYTICS_REPORTING_ENABLED=false",
          "GF_ANALYTICS_CHECK_FOR_UPDATES=false",
          "GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES=false",
        ],
        ports: [{ internal: grafanaPort, external: args.grafanaPort, ip: "127.0.0.1" }],
        networksAdvanced: [{ name: network.name }],
        healthcheck: healthcheck(grafanaCheck(grafanaPort), "60s"),
        ...containerDefaults(180),
      },
      { parent: this, dependsOn: [network, this.prometheus], ...REPLACE_IN_PLACE },
    );
    this.registerOutputs({ prometheus: this.prometheus, grafana: this.grafana });
  }
}
