// Envoy with the wasm policy filter: the only way in to the MCP server.
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { ALIASES, CONTAINER_PATHS, CONTAINER_PORTS } from "./config";
import { envoyLogFlags, renderEnvoyConfig } from "./envoyConfig";
import { generateSecrets, GATEWAY_KEY_SIZES } from "./secrets";
import { containerDefaults, healthcheck, onNetwork, pinnedImage, REPLACE_IN_PLACE } from "./docker";
import { envoyReadyCheck } from "./healthchecks";

export interface GatewayArgs {
  /** The network LibreChat reaches Envoy on. */
  network: docker.Network;
  /** The network Envoy reaches the MCP server on, and nothing else joins. */
  mcpNetwork: docker.Network;
  /** Pinned Envoy image, 1.35 or later (allow_on_headers_stop_iteration). */
  image: string;
  /** envoy/envoy.yaml as checked in; rendered here with the policy and the gateway key. */
  envoyYaml: string;
  /** The stack's mcp_filter policy. */
  policy: Record<string, unknown>;
  /** Path of the built filter on this machine. */
  wasmPath: string;
  /** Hash of the filter's sources: a new hash replaces the container with the new wasm. */
  wasmHash: string;
  /** Host address for the MCP listener; the metrics listener is always on 127.0.0.1. */
  publishAddress: string;
  gatewayPort: number;
  metricsPort: number;
  containerName: string;
  /** Resources Envoy waits for: the filter build and the healthy MCP server. */
  after: pulumi.Resource[];
}


export class Gateway extends pulumi.ComponentResource {
  public readonly image: docker.RemoteImage;
  public readonly container: docker.Container;
  /** The gateway key (secret): only requests that carry it get past Envoy. */
  public readonly key: pulumi.Output<string>;

  constructor(name: string, args: GatewayArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mcp-envoy-wasm:infra:Gateway", name, {}, opts);
    this.image = pinnedImage(`${name}-image`, args.image, this);
    // Generated once per stack: a secret in state, like LibreChat's own (infra/secrets.ts).
    this.key = pulumi.secret(generateSecrets(`${name}-key`, GATEWAY_KEY_SIZES, this).values.apply((v) => v.gatewayKey));
    // The rendered file holds the key, so it travels as a secret too.
    const envoyConfig = pulumi.secret(this.key.apply((key) => renderEnvoyConfig(args.envoyYaml, args.policy, key)));
    this.container = new docker.Container(
      `${name}-container`,
      {
        name: args.containerName,
        image: this.image.imageId,
        // /dev/stderr is the container's stderr, a pipe Docker reads for `docker logs`.
        command: ["envoy", "-c", CONTAINER_PATHS.envoyConfig, ...envoyLogFlags("/dev/stderr")],
        uploads: [
          { file: CONTAINER_PATHS.envoyConfig, content: envoyConfig },
          // Read from disk when the container is created; sourceHash makes a new build a
          // new container, because uploads only happen at creation.
          { file: CONTAINER_PATHS.wasm, source: args.wasmPath, sourceHash: args.wasmHash },
        ],
        ports: [
          { internal: CONTAINER_PORTS.gateway, external: args.gatewayPort, ip: args.publishAddress },
          // Counters only, but this machine's business: 127.0.0.1. The admin interface itself
          // listens on the container's loopback and is not published at all.
          { internal: CONTAINER_PORTS.envoyMetrics, external: args.metricsPort, ip: "127.0.0.1" },
        ],
        // On the back network Envoy only dials out, to the MCP server, so it needs no alias.
        networksAdvanced: [onNetwork(args.network, ALIASES.envoy), { name: args.mcpNetwork.name }],
        healthcheck: healthcheck(envoyReadyCheck(CONTAINER_PORTS.envoyMetrics), "30s"),
        ...containerDefaults(120),
      },
      { parent: this, dependsOn: [args.network, args.mcpNetwork, ...args.after], ...REPLACE_IN_PLACE },
    );
    this.registerOutputs({ container: this.container });
  }
}
