// Composition: networks -> MCP server (healthy) -> wasm build -> Envoy (healthy) ->
// MongoDB (healthy) [-> Meilisearch, pgvector -> RAG API] -> LibreChat; with enableMonitoring,
// Envoy (healthy) -> Prometheus (healthy) -> Grafana as well.
import * as fs from "fs";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { loadConfig, PROJECT_ROOT, projectFiles, urlHost } from "./config";
import { FilterBuild, filterSourceHash } from "./filterBuild";
import { Gateway } from "./gateway";
import { LibreChat } from "./librechat";
import { McpServer } from "./mcpServer";
import { Monitoring } from "./monitoring/component";

export interface StackOptions {
  /** Repository root to read envoy/, librechat/ and filter/ from; tests point it at a copy. */
  root?: string;
}

export function createStack(options: StackOptions = {}) {
  const root = options.root ?? PROJECT_ROOT;
  const cfg = loadConfig();
  const files = projectFiles(root);
  const prefix = `${pulumi.getProject()}-${pulumi.getStack()}`;

  // User-defined bridge networks: their embedded DNS resolves the containers' aliases.
  // LibreChat, MongoDB (no auth) and the optional services share the front one. The MCP
  // server runs code npx fetches at start, so it sits alone with Envoy on a back network
  // and cannot reach the database; Envoy is on both.
  const network = new docker.Network("network", { name: prefix, driver: "bridge" });
  const mcpNetwork = new docker.Network("mcp-network", { name: `${prefix}-mcp`, driver: "bridge" });

  const mcpServer = new McpServer("mcp-server", {
    network: mcpNetwork,
    image: cfg.images.node,
    packageSpec: cfg.mcpServerPackage,
    containerName: `${prefix}-mcp-server`,
  });

  const filter = new FilterBuild("filter", { root, sourceHash: filterSourceHash(root), after: [mcpServer.container] });

  const gateway = new Gateway("gateway", {
    network,
    mcpNetwork,
    image: cfg.images.envoy,
    envoyYaml: fs.readFileSync(files.envoyConfig, "utf8"),
    policy: cfg.policy,
    wasmPath: files.wasm,
    wasmHash: filter.sourceHash,
    publishAddress: cfg.publishAddress,
    gatewayPort: cfg.ports.gateway,
    metricsPort: cfg.ports.envoyMetrics,
    containerName: `${prefix}-envoy`,
    after: [filter.build, mcpServer.container],
  });

  const host = urlHost(cfg.publishAddress);
  const librechatUrl = `http://${host}:${cfg.ports.librechat}`;
  const librechat = new LibreChat("librechat", {
    network,
    images: cfg.images,
    librechatConfig: fs.readFileSync(files.librechatConfig, "utf8"),
    providerKeys: cfg.providerKeys,
    enableMeilisearch: cfg.enableMeilisearch,
    enableRag: cfg.enableRag,
    publishAddress: cfg.publishAddress,
    port: cfg.ports.librechat,
    url: librechatUrl,
    gatewayKey: gateway.key,
    containerPrefix: prefix,
    after: [gateway.container],
  });

  const grafanaUrl = `http://localhost:${cfg.ports.grafana}`;
  const monitoring = cfg.enableMonitoring
    ? new Monitoring("monitoring", {
      network,
      images: { prometheus: cfg.images.prometheus, grafana: cfg.images.grafana },
      prometheusPort: cfg.ports.prometheus,
      grafanaPort: cfg.ports.grafana,
      containerPrefix: prefix,
      grafanaUrl,
      after: [gateway.container],
    })
    : undefined;

  return {
    network,
    mcpNetwork,
    mcpServer,
    filter,
    gateway,
    librechat,
    monitoring,
    outputs: {
      librechatUrl,
      mcpEndpoint: `http://${host}:${cfg.ports.gateway}/mcp`,
      envoyMetricsUrl: `http://127.0.0.1:${cfg.ports.envoyMetrics}/stats/prometheus`,
      // For `docker logs -f <name>`: the filter's audit log and Envoy's access log.
      envoyContainer: gateway.container.name,
      // For curl and `npm run smoke`: `npx pulumi stack output --show-secrets gatewayKey`.
      gatewayKey: gateway.key,
      // With enableMonitoring only; user admin, password: `npx pulumi stack output --show-secrets grafanaAdminPassword`.
      grafanaUrl: monitoring ? grafanaUrl : undefined,
      grafanaAdminPassword: monitoring?.grafanaPassword,
      prometheusUrl: monitoring ? `http://127.0.0.1:${cfg.ports.prometheus}` : undefined,
    },
  };
}
