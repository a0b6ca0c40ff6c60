// Small helpers shared by the container components, so every container gets the same
// treatment: a pinned image, a healthcheck, a wait for health and the stack's network.
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";

/** A pinned image pulled once and kept in Docker's cache across `pulumi destroy`. */
export function pinnedImage(name: string, ref: string, parent: pulumi.Resource): docker.RemoteImage {
  // keepLocally: images are large and shared with other stacks; destroy removes containers,
  // network and volumes, and `docker image prune` frees the cache.
  return new docker.RemoteImage(name, { name: ref, keepLocally: true }, { parent });
}

/**
 * A healthcheck running `test` (from healthchecks.ts): checks every 5 s, so `wait` notices health quickly, and a start period long
 * enough for the slowest first start (npx downloading the MCP server, LibreChat seeding its
 * database). No start_interval: it needs Docker Engine 25 or later.
 */
export function healthcheck(test: string[], startPeriod: string): docker.types.input.ContainerHealthcheck {
  return { tests: ["CMD", ...test], interval: "5s", timeout: "3s", retries: 5, startPeriod };
}

/** Attaches a container to the stack network under one alias, its DNS name for the others. */
export function onNetwork(network: docker.Network, alias: string): docker.types.input.ContainerNetworksAdvanced {
  return { name: network.name, aliases: [alias] };
}

/** Container settings every container of the stack shares. */
export function containerDefaults(waitTimeoutSeconds: number) {
  return {
    // Back after a Docker or host restart, as a dev stack should be.
    restart: "unless-stopped",
    // `pulumi up` returns only once each container reports healthy, so the next stage
    // starts against a working dependency and failures surface as deploy errors.
    wait: true,
    waitTimeout: waitTimeoutSeconds,
  };
}

/**
 * Fixed container names and host ports cannot coexist with a replacement container, so the
 * old one goes first. Replacement stays scoped: dependents that only `dependsOn` a replaced
 * container keep running.
 */
export const REPLACE_IN_PLACE: pulumi.CustomResourceOptions = { deleteBeforeReplace: true };
