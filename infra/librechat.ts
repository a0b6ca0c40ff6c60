// LibreChat's api with MongoDB, plus Meilisearch and RAG when switched on.
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { ALIASES, CONTAINER_PATHS, CONTAINER_PORTS, ImageKey, Provider } from "./config";
import { containerDefaults, healthcheck, onNetwork, pinnedImage, REPLACE_IN_PLACE } from "./docker";
import { libreChatCheck } from "./healthchecks";
import { meilisearch, mongodb, rag, Service, ServiceScope } from "./librechatServices";
import { generateSecrets, LIBRECHAT_SECRET_SIZES, LibreChatSecrets } from "./secrets";

export interface LibreChatArgs {
  network: docker.Network;
  images: Pick<Record<ImageKey, string>, "librechat" | "mongo" | "meilisearch" | "pgvector" | "ragApi">;
  /** Contents of librechat/librechat.yaml. */
  librechatConfig: string;
  providerKeys: Record<Provider, pulumi.Output<string>>;
  enableMeilisearch: boolean;
  enableRag: boolean;
  publishAddress: string;
  port: number;
  /** The URL users open; LibreChat builds its links from it. */
  url: string;
  /** The gateway key (secret), which librechat.yaml sends to Envoy from MCP_GATEWAY_KEY. */
  gatewayKey: pulumi.Output<string>;
  containerPrefix: string;
  /** Resources the services wait for: the healthy gateway. */
  after: pulumi.Resource[];
}

/** The variable librechat.yaml reads the gateway key from (`${MCP_GATEWAY_KEY}` in headers). */
export const GATEWAY_KEY_ENV = "MCP_GATEWAY_KEY";

/** LibreChat's env var for each provider key. */
export const PROVIDER_ENV: Record<Provider, string> = {
  google: "GOOGLE_KEY",
  openai: "OPENAI_API_KEY",
  anthropic: "ANTHROPIC_API_KEY",
};

// Accounts are local: users register in the UI; no mail server, so no verification mail.
const AUTH_ENV = [
  "ALLOW_EMAIL_LOGIN=true",
  "ALLOW_REGISTRATION=true",
  "ALLOW_UNVERIFIED_EMAIL_LOGIN=true",
  "ALLOW_SOCIAL_LOGIN=false",
  "ALLOW_SOCIAL_REGISTRATION=false",
  "ALLOW_PASSWORD_RESET=false",
];

/**
 * LibreChat marks its auth cookies Secure under NODE_ENV=production unless DOMAIN_SERVER's
 * host is localhost. Browsers drop Secure cookies over plain http, so on http://<LAN IP>
 * every reload would sign the user out; SESSION_COOKIE_SECURE=false keeps them.
 */
export function cookieEnv(url: string): string[] {
  const { protocol, hostname } = new URL(url);
  const local = ["localhost", "127.0.0.1", "[::1]"].includes(hostname) || hostname.endsWith(".localhost");
  return protocol === "http:" && !local ? ["SESSION_COOKIE_SECURE=false"] : [];
}

function secretEnv(values: pulumi.Output<LibreChatSecrets>): pulumi.Output<string>[] {
  return [
    values.apply((s) => `CREDS_KEY=${s.credsKey}`),
    values.apply((s) => `CREDS_IV=${s.credsIv}`),
    values.apply((s) => `JWT_SECRET=${s.jwtSecret}`),
    values.apply((s) => `JWT_REFRESH_SECRET=${s.jwtRefreshSecret}`),
  ];
}

export class LibreChat extends pulumi.ComponentResource {
  public readonly secrets: pulumi.Output<LibreChatSecrets>;
  public readonly mongodb: docker.Container;
  public readonly meilisearch?: docker.Container;
  public readonly ragApi?: docker.Container;
  public readonly container: docker.Container;

  constructor(name: string, args: LibreChatArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mcp-envoy-wasm:infra:LibreChat", name, {}, opts);
    const scope: ServiceScope = { name, parent: this, network: args.network, containerPrefix: args.containerPrefix };
    this.secrets = generateSecrets(`${name}-secrets`, LIBRECHAT_SECRET_SIZES, this).values;

    const mongo = mongodb(scope, args.images.mongo, args.after);
    this.mongodb = mongo.container;
    const services: Service[] = [mongo];
    if (args.enableMeilisearch) {
      const search = meilisearch(scope, args.images.meilisearch, this.secrets, [mongo.container]);
      this.meilisearch = search.container;
      services.push(search);
    }
    if (args.enableRag) {
      const ragApi = rag(scope, args.images, this.secrets, args.providerKeys.openai, [mongo.container]);
      this.ragApi = ragApi.container;
      services.push(ragApi);
    }

    const port = CONTAINER_PORTS.librechat;
    const providerEnv = (Object.keys(PROVIDER_ENV) as Provider[]).map((p) =>
      args.providerKeys[p].apply((key) => `${PROVIDER_ENV[p]}=${key}`),
    );
    const uploads = new docker.Volume(`${name}-uploads`, { name: `${args.containerPrefix}-librechat-uploads` }, { parent: this });
    const images = new docker.Volume(`${name}-images`, { name: `${args.containerPrefix}-librechat-images` }, { parent: this });
    this.container = new docker.Container(
      `${name}-container`,
      {
        name: `${args.containerPrefix}-librechat`,
        image: pinnedImage(`${name}-image`, args.images.librechat, this).imageId,
        uploads: [{ file: CONTAINER_PATHS.librechatConfig, content: args.librechatConfig }],
        envs: [
          "HOST=0.0.0.0",
          `PORT=${port}`,
          `CONFIG_PATH=${CONTAINER_PATHS.librechatConfig}`,
          `DOMAIN_CLIENT=${args.url}`,
          `DOMAIN_SERVER=${args.url}`,
          ...cookieEnv(args.url),
          "NO_INDEX=true",
          ...AUTH_ENV,
          ...(args.enableMeilisearch ? [] : ["SEARCH=false"]),
          ...services.flatMap((s) => s.env),
          ...secretEnv(this.secrets),
          pulumi.secret(args.gatewayKey.apply((key) => `${GATEWAY_KEY_ENV}=${key}`)),
          ...providerEnv,
        ],
        volumes: [
          { volumeName: uploads.name, containerPath: "/app/uploads" },
          { volumeName: images.name, containerPath: "/app/client/public/images" },
        ],
        ports: [{ internal: port, external: args.port, ip: args.publishAddress }],
        networksAdvanced: [onNetwork(args.network, ALIASES.librechat)],
        healthcheck: healthcheck(libreChatCheck(port), "120s"),
        ...containerDefaults(300),
      },
      {
        parent: this,
        dependsOn: [args.network, ...args.after, ...services.map((s) => s.container)],
        ...REPLACE_IN_PLACE,
      },
    );
    this.registerOutputs({ container: this.container });
  }
}
