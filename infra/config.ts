// Typed stack configuration. Every key is declared, with its description and default, in
// Pulumi.yaml; this module only reads and checks them. The fixed facts that must agree with
// envoy/envoy.yaml and librechat/librechat.yaml (container ports, network aliases, paths
// inside the containers) live here too, and tests hold both files to them.
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { checkPolicy } from "./policy";

/** The repository root; Pulumi runs the program from infra/ (Pulumi.yaml `main`). */
export const PROJECT_ROOT = path.resolve(__dirname, "..");

export const CONTAINER_PORTS = {
  mcpServer: 3001,
  gateway: 10000,
  /** Envoy's admin interface: on the container's loopback only, never published. */
  envoyAdmin: 9901,
  /** Envoy's metrics listener: /stats/prometheus and /ready from the admin, nothing else. */
  envoyMetrics: 9902,
  librechat: 3080,
  mongodb: 27017,
  meilisearch: 7700,
  postgres: 5432,
  ragApi: 8000,
  prometheus: 9090,
  grafana: 3000,
} as const;

/** Names the containers use to reach each other on the stack's Docker network. */
export const ALIASES = {
  mcpServer: "mcp-server",
  envoy: "envoy",
  mongodb: "mongodb",
  librechat: "librechat",
  meilisearch: "meilisearch",
  vectordb: "vectordb",
  ragApi: "rag-api",
  prometheus: "prometheus",
} as const;

export const CONTAINER_PATHS = {
  envoyConfig: "/etc/envoy/envoy.yaml",
  wasm: "/etc/envoy/mcp_filter.wasm",
  librechatConfig: "/app/librechat.yaml",
} as const;

/** Files of the project the program reads or uploads, under a given root. */
export function projectFiles(root: string) {
  return {
    envoyConfig: path.join(root, "envoy", "envoy.yaml"),
    librechatConfig: path.join(root, "librechat", "librechat.yaml"),
    wasm: path.join(root, "filter", "build", "mcp_filter.wasm"),
  };
}

export const CONFIG_KEYS = [
  "publishAddress",
  "librechatPort",
  "gatewayPort",
  "envoyMetricsPort",
  "prometheusPort",
  "grafanaPort",
  "nodeImage",
  "mcpServerPackage",
  "envoyImage",
  "mongoImage",
  "librechatImage",
  "meilisearchImage",
  "pgvectorImage",
  "ragApiImage",
  "prometheusImage",
  "grafanaImage",
  "enableMeilisearch",
  "enableRag",
  "enableMonitoring",
  "policy",
  "googleApiKey",
  "openaiApiKey",
  "anthropicApiKey",
] as const;

export type ImageKey = "node" | "envoy" | "mongo" | "librechat" | "meilisearch" | "pgvector" | "ragApi" | "prometheus" | "grafana";
export type Provider = "google" | "openai" | "anthropic";

export interface StackConfig {
  publishAddress: string;
  ports: { librechat: number; gateway: number; envoyMetrics: number; prometheus: number; grafana: number };
  images: Record<ImageKey, string>;
  mcpServerPackage: string;
  enableMeilisearch: boolean;
  enableRag: boolean;
  /** Prometheus and Grafana, published on 127.0.0.1 only. */
  enableMonitoring: boolean;
  policy: Record<string, unknown>;
  /** Secret API key per provider, or "user_provided" so each LibreChat user enters their own. */
  providerKeys: Record<Provider, pulumi.Output<string>>;
}

/** Throws unless `ref` names an image by an explicit tag (not latest) or digest. */
export function checkPinnedImage(key: string, ref: string): string {
  const lastPart = ref.split("/").pop() ?? "";
  const tag = lastPart.includes(":") ? lastPart.split(":").pop() : undefined;
  if (!ref.includes("@sha256:") && (tag === undefined || tag === "" || tag === "latest")) {
    throw new Error(
      `config ${key} = "${ref}" is not pinned: give an explicit version tag or digest ` +
        `(for example "name:1.2.3"); "latest" and untagged images change under you.`,
    );
  }
  return ref;
}

/** Throws unless `spec` is an npm package with an exact version, e.g. name@1.2.3. */
export function checkPinnedPackage(key: string, spec: string): string {
  if (!/^(@[\w.-]+\/)?[\w.-]+@\d+\.\d+\.\d+$/.test(spec)) {
    throw new Error(`config ${key} = "${spec}" must be an npm package with an exact version, e.g. name@1.2.3.`);
  }
  return spec;
}

export function checkPort(key: string, port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`config ${key} = ${port} is not a TCP port; use a number from 1 to 65535.`);
  }
  return port;
}

function providerKey(config: pulumi.Config, key: string): pulumi.Output<string> {
  // An empty value (the default) lets each user bring their own key in the LibreChat UI.
  // Secret either way, so the state never shows which keys the stack holds in plain text.
  const value = pulumi.output(config.getSecret(key));
  return pulumi.secret(value.apply((v) => (v !== undefined && v !== "" ? v : "user_provided")));
}

export function loadConfig(): StackConfig {
  const config = new pulumi.Config();
  const image = (key: string) => checkPinnedImage(key, config.require(key));
  const port = (key: string) => checkPort(key, config.requireNumber(key));
  return {
    publishAddress: config.require("publishAddress"),
    ports: {
      librechat: port("librechatPort"),
      gateway: port("gatewayPort"),
      envoyMetrics: port("envoyMetricsPort"),
      prometheus: port("prometheusPort"),
      grafana: port("grafanaPort"),
    },
    images: {
      node: image("nodeImage"),
      envoy: image("envoyImage"),
      mongo: image("mongoImage"),
      librechat: image("librechatImage"),
      meilisearch: image("meilisearchImage"),
      pgvector: image("pgvectorImage"),
      ragApi: image("ragApiImage"),
      prometheus: image("prometheusImage"),
      grafana: image("grafanaImage"),
    },
    mcpServerPackage: checkPinnedPackage("mcpServerPackage", config.require("mcpServerPackage")),
    enableMeilisearch: config.requireBoolean("enableMeilisearch"),
    enableRag: config.requireBoolean("enableRag"),
    enableMonitoring: config.requireBoolean("enableMonitoring"),
    policy: checkPolicy(config.requireObject<unknown>("policy")),
    providerKeys: {
      google: providerKey(config, "googleApiKey"),
      openai: providerKey(config, "openaiApiKey"),
      anthropic: providerKey(config, "anthropicApiKey"),
    },
  };
}

/** The host name to print in URLs for a service published on `address`. */
export function urlHost(address: string): string {
  return address === "0.0.0.0" || address === "127.0.0.1" ? "localhost" : address;
}
