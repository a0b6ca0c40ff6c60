// The MCP "everything" server, reachable only through Envoy.
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { ALIASES, CONTAINER_PORTS } from "./config";
import { containerDefaults, healthcheck, onNetwork, pinnedImage, REPLACE_IN_PLACE } from "./docker";
import { mcpEndpointCheck } from "./healthchecks";

export interface McpServerArgs {
  /** The back network, shared with Envoy only. */
  network: docker.Network;
  /** Pinned Node image that runs the server. */
  image: string;
  /** Pinned npm package spec, e.g. @modelcontextprotocol/server-everything@2026.8.31. */
  packageSpec: string;
  /** Docker container name. */
  containerName: string;
}

export class McpServer extends pulumi.ComponentResource {
  public readonly image: docker.RemoteImage;
  public readonly container: docker.Container;

  constructor(name: string, args: McpServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mcp-envoy-wasm:infra:McpServer", name, {}, opts);
    this.image = pinnedImage(`${name}-image`, args.image, this);
    const port = CONTAINER_PORTS.mcpServer;
    this.container = new docker.Container(
      `${name}-container`,
      {
        name: args.containerName,
        image: this.image.imageId,
        // npx fetches the pinned package at first start; the Node image carries no server.
        command: ["npx", "-y", args.packageSpec, "streamableHttp"],
        user: "node",
        workingDir: "/home/node",
        // No secrets here: the server's get-env tool returns its whole environment.
        envs: [`PORT=${port}`, "NPM_CONFIG_UPDATE_NOTIFIER=false", "NPM_CONFIG_FUND=false"],
        networksAdvanced: [onNetwork(args.network, ALIASES.mcpServer)],
        // No published ports: clients reach the server only through the policy gateway.
        healthcheck: healthcheck(mcpEndpointCheck(port), "180s"),
        ...containerDefaults(300),
      },
      { parent: this, dependsOn: [args.network], ...REPLACE_IN_PLACE },
    );
    this.registerOutputs({ container: this.container });
  }
}
